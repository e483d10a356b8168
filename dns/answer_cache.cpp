#include "dns/answer_cache.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace sluice::dns {

namespace {

constexpr size_t kHeaderBytes = 12;  // RFC 1035 section 4.1.1
constexpr size_t kMaxMessageBytes = 65535;
constexpr uint32_t kMaxTtl = 0x7fffffff;  // RFC 2181 section 8: larger values mean 0

uint32_t read_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

void write_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

size_t round_up_power_of_two(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

// Sequential access to an entry's bytes across its block chain; Byte is const for reading.
template <typename Byte>
class ChainCursor {
 public:
  ChainCursor(Byte* arena, const uint32_t* next, uint32_t first) : arena_(arena), next_(next), block_(first) {}

  // The next `n` bytes, in up to block-sized pieces, each handed to f(pointer, length).
  template <typename F>
  void walk(size_t n, F&& f) {
    while (n > 0) {
      if (used_ == AnswerCache::kBlockBytes) {
        block_ = next_[block_];
        used_ = 0;
      }
      size_t take = std::min(n, AnswerCache::kBlockBytes - used_);
      f(arena_ + size_t{block_} * AnswerCache::kBlockBytes + used_, take);
      used_ += take;
      n -= take;
    }
  }

 private:
  Byte* arena_;
  const uint32_t* next_;
  uint32_t block_;
  size_t used_ = 0;
};

}  // namespace

AnswerCache::AnswerCache(const CacheLimits& limits) : limits_(limits) {
  limits_.max_entries = std::min(limits_.max_entries, CacheLimits::kMaxEntriesLimit);
  limits_.max_bytes = std::min(limits_.max_bytes, CacheLimits::kMaxBytesLimit);
  if (sodium_init() < 0) std::abort();
  // A secret index key, so that nobody who can send queries can pile them into one chain.
  randombytes_buf(hash_key_.data(), hash_key_.size());

  const size_t blocks = limits_.max_bytes / kBlockBytes;
  if (limits_.max_entries == 0 || blocks == 0) {
    limits_.max_entries = 0;
    return;
  }
  slots_.resize(limits_.max_entries);
  index_.assign(round_up_power_of_two(2 * limits_.max_entries), kNone);
  index_mask_ = index_.size() - 1;
  arena_.resize(blocks * kBlockBytes);
  next_block_.resize(blocks);
  clear();
}

void AnswerCache::clear() {
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i] = Slot{};
    slots_[i].lru_next = i + 1 < slots_.size() ? static_cast<uint32_t>(i + 1) : kNone;
  }
  free_slot_ = slots_.empty() ? kNone : 0;
  lru_head_ = lru_tail_ = kNone;
  std::fill(index_.begin(), index_.end(), kNone);
  for (size_t i = 0; i < next_block_.size(); ++i) {
    next_block_[i] = i + 1 < next_block_.size() ? static_cast<uint32_t>(i + 1) : kNone;
  }
  free_block_ = next_block_.empty() ? kNone : 0;
  free_blocks_ = next_block_.size();
  counters_.entries = 0;
  counters_.bytes = 0;
}

size_t AnswerCache::memory_bytes() const {
  return sizeof(*this) + slots_.capacity() * sizeof(Slot) + index_.capacity() * sizeof(uint32_t) +
         arena_.capacity() + next_block_.capacity() * sizeof(uint32_t);
}

uint64_t AnswerCache::hash_of(const CacheKey& key) const {
  uint8_t input[CanonicalName::kMaxWireBytes + 5];
  auto qname = key.qname.wire();
  std::memcpy(input, qname.data(), qname.size());
  uint8_t* tail = input + qname.size();
  tail[0] = static_cast<uint8_t>(key.qtype >> 8);
  tail[1] = static_cast<uint8_t>(key.qtype);
  tail[2] = static_cast<uint8_t>(key.qclass >> 8);
  tail[3] = static_cast<uint8_t>(key.qclass);
  tail[4] = key.dnssec_ok ? 1 : 0;
  uint8_t out[crypto_shorthash_BYTES];
  crypto_shorthash(out, input, qname.size() + 5, hash_key_.data());
  uint64_t h = 0;
  for (uint8_t b : out) h = h << 8 | b;
  return h;
}

bool AnswerCache::same_key(const Slot& slot, const CacheKey& key) const {
  auto qname = key.qname.wire();
  if (slot.qtype != key.qtype || slot.qclass != key.qclass || slot.dnssec_ok != key.dnssec_ok ||
      slot.qname_size != qname.size()) {
    return false;
  }
  bool equal = true;
  size_t at = 0;
  ChainCursor<const uint8_t>(arena_.data(), next_block_.data(), slot.first_block).walk(qname.size(), [&](const uint8_t* p, size_t n) {
    equal = equal && std::memcmp(p, qname.data() + at, n) == 0;
    at += n;
  });
  return equal;
}

uint32_t AnswerCache::find(const CacheKey& key, uint64_t hash) const {
  for (size_t pos = hash & index_mask_; index_[pos] != kNone; pos = (pos + 1) & index_mask_) {
    const Slot& slot = slots_[index_[pos]];
    if (slot.hash == hash && same_key(slot, key)) return index_[pos];
  }
  return kNone;
}

void AnswerCache::index_insert(uint32_t slot) {
  size_t pos = slots_[slot].hash & index_mask_;
  while (index_[pos] != kNone) pos = (pos + 1) & index_mask_;
  index_[pos] = slot;
}

// Backward-shift deletion: linear probing stays correct without tombstones, so a long-running
// cache never degrades into full scans.
void AnswerCache::index_erase(uint32_t slot) {
  size_t hole = slots_[slot].hash & index_mask_;
  while (index_[hole] != slot) hole = (hole + 1) & index_mask_;
  for (size_t next = (hole + 1) & index_mask_; index_[next] != kNone; next = (next + 1) & index_mask_) {
    size_t home = slots_[index_[next]].hash & index_mask_;
    // The entry at `next` may fill the hole only if its home is not cyclically in (hole, next].
    bool home_after_hole = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (!home_after_hole) {
      index_[hole] = index_[next];
      hole = next;
    }
  }
  index_[hole] = kNone;
}

void AnswerCache::lru_unlink(uint32_t slot) {
  Slot& s = slots_[slot];
  if (s.lru_prev != kNone) slots_[s.lru_prev].lru_next = s.lru_next; else lru_head_ = s.lru_next;
  if (s.lru_next != kNone) slots_[s.lru_next].lru_prev = s.lru_prev; else lru_tail_ = s.lru_prev;
  s.lru_prev = s.lru_next = kNone;
}

void AnswerCache::lru_push_front(uint32_t slot) {
  Slot& s = slots_[slot];
  s.lru_prev = kNone;
  s.lru_next = lru_head_;
  if (lru_head_ != kNone) slots_[lru_head_].lru_prev = slot;
  lru_head_ = slot;
  if (lru_tail_ == kNone) lru_tail_ = slot;
}

void AnswerCache::remove(uint32_t slot) {
  index_erase(slot);
  lru_unlink(slot);
  Slot& s = slots_[slot];
  // Give the chain back: its last block points at the old free list.
  uint32_t last = s.first_block;
  for (uint32_t i = 1; i < s.block_count; ++i) last = next_block_[last];
  next_block_[last] = free_block_;
  free_block_ = s.first_block;
  free_blocks_ += s.block_count;
  counters_.bytes -= uint64_t{s.block_count} * kBlockBytes;
  --counters_.entries;
  s = Slot{};
  s.lru_next = free_slot_;
  free_slot_ = slot;
}

AnswerCache::Store AnswerCache::insert(const CacheKey& key, std::span<const uint8_t> response,
                                       std::span<const uint16_t> ttl_offsets, uint32_t ttl, bool negative,
                                       int64_t now_ns) {
  auto reject = [&](Store why) {
    ++counters_.rejected;
    return why;
  };
  if (response.size() < kHeaderBytes || response.size() > kMaxMessageBytes) return reject(Store::malformed);
  size_t next_free = kHeaderBytes;
  for (uint16_t offset : ttl_offsets) {
    if (offset < next_free || size_t{offset} + 4 > response.size()) return reject(Store::malformed);
    next_free = size_t{offset} + 4;
  }
  if (limits_.max_entries == 0) return reject(Store::uncacheable);
  if (ttl > kMaxTtl) ttl = 0;
  // RFC 1035 section 3.2.1: TTL 0 means "use for this transaction only"; no floor overrides it.
  if (ttl == 0) return reject(Store::uncacheable);
  ttl = std::min(std::max(ttl, limits_.min_ttl), ceiling(negative));
  if (ttl == 0) return reject(Store::uncacheable);

  auto qname = key.qname.wire();
  const size_t bytes = qname.size() + response.size() + 2 * ttl_offsets.size();
  const size_t blocks = (bytes + kBlockBytes - 1) / kBlockBytes;
  if (blocks > next_block_.size()) return reject(Store::too_large);

  const uint64_t hash = hash_of(key);
  if (uint32_t old = find(key, hash); old != kNone) remove(old);
  while (free_slot_ == kNone || free_blocks_ < blocks) {
    remove(lru_tail_);
    ++counters_.evictions;
  }

  const uint32_t slot = free_slot_;
  Slot& s = slots_[slot];
  free_slot_ = s.lru_next;
  s = Slot{};
  s.hash = hash;
  s.inserted_ns = now_ns;
  s.ttl = ttl;
  s.qtype = key.qtype;
  s.qclass = key.qclass;
  s.dnssec_ok = key.dnssec_ok;
  s.negative = negative;
  s.qname_size = static_cast<uint8_t>(qname.size());
  s.response_size = static_cast<uint16_t>(response.size());
  s.ttl_count = static_cast<uint16_t>(ttl_offsets.size());
  s.block_count = static_cast<uint32_t>(blocks);
  s.first_block = free_block_;
  uint32_t last = free_block_;
  for (size_t i = 1; i < blocks; ++i) last = next_block_[last];
  free_block_ = next_block_[last];
  next_block_[last] = kNone;
  free_blocks_ -= blocks;

  ChainCursor<uint8_t> cursor(arena_.data(), next_block_.data(), s.first_block);
  auto copy_in = [&](const uint8_t* from, size_t n) {
    size_t at = 0;
    cursor.walk(n, [&](uint8_t* p, size_t k) {
      std::memcpy(p, from + at, k);
      at += k;
    });
  };
  copy_in(qname.data(), qname.size());
  copy_in(response.data(), response.size());
  for (uint16_t offset : ttl_offsets) {
    const uint8_t be[2] = {static_cast<uint8_t>(offset >> 8), static_cast<uint8_t>(offset)};
    copy_in(be, 2);
  }

  index_insert(slot);
  lru_push_front(slot);
  ++counters_.insertions;
  ++counters_.entries;
  counters_.bytes += uint64_t{blocks} * kBlockBytes;
  return Store::stored;
}

size_t AnswerCache::lookup(const CacheKey& key, uint16_t id, int64_t now_ns, std::span<uint8_t> out) {
  if (limits_.max_entries == 0) {
    ++counters_.misses;
    return 0;
  }
  const uint32_t slot = find(key, hash_of(key));
  if (slot == kNone) {
    ++counters_.misses;
    return 0;
  }
  const Slot& s = slots_[slot];
  // A monotonic clock does not go back, but a caller mixing clocks must not get negative ages.
  const int64_t age_ns = std::max<int64_t>(0, now_ns - s.inserted_ns);
  if (age_ns / 1'000'000'000 >= int64_t{s.ttl}) {
    remove(slot);
    ++counters_.expired;
    ++counters_.misses;
    return 0;
  }
  if (out.size() < s.response_size) {
    ++counters_.misses;
    return 0;
  }
  const auto age = static_cast<uint32_t>(age_ns / 1'000'000'000);

  ChainCursor<const uint8_t> cursor(arena_.data(), next_block_.data(), s.first_block);
  cursor.walk(s.qname_size, [](const uint8_t*, size_t) {});
  size_t at = 0;
  cursor.walk(s.response_size, [&](const uint8_t* p, size_t n) {
    std::memcpy(out.data() + at, p, n);
    at += n;
  });
  out[0] = static_cast<uint8_t>(id >> 8);
  out[1] = static_cast<uint8_t>(id);
  uint8_t be[2];
  size_t have = 0;
  const uint32_t high = ceiling(s.negative);
  for (uint16_t i = 0; i < s.ttl_count; ++i) {
    have = 0;
    cursor.walk(2, [&](const uint8_t* p, size_t n) {
      std::memcpy(be + have, p, n);
      have += n;
    });
    const size_t offset = size_t{be[0]} << 8 | be[1];
    uint32_t value = read_be32(out.data() + offset);
    if (value > kMaxTtl) value = 0;
    value = std::min(std::max(value, limits_.min_ttl), high);
    write_be32(out.data() + offset, value > age ? value - age : 0);
  }
  lru_unlink(slot);
  lru_push_front(slot);
  ++counters_.hits;
  return s.response_size;
}

}  // namespace sluice::dns
