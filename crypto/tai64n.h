// TAI64N timestamps, the payload of a handshake initiation. A responder accepts an
// initiation only if its timestamp is later than the last one it accepted from that peer,
// which is what stops a captured initiation from being replayed.
#pragma once

#include <array>
#include <cstdint>

namespace sluice::crypto {

using Tai64n = std::array<uint8_t, 12>;

// Seconds since 1970 plus 2^62 + 10 (the TAI64 label), big-endian, then nanoseconds
// big-endian. `wall_ns` is the Unix wall clock in nanoseconds, read by the caller.
Tai64n tai64n_from_unix_ns(int64_t wall_ns);

// True when `a` is strictly later than `b`.
bool tai64n_after(const Tai64n& a, const Tai64n& b);

}  // namespace sluice::crypto
