#include "platform/netlink_message.h"

namespace sluice::platform {

void NetlinkRequest::append(const void* data, size_t length) {
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_.insert(bytes_.end(), p, p + length);
  bytes_.resize(NLMSG_ALIGN(bytes_.size()), 0);
}

void NetlinkRequest::put_attribute(uint16_t type, const void* data, size_t length) {
  rtattr a{};
  a.rta_type = type;
  a.rta_len = static_cast<uint16_t>(RTA_LENGTH(length));
  append(&a, sizeof a);  // sizeof(rtattr) is already aligned, so data follows directly
  append(data, length);
}

std::span<const uint8_t> NetlinkRequest::finish(uint32_t sequence) {
  nlmsghdr h;
  std::memcpy(&h, bytes_.data(), sizeof h);
  h.nlmsg_len = static_cast<uint32_t>(bytes_.size());
  h.nlmsg_seq = sequence;
  h.nlmsg_pid = 0;
  std::memcpy(bytes_.data(), &h, sizeof h);
  return bytes_;
}

void for_each_message(std::span<const uint8_t> datagram,
                      const std::function<void(const NetlinkMessageView&)>& visit) {
  size_t offset = 0;
  while (datagram.size() - offset >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, datagram.data() + offset, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > datagram.size() - offset) return;
    visit(NetlinkMessageView{h.nlmsg_type, h.nlmsg_flags, h.nlmsg_seq, h.nlmsg_pid,
                             datagram.subspan(offset + NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN)});
    offset += NLMSG_ALIGN(h.nlmsg_len);
    if (offset > datagram.size()) return;
  }
}

void for_each_attribute(std::span<const uint8_t> attributes,
                        const std::function<void(uint16_t, std::span<const uint8_t>)>& visit) {
  size_t offset = 0;
  while (attributes.size() - offset >= sizeof(rtattr)) {
    rtattr a;
    std::memcpy(&a, attributes.data() + offset, sizeof a);
    if (a.rta_len < sizeof a || a.rta_len > attributes.size() - offset) return;
    visit(a.rta_type, attributes.subspan(offset + RTA_LENGTH(0), a.rta_len - RTA_LENGTH(0)));
    offset += RTA_ALIGN(a.rta_len);
    if (offset > attributes.size()) return;
  }
}

}  // namespace sluice::platform
