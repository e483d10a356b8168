// The settings a host applies on its side of an embedded tunnel (sluice.h's NETWORK SETTINGS),
// taken once from the wg-quick config so the C calls only copy them out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "include/sluice.h"
#include "tunnel/wg_quick_config.h"

namespace sluice::platform {

struct EmbedNetworkSettings {
  uint32_t mtu = 1420;
  std::vector<sluice_prefix> addresses;
  std::vector<sluice_prefix> dns_servers;
  std::vector<sluice_prefix> routes;  // AllowedIPs of all peers, first occurrence kept
  std::vector<std::string> dns_search;

  static EmbedNetworkSettings from_config(const WgQuickConfig& config);
};

// Copies up to `capacity` of `prefixes` into `out` (owned by the caller) and returns how many
// there are in all.
size_t copy_prefixes(const std::vector<sluice_prefix>& prefixes, sluice_prefix* out,
                     size_t capacity);

}  // namespace sluice::platform
