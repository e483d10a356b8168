// Address values as wireguard-go's UAPI reads them (Go's netip.ParseAddrPort and
// netip.ParsePrefix), which are stricter or looser than IpAddress/IpPrefix::parse in places:
// an allowed_ip must have "/N", and a port may have leading zeros.
#pragma once

#include <optional>
#include <string_view>

#include "tunnel/ip_address.h"

namespace sluice::uapi {

// "1.2.3.4:51820" or "[2001:db8::1]:51820"; literal addresses only. Unlike Go, IPv6 zones
// ("[fe80::1%eth0]:51820") are rejected, because IpAddress has no zone.
std::optional<Endpoint> parse_endpoint(std::string_view text);

// "10.0.0.0/8", "fd00::/64"; the "/N" is required. Host bits are cleared, as the AllowedIPs
// trie of wireguard-go clears them on insert.
std::optional<IpPrefix> parse_prefix(std::string_view text);

}  // namespace sluice::uapi
