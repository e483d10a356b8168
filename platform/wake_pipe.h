// Wakes an embedded tunnel's worker from other threads: a nonblocking pipe, the portable form
// of Linux's eventfd (Darwin has none). Any thread writes to write_fd(); the worker polls
// read_fd() and drains it. A full pipe already means "wake up", so a write that fails with
// EAGAIN needs no retry.
#pragma once

#include "platform/result.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

class WakePipe {
 public:
  WakePipe() = default;
  static Result<WakePipe> create();

  int read_fd() const { return read_.get(); }
  // Writers may keep this number while the pipe lives: HandoffQueue and the resolver thread do.
  int write_fd() const { return write_.get(); }

  // Any thread.
  void notify() const { notify(write_fd()); }
  static void notify(int write_fd);
  // The worker: empties the pipe, so read_fd() is readable again only after a later notify.
  void drain() const;

 private:
  UniqueFd read_;
  UniqueFd write_;
};

}  // namespace sluice::platform
