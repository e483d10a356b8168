#include "platform/socket_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace sluice::platform {

namespace {
constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}

IpAddress unmap_v4(const IpAddress& a) {
  if (a.family == IpFamily::v6 && std::memcmp(a.bytes.data(), kV4MappedPrefix, 12) == 0) {
    return IpAddress::v4(a.bytes.data() + 12);
  }
  return a;
}

std::optional<SocketAddress> to_socket_address(const Endpoint& e, int socket_family) {
  SocketAddress out;
  if (socket_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(e.port);
    if (e.address.family == IpFamily::v4) {
      std::memcpy(sin6->sin6_addr.s6_addr, kV4MappedPrefix, 12);
      std::memcpy(sin6->sin6_addr.s6_addr + 12, e.address.bytes.data(), 4);
    } else {
      std::memcpy(sin6->sin6_addr.s6_addr, e.address.bytes.data(), 16);
    }
    out.length = sizeof(sockaddr_in6);
    return out;
  }
  if (socket_family == AF_INET && e.address.family == IpFamily::v4) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(e.port);
    std::memcpy(&sin->sin_addr.s_addr, e.address.bytes.data(), 4);
    out.length = sizeof(sockaddr_in);
    return out;
  }
  return std::nullopt;
}

std::optional<Endpoint> to_endpoint(const sockaddr* sa, socklen_t length) {
  Endpoint e;
  if (sa->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof sin);
    e.address = IpAddress::v4(reinterpret_cast<const uint8_t*>(&sin.sin_addr.s_addr));
    e.port = ntohs(sin.sin_port);
    return e;
  }
  if (sa->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof sin6);
    const uint8_t* bytes = sin6.sin6_addr.s6_addr;
    e.address = unmap_v4(IpAddress::v6(bytes));
    e.port = ntohs(sin6.sin6_port);
    return e;
  }
  return std::nullopt;
}

}  // namespace sluice::platform
