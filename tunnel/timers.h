// The per-peer timers of the WireGuard whitepaper (section 6), as deadlines on the monotonic
// clock. The event functions mirror when the Linux module arms and disarms each timer; the
// device runs the expired ones in handle_timers().
#pragma once

#include <algorithm>
#include <cstdint>

#include "tunnel/constants.h"

namespace sluice {

struct PeerTimers {
  static constexpr int64_t kOff = INT64_MAX;

  int64_t retransmit_handshake = kOff;  // resend an unanswered initiation
  int64_t send_keepalive = kOff;        // answer received data we had nothing to send back for
  int64_t new_handshake = kOff;         // we sent data and heard nothing back
  int64_t zero_key_material = kOff;     // 3 x REJECT_AFTER_TIME without a new session
  int64_t persistent_keepalive = kOff;  // user-configured keepalive interval
  unsigned handshake_attempts = 0;
  bool need_another_keepalive = false;
  bool sent_lastminute_handshake = false;

  int64_t next() const {
    return std::min({retransmit_handshake, send_keepalive, new_handshake, zero_key_material,
                     persistent_keepalive});
  }

  void data_sent(int64_t now, int64_t jitter) {
    if (new_handshake == kOff) new_handshake = now + kKeepaliveTimeout + kRekeyTimeout + jitter;
  }
  void data_received(int64_t now) {
    if (send_keepalive == kOff) {
      send_keepalive = now + kKeepaliveTimeout;
    } else {
      need_another_keepalive = true;
    }
  }
  void any_authenticated_packet_sent() { send_keepalive = kOff; }
  void any_authenticated_packet_received() { new_handshake = kOff; }
  void any_authenticated_packet_traversal(int64_t now, uint16_t persistent_keepalive_interval) {
    if (persistent_keepalive_interval != 0)
      persistent_keepalive = now + seconds(persistent_keepalive_interval);
  }
  void handshake_initiated(int64_t now, int64_t jitter) {
    retransmit_handshake = now + kRekeyTimeout + jitter;
  }
  void handshake_complete() {
    retransmit_handshake = kOff;
    handshake_attempts = 0;
    sent_lastminute_handshake = false;
  }
  void session_derived(int64_t now) { zero_key_material = now + 3 * kRejectAfterTime; }
  void stop_all() { *this = PeerTimers{}; }
};

}  // namespace sluice
