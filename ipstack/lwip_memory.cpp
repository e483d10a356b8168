#include "ipstack/lwip_memory.h"

#include "lwip/memp.h"
#include "lwip/priv/memp_priv.h"
#include "lwip/stats.h"

namespace sluice::ipstack {

LwipMemory lwip_memory() {
  LwipMemory m;
  m.heap_bytes = lwip_stats.mem.avail;
  m.heap_used = lwip_stats.mem.used;
  for (int i = 0; i < MEMP_MAX; ++i) {
    const memp_desc* pool = memp_pools[i];
    m.pool_bytes += static_cast<size_t>(pool->num) * (MEMP_SIZE + MEMP_ALIGN_SIZE(pool->size));
    m.pool_elements_used += pool->stats->used;
  }
  return m;
}

}  // namespace sluice::ipstack
