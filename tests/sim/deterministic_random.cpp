#include "sim/deterministic_random.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

namespace sluice::test {
namespace {

uint64_t state = 0x9e3779b97f4a7c15ull;

// splitmix64: tiny, well distributed, and all a simulation needs.
uint64_t next() {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const char* name() { return "sluice-test-splitmix"; }
uint32_t random32() { return static_cast<uint32_t>(next()); }
void stir() {}
void buf(void* out, size_t n) {
  auto* p = static_cast<uint8_t*>(out);
  while (n > 0) {
    uint64_t v = next();
    size_t k = n < 8 ? n : 8;
    std::memcpy(p, &v, k);
    p += k;
    n -= k;
  }
}
int close_impl() { return 0; }

randombytes_implementation implementation = {name, random32, stir, nullptr, buf, close_impl};

}  // namespace

void use_deterministic_randombytes() {
  randombytes_set_implementation(&implementation);
  if (sodium_init() < 0) std::abort();
  // A simulated day of rekeys would otherwise print thousands of info lines.
  spdlog::set_level(spdlog::level::warn);
}

void reseed_randombytes(uint64_t seed) { state = seed; }

}  // namespace sluice::test
