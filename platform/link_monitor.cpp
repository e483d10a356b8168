#include "platform/link_monitor.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "platform/netlink_message.h"

namespace sluice::platform {

namespace {
bool interface_exists(int ifindex) {
  char name[IF_NAMESIZE];
  return if_indextoname(static_cast<unsigned>(ifindex), name) != nullptr;
}
}  // namespace

Result<std::unique_ptr<LinkMonitor>> LinkMonitor::open(int ifindex) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return Error::from_errno("netlink socket", errno);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    return Error::from_errno("netlink bind to link notifications", errno);
  }
  // Checked after subscribing, so a deletion can't fall between the check and the bind.
  if (!interface_exists(ifindex)) {
    return Error{"interface " + std::to_string(ifindex) + " does not exist", ENODEV};
  }
  return std::unique_ptr<LinkMonitor>(new LinkMonitor(std::move(fd), ifindex));
}

bool LinkMonitor::link_deleted() {
  for (;;) {
    const ssize_t n = recv(fd_.get(), receive_buffer_.data(), receive_buffer_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        // Notifications overflowed and the deletion may be among those lost: ask directly.
        spdlog::debug("link monitor: notifications overran; checking the interface");
        if (!interface_exists(ifindex_)) deleted_ = true;
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::error("link monitor: {}", std::strerror(errno));
      }
      return deleted_;
    }
    for_each_message(
        std::span<const uint8_t>(receive_buffer_.data(), static_cast<size_t>(n)),
        [&](const NetlinkMessageView& m) {
          ifinfomsg info{};
          if (m.type == RTM_DELLINK && m.read_header(info) && info.ifi_index == ifindex_) {
            spdlog::debug("link monitor: interface {} deleted", ifindex_);
            deleted_ = true;
          }
        });
  }
}

}  // namespace sluice::platform
