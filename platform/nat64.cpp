#include "platform/nat64.h"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iterator>
#include <memory>

#include "platform/resolver.h"
#include "platform/socket_address.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

namespace {

constexpr std::array<uint8_t, 6> kPrefixLengths = {96, 64, 56, 48, 40, 32};
// Bits 64..71: kept zero in every RFC 6052 format so that the address stays a valid
// modified EUI-64 interface identifier (RFC 4291), which is why the IPv4 bytes skip it.
constexpr size_t kUOctet = 8;
// RFC 7050 section 2.2: the A records of ipv4only.arpa, which DNS64 rewrites into AAAA.
constexpr std::array<uint8_t, 4> kWellKnownV4a = {192, 0, 0, 170};
constexpr std::array<uint8_t, 4> kWellKnownV4b = {192, 0, 0, 171};

bool valid_length(unsigned length) {
  return std::find(kPrefixLengths.begin(), kPrefixLengths.end(), length) != kPrefixLengths.end();
}

// Where the four IPv4 bytes go for a prefix of `length` bits.
std::array<size_t, 4> v4_positions(unsigned length) {
  std::array<size_t, 4> at{};
  size_t index = length / 8;
  for (size_t& p : at) {
    if (index == kUOctet) ++index;
    p = index++;
  }
  return at;
}

// The prefix with host bits cleared, or nullopt when no RFC 6052 format has its length or its
// u octet is set (possible only at /96, where bits 64..71 belong to the prefix).
std::optional<IpPrefix> usable(const IpPrefix& p) {
  const IpPrefix clean = p.masked();
  if (clean.address.family != IpFamily::v6 || !valid_length(clean.length)) return std::nullopt;
  if (clean.address.bytes[kUOctet] != 0) return std::nullopt;
  return clean;
}

IpAddress read_v4(const IpAddress& v6, unsigned length) {
  IpAddress v4;
  const std::array<size_t, 4> at = v4_positions(length);
  for (size_t i = 0; i < at.size(); ++i) v4.bytes[i] = v6.bytes[at[i]];
  return v4;
}

// RFC 6052 says the suffix SHOULD be zero, so a zero one is evidence for that position.
bool suffix_is_zero(const IpAddress& v6, unsigned length) {
  for (size_t i = v4_positions(length).back() + 1; i < v6.bytes.size(); ++i) {
    if (v6.bytes[i] != 0) return false;
  }
  return true;
}

bool is_well_known_v4(const IpAddress& v4) {
  return std::equal(kWellKnownV4a.begin(), kWellKnownV4a.end(), v4.bytes.begin()) ||
         std::equal(kWellKnownV4b.begin(), kWellKnownV4b.end(), v4.bytes.begin());
}

// One RFC 6052 position at which an answer holds a well-known address.
struct Candidate {
  Nat64Prefix prefix;
  IpAddress well_known;
  bool suffix_zero = false;
};

std::vector<Candidate> candidates_in(const IpAddress& answer) {
  std::vector<Candidate> found;
  if (answer.family != IpFamily::v6 || answer.bytes[kUOctet] != 0) return found;
  for (uint8_t length : kPrefixLengths) {
    const IpAddress v4 = read_v4(answer, length);
    if (!is_well_known_v4(v4)) continue;
    const Nat64Prefix prefix{IpPrefix{answer, length}.masked()};
    found.push_back(Candidate{prefix, v4, suffix_is_zero(answer, length)});
  }
  return found;
}

// RFC 7050 has DNS64 answer with two well-known addresses so that a position hit by chance can
// be told from the real one: the real prefix shows the other address in another answer too.
bool confirmed_elsewhere(const Candidate& c, size_t answer_index,
                         const std::vector<std::vector<Candidate>>& all) {
  for (size_t i = 0; i < all.size(); ++i) {
    if (i == answer_index) continue;
    for (const Candidate& other : all[i]) {
      if (other.prefix == c.prefix && other.well_known != c.well_known) return true;
    }
  }
  return false;
}

template <class Keep>
std::vector<Candidate> narrowed(const std::vector<Candidate>& from, Keep keep) {
  std::vector<Candidate> kept;
  std::copy_if(from.begin(), from.end(), std::back_inserter(kept), keep);
  return kept.empty() ? from : kept;
}

std::optional<Nat64Prefix> prefix_of_answer(size_t index,
                                            const std::vector<std::vector<Candidate>>& all) {
  std::vector<Candidate> options = all[index];
  if (options.size() > 1) {
    options =
        narrowed(options, [&](const Candidate& c) { return confirmed_elsewhere(c, index, all); });
  }
  if (options.size() > 1) {
    options = narrowed(options, [](const Candidate& c) { return c.suffix_zero; });
  }
  if (options.size() != 1) return std::nullopt;
  return options.front().prefix;
}

// Darwin, where the embedding library runs, has no SOCK_CLOEXEC; the probe's socket is closed
// before returning anyway.
#ifdef SOCK_CLOEXEC
constexpr int kProbeSocketType = SOCK_DGRAM | SOCK_CLOEXEC;
#else
constexpr int kProbeSocketType = SOCK_DGRAM;
#endif

bool can_route_to(const IpAddress& address, int family) {
  const std::optional<SocketAddress> to = to_socket_address(Endpoint{address, 53}, family);
  if (!to) return false;
  UniqueFd fd(::socket(family, kProbeSocketType, 0));
  return fd.valid() && ::connect(fd.get(), to->get(), to->length) == 0;
}

// No AAAA for the name means the resolver does no DNS64: a plain answer, not a failure.
// EAI_NODATA and EAI_ADDRFAMILY are not POSIX, so not every libc has them.
bool means_no_aaaa(int rc) {
#ifdef EAI_NODATA
  if (rc == EAI_NODATA) return true;
#endif
#ifdef EAI_ADDRFAMILY
  if (rc == EAI_ADDRFAMILY) return true;
#endif
  return rc == EAI_NONAME;
}

}  // namespace

std::optional<Nat64Prefix> Nat64Prefix::from(const IpPrefix& p) {
  const std::optional<IpPrefix> clean = usable(p);
  if (!clean) return std::nullopt;
  return Nat64Prefix{*clean};
}

std::optional<Nat64Prefix> Nat64Prefix::parse(std::string_view text) {
  const std::optional<IpPrefix> p = IpPrefix::parse(text);
  return p ? from(*p) : std::nullopt;
}

Nat64Prefix Nat64Prefix::well_known() { return *parse("64:ff9b::/96"); }

std::optional<IpAddress> nat64_synthesize(const Nat64Prefix& prefix, IpAddress v4) {
  const std::optional<IpPrefix> p = usable(prefix.prefix);
  if (!p || v4.family != IpFamily::v4) return std::nullopt;
  IpAddress v6 = p->address;
  const std::array<size_t, 4> at = v4_positions(p->length);
  for (size_t i = 0; i < at.size(); ++i) v6.bytes[at[i]] = v4.bytes[i];
  return v6;
}

std::optional<IpAddress> nat64_extract(const Nat64Prefix& prefix, IpAddress v6) {
  const std::optional<IpPrefix> p = usable(prefix.prefix);
  if (!p || !p->contains(v6) || v6.bytes[kUOctet] != 0) return std::nullopt;
  return read_v4(v6, p->length);
}

std::vector<Nat64Prefix> parse_nat64_prefixes(std::span<const IpAddress> aaaa_answers) {
  std::vector<std::vector<Candidate>> all;
  for (const IpAddress& answer : aaaa_answers) all.push_back(candidates_in(answer));
  std::vector<Nat64Prefix> prefixes;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::optional<Nat64Prefix> p = prefix_of_answer(i, all);
    if (p && std::find(prefixes.begin(), prefixes.end(), *p) == prefixes.end()) {
      prefixes.push_back(*p);
    }
  }
  return prefixes;
}

Result<std::vector<Nat64Prefix>> discover_nat64_prefixes() {
  addrinfo hints{};
  hints.ai_family = AF_INET6;  // only AAAA: without AI_V4MAPPED no A record is mapped in
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  // No AI_ADDRCONFIG: the point is to ask even where the host has no global IPv6 address yet.
  addrinfo* list = nullptr;
  const int rc = getaddrinfo("ipv4only.arpa", nullptr, &hints, &list);
  if (means_no_aaaa(rc)) return std::vector<Nat64Prefix>{};
  if (rc != 0) {
    const int code = rc == EAI_AGAIN ? EAGAIN : rc == EAI_SYSTEM ? errno : EHOSTUNREACH;
    return Error{std::string("resolving ipv4only.arpa: ") + gai_strerror(rc), code};
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> owner(list, &freeaddrinfo);
  std::vector<IpAddress> answers;
  for (const addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (std::optional<Endpoint> e = to_endpoint(ai->ai_addr, ai->ai_addrlen)) {
      answers.push_back(e->address);
    }
  }
  return parse_nat64_prefixes(answers);
}

bool has_ipv4_route() { return has_route_to(*IpAddress::parse("192.0.2.1")); }

bool has_ipv6_route() { return has_route_to(*IpAddress::parse("2001:db8::1")); }

bool has_route_to(const IpAddress& address) {
  return can_route_to(address, address.family == IpFamily::v4 ? AF_INET : AF_INET6);
}

bool needs_nat64(const Endpoint& resolved, RouteFacts routes) {
  const bool loopback = resolved.address.bytes[0] == 127;
  return resolved.address.family == IpFamily::v4 && !loopback && !routes.ipv4 && routes.ipv6;
}

Endpoint endpoint_for_network(const Endpoint& resolved, RouteFacts routes,
                              std::span<const Nat64Prefix> prefixes) {
  if (!needs_nat64(resolved, routes)) return resolved;
  for (const Nat64Prefix& prefix : prefixes) {
    if (std::optional<IpAddress> v6 = nat64_synthesize(prefix, resolved.address)) {
      return Endpoint{*v6, resolved.port};
    }
  }
  return resolved;
}

Result<Endpoint> resolve_endpoint_for_network(const std::string& host, uint16_t port) {
  Result<Endpoint> resolved = resolve_endpoint(host, port);
  if (!resolved) return resolved;
  // The peer's own address, not a global one: a peer on a local IPv4 subnet stays reachable
  // on a network whose only default route is IPv6.
  const RouteFacts routes{has_route_to(resolved->address), has_ipv6_route()};
  if (!needs_nat64(*resolved, routes)) return resolved;
  Result<std::vector<Nat64Prefix>> prefixes = discover_nat64_prefixes();
  if (!prefixes) {
    spdlog::debug("nat64: {} has no IPv4 route; NAT64 discovery failed ({}), keeping it",
                  resolved->to_string(), prefixes.error().message);
    return resolved;
  }
  const Endpoint chosen = endpoint_for_network(*resolved, routes, *prefixes);
  if (chosen == *resolved) {
    spdlog::debug("nat64: {} has no IPv4 route and the network shows no NAT64 prefix, keeping it",
                  resolved->to_string());
  } else {
    spdlog::debug("nat64: {} reached as {} through {}", resolved->to_string(), chosen.to_string(),
                  prefixes->front().to_string());
  }
  return chosen;
}

}  // namespace sluice::platform
