#include "crypto/blake2s.h"

#include <algorithm>

namespace sluice::crypto {

Blake2s::Blake2s() : output_length_(BLAKE2S_OUTBYTES) { valid_ = blake2s_init(&state_, output_length_) == 0; }

Blake2s::Blake2s(std::span<const uint8_t> key, size_t output_length) : output_length_(output_length) {
  // libb2 refuses an empty key in blake2s_init_key, and leaves the state unset on any refusal.
  valid_ = key.empty() ? blake2s_init(&state_, output_length_) == 0
                       : blake2s_init_key(&state_, output_length_, key.data(), key.size()) == 0;
}

Blake2s::~Blake2s() { wipe(state_); }

Blake2s& Blake2s::update(std::span<const uint8_t> data) {
  if (valid_) blake2s_update(&state_, data.data(), data.size());
  return *this;
}

void Blake2s::final(std::span<uint8_t> out) {
  if (!valid_ || out.size() != output_length_ || blake2s_final(&state_, out.data(), out.size()) != 0)
    std::fill(out.begin(), out.end(), uint8_t{0});
  valid_ = false;  // a finalised state must not be reused
}

Hash hash(std::span<const uint8_t> input) {
  Hash out;
  Blake2s().update(input).final(out);
  return out;
}

Hash hash(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Hash out;
  Blake2s().update(a).update(b).final(out);
  return out;
}

Mac mac(std::span<const uint8_t> key, std::span<const uint8_t> input) {
  Mac out;
  Blake2s(key, out.size()).update(input).final(out);
  return out;
}

Hash hmac(std::span<const uint8_t> key, std::span<const uint8_t> input) {
  constexpr size_t kBlockSize = BLAKE2S_BLOCKBYTES;
  std::array<uint8_t, kBlockSize> pad{};
  if (key.size() > kBlockSize) {
    const Hash short_key = hash(key);
    std::copy(short_key.begin(), short_key.end(), pad.begin());
  } else {
    std::copy(key.begin(), key.end(), pad.begin());
  }

  for (auto& b : pad) b ^= 0x36;
  Hash inner;
  Blake2s().update(pad).update(input).final(inner);

  for (auto& b : pad) b ^= 0x36 ^ 0x5c;
  Hash out;
  Blake2s().update(pad).update(inner).final(out);

  wipe(pad);
  wipe(inner);
  return out;
}

namespace {

// HKDF-Expand with counter bytes 1..n, each output chained into the next as in the
// whitepaper: tau_i = HMAC(tau_0, tau_{i-1} || i).
void kdf(const Key& key, std::span<const uint8_t> input, Key* const* outs, size_t n) {
  Hash prk = hmac(key, input);  // computed first so outputs may alias key
  std::array<uint8_t, 33> block{};
  size_t block_len = 0;  // the first round has no previous output
  Hash t{};
  for (size_t i = 0; i < n; ++i) {
    block[block_len] = static_cast<uint8_t>(i + 1);
    t = hmac(prk, std::span<const uint8_t>(block.data(), block_len + 1));
    *outs[i] = t;
    std::copy(t.begin(), t.end(), block.begin());
    block_len = t.size();
  }
  wipe(prk);
  wipe(block);
  wipe(t);
}

}  // namespace

void kdf1(const Key& key, std::span<const uint8_t> input, Key& out1) {
  Key* outs[] = {&out1};
  kdf(key, input, outs, 1);
}

void kdf2(const Key& key, std::span<const uint8_t> input, Key& out1, Key& out2) {
  Key* outs[] = {&out1, &out2};
  kdf(key, input, outs, 2);
}

void kdf3(const Key& key, std::span<const uint8_t> input, Key& out1, Key& out2, Key& out3) {
  Key* outs[] = {&out1, &out2, &out3};
  kdf(key, input, outs, 3);
}

}  // namespace sluice::crypto
