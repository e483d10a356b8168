// Makes libsodium's randomness (keys, indices, jitter) a seeded stream, so a simulation run
// is reproducible. Must run before the first sodium_init().
#pragma once

#include <cstdint>

namespace sluice::test {
void use_deterministic_randombytes();
void reseed_randombytes(uint64_t seed);
}  // namespace sluice::test
