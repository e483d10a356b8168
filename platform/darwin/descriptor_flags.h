// Nonblocking and close-on-exec set after the fact: Darwin's socket() has no SOCK_NONBLOCK or
// SOCK_CLOEXEC, and a descriptor the host hands us (NEPacketTunnelProvider's utun) arrives
// with whatever flags it had.
#pragma once

#include <fcntl.h>

namespace sluice::platform {

// Both return false with errno set if the descriptor refuses (EBADF for a closed one).
inline bool set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

inline bool set_cloexec(int fd) {
  const int flags = fcntl(fd, F_GETFD);
  return flags >= 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0;
}

}  // namespace sluice::platform
