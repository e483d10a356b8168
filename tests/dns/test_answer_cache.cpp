#include <catch2/catch.hpp>

#include <algorithm>
#include <list>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "dns/answer_cache.h"

using namespace sluice::dns;

namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;

CanonicalName name(const std::string& text) {
  auto n = CanonicalName::from_text(text);
  if (!n) FAIL("not a name: " << text);
  return *n;
}

CacheKey key(const std::string& qname, uint16_t qtype = kTypeA, bool dnssec_ok = false, uint16_t qclass = 1) {
  return CacheKey{name(qname), qtype, qclass, dnssec_ok};
}

struct Response {
  std::vector<uint8_t> bytes;
  std::vector<uint16_t> ttl_offsets;
};

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}
uint32_t get32(const std::vector<uint8_t>& in, size_t at) {
  return uint32_t{in[at]} << 24 | uint32_t{in[at + 1]} << 16 | uint32_t{in[at + 2]} << 8 | in[at + 3];
}

// A NOERROR response to `qname` IN A with one A record per TTL (owner compressed to the
// question), followed by `padding` bytes of an additional TXT-like record body.
Response make_response(const std::string& qname, std::vector<uint32_t> ttls, size_t padding = 0) {
  Response r;
  auto& b = r.bytes;
  put16(b, 0x1234);  // id
  put16(b, 0x8180);  // QR RD RA
  put16(b, 1);
  put16(b, static_cast<uint16_t>(ttls.size()));
  put16(b, 0);
  put16(b, 0);
  const CanonicalName owner = name(qname);
  b.insert(b.end(), owner.wire().begin(), owner.wire().end());
  put16(b, kTypeA);
  put16(b, 1);
  for (size_t i = 0; i < ttls.size(); ++i) {
    put16(b, 0xc00c);
    put16(b, kTypeA);
    put16(b, 1);
    r.ttl_offsets.push_back(static_cast<uint16_t>(b.size()));
    put32(b, ttls[i]);
    put16(b, 4);
    put32(b, 0x0a000001 + static_cast<uint32_t>(i));
  }
  b.insert(b.end(), padding, 0x5a);
  return r;
}

struct Hit {
  size_t size = 0;
  std::vector<uint8_t> bytes;
};

Hit lookup(AnswerCache& cache, const CacheKey& k, uint16_t id, int64_t now) {
  std::vector<uint8_t> out(65535, 0xee);
  Hit hit;
  hit.size = cache.lookup(k, id, now, out);
  out.resize(hit.size);
  hit.bytes = std::move(out);
  return hit;
}

AnswerCache::Store insert(AnswerCache& cache, const CacheKey& k, const Response& r, uint32_t ttl, int64_t now,
                          bool negative = false) {
  return cache.insert(k, r.bytes, r.ttl_offsets, ttl, negative, now);
}

}  // namespace

TEST_CASE("AnswerCache: a hit has the query's id and TTLs lowered by the age") {
  AnswerCache cache(CacheLimits{});
  const Response r = make_response("www.example.com", {300, 60});
  const int64_t t0 = 1000 * kSecond;
  REQUIRE(insert(cache, key("www.example.com"), r, 60, t0) == AnswerCache::Store::stored);

  Hit hit = lookup(cache, key("WWW.Example.com."), 0xbeef, t0 + 10 * kSecond + kSecond / 2);
  REQUIRE(hit.size == r.bytes.size());
  CHECK(hit.bytes[0] == 0xbe);
  CHECK(hit.bytes[1] == 0xef);
  CHECK(get32(hit.bytes, r.ttl_offsets[0]) == 290);
  CHECK(get32(hit.bytes, r.ttl_offsets[1]) == 50);
  // Everything else is the stored message.
  std::vector<uint8_t> expected = r.bytes;
  expected[0] = 0xbe;
  expected[1] = 0xef;
  expected[r.ttl_offsets[0] + 2] = 290 >> 8;
  expected[r.ttl_offsets[0] + 3] = 290 & 0xff;
  expected[r.ttl_offsets[1] + 3] = 50;
  CHECK(hit.bytes == expected);

  const CacheCounters& c = cache.counters();
  CHECK(c.hits == 1);
  CHECK(c.misses == 0);
  CHECK(c.insertions == 1);
  CHECK(c.entries == 1);
  CHECK(c.bytes == AnswerCache::kBlockBytes);  // 17 + 65 + 4 bytes fit one block
}

TEST_CASE("AnswerCache: an entry expires after its TTL and is then dropped") {
  AnswerCache cache(CacheLimits{});
  const Response r = make_response("a.example", {60});
  REQUIRE(insert(cache, key("a.example"), r, 60, 0) == AnswerCache::Store::stored);
  Hit last = lookup(cache, key("a.example"), 1, 60 * kSecond - 1);
  REQUIRE(last.size == r.bytes.size());
  CHECK(get32(last.bytes, r.ttl_offsets[0]) == 1);
  CHECK(lookup(cache, key("a.example"), 1, 60 * kSecond).size == 0);
  CHECK(cache.counters().expired == 1);
  CHECK(cache.counters().misses == 1);
  CHECK(cache.counters().entries == 0);
  CHECK(cache.counters().bytes == 0);
  CHECK(lookup(cache, key("a.example"), 1, 0).size == 0);
  CHECK(cache.counters().misses == 2);
}

TEST_CASE("AnswerCache: the key is name, type, class and DO bit") {
  AnswerCache cache(CacheLimits{});
  const Response a = make_response("k.example", {100});
  const Response b = make_response("k.example", {200});
  const Response c = make_response("k.example", {300});
  const Response d = make_response("k.example", {400});
  insert(cache, key("k.example", kTypeA), a, 100, 0);
  insert(cache, key("k.example", kTypeAaaa), b, 200, 0);
  insert(cache, key("k.example", kTypeA, true), c, 300, 0);
  insert(cache, key("k.example", kTypeA, false, 3), d, 400, 0);
  CHECK(cache.counters().entries == 4);
  CHECK(get32(lookup(cache, key("K.EXAMPLE", kTypeA), 0, 0).bytes, a.ttl_offsets[0]) == 100);
  CHECK(get32(lookup(cache, key("k.example", kTypeAaaa), 0, 0).bytes, b.ttl_offsets[0]) == 200);
  CHECK(get32(lookup(cache, key("k.example", kTypeA, true), 0, 0).bytes, c.ttl_offsets[0]) == 300);
  CHECK(get32(lookup(cache, key("k.example", kTypeA, false, 3), 0, 0).bytes, d.ttl_offsets[0]) == 400);
  CHECK(lookup(cache, key("k.example", kTypeAaaa, true), 0, 0).size == 0);
  CHECK(lookup(cache, key("x.k.example"), 0, 0).size == 0);

  // The same key again replaces the entry.
  const Response e = make_response("k.example", {500, 500});
  REQUIRE(insert(cache, key("k.example"), e, 500, 0) == AnswerCache::Store::stored);
  CHECK(cache.counters().entries == 4);
  Hit hit = lookup(cache, key("k.example"), 0, 0);
  CHECK(hit.size == e.bytes.size());
}

TEST_CASE("AnswerCache: the least recently used entry goes when the entry bound is reached") {
  CacheLimits limits;
  limits.max_entries = 3;
  AnswerCache cache(limits);
  for (const char* n : {"a.example", "b.example", "c.example"}) insert(cache, key(n), make_response(n, {60}), 60, 0);
  REQUIRE(lookup(cache, key("a.example"), 0, 0).size > 0);  // a is now the most recent
  insert(cache, key("d.example"), make_response("d.example", {60}), 60, 0);
  CHECK(cache.counters().evictions == 1);
  CHECK(cache.counters().entries == 3);
  CHECK(lookup(cache, key("b.example"), 0, 0).size == 0);
  CHECK(lookup(cache, key("a.example"), 0, 0).size > 0);
  CHECK(lookup(cache, key("c.example"), 0, 0).size > 0);
  CHECK(lookup(cache, key("d.example"), 0, 0).size > 0);
}

TEST_CASE("AnswerCache: the byte bound evicts as many entries as needed") {
  CacheLimits limits;
  limits.max_bytes = 4 * AnswerCache::kBlockBytes;
  AnswerCache cache(limits);
  // Each entry: 11 + 43 + 2 + 150 padding bytes = 206, two blocks.
  for (const char* n : {"a.example", "b.example"}) insert(cache, key(n), make_response(n, {60}, 150), 60, 0);
  CHECK(cache.counters().bytes == 4 * AnswerCache::kBlockBytes);
  // Three blocks: both older entries must go.
  insert(cache, key("c.example"), make_response("c.example", {60}, 300), 60, 0);
  CHECK(cache.counters().evictions == 2);
  CHECK(cache.counters().entries == 1);
  CHECK(cache.counters().bytes == 3 * AnswerCache::kBlockBytes);
  CHECK(lookup(cache, key("c.example"), 0, 0).size == make_response("c.example", {60}, 300).bytes.size());

  // Larger than the whole arena: refused, nothing evicted.
  CHECK(insert(cache, key("d.example"), make_response("d.example", {60}, 700), 60, 0) ==
        AnswerCache::Store::too_large);
  CHECK(cache.counters().entries == 1);
  CHECK(cache.counters().rejected == 1);
}

TEST_CASE("AnswerCache refuses malformed input and TTL 0") {
  AnswerCache cache(CacheLimits{});
  const Response r = make_response("m.example", {60, 60});
  const auto k = key("m.example");
  auto store = [&](std::vector<uint8_t> bytes, std::vector<uint16_t> offsets, uint32_t ttl = 60) {
    return cache.insert(k, bytes, offsets, ttl, false, 0);
  };
  CHECK(store({1, 2, 3}, {}) == AnswerCache::Store::malformed);
  CHECK(store(std::vector<uint8_t>(65536, 0), {}) == AnswerCache::Store::malformed);
  CHECK(store(r.bytes, {r.ttl_offsets[1], r.ttl_offsets[0]}) == AnswerCache::Store::malformed);  // not in order
  CHECK(store(r.bytes, {r.ttl_offsets[0], r.ttl_offsets[0]}) == AnswerCache::Store::malformed);  // repeated
  CHECK(store(r.bytes, {r.ttl_offsets[0], static_cast<uint16_t>(r.ttl_offsets[0] + 3)}) ==
        AnswerCache::Store::malformed);  // overlapping
  CHECK(store(r.bytes, {static_cast<uint16_t>(r.bytes.size() - 3)}) == AnswerCache::Store::malformed);
  CHECK(store(r.bytes, {4}) == AnswerCache::Store::malformed);  // inside the header
  CHECK(store(r.bytes, r.ttl_offsets, 0) == AnswerCache::Store::uncacheable);
  CHECK(store(r.bytes, r.ttl_offsets, 0x80000000u) == AnswerCache::Store::uncacheable);
  CHECK(cache.counters().rejected == 9);
  CHECK(cache.counters().entries == 0);
  CHECK(store(r.bytes, {static_cast<uint16_t>(r.bytes.size() - 4)}) == AnswerCache::Store::stored);
  CHECK(store(std::vector<uint8_t>(12, 0), {}) == AnswerCache::Store::stored);
}

TEST_CASE("AnswerCache: TTL floor and ceilings, and negative answers") {
  CacheLimits limits;
  limits.min_ttl = 100;
  limits.max_ttl = 1000;
  limits.max_negative_ttl = 30;
  AnswerCache cache(limits);

  // Floor: a 20-second answer is kept, and served, as 100 seconds.
  const Response low = make_response("low.example", {20});
  insert(cache, key("low.example"), low, 20, 0);
  CHECK(get32(lookup(cache, key("low.example"), 0, 50 * kSecond).bytes, low.ttl_offsets[0]) == 50);
  CHECK(lookup(cache, key("low.example"), 0, 100 * kSecond).size == 0);

  // Ceiling: a day becomes 1000 seconds.
  const Response high = make_response("high.example", {86400, 0x80000001u});
  insert(cache, key("high.example"), high, 86400, 0);
  Hit hit = lookup(cache, key("high.example"), 0, 0);
  CHECK(get32(hit.bytes, high.ttl_offsets[0]) == 1000);
  CHECK(get32(hit.bytes, high.ttl_offsets[1]) == 100);  // top bit set reads as 0, then the floor
  CHECK(lookup(cache, key("high.example"), 0, 999 * kSecond).size > 0);
  CHECK(lookup(cache, key("high.example"), 0, 1000 * kSecond).size == 0);

  // Negative: the caller's RFC 2308 TTL, capped by max_negative_ttl.
  const Response nx = make_response("nx.example", {900});
  insert(cache, key("nx.example"), nx, 900, 0, /*negative=*/true);
  CHECK(get32(lookup(cache, key("nx.example"), 0, 10 * kSecond).bytes, nx.ttl_offsets[0]) == 20);
  CHECK(lookup(cache, key("nx.example"), 0, 30 * kSecond).size == 0);
}

TEST_CASE("AnswerCache: a short output buffer is a miss that keeps the entry") {
  AnswerCache cache(CacheLimits{});
  const Response r = make_response("s.example", {60});
  insert(cache, key("s.example"), r, 60, 0);
  std::vector<uint8_t> small(r.bytes.size() - 1);
  CHECK(cache.lookup(key("s.example"), 0, 0, small) == 0);
  CHECK(cache.counters().misses == 1);
  std::vector<uint8_t> exact(r.bytes.size());
  CHECK(cache.lookup(key("s.example"), 0, 0, exact) == r.bytes.size());
}

TEST_CASE("AnswerCache: disabled, and cleared") {
  CacheLimits off;
  off.max_entries = 0;
  AnswerCache disabled(off);
  const Response r = make_response("d.example", {60});
  CHECK(insert(disabled, key("d.example"), r, 60, 0) == AnswerCache::Store::uncacheable);
  CHECK(lookup(disabled, key("d.example"), 0, 0).size == 0);

  AnswerCache cache(CacheLimits{});
  insert(cache, key("d.example"), r, 60, 0);
  cache.clear();
  CHECK(cache.counters().entries == 0);
  CHECK(cache.counters().bytes == 0);
  CHECK(lookup(cache, key("d.example"), 0, 0).size == 0);
  CHECK(insert(cache, key("d.example"), r, 60, 0) == AnswerCache::Store::stored);
  CHECK(lookup(cache, key("d.example"), 0, 0).size == r.bytes.size());
  CHECK(cache.memory_bytes() > CacheLimits{}.max_bytes);
}

// Random inserts, lookups and time steps against a plain model of an LRU cache with the same
// bounds. A small index (16 slots, 32 cells) with many keys makes probe runs wrap and collide,
// which exercises backward-shift deletion.
TEST_CASE("AnswerCache agrees with a model under random operations") {
  CacheLimits limits;
  limits.max_entries = 16;
  limits.max_bytes = 40 * AnswerCache::kBlockBytes;
  limits.min_ttl = 5;
  limits.max_ttl = 400;
  limits.max_negative_ttl = 50;
  AnswerCache cache(limits);

  struct Entry {
    Response response;
    uint32_t ttl;  // clamped
    bool negative;
    int64_t inserted;
    size_t blocks;
  };
  using Key = std::tuple<int, uint16_t, bool>;
  std::map<Key, Entry> model;
  std::list<Key> lru;  // front: most recent
  size_t used_blocks = 0;
  uint64_t evictions = 0;
  auto model_remove = [&](const Key& k) {
    used_blocks -= model.at(k).blocks;
    model.erase(k);
    lru.remove(k);
  };

  std::mt19937 rng(12345);
  int64_t now = 0;
  for (int step = 0; step < 20'000; ++step) {
    const int n = static_cast<int>(rng() % 40);
    const std::string qname = "host" + std::to_string(n) + ".example";
    const Key k{n, rng() % 2 ? kTypeA : kTypeAaaa, rng() % 4 == 0};
    const CacheKey ck = key(qname, std::get<1>(k), std::get<2>(k));
    const unsigned op = rng() % 10;
    if (op < 4) {
      std::vector<uint32_t> ttls;
      for (unsigned i = 0, count = rng() % 4; i < count; ++i) ttls.push_back(rng() % 600);
      Response r = make_response(qname, ttls, rng() % 3 == 0 ? rng() % 500 : 0);
      const uint32_t ttl = rng() % 500;
      const bool negative = rng() % 5 == 0;
      auto stored = cache.insert(ck, r.bytes, r.ttl_offsets, ttl, negative, now);
      if (ttl == 0) {
        REQUIRE(stored == AnswerCache::Store::uncacheable);
        continue;
      }
      const size_t bytes = ck.qname.wire().size() + r.bytes.size() + 2 * r.ttl_offsets.size();
      const size_t blocks = (bytes + AnswerCache::kBlockBytes - 1) / AnswerCache::kBlockBytes;
      if (blocks > 40) {
        REQUIRE(stored == AnswerCache::Store::too_large);
        continue;
      }
      REQUIRE(stored == AnswerCache::Store::stored);
      if (model.count(k)) model_remove(k);
      while (model.size() == 16 || used_blocks + blocks > 40) {
        model_remove(lru.back());
        ++evictions;
      }
      const uint32_t clamped = std::min(std::max(ttl, limits.min_ttl), negative ? limits.max_negative_ttl : limits.max_ttl);
      model[k] = Entry{std::move(r), clamped, negative, now, blocks};
      lru.push_front(k);
      used_blocks += blocks;
    } else if (op < 9) {
      const uint16_t id = static_cast<uint16_t>(rng());
      Hit hit = lookup(cache, ck, id, now);
      auto it = model.find(k);
      if (it != model.end() && now - it->second.inserted >= int64_t{it->second.ttl} * kSecond) {
        model_remove(k);
        it = model.end();
      }
      if (it == model.end()) {
        REQUIRE(hit.size == 0);
        continue;
      }
      const Entry& e = it->second;
      std::vector<uint8_t> expected = e.response.bytes;
      expected[0] = static_cast<uint8_t>(id >> 8);
      expected[1] = static_cast<uint8_t>(id);
      const auto age = static_cast<uint32_t>((now - e.inserted) / kSecond);
      for (uint16_t off : e.response.ttl_offsets) {
        uint32_t v = get32(expected, off);
        v = std::min(std::max(v, limits.min_ttl), e.negative ? limits.max_negative_ttl : limits.max_ttl);
        v = v > age ? v - age : 0;
        for (int i = 0; i < 4; ++i) expected[off + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
      }
      REQUIRE(hit.bytes == expected);
      lru.remove(k);
      lru.push_front(k);
    } else {
      now += static_cast<int64_t>(rng() % 30) * kSecond + static_cast<int64_t>(rng() % kSecond);
    }
    REQUIRE(cache.counters().entries == model.size());
    REQUIRE(cache.counters().bytes == used_blocks * AnswerCache::kBlockBytes);
    REQUIRE(cache.counters().evictions == evictions);
  }
  CHECK(cache.counters().hits > 1000);
  CHECK(cache.counters().expired > 100);
  CHECK(evictions > 100);
}
