// Termination and reload signals as a readable fd, so the event loop handles them like any
// other input instead of in an async-signal handler.
#pragma once

#include <initializer_list>
#include <optional>

#include "platform/result.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

class SignalSet {
 public:
  // Blocks `signals` (e.g. SIGINT, SIGTERM, SIGHUP) in the calling thread and ignores SIGPIPE
  // process-wide (a UAPI client hanging up must not kill us; writes see EPIPE instead). Call
  // it before starting any thread: threads inherit the mask, and an unblocked thread would
  // take the default action. The mask is left in place on destruction, because unblocking
  // with a signal pending would run that default action after all.
  static Result<SignalSet> create(std::initializer_list<int> signals);

  SignalSet(SignalSet&&) = default;
  SignalSet& operator=(SignalSet&&) = default;

  // Nonblocking signalfd; readable when a blocked signal is pending.
  int fd() const { return fd_.get(); }
  // The next pending signal number, or nullopt when none is pending.
  std::optional<int> read_signal();

 private:
  explicit SignalSet(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace sluice::platform
