#include "platform/netlink.h"

#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>

namespace sluice::platform {

namespace {

uint8_t address_family(IpFamily f) { return f == IpFamily::v4 ? AF_INET : AF_INET6; }

std::optional<IpAddress> address_from(std::span<const uint8_t> v) {
  if (v.size() == 4) return IpAddress::v4(v.data());
  if (v.size() == 16) return IpAddress::v6(v.data());
  return std::nullopt;
}

uint32_t u32_from(std::span<const uint8_t> v) {
  uint32_t out = 0;
  if (v.size() >= sizeof out) std::memcpy(&out, v.data(), sizeof out);
  return out;
}

// The kernel's own words from an extended ack (NLMSGERR_ATTR_MSG), when it sent any.
std::string extended_ack_text(const NetlinkMessageView& m) {
  if ((m.flags & NLM_F_ACK_TLVS) == 0) return {};
  nlmsgerr err;
  if (!m.read_header(err)) return {};
  const size_t echoed = (m.flags & NLM_F_CAPPED) != 0 ? sizeof(nlmsghdr) : err.msg.nlmsg_len;
  const size_t start = NLMSG_ALIGN(sizeof(int) + echoed);
  if (start > m.payload.size()) return {};
  std::string text;
  for_each_attribute(m.payload.subspan(start), [&](uint16_t type, std::span<const uint8_t> v) {
    if (type == NLMSGERR_ATTR_MSG && !v.empty()) {
      text.assign(reinterpret_cast<const char*>(v.data()),
                  strnlen(reinterpret_cast<const char*>(v.data()), v.size()));
    }
  });
  return text;
}

}  // namespace

Result<std::unique_ptr<Netlink>> Netlink::open() {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid()) return Error::from_errno("netlink socket", errno);
  const int one = 1;
  // Both are only nicer error reporting; old kernels without them still work.
  setsockopt(fd.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  const timeval timeout{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    return Error::from_errno("netlink bind", errno);
  }
  return std::unique_ptr<Netlink>(new Netlink(std::move(fd)));
}

Result<bool> Netlink::transact(NetlinkRequest& request, const char* what,
                               const std::function<void(const NetlinkMessageView&)>& on_reply) {
  const uint32_t sequence = sequence_++;
  const std::span<const uint8_t> bytes = request.finish(sequence);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd_.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                  sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Error::from_errno(std::string("netlink: sending ") + what, errno);

  for (;;) {
    const ssize_t n = recv(fd_.get(), receive_buffer_.data(), receive_buffer_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno == EAGAIN ? ETIMEDOUT : errno;
      return Error::from_errno(std::string("netlink: awaiting reply to ") + what, err);
    }
    bool done = false;
    int error = 0;
    std::string detail;
    for_each_message(std::span<const uint8_t>(receive_buffer_.data(), static_cast<size_t>(n)),
                     [&](const NetlinkMessageView& m) {
                       if (m.sequence != sequence || done) return;  // stale or after the end
                       if (m.type == NLMSG_ERROR) {
                         nlmsgerr err{};
                         error = m.read_header(err) ? -err.error : EPROTO;
                         detail = extended_ack_text(m);
                         done = true;
                       } else if (m.type == NLMSG_DONE) {
                         int status = 0;
                         m.read_header(status);
                         error = -status;
                         done = true;
                       } else if (on_reply) {
                         on_reply(m);
                       }
                     });
    if (!done) continue;
    if (error == 0) return true;
    Error e = Error::from_errno(std::string("netlink: ") + what, error);
    if (!detail.empty()) e.message += " (" + detail + ")";
    return e;
  }
}

Result<bool> Netlink::set_link_up(int ifindex, bool up) {
  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  link.ifi_index = ifindex;
  link.ifi_flags = up ? IFF_UP : 0;
  link.ifi_change = IFF_UP;
  NetlinkRequest request(RTM_NEWLINK, NLM_F_ACK, link);
  return transact(request, up ? "setting link up" : "setting link down");
}

Result<bool> Netlink::set_mtu(int ifindex, uint32_t mtu) {
  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  link.ifi_index = ifindex;
  NetlinkRequest request(RTM_NEWLINK, NLM_F_ACK, link);
  request.put_u32(IFLA_MTU, mtu);
  return transact(request, "setting MTU");
}

Result<bool> Netlink::delete_link(int ifindex) {
  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  link.ifi_index = ifindex;
  NetlinkRequest request(RTM_DELLINK, NLM_F_ACK, link);
  return transact(request, "deleting link");
}

Result<bool> Netlink::address_request(uint16_t type, uint16_t flags, int ifindex,
                                      const IpAddress& a, uint8_t prefix_length, const char* what) {
  if (prefix_length > a.max_prefix()) return Error{"prefix length out of range", EINVAL};
  ifaddrmsg ifa{};
  ifa.ifa_family = address_family(a.family);
  ifa.ifa_prefixlen = prefix_length;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = static_cast<uint32_t>(ifindex);
  const bool no_dad = type == RTM_NEWADDR && a.family == IpFamily::v6;
  if (no_dad) ifa.ifa_flags = IFA_F_NODAD;
  NetlinkRequest request(type, static_cast<uint16_t>(NLM_F_ACK | flags), ifa);
  request.put_attribute(IFA_LOCAL, a.bytes.data(), a.size());
  request.put_attribute(IFA_ADDRESS, a.bytes.data(), a.size());
  if (no_dad) request.put_u32(IFA_FLAGS, IFA_F_NODAD);
  return transact(request, what);
}

Result<bool> Netlink::add_address(int ifindex, const IpAddress& a, uint8_t prefix_length) {
  return address_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, a, prefix_length,
                         "adding address");
}

Result<bool> Netlink::delete_address(int ifindex, const IpAddress& a, uint8_t prefix_length) {
  return address_request(RTM_DELADDR, 0, ifindex, a, prefix_length, "deleting address");
}

Result<bool> Netlink::route_request(uint16_t type, uint16_t flags, int ifindex, const IpPrefix& p,
                                    const char* what) {
  if (p.length > p.address.max_prefix()) return Error{"prefix length out of range", EINVAL};
  const IpPrefix prefix = p.masked();
  const bool adding = type == RTM_NEWROUTE;
  rtmsg rt{};
  rt.rtm_family = address_family(prefix.address.family);
  rt.rtm_dst_len = prefix.length;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_type = RTN_UNICAST;
  // As ip(8): a gatewayless IPv4 route is scope link; IPv6 routes are always universe. On
  // delete, protocol 0 and scope "nowhere" match the route whoever added it.
  rt.rtm_protocol = adding ? RTPROT_STATIC : RTPROT_UNSPEC;
  if (!adding) {
    rt.rtm_scope = RT_SCOPE_NOWHERE;
  } else {
    rt.rtm_scope = prefix.address.family == IpFamily::v4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  }
  NetlinkRequest request(type, static_cast<uint16_t>(NLM_F_ACK | flags), rt);
  if (prefix.length > 0) {
    request.put_attribute(RTA_DST, prefix.address.bytes.data(), prefix.address.size());
  }
  request.put_u32(RTA_OIF, static_cast<uint32_t>(ifindex));
  return transact(request, what);
}

Result<bool> Netlink::add_route(int ifindex, const IpPrefix& p) {
  return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, p, "adding route");
}

Result<bool> Netlink::delete_route(int ifindex, const IpPrefix& p) {
  return route_request(RTM_DELROUTE, 0, ifindex, p, "deleting route");
}

Result<LinkState> Netlink::get_link(int ifindex) {
  ifinfomsg link{};
  link.ifi_family = AF_UNSPEC;
  link.ifi_index = ifindex;
  NetlinkRequest request(RTM_GETLINK, NLM_F_ACK, link);
  std::optional<LinkState> state;
  auto r = transact(request, "reading link", [&](const NetlinkMessageView& m) {
    ifinfomsg info{};
    if (m.type != RTM_NEWLINK || !m.read_header(info) || info.ifi_index != ifindex) return;
    LinkState s;
    s.up = (info.ifi_flags & IFF_UP) != 0;
    for_each_attribute(
        attributes_after(m.payload, sizeof info), [&](uint16_t type, std::span<const uint8_t> v) {
          if (type == IFLA_MTU) s.mtu = u32_from(v);
          if (type == IFLA_IFNAME) {
            s.name.assign(reinterpret_cast<const char*>(v.data()),
                          strnlen(reinterpret_cast<const char*>(v.data()), v.size()));
          }
        });
    state = std::move(s);
  });
  if (!r) return r.error();
  if (!state)
    return Error{"netlink: no link message for ifindex " + std::to_string(ifindex), ENODEV};
  return *state;
}

Result<std::vector<InterfaceAddress>> Netlink::list_addresses(int ifindex) {
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_UNSPEC;
  NetlinkRequest request(RTM_GETADDR, NLM_F_DUMP, ifa);
  std::vector<InterfaceAddress> out;
  auto r = transact(request, "listing addresses", [&](const NetlinkMessageView& m) {
    ifaddrmsg info{};
    if (m.type != RTM_NEWADDR || !m.read_header(info)) return;
    if (static_cast<int>(info.ifa_index) != ifindex) return;
    std::optional<IpAddress> local, address;
    for_each_attribute(attributes_after(m.payload, sizeof info),
                       [&](uint16_t type, std::span<const uint8_t> v) {
                         if (type == IFA_LOCAL) local = address_from(v);
                         if (type == IFA_ADDRESS) address = address_from(v);
                       });
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is ours when present.
    if (const auto& a = local ? local : address) out.push_back({*a, info.ifa_prefixlen});
  });
  if (!r) return r.error();
  return out;
}

Result<std::vector<IpPrefix>> Netlink::list_routes(int ifindex) {
  rtmsg rt{};
  rt.rtm_family = AF_UNSPEC;
  NetlinkRequest request(RTM_GETROUTE, NLM_F_DUMP, rt);
  std::vector<IpPrefix> out;
  auto r = transact(request, "listing routes", [&](const NetlinkMessageView& m) {
    rtmsg info{};
    if (m.type != RTM_NEWROUTE || !m.read_header(info)) return;
    if (info.rtm_type != RTN_UNICAST) return;
    uint32_t table = info.rtm_table;
    uint32_t oif = 0;
    std::optional<IpAddress> dst;
    for_each_attribute(attributes_after(m.payload, sizeof info),
                       [&](uint16_t type, std::span<const uint8_t> v) {
                         if (type == RTA_TABLE) table = u32_from(v);
                         if (type == RTA_OIF) oif = u32_from(v);
                         if (type == RTA_DST) dst = address_from(v);
                       });
    if (table != RT_TABLE_MAIN || static_cast<int>(oif) != ifindex) return;
    IpPrefix p;
    if (dst) {
      p.address = *dst;
    } else {
      p.address.family = info.rtm_family == AF_INET6 ? IpFamily::v6 : IpFamily::v4;
    }
    p.length = info.rtm_dst_len;
    out.push_back(p);
  });
  if (!r) return r.error();
  return out;
}

}  // namespace sluice::platform
