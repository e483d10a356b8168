// Building rtnetlink requests and walking the attributes of replies, bounds-checked, so the
// Netlink and LinkMonitor code reads as "which message, which attributes" only.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

namespace sluice::platform {

// One request: nlmsghdr, the family header (ifinfomsg, ifaddrmsg, rtmsg), then attributes.
class NetlinkRequest {
 public:
  template <class FamilyHeader>
  NetlinkRequest(uint16_t type, uint16_t flags, const FamilyHeader& family_header) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    append(&h, sizeof h);
    append(&family_header, sizeof family_header);
  }

  void put_attribute(uint16_t type, const void* data, size_t length);
  void put_u32(uint16_t type, uint32_t value) { put_attribute(type, &value, sizeof value); }

  // Stamps the length and sequence number; returns the bytes to send.
  std::span<const uint8_t> finish(uint32_t sequence);

 private:
  void append(const void* data, size_t length);  // pads to NLMSG_ALIGNTO
  std::vector<uint8_t> bytes_;
};

// One message of a reply, with its payload; the view points into the caller's receive buffer.
struct NetlinkMessageView {
  uint16_t type;
  uint16_t flags;
  uint32_t sequence;
  uint32_t port_id;
  std::span<const uint8_t> payload;  // after the nlmsghdr

  // The family header at the start of the payload, if the payload is long enough.
  template <class FamilyHeader>
  bool read_header(FamilyHeader& out) const {
    if (payload.size() < sizeof out) return false;
    std::memcpy(&out, payload.data(), sizeof out);
    return true;
  }
};

// Calls `visit` for each complete message in `datagram`; stops at the first malformed one.
void for_each_message(std::span<const uint8_t> datagram,
                      const std::function<void(const NetlinkMessageView&)>& visit);

// Calls `visit(type, value)` for each well-formed rtattr in `attributes`.
void for_each_attribute(std::span<const uint8_t> attributes,
                        const std::function<void(uint16_t, std::span<const uint8_t>)>& visit);

// The attributes that follow a family header of `header_size` bytes in a message payload.
inline std::span<const uint8_t> attributes_after(std::span<const uint8_t> payload,
                                                 size_t header_size) {
  const size_t start = NLMSG_ALIGN(header_size);
  return start <= payload.size() ? payload.subspan(start) : std::span<const uint8_t>{};
}

}  // namespace sluice::platform
