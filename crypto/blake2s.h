// The whitepaper's HASH, MAC, HMAC and KDF_n, all over BLAKE2s (libb2).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include <blake2.h>

#include "crypto/keys.h"

namespace sluice::crypto {

using Hash = std::array<uint8_t, 32>;
using Mac = std::array<uint8_t, 16>;

// Incremental BLAKE2s, for hashing a concatenation without copying it together. The state is
// wiped on destruction because a keyed state holds its key.
class Blake2s {
 public:
  Blake2s();  // HASH: unkeyed, 32 bytes out
  // Keyed, 1..32 bytes of key and 1..32 bytes of output; an empty key means unkeyed. Anything
  // else is a programming error: the object then only ever outputs zeros.
  Blake2s(std::span<const uint8_t> key, size_t output_length);
  ~Blake2s();
  Blake2s(const Blake2s&) = delete;
  Blake2s& operator=(const Blake2s&) = delete;

  Blake2s& update(std::span<const uint8_t> data);
  // `out` (caller-owned) must be exactly the output length given at construction; otherwise
  // it is zero-filled.
  void final(std::span<uint8_t> out);

 private:
  blake2s_state state_{};
  size_t output_length_;
  bool valid_;
};

// HASH(input) = BLAKE2s(input, 32)
Hash hash(std::span<const uint8_t> input);
// HASH(a || b)
Hash hash(std::span<const uint8_t> a, std::span<const uint8_t> b);

// MAC(key, input) = Keyed-BLAKE2s(key, input, 16). `key` is at most 32 bytes.
Mac mac(std::span<const uint8_t> key, std::span<const uint8_t> input);

// HMAC(key, input) = HMAC-BLAKE2s(key, input, 32), RFC 2104 with a 64-byte block.
Hash hmac(std::span<const uint8_t> key, std::span<const uint8_t> input);

// KDF_n(key, input): HKDF with HMAC-BLAKE2s, returning the first n 32-byte outputs. Outputs
// may alias `key` (the chaining key is usually both).
void kdf1(const Key& key, std::span<const uint8_t> input, Key& out1);
void kdf2(const Key& key, std::span<const uint8_t> input, Key& out1, Key& out2);
void kdf3(const Key& key, std::span<const uint8_t> input, Key& out1, Key& out2, Key& out3);

}  // namespace sluice::crypto
