// The wg-quick(8) configuration file: wg(8)'s INI-like format ([Interface] and [Peer]
// sections) plus the interface keys wg-quick handles itself (Address, DNS, MTU). `sluice up`
// reads it; the result is a plain value, so nothing here touches the system, resolves names
// or reads files (the caller passes the text).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tunnel/device_config.h"
#include "tunnel/ip_address.h"

namespace sluice {

// Bounds for text we did not write. A real config is a few KiB; the line bound still leaves
// room for generated AllowedIPs lists of a few thousand prefixes (longer ones can be split
// over several AllowedIPs lines, which accumulate).
inline constexpr size_t kMaxWgQuickConfigBytes = 1 << 20;
inline constexpr size_t kMaxWgQuickConfigLineBytes = 64 * 1024;

// Why a config was rejected. `line` is 1-based; 0 means the file as a whole (e.g. "no
// [Interface] section"). `key` is the key or section header as written, or empty when what
// was written does not look like a name. Key values are never repeated in the message, so
// errors can be logged without leaking a PrivateKey or PresharedKey.
struct ConfigError {
  std::string file;
  unsigned line = 0;
  std::string key;
  std::string message;

  // "FILE:LINE: KEY: message"; the LINE and KEY parts are left out when 0 or empty.
  std::string to_string() const;
};

// An Address entry. Unlike an AllowedIPs prefix it keeps its host bits: 10.0.0.2/24 means
// "this interface is 10.0.0.2 on the 10.0.0.0/24 subnet".
struct InterfaceAddress {
  IpAddress address;
  uint8_t prefix_length = 0;  // /32 or /128 when the entry has no "/N", as with `ip address add`
  std::string to_string() const;
  auto operator<=>(const InterfaceAddress&) const = default;
};

struct ConfigPeer {
  // public_key, preshared_key, allowed_ips, persistent_keepalive_interval, and endpoint when
  // the Endpoint is an IP literal.
  PeerChange change;
  // Set when the Endpoint names a host; the caller resolves it (tunnel/ never does).
  std::optional<std::string> endpoint_host;
  uint16_t endpoint_port = 0;  // the Endpoint's port, whether host name or IP literal
  unsigned line = 0;           // the [Peer] line, for messages about this peer
};

struct WgQuickConfig {
  // [Interface]
  std::optional<Key> private_key;  // required by the parser, optional so a default value is valid
  std::optional<uint16_t> listen_port;
  std::optional<uint32_t> fwmark;  // "off" is 0
  std::vector<InterfaceAddress> addresses;
  std::vector<IpAddress> dns_servers;
  std::vector<std::string> dns_search;  // DNS entries that are not IP literals, as in wg-quick
  std::optional<uint32_t> mtu;
  // [Peer] sections, in file order
  std::vector<ConfigPeer> peers;
};

// Parses a whole config file. `file_name` is only used in error messages. On error nothing
// partial is returned: the first problem in file order is reported.
std::variant<WgQuickConfig, ConfigError> parse_wg_quick_config(std::string_view text,
                                                               std::string_view file_name);

// What `wg setconf` would apply: replace_peers, and listen_port and fwmark always present
// (0 when the file leaves them out), every peer with replace_allowed_ips. Peers whose Endpoint
// is a host name get no endpoint; the caller resolves endpoint_host and fills
// peers[i].endpoint, where i is the index of the ConfigPeer (the order is kept).
DeviceChange to_device_change(const WgQuickConfig& config);

}  // namespace sluice
