// Interface configuration over rtnetlink (NETLINK_ROUTE): link state, MTU, addresses and
// routes, each as one acknowledged request, without shelling out to ip(8).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "platform/link_monitor.h"
#include "platform/netlink_message.h"
#include "platform/result.h"
#include "platform/unique_fd.h"
#include "tunnel/ip_address.h"

namespace sluice::platform {

struct InterfaceAddress {
  IpAddress address;
  uint8_t prefix_length = 0;
  bool operator==(const InterfaceAddress&) const = default;
};

struct LinkState {
  std::string name;
  uint32_t mtu = 0;
  bool up = false;  // IFF_UP: administratively up
};

// Synchronous: each call blocks until the kernel acknowledges (it answers from within the
// send, so this is immediate; a 5 s receive timeout guards against a lost reply). Every error
// keeps the kernel's errno in Error::code (EEXIST, ENODEV, EPERM...) and, where the kernel
// gives one, its extended-ack text in the message. Result<bool> is true on success.
class Netlink {
 public:
  static Result<std::unique_ptr<Netlink>> open();

  Result<bool> set_link_up(int ifindex, bool up);
  Result<bool> set_mtu(int ifindex, uint32_t mtu);
  // IPv6 addresses get IFA_F_NODAD so they are usable at once, not "tentative" for a second.
  Result<bool> add_address(int ifindex, const IpAddress& a, uint8_t prefix_length);
  Result<bool> delete_address(int ifindex, const IpAddress& a, uint8_t prefix_length);
  // A device route in the main table (proto static; scope link for IPv4). An existing
  // identical route fails with code EEXIST, which the caller may treat as done.
  Result<bool> add_route(int ifindex, const IpPrefix& p);
  // Deletes the main-table route to `p` through ifindex, whatever its protocol.
  Result<bool> delete_route(int ifindex, const IpPrefix& p);
  Result<bool> delete_link(int ifindex);

  // Read-back, for tests and diagnostics.
  Result<LinkState> get_link(int ifindex);
  Result<std::vector<InterfaceAddress>> list_addresses(int ifindex);
  // Main-table routes whose output interface is ifindex, both families.
  Result<std::vector<IpPrefix>> list_routes(int ifindex);

 private:
  explicit Netlink(UniqueFd fd) : fd_(std::move(fd)) {}
  // Sends `request` and collects the reply messages (dump parts) until the ack or NLMSG_DONE.
  Result<bool> transact(NetlinkRequest& request, const char* what,
                        const std::function<void(const NetlinkMessageView&)>& on_reply = {});
  Result<bool> address_request(uint16_t type, uint16_t flags, int ifindex, const IpAddress& a,
                               uint8_t prefix_length, const char* what);
  Result<bool> route_request(uint16_t type, uint16_t flags, int ifindex, const IpPrefix& p,
                             const char* what);

  UniqueFd fd_;
  uint32_t sequence_ = 1;
  std::vector<uint8_t> receive_buffer_ = std::vector<uint8_t>(64 * 1024);
};

}  // namespace sluice::platform
