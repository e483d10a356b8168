#include "bench/allocation_count.h"

#include <cstdlib>
#include <new>

namespace {
// Per thread, so that the threads of the all-cores phases neither contend nor count each
// other's start-up.
thread_local uint64_t allocations = 0;

void* counted_allocation(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

namespace sluice::bench {
uint64_t thread_allocations() { return allocations; }
}  // namespace sluice::bench

// The replaceable forms that libstdc++'s other forms (arrays, nothrow) forward to. Aligned
// (over-aligned types) allocations are not counted; nothing on the data path uses them.
void* operator new(std::size_t size) { return counted_allocation(size); }
void* operator new[](std::size_t size) { return counted_allocation(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
