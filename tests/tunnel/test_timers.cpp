// The arming rules of the per-peer timers, event by event, as the Linux module's timers.c.
#include <catch2/catch.hpp>

#include "tunnel/timers.h"

using namespace sluice;

TEST_CASE("new_handshake is armed by the first data sent and kept by later sends", "[timers]") {
  PeerTimers t;
  t.data_sent(seconds(1), millis(100));
  CHECK(t.new_handshake == seconds(1) + kKeepaliveTimeout + kRekeyTimeout + millis(100));
  t.data_sent(seconds(3), 0);  // already pending: the first deadline stands
  CHECK(t.new_handshake == seconds(1) + kKeepaliveTimeout + kRekeyTimeout + millis(100));
  t.any_authenticated_packet_received();  // the peer answered
  CHECK(t.new_handshake == PeerTimers::kOff);
}

TEST_CASE("send_keepalive is armed by received data and cancelled by anything we send", "[timers]") {
  PeerTimers t;
  t.data_received(seconds(2));
  CHECK(t.send_keepalive == seconds(2) + kKeepaliveTimeout);
  CHECK_FALSE(t.need_another_keepalive);
  t.data_received(seconds(4));  // pending: remember that another keepalive will be due
  CHECK(t.send_keepalive == seconds(2) + kKeepaliveTimeout);
  CHECK(t.need_another_keepalive);
  t.any_authenticated_packet_sent();
  CHECK(t.send_keepalive == PeerTimers::kOff);
}

TEST_CASE("handshake timers: retransmit, completion, zeroing", "[timers]") {
  PeerTimers t;
  t.handshake_initiated(seconds(10), millis(333));
  CHECK(t.retransmit_handshake == seconds(10) + kRekeyTimeout + millis(333));
  t.handshake_attempts = 7;
  t.sent_lastminute_handshake = true;
  t.handshake_complete();
  CHECK(t.retransmit_handshake == PeerTimers::kOff);
  CHECK(t.handshake_attempts == 0);
  CHECK_FALSE(t.sent_lastminute_handshake);
  t.session_derived(seconds(10));
  CHECK(t.zero_key_material == seconds(10) + 3 * kRejectAfterTime);
  CHECK(t.next() == t.zero_key_material);
}

TEST_CASE("persistent keepalive follows every authenticated packet when configured", "[timers]") {
  PeerTimers t;
  t.any_authenticated_packet_traversal(seconds(5), 0);
  CHECK(t.persistent_keepalive == PeerTimers::kOff);
  t.any_authenticated_packet_traversal(seconds(5), 25);
  CHECK(t.persistent_keepalive == seconds(30));
  t.any_authenticated_packet_traversal(seconds(20), 25);
  CHECK(t.persistent_keepalive == seconds(45));
}

TEST_CASE("whitepaper constants", "[timers]") {
  CHECK(kRekeyAfterMessages == (uint64_t{1} << 60));
  CHECK(kRejectAfterMessages == UINT64_MAX - 8192);  // 2^64 - 2^13 - 1
  CHECK(kMaxTimerHandshakes == 18);
  CHECK(kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout == seconds(165));
}
