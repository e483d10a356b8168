// Per-source token buckets for handshake messages while the device is under load. Under load a
// handshake is only considered once its mac2 proves the sender got our cookie, and this caps
// how often any one source may then make us do Diffie-Hellman: each source earns
// kRatelimitPacketsPerSecond and may save up kRatelimitPacketsBurstable of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tunnel/ip_address.h"

namespace sluice {

inline constexpr int64_t kRatelimitPacketsPerSecond = 20;
inline constexpr int64_t kRatelimitPacketsBurstable = 5;
// Enough distinct sources for any honest load. The table costs 48 bytes per allowed entry
// (it is kept at most half full), so 384 KiB at this default.
inline constexpr size_t kRatelimitMaxEntries = 8192;

class Ratelimiter {
 public:
  // `hash_seed` keys the table's hash so that remote hosts cannot choose addresses that pile
  // into one probe chain; the platform layer should pass a random value. Nothing is allocated
  // until the first allow(): a device never under load pays no memory for this. `max_entries`
  // is clamped to [1, 2^24].
  explicit Ratelimiter(uint64_t hash_seed = 0, size_t max_entries = kRatelimitMaxEntries);

  // Whether a handshake message from `source` may be processed at `now_ns` (monotonic). IPv4
  // sources are limited per address, IPv6 per /64, since one host commonly holds a whole /64;
  // IPv4-mapped IPv6 addresses count as the IPv4 address. Collects idle entries at most once
  // a second of `now_ns`. A new source is refused while the table is full.
  bool allow(const IpAddress& source, int64_t now_ns);

  // Forgets sources idle for a second or more. allow() already does this lazily, at most once
  // a second; a caller with a periodic timer may call it to release entries sooner. It costs
  // O(1) unless some entry may have expired, and a sweep of the table otherwise.
  void collect(int64_t now_ns);

  size_t size() const { return count_; }
  size_t max_entries() const { return max_entries_; }
  void clear();

 private:
  struct Entry {
    uint64_t key = 0;
    int64_t last_ns = 0;
    int32_t tokens = 0;  // nanoseconds of credit: at most a quarter second, so 32 bits do
    uint8_t family = 0;  // 0 marks a free slot
  };

  uint64_t slot_of(uint64_t key, uint8_t family) const;
  void erase_at(size_t slot);

  // Open addressing with linear probing, at most half full: one allocation, no per-call
  // allocation, and deletion without tombstones.
  std::vector<Entry> table_;
  size_t count_ = 0;
  size_t max_entries_;
  uint64_t hash_seed_;
  int64_t next_collect_ns_ = 0;
  // No entry was last seen before this, so collect() can tell cheaply that none has expired.
  int64_t oldest_ns_ = 0;
};

}  // namespace sluice
