// Deterministic simulation of two devices over a lossy, duplicating, reordering link in
// virtual time: handshakes, data, rekeys, keepalives, outages, key zeroing and roaming.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "common/deterministic_random.h"
#include "sim/sim_network.h"
#include "tunnel/constants.h"

using namespace sluice;
using namespace sluice::test;

namespace {

struct UseDeterministicRandom {
  UseDeterministicRandom() {
    use_deterministic_randombytes();
    // Ten simulated minutes of rekeys would otherwise print hundreds of info lines.
    spdlog::set_level(spdlog::level::warn);
  }
} const use_deterministic_random;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
Endpoint ep(const char* text) { return *Endpoint::parse(text); }

size_t unique_count(const std::vector<uint32_t>& v) { return std::set<uint32_t>(v.begin(), v.end()).size(); }
bool has_duplicates(const std::vector<uint32_t>& v) { return unique_count(v) != v.size(); }
size_t count_from(const std::vector<uint32_t>& v, uint32_t first) {
  return std::count_if(v.begin(), v.end(), [&](uint32_t s) { return s >= first; });
}

struct Pair {
  explicit Pair(uint64_t seed, DeviceOptions b_options = {}) : net(seed) {
    reseed_randombytes(seed);
    a = &net.add_node("a", ep("192.0.2.1:51820"), ip("10.0.0.1"));
    b = &net.add_node("b", ep("192.0.2.2:51820"), ip("10.0.0.2"), b_options);
  }
  SimNetwork net;
  SimNode* a;
  SimNode* b;
};

}  // namespace

TEST_CASE("first handshake, data both ways over a lossy link, rekey every 120 s", "[sim]") {
  Pair p(1);
  p.net.add_peer(*p.a, *p.b, /*with_endpoint=*/true);
  p.net.add_peer(*p.b, *p.a, /*with_endpoint=*/false);  // b learns a's endpoint from the handshake
  p.net.link = LinkConditions{millis(5), 0.02, 0.02, 0.05, millis(20), -1, -1};

  uint32_t seq = 0;
  // Ten packets a second each way for ten minutes.
  p.net.run_until(seconds(600), millis(100), [&](int64_t) {
    p.net.send_inner(*p.a, *p.b, seq);
    p.net.send_inner(*p.b, *p.a, seq);
    ++seq;
  });

  // b cannot answer before a's first handshake: only its first packet(s) may be lost there.
  CHECK(p.b->received.size() >= seq * 90 / 100);
  CHECK(p.a->received.size() >= seq * 88 / 100);
  CHECK_FALSE(has_duplicates(p.b->received));  // the link duplicates; the replay window must not
  CHECK_FALSE(has_duplicates(p.a->received));
  // One handshake at the start and one every REKEY_AFTER_TIME after it (retries on loss allowed).
  uint64_t handshakes = p.a->device.counters().handshakes_completed +
                        p.b->device.counters().handshakes_completed;
  INFO("handshakes counted on both sides: " << handshakes);
  CHECK(handshakes >= 2 * 5);
  CHECK(handshakes <= 2 * 7);
  CHECK(p.b->device.counters().dropped(DropReason::ReplayedCounter) > 0);
  CHECK(p.a->device.counters().dropped(DropReason::DecryptionFailed) == 0);
  auto session = p.a->device.peer_session(p.b->public_key, p.net.now());
  REQUIRE(session);
  CHECK(session->can_send);
  CHECK(session->current_age_ns < seconds(125));
}

TEST_CASE("a peer that only receives sends keepalives", "[sim]") {
  Pair p(2);
  p.net.add_peer(*p.a, *p.b, true);
  p.net.add_peer(*p.b, *p.a, false);
  uint32_t seq = 0;
  p.net.run_until(seconds(60), millis(500), [&](int64_t) { p.net.send_inner(*p.a, *p.b, seq++); });
  CHECK(p.b->received.size() == seq);
  // b has nothing to send back, so KEEPALIVE_TIMEOUT after receiving data it sends keepalives.
  CHECK(p.b->device.counters().keepalives_sent >= 4);
  CHECK(p.a->device.counters().keepalives_received >= 4);
  // ...and so a never needs to start a new handshake because "data was not answered".
  CHECK(p.a->device.counters().handshake_initiations_sent == 1);
}

TEST_CASE("traffic recovers after a 60 s outage", "[sim]") {
  Pair p(3);
  p.net.add_peer(*p.a, *p.b, true);
  p.net.add_peer(*p.b, *p.a, false);
  p.net.link.outage_start_ns = seconds(100);
  p.net.link.outage_end_ns = seconds(160);
  uint32_t seq = 0;
  uint32_t seq_at_recovery_deadline = 0;
  p.net.run_until(seconds(240), millis(100), [&](int64_t now) {
    if (now == seconds(170)) seq_at_recovery_deadline = seq;
    p.net.send_inner(*p.a, *p.b, seq);
    p.net.send_inner(*p.b, *p.a, seq);
    ++seq;
  });
  REQUIRE(seq_at_recovery_deadline > 0);
  // Within 10 s of the link returning, everything sent gets through again.
  uint32_t sent_after = seq - seq_at_recovery_deadline;
  CHECK(count_from(p.b->received, seq_at_recovery_deadline) == sent_after);
  CHECK(count_from(p.a->received, seq_at_recovery_deadline) == sent_after);
  CHECK(p.net.datagrams_lost() > 0);
}

TEST_CASE("keys are zeroed after 3 x REJECT_AFTER_TIME idle and a new handshake follows", "[sim]") {
  Pair p(4);
  p.net.add_peer(*p.a, *p.b, true);
  p.net.add_peer(*p.b, *p.a, false);
  uint32_t seq = 0;
  p.net.run_until(seconds(20), millis(500), [&](int64_t) {
    p.net.send_inner(*p.a, *p.b, seq);
    p.net.send_inner(*p.b, *p.a, seq);
    ++seq;
  });
  REQUIRE(p.b->received.size() == seq);

  p.net.run_until(seconds(300));
  auto mid = p.a->device.peer_session(p.b->public_key, p.net.now());
  REQUIRE(mid);
  CHECK(mid->current);        // still held...
  CHECK_FALSE(mid->can_send);  // ...but past REJECT_AFTER_TIME

  p.net.run_until(seconds(545));
  for (auto [node, other] : {std::pair{p.a, p.b}, std::pair{p.b, p.a}}) {
    auto s = node->device.peer_session(other->public_key, p.net.now());
    REQUIRE(s);
    CHECK_FALSE(s->current);
    CHECK_FALSE(s->previous);
    CHECK_FALSE(s->next);
    CHECK_FALSE(s->handshake_pending);
  }
  CHECK(p.a->device.next_deadline() == INT64_MAX);  // fully idle: no timer left to run

  uint64_t before = p.a->device.counters().handshakes_completed;
  p.net.send_inner(*p.a, *p.b, 999);
  p.net.run_until(seconds(546));
  CHECK(p.a->device.counters().handshakes_completed == before + 1);
  CHECK(p.b->received.back() == 999);
}

TEST_CASE("roaming: the endpoint follows authenticated packets from a new address", "[sim]") {
  Pair p(5);
  p.net.add_peer(*p.a, *p.b, true);
  p.net.add_peer(*p.b, *p.a, true);
  uint32_t seq = 0;
  uint32_t seq_after_move = 0;
  p.net.run_until(seconds(60), millis(200), [&](int64_t) {
    p.net.send_inner(*p.a, *p.b, seq);
    p.net.send_inner(*p.b, *p.a, seq);
    ++seq;
  });
  // b's network changes (a new address behind a NAT, say).
  p.b->outer = ep("198.51.100.7:40000");
  seq_after_move = seq;
  p.net.run_until(seconds(90), millis(200), [&](int64_t) {
    p.net.send_inner(*p.b, *p.a, seq);
    p.net.send_inner(*p.a, *p.b, seq);
    ++seq;
  });
  auto status = p.a->device.status();
  REQUIRE(status.peers.size() == 1);
  REQUIRE(status.peers[0].endpoint);
  CHECK(*status.peers[0].endpoint == ep("198.51.100.7:40000"));
  // Only the packets a sent before it heard from b's new address are lost.
  CHECK(count_from(p.b->received, seq_after_move) >= (seq - seq_after_move) - 2);
}

TEST_CASE("persistent keepalive keeps a quiet peer's path open", "[sim]") {
  Pair p(6);
  p.net.add_peer(*p.a, *p.b, false);
  p.net.add_peer(*p.b, *p.a, true, /*keepalive=*/25);  // b is the one behind a NAT
  p.net.run_until(seconds(300));
  // Setting the interval sends a keepalive at once, which needs (and starts) a handshake.
  CHECK(p.a->device.counters().handshakes_completed + p.b->device.counters().handshakes_completed >= 2);
  CHECK(p.b->device.counters().keepalives_sent >= 300 / 25 - 1);
  auto status = p.a->device.status();
  REQUIRE(status.peers[0].endpoint);
  CHECK(*status.peers[0].endpoint == p.b->outer);
}

TEST_CASE("under load the responder demands a cookie, and an honest initiator gets through", "[sim]") {
  DeviceOptions always_under_load;
  always_under_load.under_load_handshakes_per_second = 0;
  Pair p(7, always_under_load);
  p.net.add_peer(*p.a, *p.b, true);
  p.net.add_peer(*p.b, *p.a, false);
  p.net.send_inner(*p.a, *p.b, 1);
  p.net.run_until(seconds(8));
  CHECK(p.b->device.counters().cookie_replies_sent >= 1);
  CHECK(p.b->device.counters().dropped(DropReason::CookieRequired) >= 1);
  // The retransmit after REKEY_TIMEOUT carries mac2 and is accepted.
  CHECK(p.a->device.counters().handshakes_completed == 1);
  p.net.send_inner(*p.a, *p.b, 2);
  p.net.run_until(seconds(9));
  CHECK(std::find(p.b->received.begin(), p.b->received.end(), 2u) != p.b->received.end());
}

TEST_CASE("pre-shared keys must match", "[sim]") {
  Key psk{};
  psk.fill(0x42);
  Key other{};
  other.fill(0x43);
  SECTION("matching") {
    Pair p(8);
    p.net.add_peer(*p.a, *p.b, true, 0, psk);
    p.net.add_peer(*p.b, *p.a, false, 0, psk);
    p.net.send_inner(*p.a, *p.b, 7);
    p.net.run_until(seconds(1));
    CHECK(p.b->received == std::vector<uint32_t>{7});
  }
  SECTION("mismatched") {
    Pair p(9);
    p.net.add_peer(*p.a, *p.b, true, 0, psk);
    p.net.add_peer(*p.b, *p.a, false, 0, other);
    p.net.send_inner(*p.a, *p.b, 7);
    p.net.run_until(seconds(30));
    CHECK(p.b->received.empty());
    CHECK(p.a->device.counters().handshakes_completed == 0);
    CHECK(p.a->device.counters().dropped(DropReason::HandshakeFailed) >= 1);
  }
}

TEST_CASE("handshake attempts stop after REKEY_ATTEMPT_TIME and staged packets are dropped", "[sim]") {
  Pair p(10);
  p.net.add_peer(*p.a, *p.b, true);  // b does not know a: it never answers
  p.net.send_inner(*p.a, *p.b, 1);
  p.net.run_until(seconds(200));
  auto sent = p.a->device.counters().handshake_initiations_sent;
  INFO("initiations sent: " << sent);
  CHECK(sent >= kMaxTimerHandshakes);
  CHECK(sent <= kMaxTimerHandshakes + 2);
  CHECK(p.a->device.counters().dropped(DropReason::HandshakeTimeout) == 1);
  CHECK(p.b->device.counters().dropped(DropReason::UnknownPeer) == sent);
  CHECK(p.a->pool.available() == p.a->pool.count());  // nothing leaked from the pool
}

TEST_CASE("packets for a peer without an endpoint are dropped and counted, not held", "[sim]") {
  Pair p(11);
  p.net.add_peer(*p.b, *p.a, /*with_endpoint=*/false);
  p.net.send_inner(*p.b, *p.a, 1);
  p.net.send_inner(*p.b, *p.a, 2);
  CHECK(p.b->device.counters().dropped(DropReason::NoEndpoint) == 2);
  CHECK(p.b->device.counters().handshake_initiations_sent == 0);
  CHECK(p.b->pool.available() == p.b->pool.count());
}

TEST_CASE("the initiator's handshake round trip is the link's, the responder has none", "[sim]") {
  Pair p(7);
  p.net.add_peer(*p.a, *p.b, /*with_endpoint=*/true);
  p.net.add_peer(*p.b, *p.a, /*with_endpoint=*/false);
  LinkConditions link;
  link.latency_ns = millis(7);
  p.net.link = link;
  uint32_t seq = 0;
  p.net.run_until(seconds(2), millis(100), [&](int64_t) { p.net.send_inner(*p.a, *p.b, seq++); });
  REQUIRE(p.b->received.size() > 0);
  const DeviceStatus a = p.a->device.status();
  const DeviceStatus b = p.b->device.status();
  REQUIRE(a.peers.size() == 1);
  REQUIRE(b.peers.size() == 1);
  CHECK(a.peers[0].handshake_rtt_ns >= millis(14));
  CHECK(a.peers[0].handshake_rtt_ns < millis(15));
  CHECK(b.peers[0].handshake_rtt_ns == -1);
}
