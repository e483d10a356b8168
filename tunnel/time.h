// Time as the sans-IO core sees it: the caller passes both clocks in with every call.
#pragma once

#include <cstdint>

namespace sluice {

struct Now {
  int64_t mono_ns = 0;  // monotonic: every timer and age is measured on this clock
  int64_t wall_ns = 0;  // Unix time: only for TAI64N timestamps and reported handshake times
};

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;
inline constexpr int64_t kNanosPerMilli = 1'000'000;
constexpr int64_t seconds(int64_t s) { return s * kNanosPerSecond; }
constexpr int64_t millis(int64_t ms) { return ms * kNanosPerMilli; }

}  // namespace sluice
