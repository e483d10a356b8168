// Turns what the Device knows about each peer into the up/degraded/down that sluice.h's
// liveness callback reports, from the session's state and whether authenticated traffic
// still comes back:
//   down      no session that can send (none yet, or expired: REJECT_AFTER_TIME passed)
//   degraded  a session can send, but either data went out without anything authenticated
//             coming back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (the point where WireGuard
//             itself suspects the path and re-handshakes), or a handshake has gone unanswered
//             for longer than REKEY_TIMEOUT
//   up        otherwise
// The tunnel's state is its best peer's: a host with one peer sees that peer.
#pragma once

#include <cstdint>
#include <vector>

#include "include/sluice.h"
#include "tunnel/device.h"

namespace sluice::platform {

class LivenessTracker {
 public:
  // Re-evaluates every peer from `status` (the Device's, same moment) and returns the
  // tunnel's state. Peers no longer in `status` are forgotten.
  int update(const Device& device, const DeviceStatus& status, int64_t now_ns);
  int state() const { return state_; }
  // SLUICE_LIVENESS_DOWN for a peer not seen yet.
  int peer_state(const Key& public_key) const;
  void reset();

 private:
  struct PeerTrack {
    Key public_key{};
    uint64_t rx_bytes = 0;
    uint64_t tx_bytes = 0;
    int64_t rx_changed_ns = 0;
    int64_t tx_changed_ns = 0;
    int64_t pending_since_ns = -1;  // when a handshake was first seen pending, -1 if none
    int state = SLUICE_LIVENESS_DOWN;
  };
  std::vector<PeerTrack> peers_;
  std::vector<PeerTrack> next_;  // reused between updates
  int state_ = SLUICE_LIVENESS_DOWN;
};

}  // namespace sluice::platform
