// What lwIP's static memory costs and how much of it is in use. lwIP allocates nothing from
// the system heap (MEM_LIBC_MALLOC=0, MEMP_MEM_MALLOC=0): its heap and pools are static arrays
// sized by lwipopts.h, so these figures are the whole of lwIP's memory.
#pragma once

#include <cstddef>

namespace sluice::ipstack {

struct LwipMemory {
  size_t heap_bytes = 0;        // lwIP's heap (MEM_SIZE): PBUF_RAM, i.e. TCP send data
  size_t pool_bytes = 0;        // all memp pools, PBUF_POOL included
  size_t heap_used = 0;         // bytes of the heap allocated now
  size_t pool_elements_used = 0;  // elements of all pools allocated now (pcbs, segments,
                                  // pbufs, timeouts...)
  size_t total_bytes() const { return heap_bytes + pool_bytes; }
};

// Only meaningful once an IpStack has initialised lwIP; reads lwIP's statistics.
LwipMemory lwip_memory();

}  // namespace sluice::ipstack
