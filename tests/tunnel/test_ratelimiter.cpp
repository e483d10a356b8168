#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <vector>

#include "tunnel/ratelimiter.h"
#include "tunnel/time.h"

using namespace sluice;

namespace {

IpAddress A(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

constexpr int64_t kCost = kNanosPerSecond / kRatelimitPacketsPerSecond;  // 50 ms

// How many of `n` back-to-back packets get through.
int allowed_of(Ratelimiter& r, const IpAddress& source, int n, int64_t now) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += r.allow(source, now);
  return allowed;
}

IpAddress v4(uint32_t x) {
  uint8_t b[4] = {static_cast<uint8_t>(x >> 24), static_cast<uint8_t>(x >> 16),
                  static_cast<uint8_t>(x >> 8), static_cast<uint8_t>(x)};
  return IpAddress::v4(b);
}

// The same token bucket written the obvious way, with no table bound and no forgetting: the
// real table must give identical answers, since it only forgets entries that are full anyway.
struct NaiveLimiter {
  struct Bucket {
    int64_t last;
    int64_t tokens;
  };
  std::map<std::vector<uint8_t>, Bucket> buckets;

  static std::vector<uint8_t> key_of(const IpAddress& a) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (a.family == IpFamily::v4) return {a.bytes.begin(), a.bytes.begin() + 4};
    if (std::equal(mapped, mapped + 12, a.bytes.begin())) return {a.bytes.begin() + 12, a.bytes.begin() + 16};
    return {a.bytes.begin(), a.bytes.begin() + 8};
  }
  bool allow(const IpAddress& a, int64_t now) {
    const int64_t max = kCost * kRatelimitPacketsBurstable;
    auto [it, fresh] = buckets.try_emplace(key_of(a), Bucket{now, max});
    Bucket& b = it->second;
    if (!fresh && now > b.last) {
      b.tokens = std::min(max, b.tokens + (now - b.last));
      b.last = now;
    }
    if (b.tokens < kCost) return false;
    b.tokens -= kCost;
    return true;
  }
  size_t live(int64_t now) const {
    size_t n = 0;
    for (auto& [k, b] : buckets) n += now - b.last < kNanosPerSecond;
    return n;
  }
};

}  // namespace

TEST_CASE("Ratelimiter: burst, then the refill rate", "[ratelimiter]") {
  Ratelimiter r;
  IpAddress a = A("192.0.2.1");
  int64_t t = seconds(100);
  CHECK(allowed_of(r, a, 10, t) == kRatelimitPacketsBurstable);
  // One packet's worth of time earns exactly one packet.
  t += kCost;
  CHECK(r.allow(a, t));
  CHECK_FALSE(r.allow(a, t));
  // Just short of a packet's worth earns nothing yet.
  t += kCost - 1;
  CHECK_FALSE(r.allow(a, t));
  t += 1;
  CHECK(r.allow(a, t));
  t += 2 * kCost;
  CHECK(r.allow(a, t));
  CHECK(r.allow(a, t));
  CHECK_FALSE(r.allow(a, t));
  // A long silence refills to the burst, never beyond it.
  t += seconds(60);
  CHECK(allowed_of(r, a, 10, t) == kRatelimitPacketsBurstable);
}

TEST_CASE("Ratelimiter: sustained rate is 20 per second", "[ratelimiter]") {
  Ratelimiter r;
  IpAddress a = A("198.51.100.7");
  int allowed = 0;
  // One packet per millisecond for ten seconds.
  for (int64_t ms = 0; ms < 10'000; ++ms) allowed += r.allow(a, millis(ms));
  CHECK(allowed == kRatelimitPacketsBurstable + 20 * 10 - 1);
}

TEST_CASE("Ratelimiter: sources are independent", "[ratelimiter]") {
  Ratelimiter r;
  int64_t t = 0;
  CHECK(allowed_of(r, A("10.0.0.1"), 10, t) == 5);
  CHECK(allowed_of(r, A("10.0.0.2"), 10, t) == 5);
  CHECK(allowed_of(r, A("2001:db8::1"), 10, t) == 5);
  CHECK_FALSE(r.allow(A("10.0.0.1"), t));
  CHECK(r.size() == 3);
}

TEST_CASE("Ratelimiter: IPv6 sources share a bucket per /64", "[ratelimiter]") {
  Ratelimiter r;
  int64_t t = 0;
  CHECK(r.allow(A("2001:db8:1:2::1"), t));
  CHECK(r.allow(A("2001:db8:1:2::2"), t));
  CHECK(r.allow(A("2001:db8:1:2:ffff:ffff:ffff:ffff"), t));
  CHECK(r.allow(A("2001:db8:1:2:1234::9"), t));
  CHECK(r.allow(A("2001:db8:1:2::5"), t));
  CHECK_FALSE(r.allow(A("2001:db8:1:2::6"), t));  // same /64: the burst is spent
  CHECK(r.allow(A("2001:db8:1:3::1"), t));        // the next /64 is someone else
  CHECK(r.size() == 2);
}

TEST_CASE("Ratelimiter: IPv4-mapped IPv6 counts as the IPv4 address", "[ratelimiter]") {
  // A dual-stack socket reports IPv4 peers this way; grouping them per /64 would put every
  // IPv4 source in the Internet into one bucket.
  Ratelimiter r;
  CHECK(allowed_of(r, A("203.0.113.5"), 3, 0) == 3);
  CHECK(allowed_of(r, A("::ffff:203.0.113.5"), 5, 0) == 2);
  CHECK(allowed_of(r, A("::ffff:203.0.113.6"), 5, 0) == 5);
  CHECK(r.size() == 2);
}

TEST_CASE("Ratelimiter: the table bound refuses new sources, not known ones", "[ratelimiter]") {
  Ratelimiter r(0x1234, 16);
  CHECK(r.max_entries() == 16);
  int64_t t = seconds(5);
  for (uint32_t i = 0; i < 16; ++i) CHECK(r.allow(v4(0x0a000000 + i), t));
  CHECK(r.size() == 16);
  CHECK_FALSE(r.allow(v4(0x0b000000), t));
  CHECK_FALSE(r.allow(A("2001:db8::1"), t));
  CHECK(r.size() == 16);
  // Known sources keep their buckets.
  CHECK(allowed_of(r, v4(0x0a000003), 10, t) == 4);
  // Once the old sources have been idle a second, the lazy collection frees their slots.
  t += seconds(1);
  CHECK(r.allow(v4(0x0b000000), t));
  CHECK(r.size() == 1);
}

TEST_CASE("Ratelimiter: collect forgets only sources idle for a second", "[ratelimiter]") {
  Ratelimiter r;
  for (uint32_t i = 0; i < 100; ++i) CHECK(r.allow(v4(i), 0));
  for (uint32_t i = 0; i < 100; i += 2) CHECK(r.allow(v4(i), millis(500)));
  r.collect(millis(999));
  CHECK(r.size() == 100);
  r.collect(millis(1000));
  CHECK(r.size() == 50);
  r.collect(millis(1499));
  CHECK(r.size() == 50);
  r.collect(millis(1500));
  CHECK(r.size() == 0);
  // A forgotten source starts again with a full burst.
  CHECK(allowed_of(r, v4(0), 10, millis(1500)) == 5);
}

TEST_CASE("Ratelimiter: a clock stepping back earns nothing", "[ratelimiter]") {
  Ratelimiter r;
  IpAddress a = A("192.0.2.9");
  CHECK(allowed_of(r, a, 5, seconds(10)) == 5);
  CHECK_FALSE(r.allow(a, seconds(9)));
  CHECK_FALSE(r.allow(a, seconds(10)));
  CHECK(r.allow(a, seconds(10) + kCost));
}

TEST_CASE("Ratelimiter: extreme clock values are safe", "[ratelimiter]") {
  Ratelimiter r;
  IpAddress a = A("192.0.2.10");
  CHECK(r.allow(a, INT64_MIN));
  CHECK(allowed_of(r, a, 10, INT64_MAX) == 5);
  r.collect(INT64_MAX);
  CHECK(r.allow(A("192.0.2.11"), INT64_MAX));
}

TEST_CASE("Ratelimiter: clear", "[ratelimiter]") {
  Ratelimiter r;
  CHECK(r.size() == 0);
  r.clear();  // before anything is allocated
  CHECK(allowed_of(r, A("192.0.2.1"), 10, 0) == 5);
  r.clear();
  CHECK(r.size() == 0);
  CHECK(allowed_of(r, A("192.0.2.1"), 10, 0) == 5);
}

TEST_CASE("Ratelimiter: randomised against a naive limiter", "[ratelimiter][random]") {
  struct Params {
    size_t sources;
    size_t max_entries;
    uint64_t seed;
  };
  // The small table runs close to half full, so probe runs are long and wrap around the end.
  for (Params p : {Params{3000, 8192, 1}, Params{60, 64, 2}, Params{60, 64, 3}, Params{500, 512, 4}}) {
    CAPTURE(p.sources, p.max_entries, p.seed);
    std::mt19937_64 rng(p.seed);
    std::vector<IpAddress> pool;
    for (size_t i = 0; i < p.sources; ++i) {
      IpAddress a;
      switch (rng() % 3) {
        case 0: a = v4(static_cast<uint32_t>(rng())); break;
        case 1: {
          std::array<uint8_t, 16> b{};
          for (auto& x : b) x = static_cast<uint8_t>(rng());
          a = IpAddress::v6(b.data());
          break;
        }
        default: {
          std::array<uint8_t, 16> b{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
          for (size_t k = 12; k < 16; ++k) b[k] = static_cast<uint8_t>(rng());
          a = IpAddress::v6(b.data());
        }
      }
      pool.push_back(a);
    }
    Ratelimiter r(rng(), p.max_entries);
    NaiveLimiter naive;
    int64_t now = seconds(1000);
    for (int step = 0; step < 200'000; ++step) {
      // Time mostly creeps, so a collection forgets some sources and keeps others (which is
      // what exercises deletion from the middle of probe runs); rarely it leaps.
      switch (rng() % 2000) {
        case 0: now += seconds(1) + static_cast<int64_t>(rng() % kNanosPerSecond); break;
        case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9: case 10: {
          r.collect(now);
          REQUIRE(r.size() == naive.live(now));
          break;
        }
        default: now += static_cast<int64_t>(rng() % millis(4)); break;
      }
      // A few busy sources and a long tail, so buckets both drain and expire.
      size_t i = rng() % 4 ? rng() % std::min<size_t>(8, pool.size()) : rng() % pool.size();
      // Host bits inside a /64 must not matter.
      IpAddress a = pool[i];
      if (a.family == IpFamily::v6 && a.bytes[10] != 0xff) a.bytes[15] ^= static_cast<uint8_t>(rng());
      REQUIRE(r.allow(a, now) == naive.allow(a, now));
      REQUIRE(r.size() <= p.max_entries);
    }
  }
}
