// Makes libsodium's randomness (keys, indices, jitter, cookie secrets) a seeded stream, so a
// simulation run or a fuzz input replays exactly. Header-only so that the test binaries and the
// fuzz targets share it. Never use it outside tests and fuzzing.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace sluice::test {

namespace detail {
inline uint64_t random_state = 0x9e3779b97f4a7c15ull;

// splitmix64: tiny, well distributed, and all a simulation needs.
inline uint64_t random_next() {
  uint64_t z = (random_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline const char* random_name() { return "sluice-test-splitmix"; }
inline uint32_t random32() { return static_cast<uint32_t>(random_next()); }
inline void random_buf(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    uint64_t v = random_next();
    size_t k = n < 8 ? n : 8;
    std::memcpy(p, &v, k);
    p += k;
    n -= k;
  }
}
inline randombytes_implementation random_implementation = {random_name, random32, nullptr, nullptr,
                                                           random_buf, nullptr};
}  // namespace detail

// Call once, before anything else calls sodium_init().
inline void use_deterministic_randombytes() {
  randombytes_set_implementation(&detail::random_implementation);
  if (sodium_init() < 0) std::abort();
}

inline void reseed_randombytes(uint64_t seed) { detail::random_state = seed; }

}  // namespace sluice::test
