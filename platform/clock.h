// The two clocks the sans-IO core is handed (tunnel/time.h's Now). Only platform/ reads them.
#pragma once

#include <cstdint>

namespace sluice::platform {

// CLOCK_MONOTONIC in ns: every timer, deadline and age.
int64_t monotonic_ns();
// CLOCK_REALTIME in ns since the Unix epoch: only TAI64N timestamps and reported times.
int64_t wall_ns();

}  // namespace sluice::platform
