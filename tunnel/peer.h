// One WireGuard peer: its static key, endpoint, handshake state, keypairs, staged packets
// and timers. Peers live inside the Device and are touched only by it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "crypto/tai64n.h"
#include "tunnel/device_config.h"
#include "tunnel/keypair.h"
#include "tunnel/staged_queue.h"
#include "tunnel/timers.h"

namespace sluice {

struct Peer {
  uint32_t id = 0;
  Key public_key{};
  Key preshared_key{};
  Key precomputed_static_static{};  // DH(our static, their static); zero when unusable
  std::optional<Endpoint> endpoint;
  uint16_t persistent_keepalive_interval = 0;

  crypto::CookieMaker cookie;
  bool initiation_pending = false;  // `initiation` holds an unanswered handshake of ours
  crypto::InitiatorHandshake initiation;
  crypto::Tai64n latest_timestamp{};  // newest initiation accepted from this peer
  int64_t last_initiation_consumed_ns = INT64_MIN / 2;
  int64_t last_sent_handshake_ns = INT64_MIN / 2;

  std::unique_ptr<Keypair> previous;
  std::unique_ptr<Keypair> current;
  std::unique_ptr<Keypair> next;  // responder's keypair, usable once the initiator confirms it

  StagedQueue staged;
  PeerTimers timers;

  uint64_t rx_bytes = 0;
  uint64_t tx_bytes = 0;
  int64_t last_handshake_wall_ns = 0;
  // From sending our latest initiation to its response: a round-trip estimate that needs no
  // extra traffic (it includes the peer's handshake processing, about 0.1 ms). -1 until a
  // handshake we initiated completes.
  int64_t handshake_rtt_ns = -1;

  ~Peer() {
    crypto::wipe(preshared_key);
    crypto::wipe(precomputed_static_static);
    crypto::wipe(initiation);
  }
};

}  // namespace sluice
