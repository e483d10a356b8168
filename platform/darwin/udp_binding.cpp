// See udp_binding.h.
#include "platform/darwin/udp_binding.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "platform/darwin/descriptor_flags.h"
#include "platform/socket_address.h"

namespace sluice::platform {

namespace {

SocketAddress local_address(int family, uint16_t port, UdpScope scope) {
  SocketAddress local;
  if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&local.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    if (scope == UdpScope::loopback) {
      // v4-mapped 127.0.0.1: loopback exists even where ::1 is disabled, and replies come
      // back v4-mapped, the form the real socket must unmap.
      sin6->sin6_addr.s6_addr[10] = 0xff;
      sin6->sin6_addr.s6_addr[11] = 0xff;
      const uint32_t loopback = htonl(INADDR_LOOPBACK);
      std::memcpy(sin6->sin6_addr.s6_addr + 12, &loopback, 4);
    } else {
      sin6->sin6_addr = in6addr_any;
    }
    local.length = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&local.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(scope == UdpScope::loopback ? INADDR_LOOPBACK : INADDR_ANY);
    local.length = sizeof(sockaddr_in);
  }
  return local;
}

}  // namespace

Result<UdpBinding> open_udp(uint16_t port, UdpScope scope) {
  UdpBinding binding;
  binding.family = AF_INET6;
  binding.fd.reset(socket(AF_INET6, SOCK_DGRAM, 0));
  if (!binding.fd.valid() && errno == EAFNOSUPPORT) {
    binding.family = AF_INET;
    binding.fd.reset(socket(AF_INET, SOCK_DGRAM, 0));
  }
  if (!binding.fd.valid()) return Error::from_errno("udp socket", errno);
  const int fd = binding.fd.get();
  if (!set_nonblocking(fd) || !set_cloexec(fd)) {
    return Error::from_errno("udp: setting descriptor flags", errno);
  }
  if (binding.family == AF_INET6) {
    const int off = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) {
      return Error::from_errno("udp: clearing IPV6_V6ONLY", errno);
    }
  }
  const SocketAddress local = local_address(binding.family, port, scope);
  if (bind(fd, local.get(), local.length) != 0) {
    return Error::from_errno("udp: binding port " + std::to_string(port), errno);
  }
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (getsockname(fd, bound.get(), &bound.length) != 0) {
    return Error::from_errno("udp: getsockname", errno);
  }
  const std::optional<Endpoint> endpoint = to_endpoint(bound.get(), bound.length);
  binding.port = endpoint ? endpoint->port : port;
  return binding;
}

}  // namespace sluice::platform
