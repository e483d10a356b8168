// Opening and binding the Darwin backend's UDP sockets: one dual-stack AF_INET6 socket
// (IPV6_V6ONLY off) serving IPv4 peers as v4-mapped addresses, or AF_INET on a host without
// IPv6. Shared by UdpBatchSocket and the recvmsg_x/sendmsg_x self-test, so the self-test
// exercises the same address forms as the real socket. Written with fcntl rather than
// SOCK_NONBLOCK/SOCK_CLOEXEC, which Darwin lacks.
#pragma once

#include <cstdint>

#include "platform/result.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

struct UdpBinding {
  UniqueFd fd;        // nonblocking, close-on-exec; owned by whoever holds the binding
  int family = 0;     // AF_INET6, or AF_INET on a host without IPv6
  uint16_t port = 0;  // the bound port, also when 0 was asked for
};

enum class UdpScope {
  any,       // [::] (or 0.0.0.0): the tunnel's outer socket
  loopback,  // ::ffff:127.0.0.1 (or 127.0.0.1): throwaway sockets nobody else can reach
};

// Binds `port` (0: the kernel picks). A port already taken gives Error.code == EADDRINUSE.
Result<UdpBinding> open_udp(uint16_t port, UdpScope scope);

}  // namespace sluice::platform
