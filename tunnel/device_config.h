// The configuration model shared by the wg-quick config parser, the UAPI protocol and the
// device. Parsers build a DeviceChange completely and validate it before anything is applied,
// so a malformed request can never leave the running device half-changed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tunnel/ip_address.h"

namespace sluice {

using Key = std::array<uint8_t, 32>;

// One peer section of a UAPI set request (or one [Peer] of a config file).
struct PeerChange {
  Key public_key{};
  bool remove = false;
  bool update_only = false;          // only change the peer if it already exists
  bool replace_allowed_ips = false;  // clear the peer's AllowedIPs before adding allowed_ips
  std::optional<Key> preshared_key;  // all-zero key means "no pre-shared key"
  std::optional<Endpoint> endpoint;
  std::optional<uint16_t> persistent_keepalive_interval;  // seconds, 0 = off
  std::vector<IpPrefix> allowed_ips;                      // added, in order
};

// A UAPI set=1 request, or a whole config file (with replace_peers = true).
struct DeviceChange {
  std::optional<Key> private_key;  // all-zero key removes the private key, as in wireguard-go
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;  // 0 = off
  bool replace_peers = false;
  std::vector<PeerChange> peers;
};

// What a UAPI get=1 reports for one peer. Times are wall-clock, filled by the caller.
struct PeerStatus {
  Key public_key{};
  Key preshared_key{};
  std::optional<Endpoint> endpoint;
  int64_t last_handshake_time_sec = 0;
  int64_t last_handshake_time_nsec = 0;
  uint64_t tx_bytes = 0;
  uint64_t rx_bytes = 0;
  uint16_t persistent_keepalive_interval = 0;
  std::vector<IpPrefix> allowed_ips;
  int64_t handshake_rtt_ns = -1;  // Peer::handshake_rtt_ns; not part of UAPI
};

struct DeviceStatus {
  std::optional<Key> private_key;  // absent when unset
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<PeerStatus> peers;
};

}  // namespace sluice
