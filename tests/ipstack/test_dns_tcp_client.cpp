// The DNS-over-TCP client (IpStack::tcp_query), with the upstream played in memory.
#include <catch2/catch.hpp>

#include "stack_fixture.h"

using namespace sluice;
using namespace sluice::test;
using ipstack::TcpQueryError;

namespace {

// The stack's SYN towards `upstream`, as the upstream's TcpPeer would see it: the peer to
// answer it with (its local side is the upstream, its remote side the stack's address).
TcpPeer accept_syn(StackFixture& f, const IpAddress& upstream, uint16_t port) {
  for (const auto& p : f.out) {
    auto s = parse_tcp_segment(p);
    if (s && (s->flags & kTcpSyn) && s->destination == upstream && s->destination_port == port) {
      TcpPeer peer(upstream, port, s->source, s->source_port, 7000);
      peer.take(*s);
      f.out.clear();
      return peer;
    }
  }
  FAIL("the stack sent no SYN to " << upstream.to_string());
  return TcpPeer(upstream, port, upstream, 0);
}

}  // namespace

TEST_CASE("tcp_query connects from the tunnel address, sends the framed query, reads one answer",
          "[ipstack][dns_client]") {
  const bool v6 = GENERATE(false, true);
  StackFixture f;
  const IpAddress upstream = ip(v6 ? "fd00:99::1" : "192.0.2.53");
  const auto query = bytes_of("a DNS query");
  const auto start = f.stack->tcp_query({upstream, 53}, query, seconds(5), f.now);
  REQUIRE(start.ok());
  CHECK(f.stack->counters().tcp_queries_in_flight == 1);

  TcpPeer server = accept_syn(f, upstream, 53);
  f.deliver(server.syn_ack());
  auto segments = f.route({&server});
  REQUIRE_FALSE(segments.empty());
  CHECK(segments[0].source == ip(v6 ? StackFixture::kTunnel6 : StackFixture::kTunnel4));
  CHECK(server.received() == dns_tcp_frame(query));

  // The response arrives in two pieces, cut inside the length prefix.
  const auto response = std::vector<uint8_t>(900, 0x5a);
  const auto framed = dns_tcp_frame(response);
  f.deliver(server.data(std::span(framed).first(1)));
  CHECK(f.results.empty());
  f.deliver(server.data(std::span(framed).subspan(1)));
  REQUIRE(f.results.size() == 1);
  CHECK(f.results[0].id == start.id);
  CHECK(f.results[0].error == TcpQueryError::None);
  CHECK(f.results[0].response == response);
  f.route({&server});
  CHECK(server.fin_received());  // the stack closes after one answer
  CHECK(f.stack->counters().tcp_queries_answered == 1);
  CHECK(f.stack->counters().tcp_queries_in_flight == 0);
}

TEST_CASE("tcp_query times out in virtual time", "[ipstack][dns_client]") {
  StackFixture f;
  const auto start = f.stack->tcp_query({ip("192.0.2.1"), 53}, bytes_of("q"), seconds(2), f.now);
  REQUIRE(start.ok());
  f.advance(millis(1990));
  CHECK(f.results.empty());
  f.advance(millis(20));
  REQUIRE(f.results.size() == 1);
  CHECK(f.results[0].error == TcpQueryError::Timeout);
  CHECK(f.results[0].response.empty());
  CHECK(f.stack->counters().tcp_queries_timed_out == 1);
  CHECK(f.stack->counters().tcp_queries_in_flight == 0);
}

TEST_CASE("tcp_query reports refused connections and bad responses", "[ipstack][dns_client]") {
  StackFixture f;
  const IpAddress upstream = ip("192.0.2.7");

  SECTION("refused") {
    REQUIRE(f.stack->tcp_query({upstream, 53}, bytes_of("q"), seconds(5), f.now).ok());
    TcpPeer server = accept_syn(f, upstream, 53);
    f.deliver(server.rst());
    REQUIRE(f.results.size() == 1);
    CHECK(f.results[0].error == TcpQueryError::ConnectionFailed);
  }
  SECTION("closed before a whole response") {
    REQUIRE(f.stack->tcp_query({upstream, 53}, bytes_of("q"), seconds(5), f.now).ok());
    TcpPeer server = accept_syn(f, upstream, 53);
    f.deliver(server.syn_ack());
    f.route({&server});
    f.deliver(server.data(std::vector<uint8_t>{0, 10, 1, 2}));
    f.deliver(server.fin());
    REQUIRE(f.results.size() == 1);
    CHECK(f.results[0].error == TcpQueryError::ConnectionClosed);
  }
  CHECK(f.stack->counters().tcp_queries_in_flight == 0);
}

TEST_CASE("tcp_query fails a response longer than allowed", "[ipstack][dns_client]") {
  auto config = StackFixture::default_config();
  config.dns_client.max_response_bytes = 100;
  StackFixture f(config);
  const IpAddress upstream = ip("192.0.2.7");
  REQUIRE(f.stack->tcp_query({upstream, 53}, bytes_of("q"), seconds(5), f.now).ok());
  TcpPeer server = accept_syn(f, upstream, 53);
  f.deliver(server.syn_ack());
  f.route({&server});
  f.deliver(server.data(std::vector<uint8_t>{0, 101}));
  REQUIRE(f.results.size() == 1);
  CHECK(f.results[0].error == TcpQueryError::ResponseTooLarge);
  f.route({&server});
  CHECK(server.reset());
  CHECK(f.stack->counters().tcp_queries_failed == 1);
}

TEST_CASE("tcp_query refuses what it cannot do, and bounds queries in flight",
          "[ipstack][dns_client]") {
  auto config = StackFixture::default_config();
  config.ipv6.reset();
  config.dns_client.max_in_flight = 2;
  config.dns_client.max_query_bytes = 100;
  StackFixture f(config);
  const Endpoint upstream{ip("192.0.2.1"), 53};
  CHECK(f.stack->tcp_query({ip("2001:db8::1"), 53}, bytes_of("q"), seconds(1), f.now).error ==
        TcpQueryError::NoSourceAddress);
  CHECK(f.stack->tcp_query(upstream, {}, seconds(1), f.now).error == TcpQueryError::InvalidQuery);
  CHECK(f.stack->tcp_query(upstream, std::vector<uint8_t>(101, 1), seconds(1), f.now).error ==
        TcpQueryError::InvalidQuery);
  const auto a = f.stack->tcp_query(upstream, bytes_of("a"), seconds(1), f.now);
  const auto b = f.stack->tcp_query(upstream, bytes_of("b"), seconds(1), f.now);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a.id != b.id);
  CHECK(f.stack->tcp_query(upstream, bytes_of("c"), seconds(1), f.now).error ==
        TcpQueryError::TooManyInFlight);
  CHECK(f.stack->counters().tcp_queries_refused == 4);
  f.advance(seconds(2));
  CHECK(f.results.size() == 2);
  CHECK(f.stack->tcp_query(upstream, bytes_of("c"), seconds(1), f.now).ok());
}

TEST_CASE("tcp_query may be retried from its own callback", "[ipstack][dns_client]") {
  Now now{seconds(1), 0};
  std::unique_ptr<ipstack::IpStack> stack;
  std::vector<TcpQueryError> seen;
  std::vector<ipstack::TcpQueryStart> retries;
  ipstack::IpStackConfig config;
  config.ipv4 = ip(StackFixture::kTunnel4);
  config.dns_client.max_in_flight = 1;
  config.output = [](std::span<const uint8_t>) {};
  config.on_tcp_query_done = [&](ipstack::TcpQueryId, TcpQueryError e, std::span<const uint8_t>) {
    seen.push_back(e);
    if (seen.size() == 1) {
      retries.push_back(stack->tcp_query({ip("192.0.2.1"), 53}, bytes_of("again"), seconds(1), now));
    }
  };
  std::string error;
  stack = ipstack::IpStack::create(config, now, error);
  REQUIRE(stack != nullptr);
  auto advance_to = [&](int64_t t) {
    while (stack->next_deadline() <= t) {
      now.mono_ns = std::max(now.mono_ns, stack->next_deadline());
      stack->handle_timers(now);
    }
    now.mono_ns = t;
  };
  REQUIRE(stack->tcp_query({ip("192.0.2.1"), 53}, bytes_of("q"), seconds(1), now).ok());
  advance_to(now.mono_ns + millis(1500));
  REQUIRE(retries.size() == 1);
  CHECK(retries[0].ok());  // the slot is free again inside the callback
  advance_to(now.mono_ns + seconds(1));
  CHECK(seen == std::vector<TcpQueryError>{TcpQueryError::Timeout, TcpQueryError::Timeout});
}
