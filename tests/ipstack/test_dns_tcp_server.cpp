// The DNS-over-TCP server, driven in memory by hand-made TCP segments in virtual time.
#include <catch2/catch.hpp>

#include "stack_fixture.h"

using namespace sluice;
using namespace sluice::test;
using ipstack::AnswerStatus;

namespace {

const char* dns_address(IpFamily f) {
  return f == IpFamily::v4 ? StackFixture::kDns4 : StackFixture::kDns6;
}
const char* client_address(IpFamily f) { return f == IpFamily::v4 ? "10.7.0.1" : "fd07::1"; }

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("DNS over TCP: pipelined queries split across segments, answered out of order",
          "[ipstack][dns_server]") {
  const IpFamily family = GENERATE(IpFamily::v4, IpFamily::v6);
  StackFixture f;
  TcpPeer peer(ip(client_address(family)), 40000, ip(dns_address(family)), 53);
  f.connect(peer);

  const auto q1 = bytes_of("query number one");
  const auto q2 = std::vector<uint8_t>(700, 0x42);
  const auto q3 = bytes_of("three");
  const auto stream = concat({dns_tcp_frame(q1), dns_tcp_frame(q2), dns_tcp_frame(q3)});
  // Cut inside the second message's length prefix and inside its body.
  const size_t cut1 = dns_tcp_frame(q1).size() + 1;
  const size_t cut2 = cut1 + 300;
  f.deliver(peer.data(std::span(stream).first(cut1)));
  f.deliver(peer.data(std::span(stream).subspan(cut1, cut2 - cut1)));
  REQUIRE(f.queries.size() == 1);
  f.deliver(peer.data(std::span(stream).subspan(cut2)));
  f.advance(millis(300));  // past lwIP's delayed ACK
  f.route({&peer});
  REQUIRE(f.queries.size() == 3);
  CHECK(f.queries[0].query == q1);
  CHECK(f.queries[1].query == q2);
  CHECK(f.queries[2].query == q3);
  CHECK(f.queries[0].id == f.queries[1].id);
  CHECK(f.queries[1].id == f.queries[2].id);
  CHECK(peer.acked() == peer.snd_nxt());  // every byte acknowledged

  // Answers come later, in any order; each is framed.
  const auto a1 = bytes_of("answer one");
  const auto a2 = std::vector<uint8_t>(2000, 0x77);  // more than one segment
  const auto a3 = bytes_of("answer three");
  CHECK(f.stack->answer(f.queries[2].id, a3, f.now) == AnswerStatus::Queued);
  CHECK(f.stack->answer(f.queries[0].id, a1, f.now) == AnswerStatus::Queued);
  CHECK(f.stack->answer(f.queries[1].id, a2, f.now) == AnswerStatus::Queued);
  for (int i = 0; i < 10 && peer.received().size() < 2026; ++i) {
    f.route({&peer});
    f.deliver(peer.ack());
  }
  CHECK(peer.received() == concat({dns_tcp_frame(a3), dns_tcp_frame(a1), dns_tcp_frame(a2)}));

  // The client closes; with nothing left to answer the stack closes too.
  f.deliver(peer.fin());
  f.route({&peer});
  CHECK(peer.fin_received());
  f.deliver(peer.ack());
  const auto& c = f.stack->counters();
  CHECK(c.dns_connections_accepted == 1);
  CHECK(c.dns_connections_active == 0);
  CHECK(c.dns_queries == 3);
  CHECK(c.dns_answers == 3);
  CHECK(c.dns_connections_reset == 0);
}

TEST_CASE("DNS over TCP: an answer given inside the handler goes out", "[ipstack][dns_server]") {
  StackFixture f;
  f.answer_immediately = true;  // echoes each query from within the handler
  TcpPeer peer(ip("10.7.0.1"), 40001, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  const auto q = bytes_of("echo me");
  f.deliver(peer.data(concat({dns_tcp_frame(q), dns_tcp_frame(q)})));
  f.route({&peer});
  CHECK(peer.received() == concat({dns_tcp_frame(q), dns_tcp_frame(q)}));
}

TEST_CASE("DNS over TCP: a client that closes first still gets its pending answers",
          "[ipstack][dns_server]") {
  StackFixture f;
  TcpPeer peer(ip("10.7.0.1"), 40002, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  f.deliver(peer.data(dns_tcp_frame(bytes_of("q"))));
  f.deliver(peer.fin());
  f.route({&peer});
  CHECK_FALSE(peer.fin_received());  // an answer is still owed
  REQUIRE(f.queries.size() == 1);
  CHECK(f.stack->answer(f.queries[0].id, bytes_of("late"), f.now) == AnswerStatus::Queued);
  f.route({&peer});
  CHECK(peer.received() == dns_tcp_frame(bytes_of("late")));
  CHECK(peer.fin_received());
}

TEST_CASE("DNS over TCP: answers to a connection that is gone are dropped and counted",
          "[ipstack][dns_server]") {
  StackFixture f;
  TcpPeer peer(ip("10.7.0.1"), 40003, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  f.deliver(peer.data(dns_tcp_frame(bytes_of("q"))));
  REQUIRE(f.queries.size() == 1);
  f.deliver(peer.rst());
  f.out.clear();
  CHECK(f.stack->answer(f.queries[0].id, bytes_of("a"), f.now) == AnswerStatus::ConnectionGone);
  CHECK(f.out.empty());
  CHECK(f.stack->answer(12345, bytes_of("a"), f.now) == AnswerStatus::ConnectionGone);
  const auto& c = f.stack->counters();
  CHECK(c.dns_answers_connection_gone == 2);
  CHECK(c.dns_connections_lost == 1);
  CHECK(c.dns_connections_active == 0);

  // A new connection in the same slot does not take answers meant for the old one.
  TcpPeer again(ip("10.7.0.1"), 40004, ip(StackFixture::kDns4), 53);
  f.connect(again);
  CHECK(f.stack->answer(f.queries[0].id, bytes_of("a"), f.now) == AnswerStatus::ConnectionGone);
}

TEST_CASE("DNS over TCP: invalid answers are refused", "[ipstack][dns_server]") {
  StackFixture f;
  TcpPeer peer(ip("10.7.0.1"), 40005, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  f.deliver(peer.data(dns_tcp_frame(bytes_of("q"))));
  REQUIRE(f.queries.size() == 1);
  CHECK(f.stack->answer(f.queries[0].id, {}, f.now) == AnswerStatus::Invalid);
  const std::vector<uint8_t> huge(65536, 1);
  CHECK(f.stack->answer(f.queries[0].id, huge, f.now) == AnswerStatus::Invalid);
  CHECK(f.stack->counters().dns_answers_invalid == 2);
}

TEST_CASE("DNS over TCP: connections beyond the limit are reset", "[ipstack][dns_server]") {
  auto config = StackFixture::default_config();
  config.dns_server.max_connections = 2;
  StackFixture f(config);
  TcpPeer a(ip("10.7.0.1"), 41000, ip(StackFixture::kDns4), 53);
  TcpPeer b(ip("10.7.0.1"), 41001, ip(StackFixture::kDns4), 53);
  TcpPeer c(ip("fd07::1"), 41002, ip(StackFixture::kDns6), 53);
  f.connect(a);
  f.connect(b);
  f.connect(c);  // the SYN is answered; the connection is reset once established
  f.route({&a, &b, &c});
  CHECK(c.reset());
  CHECK_FALSE(a.reset());
  CHECK_FALSE(b.reset());
  CHECK(f.stack->counters().dns_connections_refused == 1);
  CHECK(f.stack->counters().dns_connections_active == 2);

  // The two admitted ones still work; once one closes, a new one is admitted.
  f.deliver(a.data(dns_tcp_frame(bytes_of("qa"))));
  REQUIRE(f.queries.size() == 1);
  f.deliver(b.rst());
  TcpPeer d(ip("10.7.0.1"), 41003, ip(StackFixture::kDns4), 53);
  f.connect(d);
  f.route({&d});
  CHECK_FALSE(d.reset());
  CHECK(f.stack->counters().dns_connections_active == 2);
}

TEST_CASE("DNS over TCP: idle connections are closed in virtual time", "[ipstack][dns_server]") {
  auto config = StackFixture::default_config();
  config.dns_server.idle_timeout_ns = seconds(5);
  StackFixture f(config);
  TcpPeer peer(ip("10.7.0.1"), 42000, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  f.advance(seconds(3));
  f.deliver(peer.data(dns_tcp_frame(bytes_of("keeps it alive"))));
  f.advance(seconds(4));  // 4 s since the last activity
  f.route({&peer});
  CHECK_FALSE(peer.fin_received());
  f.advance(millis(1100));  // 5.1 s
  f.route({&peer});
  CHECK(peer.fin_received());
  CHECK(f.stack->counters().dns_connections_idle_closed == 1);
  CHECK(f.stack->counters().dns_connections_active == 0);
}

TEST_CASE("DNS over TCP: oversized or empty queries reset the connection",
          "[ipstack][dns_server]") {
  auto config = StackFixture::default_config();
  config.dns_server.max_query_bytes = 512;
  StackFixture f(config);
  TcpPeer big(ip("10.7.0.1"), 43000, ip(StackFixture::kDns4), 53);
  f.connect(big);
  f.deliver(big.data(std::vector<uint8_t>{0x02, 0x01, 0, 0, 0}));  // 513 announced
  f.route({&big});
  CHECK(big.reset());
  CHECK(f.stack->counters().dns_queries_too_large == 1);

  TcpPeer empty(ip("10.7.0.1"), 43001, ip(StackFixture::kDns4), 53);
  f.connect(empty);
  // A good query, then a zero-length one in the same segment: the first is still delivered.
  f.deliver(empty.data(concat({dns_tcp_frame(bytes_of("ok")), std::vector<uint8_t>{0, 0}})));
  f.route({&empty});
  CHECK(empty.reset());
  CHECK(f.queries.size() == 1);
  CHECK(f.stack->counters().dns_connections_reset == 2);
  CHECK(f.stack->counters().dns_connections_active == 0);
}

TEST_CASE("DNS over TCP: answers beyond the send buffer reset the connection",
          "[ipstack][dns_server]") {
  auto config = StackFixture::default_config();
  config.dns_server.send_buffer_bytes = 4096;
  StackFixture f(config);
  TcpPeer peer(ip("10.7.0.1"), 44000, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  f.deliver(peer.data(dns_tcp_frame(bytes_of("q"))));
  REQUIRE(f.queries.size() == 1);
  // The peer acknowledges nothing: lwIP's send buffer (TCP_SND_BUF) fills, then ours.
  const std::vector<uint8_t> answer(4000, 0x55);
  AnswerStatus last = AnswerStatus::Queued;
  int queued = 0;
  for (int i = 0; i < 10 && last == AnswerStatus::Queued; ++i) {
    last = f.stack->answer(f.queries[0].id, answer, f.now);
    if (last == AnswerStatus::Queued) ++queued;
  }
  CHECK(last == AnswerStatus::Overflow);
  CHECK(queued >= 2);  // 4 * TCP_MSS in lwIP plus 4096 here hold two answers, not five
  CHECK(queued <= 3);
  f.route({&peer});
  CHECK(peer.reset());
  CHECK(f.stack->counters().dns_answers_overflow == 1);
  CHECK(f.stack->answer(f.queries[0].id, answer, f.now) == AnswerStatus::ConnectionGone);
}

TEST_CASE("DNS over TCP: a slow reader gets everything once it acknowledges",
          "[ipstack][dns_server]") {
  StackFixture f;  // send buffer 16 KiB
  TcpPeer peer(ip("10.7.0.1"), 45000, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  f.deliver(peer.data(dns_tcp_frame(bytes_of("q"))));
  REQUIRE(f.queries.size() == 1);
  std::vector<uint8_t> expected;
  for (int i = 0; i < 4; ++i) {
    const std::vector<uint8_t> answer(3000, static_cast<uint8_t>(i));
    REQUIRE(f.stack->answer(f.queries[0].id, answer, f.now) == AnswerStatus::Queued);
    const auto framed = dns_tcp_frame(answer);
    expected.insert(expected.end(), framed.begin(), framed.end());
  }
  for (int i = 0; i < 50 && peer.received().size() < expected.size(); ++i) {
    f.route({&peer});
    f.deliver(peer.ack());
  }
  CHECK(peer.received() == expected);
}
