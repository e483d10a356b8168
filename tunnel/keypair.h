// A session's keys and counters: one per completed handshake, held in a peer's
// previous/current/next slots.
#pragma once

#include <cstdint>

#include "crypto/noise.h"
#include "tunnel/constants.h"
#include "tunnel/replay_window.h"

namespace sluice {

struct Keypair {
  crypto::SessionKeys keys;
  uint64_t send_counter = 0;
  ReplayWindow replay;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  int64_t created_ns = 0;
  bool initiator = false;
  // Set when the device expires the keypair for sending (e.g. the private key changed).
  bool send_expired = false;

  ~Keypair() { crypto::wipe(keys); }

  bool can_send(int64_t now_ns) const {
    return !send_expired && send_counter < kRejectAfterMessages &&
           now_ns - created_ns < kRejectAfterTime;
  }
  bool can_receive(int64_t now_ns) const { return now_ns - created_ns < kRejectAfterTime; }
};

}  // namespace sluice
