#include "crypto/tai64n.h"

#include <cstring>

namespace sluice::crypto {

namespace {

constexpr uint64_t kTai64Label = (uint64_t{1} << 62) + 10;
constexpr int64_t kNanosecondsPerSecond = 1'000'000'000;

// The timestamp is sent to anyone who knows the responder's public key, and fine-grained
// nanoseconds would let them fingerprint our clock or time our internals. Rounding down to
// 2^24 ns (~16.8 ms, the power of two below 1/50 s, WireGuard's initiation rate limit) keeps
// consecutive initiations ordered while hiding the rest. Same mask as wireguard-go and Linux.
constexpr uint32_t kWhitenerMask = (uint32_t{1} << 24) - 1;

}  // namespace

Tai64n tai64n_from_unix_ns(int64_t wall_ns) {
  // Floor division, so times before 1970 still yield nanoseconds in [0, 1e9).
  int64_t seconds = wall_ns / kNanosecondsPerSecond;
  int64_t nanoseconds = wall_ns % kNanosecondsPerSecond;
  if (nanoseconds < 0) {
    nanoseconds += kNanosecondsPerSecond;
    seconds -= 1;
  }
  const uint64_t tai_seconds = kTai64Label + static_cast<uint64_t>(seconds);
  const uint32_t tai_nanoseconds = static_cast<uint32_t>(nanoseconds) & ~kWhitenerMask;

  Tai64n out;
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(tai_seconds >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<uint8_t>(tai_nanoseconds >> (24 - 8 * i));
  return out;
}

bool tai64n_after(const Tai64n& a, const Tai64n& b) { return std::memcmp(a.data(), b.data(), a.size()) > 0; }

}  // namespace sluice::crypto
