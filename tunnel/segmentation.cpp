#include "tunnel/segmentation.h"

#include <algorithm>
#include <cstring>

#include "tunnel/inet_checksum.h"
#include "tunnel/ip_packet.h"

namespace sluice {

namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;
constexpr size_t kTcpFlagsOffset = 13;
constexpr size_t kMaxIpLength = 65535;

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void store_be32(uint8_t* p, uint32_t v) {
  store_be16(p, static_cast<uint16_t>(v >> 16));
  store_be16(p + 2, static_cast<uint16_t>(v));
}

std::optional<GsoPacket> refuse(GsoError* error, GsoError why) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

}  // namespace

const char* to_string(GsoError error) {
  switch (error) {
    case GsoError::none: return "none";
    case GsoError::unsupported_gso_type: return "unsupported GSO type";
    case GsoError::gso_size_zero: return "gso_size 0";
    case GsoError::family_mismatch: return "IP version does not match the GSO type";
    case GsoError::bad_ip_header: return "bad IP header";
    case GsoError::bad_transport_header: return "bad transport header";
    case GsoError::bad_checksum_range: return "checksum range outside the packet";
    case GsoError::no_payload: return "GSO packet without payload";
    case GsoError::too_long: return "longer than an IP packet";
  }
  return "unknown";
}

std::optional<GsoPacket> GsoPacket::parse(const VirtioNetHdr& hdr, std::span<const uint8_t> packet,
                                          GsoError* error) {
  const uint8_t type = hdr.gso_type & static_cast<uint8_t>(~VirtioNetHdr::kGsoEcn);
  const bool ecn = (hdr.gso_type & VirtioNetHdr::kGsoEcn) != 0;
  bool tcp;
  int want_version = 0;  // 0: either
  switch (type) {
    case VirtioNetHdr::kGsoTcpV4: tcp = true; want_version = 4; break;
    case VirtioNetHdr::kGsoTcpV6: tcp = true; want_version = 6; break;
    case VirtioNetHdr::kGsoUdpL4: tcp = false; break;
    default: return refuse(error, GsoError::unsupported_gso_type);
  }
  if (ecn && !tcp) return refuse(error, GsoError::unsupported_gso_type);
  if (hdr.gso_size == 0) return refuse(error, GsoError::gso_size_zero);
  if (packet.empty()) return refuse(error, GsoError::bad_ip_header);

  const int version = packet[0] >> 4;
  if (version != 4 && version != 6) return refuse(error, GsoError::family_mismatch);
  if (want_version != 0 && version != want_version) return refuse(error, GsoError::family_mismatch);
  const bool v6 = version == 6;
  const uint8_t protocol = tcp ? kIpProtocolTcp : kIpProtocolUdp;
  const size_t ip_header = hdr.csum_start;

  if (!v6) {
    if (packet.size() > kMaxIpLength) return refuse(error, GsoError::too_long);
    if (packet.size() < kIpv4MinHeaderLength) return refuse(error, GsoError::bad_ip_header);
    const size_t ihl = size_t{packet[0] & 0x0fu} * 4;
    if (ihl < kIpv4MinHeaderLength || ihl != ip_header || ihl > packet.size())
      return refuse(error, GsoError::bad_ip_header);
    if (packet[9] != protocol) return refuse(error, GsoError::bad_ip_header);
    // MF or a fragment offset: segmenting a fragment would forge several copies of it.
    if ((load_be16(&packet[6]) & 0x3fffu) != 0) return refuse(error, GsoError::bad_ip_header);
  } else {
    if (packet.size() > kMaxIpLength + kIpv6HeaderLength) return refuse(error, GsoError::too_long);
    if (packet.size() < kIpv6HeaderLength || ip_header < kIpv6HeaderLength)
      return refuse(error, GsoError::bad_ip_header);
    // Extension headers (csum_start beyond 40) are copied into every segment unexamined; with
    // none, the fixed header must name the transport protocol.
    if (ip_header == kIpv6HeaderLength && packet[6] != protocol)
      return refuse(error, GsoError::bad_ip_header);
  }
  if (ip_header >= packet.size()) return refuse(error, GsoError::bad_checksum_range);
  if ((hdr.flags & VirtioNetHdr::kNeedsCsum) != 0 &&
      hdr.csum_offset != (tcp ? kTcpChecksumOffset : kUdpChecksumOffset))
    return refuse(error, GsoError::bad_checksum_range);

  size_t transport_header = 8;
  if (tcp) {
    if (packet.size() < ip_header + 20) return refuse(error, GsoError::bad_transport_header);
    transport_header = static_cast<size_t>(packet[ip_header + 12] >> 4) * 4;
    if (transport_header < 20) return refuse(error, GsoError::bad_transport_header);
  }
  const size_t header_length = ip_header + transport_header;
  if (header_length > packet.size()) return refuse(error, GsoError::bad_transport_header);
  const size_t payload = packet.size() - header_length;
  if (payload == 0) return refuse(error, GsoError::no_payload);

  GsoPacket g;
  g.packet_ = packet;
  g.ip_header_length_ = ip_header;
  g.header_length_ = header_length;
  g.gso_size_ = hdr.gso_size;
  g.count_ = (payload + g.gso_size_ - 1) / g.gso_size_;
  g.v6_ = v6;
  g.tcp_ = tcp;
  if (error != nullptr) *error = GsoError::none;
  return g;
}

size_t GsoPacket::segment_size(size_t index) const {
  if (index >= count_) return 0;
  const size_t start = header_length_ + index * gso_size_;
  return header_length_ + std::min(gso_size_, packet_.size() - start);
}

size_t GsoPacket::write_segment(size_t index, std::span<uint8_t> out) const {
  const size_t total = segment_size(index);
  if (total == 0 || out.size() < total) return 0;
  const size_t start = header_length_ + index * gso_size_;
  const size_t payload = total - header_length_;
  uint8_t* p = out.data();
  std::memcpy(p, packet_.data(), header_length_);
  std::memcpy(p + header_length_, packet_.data() + start, payload);

  // parse() bounded the packet so every length below fits its 16-bit field.
  const size_t transport_length = total - ip_header_length_;
  if (!v6_) {
    store_be16(p + 2, static_cast<uint16_t>(total));
    // The kernel's TSO gives consecutive ids; a peer reassembling nothing does not care, but a
    // middlebox de-duplicating by id would.
    store_be16(p + 4, static_cast<uint16_t>(load_be16(p + 4) + index));
    store_be16(p + 10, ipv4_header_checksum(std::span<const uint8_t>(p, ip_header_length_)));
  } else {
    store_be16(p + 4, static_cast<uint16_t>(total - kIpv6HeaderLength));
  }

  uint8_t* l4 = p + ip_header_length_;
  size_t checksum_at;
  if (tcp_) {
    store_be32(l4 + 4, load_be32(l4 + 4) + static_cast<uint32_t>(index * gso_size_));
    if (index + 1 != count_) l4[kTcpFlagsOffset] &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    // Congestion window reduced is signalled once, with the first segment (RFC 3168 6.1.2).
    if (index != 0) l4[kTcpFlagsOffset] &= static_cast<uint8_t>(~kTcpCwr);
    checksum_at = kTcpChecksumOffset;
  } else {
    store_be16(l4 + 4, static_cast<uint16_t>(transport_length));
    checksum_at = kUdpChecksumOffset;
  }

  const size_t address_at = v6_ ? 8 : 12;
  const size_t address_size = v6_ ? 16 : 4;
  l4[checksum_at] = 0;
  l4[checksum_at + 1] = 0;
  ChecksumSum sum = pseudo_header_sum(std::span<const uint8_t>(p + address_at, address_size),
                                      std::span<const uint8_t>(p + address_at + address_size, address_size),
                                      tcp_ ? kIpProtocolTcp : kIpProtocolUdp,
                                      static_cast<uint32_t>(transport_length));
  sum = checksum_add(sum, std::span<const uint8_t>(l4, transport_length));
  uint16_t value = checksum_finish(sum);
  if (value == 0 && !tcp_) value = 0xffff;
  store_be16(l4 + checksum_at, value);
  return total;
}

GsoError complete_checksum(const VirtioNetHdr& hdr, std::span<uint8_t> packet) {
  if ((hdr.flags & VirtioNetHdr::kNeedsCsum) == 0) return GsoError::none;
  const size_t start = hdr.csum_start;
  const size_t field = start + hdr.csum_offset;
  if (start >= packet.size() || field + 2 > packet.size()) return GsoError::bad_checksum_range;
  uint16_t value = checksum_finish(checksum_add(0, packet.subspan(start)));
  if (value == 0) value = 0xffff;
  store_be16(&packet[field], value);
  return GsoError::none;
}

}  // namespace sluice
