#include "platform/udp_send_batch.h"

#include <netinet/udp.h>

#include <cstring>

namespace sluice::platform {

UdpSendBatch::UdpSendBatch()
    : messages_(new mmsghdr[kMaxMessages]),
      spans_(new Span[kMaxMessages]),
      addresses_(new SocketAddress[kMaxMessages]),
      controls_(new Control[kMaxMessages]),
      iovecs_(new iovec[kMaxMessages * kMaxSegments]) {}

size_t UdpSendBatch::run_length(std::span<const OutboundDatagram> datagrams, size_t first) const {
  const OutboundDatagram& head = datagrams[first];
  const size_t segment = head.buffer->size();
  // An empty datagram cannot define a segment size (the kernel wants one > 0).
  if (segment == 0 || segment > kMaxGsoPayload) return 1;
  size_t count = 1;
  size_t payload = segment;
  for (size_t i = first + 1; i < datagrams.size() && count < kMaxSegments; ++i) {
    const OutboundDatagram& d = datagrams[i];
    const size_t size = d.buffer->size();
    if (!(d.destination == head.destination) || size == 0 || size > segment ||
        payload + size > kMaxGsoPayload) {
      break;
    }
    ++count;
    payload += size;
    if (size < segment) break;  // a shorter datagram can only close a run
  }
  return count;
}

size_t UdpSendBatch::prepare(std::span<const OutboundDatagram> datagrams, size_t from,
                             int socket_family, bool gso, size_t plain_until,
                             uint64_t& unreachable) {
  size_t message_count = 0;
  size_t iovecs_used = 0;
  size_t i = from;
  while (i < datagrams.size() && message_count < kMaxMessages) {
    const std::optional<SocketAddress> destination =
        to_socket_address(datagrams[i].destination, socket_family);
    if (!destination) {
      if (i >= counted_until_) {
        ++unreachable;
        counted_until_ = i + 1;
      }
      ++i;
      continue;
    }
    const size_t count = gso && i >= plain_until ? run_length(datagrams, i) : 1;

    const size_t m = message_count++;
    addresses_[m] = *destination;
    iovec* iov = &iovecs_[iovecs_used];
    for (size_t k = 0; k < count; ++k) {
      PacketBuffer* b = datagrams[i + k].buffer;
      iov[k] = iovec{b->data(), b->size()};
    }
    iovecs_used += count;

    msghdr& h = messages_[m].msg_hdr;
    messages_[m] = mmsghdr{};
    h.msg_name = &addresses_[m].storage;
    h.msg_namelen = addresses_[m].length;
    h.msg_iov = iov;
    h.msg_iovlen = count;
    if (count > 1) {
      h.msg_control = controls_[m].bytes;
      h.msg_controllen = sizeof controls_[m].bytes;
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto segment = static_cast<uint16_t>(datagrams[i].buffer->size());
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    }
    spans_[m] = Span{i, count, count > 1};
    i += count;
  }
  end_ = i;
  return message_count;
}

}  // namespace sluice::platform
