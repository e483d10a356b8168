#include "ipstack/lwip_clock.h"

#include "lwip/sys.h"

namespace sluice::ipstack {

namespace {
constexpr int64_t kNanosPerMs = 1'000'000;

int64_t anchor_ns = 0;     // the caller's time when this IpStack started
uint32_t anchor_ms = 0;    // lwIP's time at that moment
int64_t last_ns = 0;       // the latest caller time seen since the anchor
uint32_t current_ms = 0;   // what sys_now() returns
}  // namespace

void lwip_clock_start(int64_t mono_ns) {
  anchor_ns = mono_ns;
  anchor_ms = current_ms;
  last_ns = mono_ns;
}

void lwip_clock_set(int64_t mono_ns) {
  if (mono_ns <= last_ns) return;
  last_ns = mono_ns;
  // Unsigned arithmetic: lwIP compares times modulo 2^32 (49.7 days), so wrapping is intended.
  const auto elapsed_ms = static_cast<uint64_t>((mono_ns - anchor_ns) / kNanosPerMs);
  current_ms = static_cast<uint32_t>(anchor_ms + elapsed_ms);
}

uint32_t lwip_clock_now_ms() { return current_ms; }

int64_t lwip_clock_deadline(uint32_t ms_from_now) {
  // Whole milliseconds since the anchor, plus the wait: the caller's time at which
  // lwip_clock_set() first yields a value >= current_ms + ms_from_now.
  const int64_t elapsed_ms = (last_ns - anchor_ns) / kNanosPerMs;
  return anchor_ns + (elapsed_ms + static_cast<int64_t>(ms_from_now)) * kNanosPerMs;
}

}  // namespace sluice::ipstack

// lwIP's only clock (NO_SYS=1).
extern "C" u32_t sys_now(void) { return sluice::ipstack::lwip_clock_now_ms(); }
