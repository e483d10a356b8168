// NAT64 for IPv6-only networks: RFC 6052 embedding against the RFC's own example table, RFC 7050
// prefix discovery from AAAA answers, the endpoint decision, and (in a private network
// namespace) the route probes.
#include <net/if.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "netns_check.h"
#include "platform/nat64.h"
#include "platform/netlink.h"

using namespace sluice;
using namespace sluice::platform;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Nat64Prefix nat64(const char* text) {
  const std::optional<Nat64Prefix> p = Nat64Prefix::parse(text);
  REQUIRE(p.has_value());
  return *p;
}

Endpoint endpoint(const char* text) { return *Endpoint::parse(text); }

// RFC 6052 section 2.4: 192.0.2.33 under each prefix format.
struct TableRow {
  const char* prefix;
  const char* embedded;
};
constexpr TableRow kRfc6052Table[] = {
    {"2001:db8::/32", "2001:db8:c000:221::"},
    {"2001:db8:100::/40", "2001:db8:1c0:2:21::"},
    {"2001:db8:122::/48", "2001:db8:122:c000:2:2100::"},
    {"2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"},
    {"2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"},
    {"2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"},
    {"64:ff9b::/96", "64:ff9b::c000:221"},
};

std::vector<Nat64Prefix> parse_texts(std::initializer_list<const char*> texts) {
  std::vector<IpAddress> answers;
  for (const char* t : texts) answers.push_back(ip(t));
  return parse_nat64_prefixes(answers);
}

}  // namespace

TEST_CASE("nat64_synthesize matches the RFC 6052 example table", "[nat64]") {
  for (const TableRow& row : kRfc6052Table) {
    INFO(row.prefix);
    const std::optional<IpAddress> v6 = nat64_synthesize(nat64(row.prefix), ip("192.0.2.33"));
    REQUIRE(v6.has_value());
    CHECK(*v6 == ip(row.embedded));
  }
  CHECK(nat64_synthesize(Nat64Prefix::well_known(), ip("192.0.2.33")) == ip("64:ff9b::c000:221"));
}

TEST_CASE("nat64_extract reverses the RFC 6052 example table", "[nat64]") {
  for (const TableRow& row : kRfc6052Table) {
    INFO(row.prefix);
    CHECK(nat64_extract(nat64(row.prefix), ip(row.embedded)) == ip("192.0.2.33"));
  }
}

TEST_CASE("nat64 round-trips every byte value at every prefix length", "[nat64]") {
  const IpAddress v4 = ip("1.128.255.0");
  for (const char* text :
       {"2001:db8::/32", "2001:db8:aa00::/40", "2001:db8:abcd::/48", "2001:db8:abcd:ef00::/56",
        "2001:db8:abcd:ef01::/64", "2001:db8:abcd:ef01:0:ffff::/96"}) {
    INFO(text);
    const Nat64Prefix p = nat64(text);
    const std::optional<IpAddress> v6 = nat64_synthesize(p, v4);
    REQUIRE(v6.has_value());
    CHECK(v6->bytes[8] == 0);  // the u octet
    CHECK(p.prefix.contains(*v6));
    CHECK(nat64_extract(p, *v6) == v4);
  }
}

TEST_CASE("nat64 skips and checks the u octet (bits 64..71)", "[nat64]") {
  // /56: the IPv4 address is split around the u octet.
  const std::optional<IpAddress> v6 =
      nat64_synthesize(nat64("2001:db8:122:300::/56"), ip("255.255.255.255"));
  REQUIRE(v6.has_value());
  CHECK(*v6 == ip("2001:db8:122:3ff:ff:ffff::"));

  // A set u octet means the address is no IPv4-embedded one.
  CHECK_FALSE(nat64_extract(nat64("2001:db8:122:344::/64"), ip("2001:db8:122:344:ffc0:2:2100:0")));
  CHECK_FALSE(nat64_extract(nat64("2001:db8::/32"), ip("2001:db8:c000:221:100::")));

  // A /96 prefix owns bits 64..71, so they must be zero in the prefix itself.
  CHECK_FALSE(Nat64Prefix::parse("2001:db8:0:0:100::/96"));
  const Nat64Prefix raw{*IpPrefix::parse("2001:db8:0:0:100::/96")};
  CHECK_FALSE(nat64_synthesize(raw, ip("192.0.2.33")));
}

TEST_CASE("nat64 rejects prefixes of other lengths and families", "[nat64]") {
  for (const char* text : {"2001:db8::/33", "2001:db8::/0", "2001:db8::/72", "2001:db8::/128",
                           "2001:db8::/16", "192.0.2.0/24", "2001:db8::"}) {
    INFO(text);
    CHECK_FALSE(Nat64Prefix::parse(text));
    const Nat64Prefix raw{*IpPrefix::parse(text)};
    CHECK_FALSE(nat64_synthesize(raw, ip("192.0.2.33")));
    CHECK_FALSE(nat64_extract(raw, ip("2001:db8::c000:221")));
  }
  // Host bits are cleared, not a reason to refuse.
  CHECK(Nat64Prefix::from(IpPrefix{ip("64:ff9b::1"), 96}) == Nat64Prefix::well_known());
  CHECK(Nat64Prefix::well_known().to_string() == "64:ff9b::/96");
}

TEST_CASE("nat64 refuses addresses of the wrong family or outside the prefix", "[nat64]") {
  const Nat64Prefix wkp = Nat64Prefix::well_known();
  CHECK_FALSE(nat64_synthesize(wkp, ip("2001:db8::1")));
  CHECK_FALSE(nat64_extract(wkp, ip("192.0.2.33")));
  CHECK_FALSE(nat64_extract(wkp, ip("64:ff9c::c000:221")));
  CHECK_FALSE(nat64_extract(nat64("2001:db8:122::/48"), ip("2001:db8:123:c000:2:2100::")));
}

TEST_CASE("parse_nat64_prefixes finds the Well-Known Prefix", "[nat64]") {
  const auto prefixes = parse_texts({"64:ff9b::c000:aa", "64:ff9b::c000:ab"});
  REQUIRE(prefixes.size() == 1);
  CHECK(prefixes[0] == Nat64Prefix::well_known());
}

TEST_CASE("parse_nat64_prefixes finds a prefix of every RFC 6052 length", "[nat64]") {
  for (const char* text :
       {"2001:db8::/32", "2001:db8:100::/40", "2001:db8:122::/48", "2001:db8:122:300::/56",
        "2001:db8:122:344::/64", "2001:db8:122:344::/96"}) {
    INFO(text);
    const Nat64Prefix p = nat64(text);
    const std::vector<IpAddress> answers = {*nat64_synthesize(p, ip("192.0.0.170")),
                                            *nat64_synthesize(p, ip("192.0.0.171"))};
    const auto prefixes = parse_nat64_prefixes(answers);
    REQUIRE(prefixes.size() == 1);
    CHECK(prefixes[0] == p);
  }
}

TEST_CASE("parse_nat64_prefixes accepts an answer holding only 192.0.0.171", "[nat64]") {
  const Nat64Prefix p = nat64("2001:db8:122:344::/64");
  const std::vector<IpAddress> answers = {*nat64_synthesize(p, ip("192.0.0.171"))};
  const auto prefixes = parse_nat64_prefixes(answers);
  REQUIRE(prefixes.size() == 1);
  CHECK(prefixes[0] == p);
}

TEST_CASE("parse_nat64_prefixes returns each prefix once, in answer order", "[nat64]") {
  const auto one = parse_texts({"64:ff9b::c000:aa", "64:ff9b::c000:ab", "64:ff9b::c000:aa"});
  CHECK(one == std::vector<Nat64Prefix>{Nat64Prefix::well_known()});

  const auto two = parse_texts(
      {"2001:db8:64::c000:aa", "64:ff9b::c000:aa", "64:ff9b::c000:ab", "2001:db8:64::c000:ab"});
  CHECK(two == std::vector<Nat64Prefix>{nat64("2001:db8:64::/96"), Nat64Prefix::well_known()});
}

TEST_CASE("parse_nat64_prefixes ignores answers without a well-known address", "[nat64]") {
  CHECK(parse_texts({}).empty());
  // A native AAAA record, another IPv4 address embedded, an IPv4 answer, a set u octet.
  CHECK(parse_texts(
            {"2001:db8::1", "64:ff9b::c000:221", "192.0.0.170", "2001:db8:122:344:ffc0:0:aa00:0"})
            .empty());
  CHECK(parse_texts({"2001:db8::1", "64:ff9b::c000:ab"}) ==
        std::vector<Nat64Prefix>{Nat64Prefix::well_known()});
}

TEST_CASE("parse_nat64_prefixes resolves a well-known address seen at two positions", "[nat64]") {
  // 192.0.0.170 at the /32 position (suffix ::c000:aa) and at the /96 position.
  const char* twice = "2001:db8:c000:aa::c000:aa";
  // Alone, the position with a zero suffix wins: RFC 6052 says the suffix SHOULD be zero.
  CHECK(parse_texts({twice}) == std::vector<Nat64Prefix>{nat64("2001:db8:c000:aa::/96")});
  // With 192.0.0.171 at the /32 position of another answer, the /32 reading is confirmed.
  CHECK(parse_texts({twice, "2001:db8:c000:ab::c000:aa"}) ==
        std::vector<Nat64Prefix>{nat64("2001:db8::/32")});
  // At /32 and /64, both suffixes non-zero and nothing to confirm either: ignored.
  CHECK(parse_texts({"2001:db8:c000:aa:c0:0:aa00:1"}).empty());
}

TEST_CASE("endpoint_for_network rewrites IPv4 endpoints only on IPv6-only networks", "[nat64]") {
  const Endpoint v4 = endpoint("192.0.2.33:51820");
  const std::vector<Nat64Prefix> prefixes = {Nat64Prefix::well_known(),
                                             nat64("2001:db8:122:344::/64")};

  SECTION("an IPv4 route: unchanged") {
    CHECK(endpoint_for_network(v4, RouteFacts{true, true}, prefixes) == v4);
    CHECK(endpoint_for_network(v4, RouteFacts{true, false}, prefixes) == v4);
    CHECK_FALSE(needs_nat64(v4, RouteFacts{true, false}));
  }
  SECTION("IPv6 only, with a prefix: synthesised from the first prefix, port kept") {
    CHECK(needs_nat64(v4, RouteFacts{false, true}));
    CHECK(endpoint_for_network(v4, RouteFacts{false, true}, prefixes) ==
          endpoint("[64:ff9b::c000:221]:51820"));
  }
  SECTION("IPv6 only, no prefix found: unchanged") {
    CHECK(endpoint_for_network(v4, RouteFacts{false, true}, {}) == v4);
  }
  SECTION("an IPv6 endpoint: unchanged") {
    const Endpoint v6 = endpoint("[2001:db8::1]:51820");
    CHECK_FALSE(needs_nat64(v6, RouteFacts{false, true}));
    CHECK(endpoint_for_network(v6, RouteFacts{false, true}, prefixes) == v6);
  }
  SECTION("no route at all: NAT64 would not help, unchanged") {
    CHECK_FALSE(needs_nat64(v4, RouteFacts{false, false}));
    CHECK(endpoint_for_network(v4, RouteFacts{false, false}, prefixes) == v4);
  }
  SECTION("IPv4 loopback needs no route: unchanged") {
    const Endpoint lo = endpoint("127.0.0.1:51820");
    CHECK_FALSE(needs_nat64(lo, RouteFacts{false, true}));
    CHECK(endpoint_for_network(lo, RouteFacts{false, true}, prefixes) == lo);
  }
}

TEST_CASE("resolve_endpoint_for_network keeps IPv6 endpoints and errors", "[nat64]") {
  auto v6 = resolve_endpoint_for_network("[2001:db8::1]", 51820);
  REQUIRE(v6.has_value());
  CHECK(*v6 == endpoint("[2001:db8::1]:51820"));
  CHECK_FALSE(resolve_endpoint_for_network("", 1).has_value());
}

TEST_CASE("has_ipv4_route, has_ipv6_route and has_route_to follow the routing table", "[nat64][netns]") {
  run_netns([]() -> std::string {
    auto opened = Netlink::open();
    EXPECT_OK(opened);
    Netlink& nl = **opened;
    const int lo = static_cast<int>(if_nametoindex("lo"));
    EXPECT(lo > 0);
    EXPECT(!has_ipv4_route());
    EXPECT(!has_ipv6_route());
    EXPECT_OK(nl.set_link_up(lo, true));
    EXPECT(!has_ipv4_route());  // loopback routes only
    EXPECT(!has_ipv6_route());
    // Without routes NAT64 cannot help, so no DNS is asked.
    auto unrouted = resolve_endpoint_for_network("192.0.2.7", 1);
    EXPECT(unrouted.has_value() && unrouted->to_string() == "192.0.2.7:1");

    EXPECT_OK(nl.add_route(lo, *IpPrefix::parse("0.0.0.0/0")));
    EXPECT(has_ipv4_route());
    EXPECT(!has_ipv6_route());
    auto routed = resolve_endpoint_for_network("192.0.2.7", 2);
    EXPECT(routed.has_value() && routed->to_string() == "192.0.2.7:2");

    EXPECT_OK(nl.add_route(lo, *IpPrefix::parse("::/0")));
    EXPECT(has_ipv6_route());
    EXPECT_OK(nl.delete_route(lo, *IpPrefix::parse("0.0.0.0/0")));
    EXPECT(!has_ipv4_route());
    EXPECT(has_ipv6_route());
    // A peer on a local IPv4 subnet is reached directly even where the default route is IPv6.
    EXPECT_OK(nl.add_route(lo, *IpPrefix::parse("10.9.0.0/24")));
    EXPECT(has_route_to(*IpAddress::parse("10.9.0.5")));
    EXPECT(!has_route_to(*IpAddress::parse("10.9.1.5")));
    EXPECT(!has_ipv4_route());
    auto local = resolve_endpoint_for_network("10.9.0.5", 3);
    EXPECT(local.has_value() && local->to_string() == "10.9.0.5:3");
    return "";
  });
}
