#include "platform/udp_socket_setup.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sluice::platform {

namespace {

int read_int_option(int fd, int level, int option) {
  int value = -1;
  socklen_t length = sizeof value;
  if (getsockopt(fd, level, option, &value, &length) != 0) return -1;
  return value;
}

bool set_and_verify(int fd, int level, int option, int value, const char* what) {
  if (setsockopt(fd, level, option, &value, sizeof value) != 0) {
    spdlog::debug("udp: setting {}: {}", what, std::strerror(errno));
    return false;
  }
  const int read_back = read_int_option(fd, level, option);
  if (read_back != value) {
    spdlog::debug("udp: {} reads back as {}, not {}", what, read_back, value);
    return false;
  }
  return true;
}

void raise_buffer(int fd, int force_option, int option, const char* what) {
  const int size = kUdpSocketBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, force_option, &size, sizeof size) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, option, &size, sizeof size) != 0) {
    spdlog::debug("udp: raising {}: {}", what, std::strerror(errno));
  }
}

}  // namespace

SocketBufferSizes raise_socket_buffers(int fd) {
  raise_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, "SO_RCVBUF");
  raise_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, "SO_SNDBUF");
  return SocketBufferSizes{read_int_option(fd, SOL_SOCKET, SO_RCVBUF),
                           read_int_option(fd, SOL_SOCKET, SO_SNDBUF)};
}

bool set_dont_fragment(int fd, int family) {
  // On an AF_INET6 socket the IPv4 option still governs the v4-mapped traffic, which the
  // kernel sends through its IPv4 path.
  bool ok = set_and_verify(fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
  if (family == AF_INET6) {
    ok = set_and_verify(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO,
                        "IPV6_MTU_DISCOVER") &&
         ok;
    ok = set_and_verify(fd, IPPROTO_IPV6, IPV6_DONTFRAG, 1, "IPV6_DONTFRAG") && ok;
  }
  return ok;
}

bool probe_udp_segment(int fd) { return read_int_option(fd, SOL_UDP, UDP_SEGMENT) >= 0; }

bool enable_udp_gro(int fd) {
  // setsockopt rather than getsockopt: older kernels (and Android) accept UDP_GRO but cannot
  // read it back, as wireguard-go notes.
  const int on = 1;
  if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) != 0) {
    spdlog::debug("udp: enabling UDP_GRO: {}", std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace sluice::platform
