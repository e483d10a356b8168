// lwIP's notion of time (sys_now(), in milliseconds) as a view of the caller's monotonic clock:
// ipstack reads no clock itself. Every IpStack call sets it from the `Now` it is given.
//
// lwIP's timeout list is process-wide and outlives an IpStack, so this clock is too: a new
// IpStack continues lwIP's milliseconds from where the last one left them, whatever its
// caller's clock says, and the clock never runs backwards (a `now` older than the last one is
// ignored). Single-threaded, like everything that touches lwIP.
#pragma once

#include <cstdint>

namespace sluice::ipstack {

// Anchors the caller's clock at `mono_ns` to lwIP's current milliseconds (a new IpStack).
void lwip_clock_start(int64_t mono_ns);
// Moves lwIP's clock to the caller's `mono_ns`; earlier times than the last one are ignored.
void lwip_clock_set(int64_t mono_ns);
// lwIP's current time, what sys_now() returns.
uint32_t lwip_clock_now_ms();
// The caller's time at which lwIP's clock reaches `ms_from_now` milliseconds after its current
// value: how a lwIP sleep time becomes a deadline on the caller's clock.
int64_t lwip_clock_deadline(uint32_t ms_from_now);

}  // namespace sluice::ipstack
