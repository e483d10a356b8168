#include "platform/wake_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace sluice::platform {

Result<WakePipe> WakePipe::create() {
  int fds[2];
  // pipe() plus fcntl rather than pipe2(), which Darwin lacks; no other thread forks here.
  if (pipe(fds) != 0) return Error::from_errno("pipe", errno);
  WakePipe p;
  p.read_.reset(fds[0]);
  p.write_.reset(fds[1]);
  for (const int fd : fds) {
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
      return Error::from_errno("pipe: fcntl", errno);
    }
  }
  return p;
}

void WakePipe::notify(int write_fd) {
  const char byte = 1;
  [[maybe_unused]] ssize_t n = write(write_fd, &byte, 1);
}

void WakePipe::drain() const {
  char bytes[256];
  while (read(read_fd(), bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes)) {
  }
}

}  // namespace sluice::platform
