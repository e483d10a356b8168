// The cache of upstream answers. An entry is the response message exactly as it came back
// (the wire bytes), so a hit is a copy plus two patches: the query's id, and every TTL lowered
// by the entry's age. Negative answers (NXDOMAIN, NODATA) are cached the same way, for the
// negative TTL RFC 2308 section 5 defines (the caller works it out from the SOA record).
//
// Memory is taken once, in the constructor: a slot per entry, a hash index, and an arena of
// 128-byte blocks that holds the bytes. Entries are bounded both in number and in bytes, and
// the least recently used entry goes first when either bound is reached. Nothing allocates
// after construction, and nothing reads a clock: the caller passes monotonic nanoseconds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dns/domain_set.h"

namespace sluice::dns {

struct CacheKey {
  CanonicalName qname;
  uint16_t qtype = 0;
  uint16_t qclass = 1;  // IN
  // EDNS DO bit (RFC 3225): an answer fetched with DNSSEC records is not what a client that
  // did not ask for them expects, and the other way round.
  bool dnssec_ok = false;
};

struct CacheLimits {
  static constexpr size_t kMaxEntriesLimit = size_t{1} << 24;
  static constexpr size_t kMaxBytesLimit = size_t{1} << 32;

  size_t max_entries = 10'000;    // 0 disables the cache; at most kMaxEntriesLimit
  size_t max_bytes = 4 << 20;     // the arena; at most kMaxBytesLimit
  // Every TTL served is first brought into [min_ttl, max_ttl] (negative answers: into
  // [min_ttl, max_negative_ttl]), and the entry lives that long.
  uint32_t min_ttl = 0;
  uint32_t max_ttl = 86'400;
  uint32_t max_negative_ttl = 3'600;  // RFC 2308 section 5 suggests one to three hours
  bool operator==(const CacheLimits&) const = default;
};

struct CacheCounters {
  uint64_t hits = 0;
  uint64_t misses = 0;      // expired entries and too-small output buffers included
  uint64_t insertions = 0;
  uint64_t evictions = 0;   // entries pushed out to make room (least recently used first)
  uint64_t expired = 0;     // entries dropped because their TTL ran out
  uint64_t rejected = 0;    // insert() calls that stored nothing
  uint64_t entries = 0;     // held now
  uint64_t bytes = 0;       // arena bytes in use now (whole 128-byte blocks)
};

class AnswerCache {
 public:
  static constexpr size_t kBlockBytes = 128;

  // Allocates everything the cache will ever use. Limits above the *Limit constants are
  // lowered to them.
  explicit AnswerCache(const CacheLimits& limits);

  enum class Store : uint8_t {
    stored,
    uncacheable,  // TTL 0, or the cache is disabled
    too_large,    // more than the whole arena
    malformed,    // shorter than a DNS header, longer than 65535 bytes, or bad TTL offsets
  };

  // Copies `response` (caller-owned, only read during the call) into the cache under `key`,
  // replacing any entry with the same key. `ttl_offsets` are the byte offsets of the 32-bit
  // TTL field of every record whose TTL should age (never the OPT pseudo-record's), in
  // increasing order and not overlapping; `ttl` is the entry's lifetime in seconds: the
  // smallest record TTL for a positive answer, the negative TTL for a negative one. TTLs above
  // 2^31 - 1 count as 0 (RFC 2181 section 8).
  Store insert(const CacheKey& key, std::span<const uint8_t> response, std::span<const uint16_t> ttl_offsets,
               uint32_t ttl, bool negative, int64_t now_ns);

  // On a hit, writes the cached response into `out` (caller-owned) with its id set to `id` and
  // every TTL lowered by the entry's age in whole seconds, and returns its length. Returns 0 on
  // a miss: no entry, an expired entry (which is dropped), or `out` shorter than the entry.
  size_t lookup(const CacheKey& key, uint16_t id, int64_t now_ns, std::span<uint8_t> out);

  void clear();
  const CacheCounters& counters() const { return counters_; }
  const CacheLimits& limits() const { return limits_; }
  // Everything the constructor allocated.
  size_t memory_bytes() const;

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Slot {
    uint64_t hash = 0;
    int64_t inserted_ns = 0;
    uint32_t ttl = 0;  // seconds, already clamped
    uint32_t first_block = kNone;
    uint32_t block_count = 0;
    uint32_t lru_prev = kNone;  // towards the most recently used
    uint32_t lru_next = kNone;  // towards the least recently used; links the free list too
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    uint16_t response_size = 0;
    uint16_t ttl_count = 0;
    uint8_t qname_size = 0;
    bool dnssec_ok = false;
    bool negative = false;
  };

  uint64_t hash_of(const CacheKey& key) const;
  uint32_t find(const CacheKey& key, uint64_t hash) const;
  bool same_key(const Slot& slot, const CacheKey& key) const;
  void remove(uint32_t slot);
  void index_insert(uint32_t slot);
  void index_erase(uint32_t slot);
  void lru_unlink(uint32_t slot);
  void lru_push_front(uint32_t slot);
  uint32_t ceiling(bool negative) const { return negative ? limits_.max_negative_ttl : limits_.max_ttl; }

  CacheLimits limits_;
  CacheCounters counters_;
  std::array<uint8_t, 16> hash_key_{};

  std::vector<Slot> slots_;
  uint32_t free_slot_ = kNone;
  uint32_t lru_head_ = kNone;  // most recently used
  uint32_t lru_tail_ = kNone;  // evicted first

  // Open addressing with linear probing; twice as many cells as slots, so a probe always ends.
  std::vector<uint32_t> index_;
  size_t index_mask_ = 0;

  // Entry bytes: qname, response, then the TTL offsets (2 bytes each, big-endian), spread
  // over a chain of blocks linked through next_block_.
  std::vector<uint8_t> arena_;
  std::vector<uint32_t> next_block_;
  uint32_t free_block_ = kNone;
  size_t free_blocks_ = 0;
};

}  // namespace sluice::dns
