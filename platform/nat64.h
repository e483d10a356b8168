// Reaching an IPv4 peer from an IPv6-only network through the network's NAT64 (RFC 6146).
//
// iOS requires apps to work on IPv6-only networks with DNS64/NAT64. There an Endpoint given as
// an IPv4 literal (or a name the system resolved to IPv4) is unreachable: the host has no IPv4
// route. The network's NAT64 still reaches it if we write the IPv4 address into the network's
// NAT64 prefix (RFC 6052), which we learn from the AAAA answers for "ipv4only.arpa" (RFC 7050).
//
// The address arithmetic and the decision are pure functions; only has_ipv4_route,
// has_ipv6_route, discover_nat64_prefixes and resolve_endpoint_for_network touch the OS.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/result.h"
#include "tunnel/ip_address.h"

namespace sluice::platform {

// An RFC 6052 prefix: IPv6, of length 32, 40, 48, 56, 64 or 96, host bits clear and, for /96,
// bits 64..71 zero (RFC 6052 section 2.2 reserves them in every format).
struct Nat64Prefix {
  IpPrefix prefix;

  // nullopt unless `p` is a valid NAT64 prefix as described above (host bits are cleared).
  static std::optional<Nat64Prefix> from(const IpPrefix& p);
  // "64:ff9b::/96"; nullopt for text that is not a valid NAT64 prefix.
  static std::optional<Nat64Prefix> parse(std::string_view text);
  // The Well-Known Prefix 64:ff9b::/96 (RFC 6052 section 2.1).
  static Nat64Prefix well_known();

  std::string to_string() const { return prefix.to_string(); }
  auto operator<=>(const Nat64Prefix&) const = default;
};

// The IPv4-embedded IPv6 address for `v4` under `prefix` (suffix bits zero). nullopt when
// `prefix` is not a valid NAT64 prefix (see Nat64Prefix) or `v4` is not IPv4.
std::optional<IpAddress> nat64_synthesize(const Nat64Prefix& prefix, IpAddress v4);

// The IPv4 address embedded in `v6` under `prefix`: nullopt when `v6` is not IPv6, is not
// inside `prefix`, has a non-zero u octet (bits 64..71), or `prefix` is invalid. Suffix bits
// are not checked: RFC 6052 only says they SHOULD be zero.
std::optional<IpAddress> nat64_extract(const Nat64Prefix& prefix, IpAddress v6);

// RFC 7050 section 3: the distinct NAT64 prefixes shown by the AAAA answers for ipv4only.arpa,
// in answer order. An answer counts when 192.0.0.170 or 192.0.0.171 sits at one RFC 6052
// position with the u octet zero. If it sits at several, the position another answer confirms
// (with the other well-known address under the same prefix) wins, then the one whose suffix is
// zero; an answer still ambiguous after that is ignored, as are IPv4 and non-matching answers.
std::vector<Nat64Prefix> parse_nat64_prefixes(std::span<const IpAddress> aaaa_answers);

// Asks the system resolver for the AAAA records of ipv4only.arpa (AF_INET6, no AI_ADDRCONFIG)
// and parses them. No such records (no DNS64 on this network) is an empty list, not an error;
// a temporary failure has Error::code == EAGAIN. Blocks on DNS: call it off the worker thread.
Result<std::vector<Nat64Prefix>> discover_nat64_prefixes();

// Whether the routing table has a route for a global address of that family: a UDP socket
// connect() only consults the routing table and sends nothing.
bool has_ipv4_route();
bool has_ipv6_route();
// The same for one address (IPv4 or IPv6).
bool has_route_to(const IpAddress& address);

struct RouteFacts {
  bool ipv4 = false;  // the IPv4 endpoint itself has a route (has_route_to)
  bool ipv6 = false;  // has_ipv6_route()
};

// True when `resolved` is IPv4 (other than loopback, which needs no route) and only IPv6 can
// leave this host: the case where the endpoint is unreachable without NAT64.
bool needs_nat64(const Endpoint& resolved, RouteFacts routes);

// `resolved` through the first of `prefixes` when needs_nat64(); otherwise, or when no prefix
// synthesises an address, `resolved` unchanged.
Endpoint endpoint_for_network(const Endpoint& resolved, RouteFacts routes,
                              std::span<const Nat64Prefix> prefixes);

// resolve_endpoint(), then, on an IPv6-only network, the peer's IPv4 address rewritten into the
// network's NAT64 prefix. Falls back to the IPv4 endpoint (logged at debug) when no prefix is
// found. Blocks on DNS like resolve_endpoint: call it off the worker thread.
Result<Endpoint> resolve_endpoint_for_network(const std::string& host, uint16_t port);

}  // namespace sluice::platform
