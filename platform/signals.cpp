#include "platform/signals.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace sluice::platform {

Result<SignalSet> SignalSet::create(std::initializer_list<int> signals) {
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : signals) {
    if (sigaddset(&mask, s) != 0) return Error::from_errno("sigaddset " + std::to_string(s), errno);
  }
  if (std::signal(SIGPIPE, SIG_IGN) == SIG_ERR) return Error::from_errno("ignoring SIGPIPE", errno);
  if (const int err = pthread_sigmask(SIG_BLOCK, &mask, nullptr); err != 0) {
    return Error::from_errno("pthread_sigmask", err);
  }
  UniqueFd fd(signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("signalfd", errno);
  return SignalSet(std::move(fd));
}

std::optional<int> SignalSet::read_signal() {
  signalfd_siginfo info{};
  for (;;) {
    const ssize_t n = ::read(fd_.get(), &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
    if (n < 0 && errno == EINTR) continue;
    return std::nullopt;  // EAGAIN: nothing pending
  }
}

}  // namespace sluice::platform
