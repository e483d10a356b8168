// The 10-byte virtio_net_hdr (include/uapi/linux/virtio_net.h) that a Linux TUN opened with
// IFF_VNET_HDR puts in front of every packet it reads and expects in front of every packet
// written to it. It says whether the packet is a GSO super-packet to be cut into gso_size
// pieces (gso_type, hdr_len, gso_size) and whether its transport checksum is still to be done
// (VIRTIO_NET_HDR_F_NEEDS_CSUM: sum from csum_start to the end, store at csum_start +
// csum_offset; the field already holds the folded pseudo-header sum).
//
// Defined here rather than taken from <linux/virtio_net.h> so the sans-IO layer builds on any
// platform, and because Debian 12's headers predate GSO_UDP_L4 on TUN (USO, Linux 6.2).
// The fields are little-endian on the wire: virtio 1.0 order, which is what the TUN uses on a
// little-endian host, and what platform/ asks for with TUNSETVNETLE elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sluice {

struct VirtioNetHdr {
  static constexpr size_t kSize = 10;

  // flags
  static constexpr uint8_t kNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
  static constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
  // gso_type
  static constexpr uint8_t kGsoNone = 0;   // VIRTIO_NET_HDR_GSO_NONE
  static constexpr uint8_t kGsoTcpV4 = 1;  // VIRTIO_NET_HDR_GSO_TCPV4
  static constexpr uint8_t kGsoUdp = 3;    // VIRTIO_NET_HDR_GSO_UDP (UFO: fragments, never used here)
  static constexpr uint8_t kGsoTcpV6 = 4;  // VIRTIO_NET_HDR_GSO_TCPV6
  static constexpr uint8_t kGsoUdpL4 = 5;  // VIRTIO_NET_HDR_GSO_UDP_L4 (USO, IPv4 and IPv6)
  static constexpr uint8_t kGsoEcn = 0x80;  // VIRTIO_NET_HDR_GSO_ECN, or'ed into a TCP type

  uint8_t flags = 0;
  uint8_t gso_type = kGsoNone;
  uint16_t hdr_len = 0;     // bytes of headers (IP + transport) repeated in every segment
  uint16_t gso_size = 0;    // payload bytes per segment (the MSS for TCP)
  uint16_t csum_start = 0;  // where the checksummed range begins: the transport header
  uint16_t csum_offset = 0;  // where the checksum field is, from csum_start

  // Reads the first kSize bytes of `bytes` (borrowed); the caller guarantees the size.
  static VirtioNetHdr decode(std::span<const uint8_t> bytes) {
    VirtioNetHdr h;
    h.flags = bytes[0];
    h.gso_type = bytes[1];
    h.hdr_len = load_le16(&bytes[2]);
    h.gso_size = load_le16(&bytes[4]);
    h.csum_start = load_le16(&bytes[6]);
    h.csum_offset = load_le16(&bytes[8]);
    return h;
  }

  // Writes kSize bytes at the start of `out` (borrowed; at least kSize long).
  void encode(std::span<uint8_t> out) const {
    out[0] = flags;
    out[1] = gso_type;
    store_le16(&out[2], hdr_len);
    store_le16(&out[4], gso_size);
    store_le16(&out[6], csum_start);
    store_le16(&out[8], csum_offset);
  }

 private:
  static uint16_t load_le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
  static void store_le16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
  }
};

}  // namespace sluice
