#include "tunnel/ratelimiter.h"

#include <algorithm>
#include <bit>
#include <cstdint>

#include "tunnel/time.h"

namespace sluice {

namespace {

// Token arithmetic is in nanoseconds: a packet costs the time it takes to earn one, and the
// bucket holds a burst's worth.
constexpr int64_t kPacketCost = kNanosPerSecond / kRatelimitPacketsPerSecond;
constexpr int64_t kTokenMax = kPacketCost * kRatelimitPacketsBurstable;
static_assert(kTokenMax <= INT32_MAX);

// A source idle this long has long since refilled its bucket (kTokenMax is a quarter second),
// and a fresh entry behaves exactly like a full one, so forgetting it changes no answer.
constexpr int64_t kEntryTimeout = kNanosPerSecond;
static_assert(kEntryTimeout >= kTokenMax);

// Saturates so that no clock value, however odd, overflows.
int64_t after_timeout(int64_t now_ns) {
  return now_ns > INT64_MAX - kEntryTimeout ? INT64_MAX : now_ns + kEntryTimeout;
}

bool timed_out(int64_t last_ns, int64_t now_ns) {
  return now_ns > last_ns &&
         static_cast<uint64_t>(now_ns) - static_cast<uint64_t>(last_ns) >= kEntryTimeout;
}

constexpr uint8_t kFamily4 = 4;
constexpr uint8_t kFamily6 = 6;

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (unsigned i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

bool is_v4_mapped(const IpAddress& a) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(kPrefix, kPrefix + 12, a.bytes.begin());
}

// 64-bit finaliser with good avalanche: every key bit affects every slot bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

}  // namespace

Ratelimiter::Ratelimiter(uint64_t hash_seed, size_t max_entries)
    // The upper clamp only keeps the table's size computation from overflowing.
    : max_entries_(std::clamp<size_t>(max_entries, 1, size_t{1} << 24)), hash_seed_(hash_seed) {}

uint64_t Ratelimiter::slot_of(uint64_t key, uint8_t family) const {
  // The seed is mixed in before and after so that it cannot be cancelled by choosing keys.
  uint64_t h = mix(key ^ hash_seed_) + family;
  return mix(h ^ std::rotl(hash_seed_, 29)) & (table_.size() - 1);
}

bool Ratelimiter::allow(const IpAddress& source, int64_t now_ns) {
  uint64_t key;
  uint8_t family;
  if (source.family == IpFamily::v4 || is_v4_mapped(source)) {
    const uint8_t* p = source.family == IpFamily::v4 ? &source.bytes[0] : &source.bytes[12];
    key = uint64_t{p[0]} << 24 | uint64_t{p[1]} << 16 | uint64_t{p[2]} << 8 | p[3];
    family = kFamily4;
  } else {
    key = load_be64(source.bytes.data());  // the /64
    family = kFamily6;
  }

  if (table_.empty()) {
    table_.resize(std::bit_ceil(2 * max_entries_));
    next_collect_ns_ = after_timeout(now_ns);
  } else if (now_ns >= next_collect_ns_) {
    collect(now_ns);
  }

  const size_t mask = table_.size() - 1;
  size_t slot = slot_of(key, family);
  while (table_[slot].family != 0) {
    Entry& e = table_[slot];
    if (e.key == key && e.family == family) {
      int64_t tokens = e.tokens;
      // A clock that stepped back earns nothing rather than corrupting the bucket.
      if (now_ns > e.last_ns) {
        uint64_t elapsed = static_cast<uint64_t>(now_ns) - static_cast<uint64_t>(e.last_ns);
        tokens = elapsed >= static_cast<uint64_t>(kTokenMax)
                     ? kTokenMax
                     : std::min(kTokenMax, tokens + static_cast<int64_t>(elapsed));
        e.last_ns = now_ns;
      }
      bool allowed = tokens >= kPacketCost;
      if (allowed) tokens -= kPacketCost;
      e.tokens = static_cast<int32_t>(tokens);
      return allowed;
    }
    slot = (slot + 1) & mask;
  }

  // Full means thousands of sources each sent a valid handshake within the last second: a
  // flood. Evicting someone to make room would hand every new source a fresh burst, so a
  // flood of distinct sources would never be limited at all and honest sources would lose
  // their place; refusing keeps both the memory bound and the limit, and idle entries free
  // their slots within a second.
  if (count_ >= max_entries_) return false;
  table_[slot] = Entry{key, now_ns, static_cast<int32_t>(kTokenMax - kPacketCost), family};
  oldest_ns_ = count_ == 0 ? now_ns : std::min(oldest_ns_, now_ns);
  ++count_;
  return true;
}

void Ratelimiter::erase_at(size_t slot) {
  // Backward-shift deletion: pull later members of the probe run into the hole whenever that
  // keeps them reachable from their home slot, so lookups never need tombstones.
  const size_t mask = table_.size() - 1;
  size_t hole = slot;
  for (size_t next = (slot + 1) & mask; table_[next].family != 0; next = (next + 1) & mask) {
    size_t home = slot_of(table_[next].key, table_[next].family);
    if (((next - home) & mask) >= ((next - hole) & mask)) {
      table_[hole] = table_[next];
      hole = next;
    }
  }
  table_[hole] = Entry{};
  --count_;
}

void Ratelimiter::collect(int64_t now_ns) {
  next_collect_ns_ = after_timeout(now_ns);
  // Entries' last_ns only ever grow, so oldest_ns_ stays a valid lower bound between sweeps.
  if (count_ == 0 || !timed_out(oldest_ns_, now_ns)) return;
  int64_t oldest = INT64_MAX;
  for (size_t i = 0; i < table_.size();) {
    const Entry& e = table_[i];
    if (e.family != 0 && timed_out(e.last_ns, now_ns)) {
      // Erasing may shift a later entry into slot i, so look at the same slot again.
      erase_at(i);
    } else {
      if (e.family != 0) oldest = std::min(oldest, e.last_ns);
      ++i;
    }
  }
  oldest_ns_ = oldest;
}

void Ratelimiter::clear() {
  std::fill(table_.begin(), table_.end(), Entry{});
  count_ = 0;
}

}  // namespace sluice
