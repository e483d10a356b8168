// Conversions between Endpoint and the kernel's sockaddr forms. Our outer socket is one
// dual-stack AF_INET6 socket, so IPv4 peers travel as v4-mapped IPv6 (::ffff:a.b.c.d) on the
// wire to the kernel but are always plain IPv4 Endpoints to the rest of Sluice.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>

#include "tunnel/ip_address.h"

namespace sluice::platform {

// sockaddr_storage large enough for either family, with the length to pass to the kernel.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

// For an AF_INET6 socket: IPv4 becomes v4-mapped. For an AF_INET socket: IPv4 as is, and an
// IPv6 endpoint gives nullopt (it cannot be reached from that socket).
std::optional<SocketAddress> to_socket_address(const Endpoint& e, int socket_family);

// ::ffff:a.b.c.d as a.b.c.d; any other address unchanged. Peers are compared by Endpoint, so
// one IPv4 peer must never appear in both forms.
IpAddress unmap_v4(const IpAddress& a);

// AF_INET or AF_INET6 (v4-mapped folded back to IPv4); nullopt for other families.
std::optional<Endpoint> to_endpoint(const sockaddr* sa, socklen_t length);

}  // namespace sluice::platform
