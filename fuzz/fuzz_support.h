// Shared by the fuzz targets and the seed generator: deterministic randomness, fixed
// identities, a bounds-checked input reader, and the checks every target uses.
#pragma once

#include "common/deterministic_random.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "crypto/keys.h"
#include "crypto/noise.h"
#include "crypto/x25519.h"

namespace sluice::fuzz {

// A failed property. __builtin_trap() makes libFuzzer save the input as a crash; the message
// says which property, since a trap alone shows only a line number.
// Variadic so that a condition with a comma (a template argument list) needs no parentheses.
#define FUZZ_CHECK(...)                                                                     \
  do {                                                                                      \
    if (!(__VA_ARGS__)) {                                                                   \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s at %s:%d\n", #__VA_ARGS__, __FILE__, __LINE__); \
      __builtin_trap();                                                                     \
    }                                                                                       \
  } while (0)

// --- Deterministic randomness -------------------------------------------------------------
// The device draws indices, ephemeral keys, cookie secrets and timer jitter from libsodium.
// A fuzz input must replay exactly, so the targets reseed this stream at the start of every
// input (tests/common/deterministic_random.h).

// Call once, first thing (before any sodium_init()). Also silences logging: the device logs
// every handshake at info level, which would drown libFuzzer's output.
inline void init_deterministic_process() {
  test::use_deterministic_randombytes();
  spdlog::set_level(spdlog::level::off);
}
inline void reseed_random(uint64_t seed) { test::reseed_randombytes(seed); }

// --- Fixed identities ---------------------------------------------------------------------
// 32 copies of `fill`, clamped: stable across runs, so seeds stay valid.
inline crypto::StaticIdentity identity_from(uint8_t fill) {
  crypto::StaticIdentity id;
  id.private_key.fill(fill);
  crypto::clamp_private_key(id.private_key);
  id.public_key = crypto::public_key_of(id.private_key);
  return id;
}

// --- Input reader ---------------------------------------------------------------------------
// Reads little-endian fields from the fuzz input; past the end everything reads as zero and
// bytes() returns what is left, so a truncated record is still a valid (shorter) input.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  size_t remaining() const { return n_; }
  uint8_t u8() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint16_t u16() { return static_cast<uint16_t>(u8() | u8() << 8); }
  uint32_t u32() { return u16() | uint32_t{u16()} << 16; }
  uint64_t u64() { return u32() | uint64_t{u32()} << 32; }
  std::span<const uint8_t> bytes(size_t want) {
    size_t k = want < n_ ? want : n_;
    std::span<const uint8_t> out(p_, k);
    p_ += k;
    n_ -= k;
    return out;
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

// Appends little-endian fields: how the seed generator writes the same records.
struct Writer {
  std::vector<uint8_t> out;
  Writer& u8(uint8_t v) {
    out.push_back(v);
    return *this;
  }
  Writer& u16(uint16_t v) { return u8(static_cast<uint8_t>(v)).u8(static_cast<uint8_t>(v >> 8)); }
  Writer& u32(uint32_t v) { return u16(static_cast<uint16_t>(v)).u16(static_cast<uint16_t>(v >> 16)); }
  Writer& u64(uint64_t v) { return u32(static_cast<uint32_t>(v)).u32(static_cast<uint32_t>(v >> 32)); }
  Writer& bytes(std::span<const uint8_t> b) {
    out.insert(out.end(), b.begin(), b.end());
    return *this;
  }
};

// Exact-size heap copy: ASan then reports any read past `size`, which it could not if the
// parser were handed a view into a larger buffer.
inline std::vector<uint8_t> exact_copy(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

}  // namespace sluice::fuzz
