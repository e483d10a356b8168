// Expiry of the per-peer timers (whitepaper section 6; the Linux module's timers.c).
#include <spdlog/spdlog.h>

#include "crypto/keys.h"
#include "tunnel/device_impl.h"

namespace sluice {

void Device::Impl::run_timers(Peer& peer, const Now& now, DeviceOutput& out) {
  PeerTimers& t = peer.timers;
  const int64_t n = now.mono_ns;
  const std::string who = crypto::key_to_base64(peer.public_key).substr(0, 8);

  if (t.retransmit_handshake <= n) {
    t.retransmit_handshake = PeerTimers::kOff;
    if (t.handshake_attempts > kMaxTimerHandshakes) {
      spdlog::info("{}handshake with {} did not complete after {} attempts, giving up",
                   options().log_prefix, who, kMaxTimerHandshakes + 2);
      t.send_keepalive = PeerTimers::kOff;
      while (PacketBuffer* b = peer.staged.pop()) drop(b, DropReason::HandshakeTimeout);
      if (t.zero_key_material == PeerTimers::kOff) t.zero_key_material = n + 3 * kRejectAfterTime;
    } else {
      ++t.handshake_attempts;
      spdlog::debug("{}handshake with {} did not complete after {} seconds, retrying (try {})",
                    options().log_prefix, who, kRekeyTimeout / kNanosPerSecond, t.handshake_attempts + 1);
      send_initiation(peer, now, true, out);
    }
  }
  if (t.send_keepalive <= n) {
    t.send_keepalive = PeerTimers::kOff;
    send_keepalive(peer, now, out);
    if (t.need_another_keepalive) {
      t.need_another_keepalive = false;
      t.send_keepalive = n + kKeepaliveTimeout;
    }
  }
  if (t.new_handshake <= n) {
    t.new_handshake = PeerTimers::kOff;
    spdlog::debug("{}retrying handshake with {}: sent data but heard nothing back for {} s",
                  options().log_prefix, who, (kKeepaliveTimeout + kRekeyTimeout) / kNanosPerSecond);
    // Another endpoint may be reachable where this one is not; the next authenticated
    // packet from the peer will tell us.
    send_initiation(peer, now, false, out);
  }
  if (t.zero_key_material <= n) {
    t.zero_key_material = PeerTimers::kOff;
    spdlog::info("{}zeroing keys of {} after {} s without a new session", options().log_prefix, who,
                 3 * kRejectAfterTime / kNanosPerSecond);
    zero_key_material(peer);
  }
  if (t.persistent_keepalive <= n) {
    t.persistent_keepalive = PeerTimers::kOff;
    if (peer.persistent_keepalive_interval != 0) send_keepalive(peer, now, out);
  }
}

}  // namespace sluice
