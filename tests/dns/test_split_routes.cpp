#include <catch2/catch.hpp>

#include <string>

#include "dns/split_routes.h"

using namespace sluice;
using namespace sluice::dns;

namespace {

CanonicalName name(const std::string& text) {
  auto n = CanonicalName::from_text(text);
  if (!n) FAIL("not a name: " << text);
  return *n;
}

UpstreamSet servers(const std::string& endpoint, bool direct = false) {
  auto e = Endpoint::parse(endpoint);
  REQUIRE(e);
  UpstreamSet set;
  set.servers.push_back(Upstream{*e, direct});
  return set;
}

}  // namespace

TEST_CASE("SplitRoutes: the longest matching suffix picks the set") {
  SplitRoutes routes(servers("10.64.0.1:53"));
  const size_t corp = routes.add_set(servers("192.168.1.1:53", true));
  const size_t public_corp = routes.add_set(servers("[2620:fe::fe]:53"));
  REQUIRE(routes.add_route(name("corp.example"), corp));
  REQUIRE(routes.add_route(name("public.corp.example"), public_corp));
  REQUIRE(routes.add_route(name("lan"), corp));
  CHECK(routes.set_count() == 3);
  CHECK(routes.route_count() == 3);

  CHECK(routes.select(name("corp.example")) == corp);
  CHECK(routes.select(name("host.CORP.example.")) == corp);
  CHECK(routes.select(name("public.corp.example")) == public_corp);
  CHECK(routes.select(name("www.public.corp.example")) == public_corp);
  CHECK(routes.select(name("printer.lan")) == corp);
  CHECK(routes.select(name("badcorp.example")) == SplitRoutes::kDefaultSet);
  CHECK(routes.select(name("example")) == SplitRoutes::kDefaultSet);
  CHECK(routes.select(name("lan.example")) == SplitRoutes::kDefaultSet);
  CHECK(routes.select(CanonicalName()) == SplitRoutes::kDefaultSet);

  CHECK(routes.set(corp).servers.at(0).direct);
  CHECK(routes.set(corp).servers.at(0).endpoint.to_string() == "192.168.1.1:53");
  CHECK_FALSE(routes.set(public_corp).servers.at(0).direct);
  CHECK(routes.set(SplitRoutes::kDefaultSet).servers.at(0).endpoint.to_string() == "10.64.0.1:53");
}

TEST_CASE("SplitRoutes refuses repeated suffixes, unknown sets and the root") {
  SplitRoutes routes;
  const size_t a = routes.add_set(servers("10.0.0.1:53"));
  CHECK(routes.add_route(name("a.example"), a));
  CHECK_FALSE(routes.add_route(name("A.Example."), a));
  CHECK_FALSE(routes.add_route(name("b.example"), 7));
  CHECK_FALSE(routes.add_route(CanonicalName(), a));
  CHECK(routes.route_count() == 1);
  CHECK(routes.select(name("x.a.example")) == a);
  CHECK(routes.select(name("b.example")) == SplitRoutes::kDefaultSet);
}

TEST_CASE("SplitRoutes without routes sends everything to the default set") {
  SplitRoutes routes(servers("1.1.1.1:53"));
  CHECK(routes.select(name("anything.example")) == SplitRoutes::kDefaultSet);
  CHECK(routes.set(0).timeout_ms == UpstreamSet::kDefaultTimeoutMs);
  CHECK(routes.set(0).retries == UpstreamSet::kDefaultRetries);
}
