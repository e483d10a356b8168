// The messages of one sendmmsg call, built from outbound datagrams. With UDP GSO, a run of
// consecutive datagrams to one destination, all of one size except a possibly shorter last
// one, becomes a single message: its iovecs point at each datagram's buffer (no copy) and a
// UDP_SEGMENT cmsg tells the kernel where to cut. The receiver sees ordinary datagrams.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "platform/socket_address.h"
#include "tunnel/device.h"

namespace sluice::platform {

class UdpSendBatch {
 public:
  static constexpr size_t kMaxMessages = 128;
  // Kernels before 6.11 refuse more than 64 segments per GSO send (UDP_MAX_SEGMENTS).
  static constexpr size_t kMaxSegments = 64;
  // The largest UDP payload of one IPv4 packet; the kernel builds a GSO message as one such
  // packet before cutting it. Also applied to IPv6, whose limit (65527) is only a little higher.
  static constexpr size_t kMaxGsoPayload = 65507;

  // Which datagrams one message carries: datagrams[first, first + count).
  struct Span {
    size_t first = 0;
    size_t count = 0;
    bool segmented = false;  // sent with UDP_SEGMENT
  };

  UdpSendBatch();  // allocates all scratch space once: nothing is allocated per batch

  // Begins a new set of datagrams (one send_batch call); prepare() may then be called several
  // times over it, each unreachable datagram still being counted once.
  void start() { counted_until_ = 0; }

  // Builds up to kMaxMessages messages from datagrams[from...]. Runs are grouped only when
  // `gso` is set, and never for datagrams with index < plain_until (those go one per message:
  // the caller's way of resending a refused GSO run). A destination the socket family cannot
  // reach (IPv6 on an IPv4-only socket) is left out and added to `unreachable` (once per
  // datagram since start(), however often it is prepared again).
  // The messages point into the datagrams' buffers, which the caller keeps owning: they must
  // stay alive and unchanged until the messages are sent or dropped. Returns the message count.
  size_t prepare(std::span<const OutboundDatagram> datagrams, size_t from, int socket_family,
                 bool gso, size_t plain_until, uint64_t& unreachable);

  // Bytes the constructor allocates (about 150 KiB, mostly the iovecs).
  static constexpr size_t kAllocatedBytes =
      kMaxMessages * (sizeof(mmsghdr) + sizeof(Span) + sizeof(SocketAddress) +
                      CMSG_SPACE(sizeof(uint16_t)) + kMaxSegments * sizeof(iovec));

  mmsghdr* messages() { return messages_.get(); }
  const Span& span(size_t message) const { return spans_[message]; }
  // Index of the first datagram the prepared messages do not cover.
  size_t end() const { return end_; }

 private:
  // How many datagrams from datagrams[first] form one GSO run (1 when none can be grouped).
  size_t run_length(std::span<const OutboundDatagram> datagrams, size_t first) const;

  // Room for one cmsghdr carrying the 16-bit segment size, aligned as the kernel expects.
  struct alignas(cmsghdr) Control {
    unsigned char bytes[CMSG_SPACE(sizeof(uint16_t))];
  };

  std::unique_ptr<mmsghdr[]> messages_;
  std::unique_ptr<Span[]> spans_;
  std::unique_ptr<SocketAddress[]> addresses_;
  std::unique_ptr<Control[]> controls_;
  std::unique_ptr<iovec[]> iovecs_;  // kMaxMessages * kMaxSegments: every message may be a run
  size_t end_ = 0;
  size_t counted_until_ = 0;  // datagrams below this index were already counted as unreachable
};

}  // namespace sluice::platform
