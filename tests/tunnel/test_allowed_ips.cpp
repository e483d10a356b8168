#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "tunnel/allowed_ips.h"

using namespace sluice;

namespace {

IpPrefix P(const char* text) {
  auto p = IpPrefix::parse(text);
  REQUIRE(p);
  return *p;
}

IpAddress A(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

std::optional<uint32_t> lookup(const AllowedIps& t, const char* text) { return t.lookup(A(text)); }

// The obvious O(n) table the trie must agree with.
struct NaiveTable {
  std::map<IpPrefix, uint32_t> routes;

  void insert(const IpPrefix& p, uint32_t peer) { routes[p.masked()] = peer; }
  bool remove(const IpPrefix& p, uint32_t peer) {
    auto it = routes.find(p.masked());
    if (it == routes.end() || it->second != peer) return false;
    routes.erase(it);
    return true;
  }
  void remove_peer(uint32_t peer) { std::erase_if(routes, [&](auto& r) { return r.second == peer; }); }
  std::optional<uint32_t> lookup(const IpAddress& a) const {
    std::optional<uint32_t> best;
    int best_length = -1;
    for (auto& [p, peer] : routes) {
      if (p.contains(a) && int{p.length} > best_length) {
        best = peer;
        best_length = p.length;
      }
    }
    return best;
  }
};

// Addresses near a few fixed seeds, so random prefixes overlap and nest heavily instead of
// being scattered over an almost empty address space.
struct AddressGenerator {
  std::mt19937_64 rng;
  std::array<std::array<uint8_t, 16>, 4> seeds{};

  explicit AddressGenerator(uint64_t seed) : rng(seed) {
    for (auto& s : seeds)
      for (auto& b : s) b = static_cast<uint8_t>(rng());
  }
  IpAddress address(IpFamily family) {
    IpAddress a;
    a.family = family;
    unsigned bits = family == IpFamily::v4 ? 32 : 128;
    auto& seed = seeds[rng() % seeds.size()];
    // Keep the seed's first `keep` bits, randomise the rest.
    unsigned keep = static_cast<unsigned>(rng() % (bits + 1));
    for (unsigned i = 0; i < bits / 8; ++i) {
      uint8_t random = static_cast<uint8_t>(rng());
      unsigned start = i * 8;
      uint8_t keep_mask = keep >= start + 8 ? 0xff : keep <= start ? 0 : static_cast<uint8_t>(0xff00u >> (keep - start));
      a.bytes[i] = static_cast<uint8_t>((seed[i] & keep_mask) | (random & ~keep_mask));
    }
    return a;
  }
  IpPrefix prefix(IpFamily family) {
    IpPrefix p;
    p.address = address(family);
    unsigned bits = family == IpFamily::v4 ? 32 : 128;
    // Bias towards long prefixes and include the edge lengths 0 and max.
    switch (rng() % 4) {
      case 0: p.length = static_cast<uint8_t>(rng() % (bits + 1)); break;
      case 1: p.length = static_cast<uint8_t>(bits); break;
      default: p.length = static_cast<uint8_t>(bits - rng() % (bits / 4 + 1)); break;
    }
    if (rng() % 64 == 0) p.length = 0;
    return p;  // deliberately not masked: the table must ignore host bits
  }
  IpFamily family() { return rng() % 2 ? IpFamily::v4 : IpFamily::v6; }
};

void check_node_bound(const AllowedIps& t) {
  if (t.size() == 0)
    CHECK(t.node_count() == 0);
  else
    CHECK(t.node_count() < 2 * t.size());
}

}  // namespace

TEST_CASE("AllowedIps: empty table matches nothing", "[allowed_ips]") {
  AllowedIps t;
  CHECK(t.size() == 0);
  CHECK(t.empty());
  CHECK_FALSE(lookup(t, "1.2.3.4"));
  CHECK_FALSE(lookup(t, "::1"));
  CHECK(t.prefixes_of(1).empty());
  CHECK_FALSE(t.remove(P("10.0.0.0/8"), 1));
}

TEST_CASE("AllowedIps: default routes per family", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("0.0.0.0/0"), 1);
  CHECK(lookup(t, "0.0.0.0") == 1u);
  CHECK(lookup(t, "255.255.255.255") == 1u);
  CHECK(lookup(t, "192.168.1.1") == 1u);
  CHECK_FALSE(lookup(t, "::"));  // an IPv4 default route says nothing about IPv6
  t.insert(P("::/0"), 2);
  CHECK(lookup(t, "::") == 2u);
  CHECK(lookup(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == 2u);
  CHECK(lookup(t, "10.1.1.1") == 1u);
  CHECK(t.size() == 2);
}

TEST_CASE("AllowedIps: longest prefix wins among overlapping prefixes", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("10.1.0.0/16"), 2);
  t.insert(P("10.1.1.0/24"), 3);
  t.insert(P("10.1.1.1/32"), 4);
  t.insert(P("0.0.0.0/0"), 5);
  CHECK(lookup(t, "10.1.1.1") == 4u);
  CHECK(lookup(t, "10.1.1.2") == 3u);
  CHECK(lookup(t, "10.1.2.1") == 2u);
  CHECK(lookup(t, "10.2.0.0") == 1u);
  CHECK(lookup(t, "11.0.0.0") == 5u);
  CHECK(lookup(t, "9.255.255.255") == 5u);

  // Inserting shorter prefixes after longer ones exercises the "new node above" path.
  AllowedIps u;
  u.insert(P("10.1.1.1/32"), 4);
  u.insert(P("10.1.1.0/24"), 3);
  u.insert(P("10.1.0.0/16"), 2);
  u.insert(P("10.0.0.0/8"), 1);
  CHECK(lookup(u, "10.1.1.1") == 4u);
  CHECK(lookup(u, "10.1.1.2") == 3u);
  CHECK(lookup(u, "10.1.2.1") == 2u);
  CHECK(lookup(u, "10.2.0.0") == 1u);
  CHECK_FALSE(lookup(u, "11.0.0.0"));
}

TEST_CASE("AllowedIps: IPv6 prefixes across the 64-bit halves", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("2001:db8::/32"), 1);
  t.insert(P("2001:db8:0:1::/64"), 2);
  t.insert(P("2001:db8:0:1:8000::/65"), 3);
  t.insert(P("2001:db8:0:1::1/128"), 4);
  t.insert(P("2001:db8:0:1::/63"), 5);
  CHECK(lookup(t, "2001:db8:0:1::1") == 4u);
  CHECK(lookup(t, "2001:db8:0:1::2") == 2u);
  CHECK(lookup(t, "2001:db8:0:1:8000::2") == 3u);
  CHECK(lookup(t, "2001:db8::5") == 5u);  // 2001:db8:0:0::/64 lies in the /63
  CHECK(lookup(t, "2001:db8:0:2::") == 1u);
  CHECK_FALSE(lookup(t, "2001:db9::"));
}

TEST_CASE("AllowedIps: host routes", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("192.168.0.1/32"), 1);
  t.insert(P("192.168.0.2/32"), 2);
  t.insert(P("fd00::1/128"), 3);
  t.insert(P("fd00::2/128"), 4);
  CHECK(lookup(t, "192.168.0.1") == 1u);
  CHECK(lookup(t, "192.168.0.2") == 2u);
  CHECK_FALSE(lookup(t, "192.168.0.3"));
  CHECK_FALSE(lookup(t, "192.168.0.0"));
  CHECK(lookup(t, "fd00::1") == 3u);
  CHECK(lookup(t, "fd00::2") == 4u);
  CHECK_FALSE(lookup(t, "fd00::3"));
  // Two diverging host routes need one branch point.
  CHECK(t.node_count() == 6);
}

TEST_CASE("AllowedIps: the same prefix moves to the newest peer", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("10.0.0.0/24"), 1);
  t.insert(P("10.0.1.0/24"), 1);
  t.insert(P("10.0.0.0/24"), 2);
  CHECK(t.size() == 2);
  CHECK(lookup(t, "10.0.0.9") == 2u);
  CHECK(t.prefixes_of(1) == std::vector<IpPrefix>{P("10.0.1.0/24")});
  CHECK(t.prefixes_of(2) == std::vector<IpPrefix>{P("10.0.0.0/24")});
  // The old owner can no longer remove it.
  CHECK_FALSE(t.remove(P("10.0.0.0/24"), 1));
  CHECK(lookup(t, "10.0.0.9") == 2u);
  CHECK(t.remove(P("10.0.0.0/24"), 2));
  CHECK_FALSE(lookup(t, "10.0.0.9"));
}

TEST_CASE("AllowedIps: host bits of an inserted prefix are ignored", "[allowed_ips]") {
  AllowedIps t;
  IpPrefix sloppy{A("10.1.2.3"), 8};
  t.insert(sloppy, 7);
  CHECK(lookup(t, "10.200.0.0") == 7u);
  CHECK(t.prefixes_of(7) == std::vector<IpPrefix>{P("10.0.0.0/8")});
  CHECK(t.remove(IpPrefix{A("10.9.9.9"), 8}, 7));
  CHECK(t.empty());
}

TEST_CASE("AllowedIps: invalid prefix lengths are refused", "[allowed_ips]") {
  AllowedIps t;
  CHECK_FALSE(t.insert(IpPrefix{A("10.0.0.0"), 33}, 1));
  CHECK_FALSE(t.insert(IpPrefix{A("::"), 129}, 1));
  CHECK(t.empty());
  CHECK_FALSE(t.remove(IpPrefix{A("10.0.0.0"), 33}, 1));
}

TEST_CASE("AllowedIps: remove restores the previous match and frees nodes", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("10.1.0.0/16"), 2);
  t.insert(P("10.2.0.0/16"), 3);
  CHECK(lookup(t, "10.1.0.1") == 2u);
  CHECK_FALSE(t.remove(P("10.1.0.0/16"), 3));  // wrong owner
  CHECK_FALSE(t.remove(P("10.1.0.0/17"), 2));  // not present
  CHECK_FALSE(t.remove(P("10.0.0.0/7"), 1));   // a branch point, not a prefix
  CHECK(t.remove(P("10.1.0.0/16"), 2));
  CHECK_FALSE(t.remove(P("10.1.0.0/16"), 2));
  CHECK(lookup(t, "10.1.0.1") == 1u);
  CHECK(t.size() == 2);
  CHECK(t.remove(P("10.0.0.0/8"), 1));
  CHECK_FALSE(lookup(t, "10.1.0.1"));
  CHECK(lookup(t, "10.2.3.4") == 3u);
  CHECK(t.node_count() == 1);
  CHECK(t.remove(P("10.2.0.0/16"), 3));
  CHECK(t.node_count() == 0);
  CHECK(t.empty());
}

TEST_CASE("AllowedIps: a branch point can become a prefix and back", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("10.0.0.0/16"), 1);
  t.insert(P("10.128.0.0/16"), 2);  // diverges from the first at bit 8: branch at 10.0.0.0/8
  CHECK(t.node_count() == 3);
  t.insert(P("10.0.0.0/8"), 3);  // lands exactly on the branch point
  CHECK(t.node_count() == 3);
  CHECK(lookup(t, "10.64.0.0") == 3u);
  CHECK(t.remove(P("10.0.0.0/8"), 3));
  CHECK(t.node_count() == 3);
  CHECK_FALSE(lookup(t, "10.64.0.0"));
  CHECK(t.remove(P("10.0.0.0/16"), 1));
  CHECK(t.node_count() == 1);
  CHECK(lookup(t, "10.128.1.1") == 2u);
}

TEST_CASE("AllowedIps: remove_peer removes exactly that peer's prefixes", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("0.0.0.0/0"), 1);
  t.insert(P("10.0.0.0/8"), 2);
  t.insert(P("10.1.0.0/16"), 1);
  t.insert(P("10.1.1.0/24"), 2);
  t.insert(P("::/0"), 2);
  t.insert(P("fd00::/8"), 1);
  t.remove_peer(2);
  CHECK(t.size() == 3);
  CHECK(lookup(t, "10.1.1.1") == 1u);
  CHECK(lookup(t, "10.2.0.0") == 1u);
  CHECK_FALSE(lookup(t, "2001::"));
  CHECK(lookup(t, "fd00::1") == 1u);
  CHECK(t.prefixes_of(2).empty());
  t.remove_peer(1);
  CHECK(t.empty());
  CHECK(t.node_count() == 0);
  t.remove_peer(3);  // unknown peer: nothing happens
  CHECK(t.empty());
}

TEST_CASE("AllowedIps: prefixes_of reports insertion order", "[allowed_ips]") {
  AllowedIps t;
  std::vector<IpPrefix> order = {P("192.168.0.0/16"), P("fd00::/64"),     P("10.0.0.0/8"),
                                 P("10.0.0.1/32"),    P("0.0.0.0/0"),     P("::/0"),
                                 P("fd00::1/128"),    P("172.16.0.0/12")};
  for (auto& p : order) t.insert(p, 9);
  t.insert(P("1.1.1.1/32"), 8);
  CHECK(t.prefixes_of(9) == order);
  // Re-inserting moves a prefix to the end, as `wg set ... allowed-ips` does in Linux.
  t.insert(P("10.0.0.0/8"), 9);
  std::vector<IpPrefix> expected = order;
  expected.erase(expected.begin() + 2);
  expected.push_back(P("10.0.0.0/8"));
  CHECK(t.prefixes_of(9) == expected);
  CHECK(t.prefixes_of(8) == std::vector<IpPrefix>{P("1.1.1.1/32")});
}

TEST_CASE("AllowedIps: raw lookups agree with IpAddress lookups", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("100.64.0.0/10"), 1);
  t.insert(P("2001:db8::/32"), 2);
  uint8_t v4[4] = {100, 100, 1, 2};
  uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  CHECK(t.lookup_v4(v4) == 1u);
  CHECK(t.lookup_v6(v6) == 2u);
  v4[1] = 128;
  v6[3] = 0xb9;
  CHECK_FALSE(t.lookup_v4(v4));
  CHECK_FALSE(t.lookup_v6(v6));
}

TEST_CASE("AllowedIps: clear and move", "[allowed_ips]") {
  AllowedIps t;
  t.insert(P("10.0.0.0/8"), 1);
  t.insert(P("fd00::/8"), 1);
  AllowedIps u = std::move(t);
  CHECK(u.size() == 2);
  CHECK(lookup(u, "10.0.0.1") == 1u);
  u.clear();
  CHECK(u.empty());
  CHECK(u.node_count() == 0);
  CHECK_FALSE(lookup(u, "10.0.0.1"));
  u.insert(P("10.0.0.0/8"), 2);
  CHECK(lookup(u, "10.0.0.1") == 2u);
}

TEST_CASE("AllowedIps: randomised against a naive table", "[allowed_ips][random]") {
  for (uint64_t seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
    CAPTURE(seed);
    AddressGenerator gen(seed);
    AllowedIps trie;
    NaiveTable naive;
    std::vector<std::pair<IpPrefix, uint32_t>> inserted;
    constexpr uint32_t kPeers = 12;

    for (int step = 0; step < 3000; ++step) {
      unsigned op = static_cast<unsigned>(gen.rng() % 100);
      if (op < 60) {
        IpPrefix p = gen.prefix(gen.family());
        uint32_t peer = static_cast<uint32_t>(gen.rng() % kPeers);
        REQUIRE(trie.insert(p, peer));
        naive.insert(p, peer);
        inserted.push_back({p, peer});
      } else if (op < 90 && !inserted.empty()) {
        // Mostly prefixes that were inserted (with their owner, or a wrong one), sometimes
        // random ones.
        auto [p, peer] = inserted[gen.rng() % inserted.size()];
        if (gen.rng() % 4 == 0) peer = static_cast<uint32_t>(gen.rng() % kPeers);
        if (gen.rng() % 8 == 0) p = gen.prefix(p.address.family);
        REQUIRE(trie.remove(p, peer) == naive.remove(p, peer));
      } else if (op < 92) {
        uint32_t peer = static_cast<uint32_t>(gen.rng() % kPeers);
        trie.remove_peer(peer);
        naive.remove_peer(peer);
      } else {
        for (int i = 0; i < 50; ++i) {
          IpAddress a = gen.address(gen.family());
          REQUIRE(trie.lookup(a) == naive.lookup(a));
        }
      }
      REQUIRE(trie.size() == naive.routes.size());
      check_node_bound(trie);
    }

    for (int i = 0; i < 5000; ++i) {
      IpAddress a = gen.address(gen.family());
      REQUIRE(trie.lookup(a) == naive.lookup(a));
    }
    // The first address of every stored prefix sits right on a node boundary.
    for (auto& [p, peer] : naive.routes) REQUIRE(trie.lookup(p.address) == naive.lookup(p.address));

    for (uint32_t peer = 0; peer < kPeers; ++peer) {
      auto got = trie.prefixes_of(peer);
      std::vector<IpPrefix> want;
      for (auto& [p, owner] : naive.routes)
        if (owner == peer) want.push_back(p);
      std::sort(got.begin(), got.end());
      REQUIRE(got == want);
    }

    // Removing everything, peer by peer, frees every node.
    for (uint32_t peer = 0; peer < kPeers; ++peer) trie.remove_peer(peer);
    CHECK(trie.empty());
    CHECK(trie.node_count() == 0);
  }
}
