#include <signal.h>

#include <catch2/catch.hpp>

#include "platform/resolver.h"
#include "platform/signals.h"

using namespace sluice::platform;

TEST_CASE("SignalSet delivers blocked signals through its fd", "[signals]") {
  auto set = SignalSet::create({SIGUSR1});
  REQUIRE(set.has_value());
  CHECK(set->fd() >= 0);
  CHECK_FALSE(set->read_signal().has_value());
  REQUIRE(raise(SIGUSR1) == 0);  // blocked, so it stays pending instead of killing us
  CHECK(set->read_signal() == SIGUSR1);
  CHECK_FALSE(set->read_signal().has_value());
  CHECK(signal(SIGPIPE, SIG_IGN) == SIG_IGN);  // create() ignored it already
}

TEST_CASE("resolve_endpoint takes literals without DNS", "[resolver]") {
  auto v4 = resolve_endpoint("192.0.2.7", 51820);
  REQUIRE(v4.has_value());
  CHECK(v4->to_string() == "192.0.2.7:51820");

  auto v6 = resolve_endpoint("[2001:db8::1]", 1);
  REQUIRE(v6.has_value());
  CHECK(v6->to_string() == "[2001:db8::1]:1");

  auto bare_v6 = resolve_endpoint("::1", 2);
  REQUIRE(bare_v6.has_value());
  CHECK(bare_v6->address.family == sluice::IpFamily::v6);

  auto mapped = resolve_endpoint("::ffff:192.0.2.9", 3);
  REQUIRE(mapped.has_value());
  CHECK(mapped->to_string() == "192.0.2.9:3");  // as received packets report this peer

  CHECK_FALSE(resolve_endpoint("", 1).has_value());
}

TEST_CASE("resolve_endpoint resolves host names through getaddrinfo", "[resolver]") {
  auto local = resolve_endpoint("localhost", 9);
  REQUIRE(local.has_value());
  CHECK(local->port == 9);
  const std::string text = local->address.to_string();
  CHECK((text == "127.0.0.1" || text == "::1"));
}
