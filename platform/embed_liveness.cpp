#include "platform/embed_liveness.h"

#include <algorithm>

#include "tunnel/constants.h"

namespace sluice::platform {

int LivenessTracker::update(const Device& device, const DeviceStatus& status, int64_t now_ns) {
  next_.clear();
  int best = SLUICE_LIVENESS_DOWN;
  for (const PeerStatus& p : status.peers) {
    PeerTrack t;
    const auto old = std::find_if(peers_.begin(), peers_.end(), [&](const PeerTrack& o) {
      return o.public_key == p.public_key;
    });
    if (old != peers_.end()) {
      t = *old;
    } else {
      t.public_key = p.public_key;
      t.rx_bytes = p.rx_bytes;
      t.tx_bytes = p.tx_bytes;
      t.rx_changed_ns = t.tx_changed_ns = now_ns;
    }
    if (p.rx_bytes != t.rx_bytes) t.rx_changed_ns = now_ns;
    if (p.tx_bytes != t.tx_bytes) t.tx_changed_ns = now_ns;
    t.rx_bytes = p.rx_bytes;
    t.tx_bytes = p.tx_bytes;

    const std::optional<PeerSession> session = device.peer_session(p.public_key, now_ns);
    const bool pending = session && session->handshake_pending;
    if (!pending) {
      t.pending_since_ns = -1;
    } else if (t.pending_since_ns < 0) {
      t.pending_since_ns = now_ns;
    }
    if (!session || !session->can_send) {
      t.state = SLUICE_LIVENESS_DOWN;
    } else {
      const bool unanswered = t.tx_changed_ns > t.rx_changed_ns &&
                              now_ns - t.rx_changed_ns > kKeepaliveTimeout + kRekeyTimeout;
      const bool handshake_stuck = pending && now_ns - t.pending_since_ns > kRekeyTimeout;
      t.state = unanswered || handshake_stuck ? SLUICE_LIVENESS_DEGRADED : SLUICE_LIVENESS_UP;
    }
    best = std::max(best, t.state);
    next_.push_back(t);
  }
  peers_.swap(next_);
  state_ = best;
  return state_;
}

int LivenessTracker::peer_state(const Key& public_key) const {
  for (const PeerTrack& t : peers_) {
    if (t.public_key == public_key) return t.state;
  }
  return SLUICE_LIVENESS_DOWN;
}

void LivenessTracker::reset() {
  peers_.clear();
  state_ = SLUICE_LIVENESS_DOWN;
}

}  // namespace sluice::platform
