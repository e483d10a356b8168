// Userspace GSO for packets read from a TUN with offloads on: the kernel hands over a TCP
// (TSO4/TSO6) or UDP (USO) super-packet of up to 64 KiB with one set of headers, and we cut it
// into the IP packets a peer expects, as the kernel's tcp_gso_segment / __udp_gso_segment
// would have: each segment gets its own lengths, IPv4 id, TCP sequence number and flags, and a
// complete checksum. Packets that are not GSO may still carry VIRTIO_NET_HDR_F_NEEDS_CSUM;
// complete_checksum() finishes those in place.
//
// Everything read from the virtio header and the packet is checked before a byte is written:
// a malformed super-packet is refused with a reason, never read or written out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunnel/virtio_net_hdr.h"

namespace sluice {

// Why a packet read with a virtio_net_hdr was refused.
enum class GsoError : uint8_t {
  none = 0,
  unsupported_gso_type,  // not TCPV4/TCPV6/UDP_L4 (UFO, unknown values, ECN on UDP)
  gso_size_zero,
  family_mismatch,       // IP version not 4/6, or not the one the GSO type names
  bad_ip_header,         // IPv4 IHL != csum_start, wrong protocol, a fragment, too short
  bad_transport_header,  // TCP data offset below 20 or past the packet; no room for UDP
  bad_checksum_range,    // csum_start/csum_offset outside the packet or not at the checksum
  no_payload,            // a GSO packet with headers only
  too_long,              // longer than an IP length field can describe
};
inline constexpr size_t kGsoErrorCount = 9;
const char* to_string(GsoError error);

// A checked view of one GSO super-packet. It borrows the packet bytes given to parse(): they
// must stay alive and unchanged while segments are written (the TUN reader keeps a super-packet
// in its scratch buffer while segments wait for caller buffers).
class GsoPacket {
 public:
  // `packet` is the IP packet that followed `hdr` in the read (borrowed, see above). Returns
  // nothing, with `*error` set, if `hdr.gso_type` is GSO_NONE or anything is malformed. The
  // kernel's hdr_len is not trusted (on the forwarding path it can cover the whole first
  // packet); the header length is taken from csum_start and the transport header.
  static std::optional<GsoPacket> parse(const VirtioNetHdr& hdr, std::span<const uint8_t> packet,
                                        GsoError* error);

  size_t segment_count() const { return count_; }
  // Bytes of segment `index` (< segment_count()); the first is the largest.
  size_t segment_size(size_t index) const;
  size_t header_length() const { return header_length_; }
  bool is_tcp() const { return tcp_; }

  // Writes segment `index` as a complete IP packet at the start of `out` (borrowed for the
  // call) and returns its size; returns 0 and writes nothing if `index` is out of range or
  // `out` is shorter than segment_size(index). `out` must not overlap the packet.
  size_t write_segment(size_t index, std::span<uint8_t> out) const;

 private:
  GsoPacket() = default;

  std::span<const uint8_t> packet_;
  size_t ip_header_length_ = 0;  // csum_start: IPv4 header, or IPv6 header and extensions
  size_t header_length_ = 0;     // ip_header_length_ + transport header
  size_t gso_size_ = 0;
  size_t count_ = 0;
  bool v6_ = false;
  bool tcp_ = false;
};

// For a packet that is not GSO: if `hdr` has VIRTIO_NET_HDR_F_NEEDS_CSUM, sums `packet` from
// csum_start to its end (the checksum field holds the pseudo-header sum already) and stores the
// result at csum_start + csum_offset, 0 becoming 0xFFFF as the kernel's skb_checksum_help does.
// `packet` is borrowed and changed in place; on an error it is left untouched.
GsoError complete_checksum(const VirtioNetHdr& hdr, std::span<uint8_t> packet);

}  // namespace sluice
