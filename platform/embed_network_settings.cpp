#include "platform/embed_network_settings.h"

#include <algorithm>
#include <cstring>

namespace sluice::platform {
namespace {

sluice_prefix to_c(const IpAddress& address, uint8_t length) {
  sluice_prefix p{};
  p.family = address.family == IpFamily::v4 ? SLUICE_ENDPOINT_IPV4 : SLUICE_ENDPOINT_IPV6;
  std::memcpy(p.address, address.bytes.data(), address.size());
  p.prefix_length = length;
  return p;
}

bool same(const sluice_prefix& a, const sluice_prefix& b) {
  return a.family == b.family && a.prefix_length == b.prefix_length &&
         std::memcmp(a.address, b.address, sizeof a.address) == 0;
}

}  // namespace

EmbedNetworkSettings EmbedNetworkSettings::from_config(const WgQuickConfig& config) {
  EmbedNetworkSettings s;
  s.mtu = config.mtu.value_or(s.mtu);
  for (const InterfaceAddress& a : config.addresses) {
    s.addresses.push_back(to_c(a.address, a.prefix_length));
  }
  for (const IpAddress& a : config.dns_servers) {
    s.dns_servers.push_back(to_c(a, static_cast<uint8_t>(a.max_prefix())));
  }
  // A config lists a prefix once per peer at most, and has a few peers: quadratic is fine.
  for (const ConfigPeer& peer : config.peers) {
    for (const IpPrefix& prefix : peer.change.allowed_ips) {
      const sluice_prefix p = to_c(prefix.masked().address, prefix.length);
      if (std::none_of(s.routes.begin(), s.routes.end(),
                       [&](const sluice_prefix& r) { return same(r, p); })) {
        s.routes.push_back(p);
      }
    }
  }
  s.dns_search = config.dns_search;
  return s;
}

size_t copy_prefixes(const std::vector<sluice_prefix>& prefixes, sluice_prefix* out,
                     size_t capacity) {
  std::copy_n(prefixes.begin(), std::min(capacity, prefixes.size()), out);
  return prefixes.size();
}

}  // namespace sluice::platform
