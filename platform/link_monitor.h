// Notices when our interface is deleted (`ip link del`, `wg-quick down`), as wireguard-go
// does, so the daemon shuts down instead of running on without a TUN.
#pragma once

#include <memory>
#include <vector>

#include "platform/result.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

class LinkMonitor {
 public:
  // Subscribes to link notifications (RTMGRP_LINK) in the current network namespace. Fails
  // with ENODEV if ifindex does not exist (any more).
  static Result<std::unique_ptr<LinkMonitor>> open(int ifindex);

  // Nonblocking; register for EPOLLIN.
  int fd() const { return fd_.get(); }
  // Call when fd() is readable: drains the pending notifications and says whether the
  // interface has been deleted (or moved to another namespace). Stays true once true.
  bool link_deleted();

 private:
  LinkMonitor(UniqueFd fd, int ifindex) : fd_(std::move(fd)), ifindex_(ifindex) {}
  UniqueFd fd_;
  int ifindex_;
  bool deleted_ = false;
  std::vector<uint8_t> receive_buffer_ = std::vector<uint8_t>(32 * 1024);
};

}  // namespace sluice::platform
