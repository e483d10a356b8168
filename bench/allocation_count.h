// Counts heap allocations (operator new) made by the calling thread, so a benchmark can show
// that the hot path allocates nothing per packet after start-up. Linking allocation_count.cpp
// replaces the global operator new of the whole program.
#pragma once

#include <cstdint>

namespace sluice::bench {

// operator new calls made on this thread since it started.
uint64_t thread_allocations();

}  // namespace sluice::bench
