#include "tunnel/inet_checksum.h"

#include <bit>
#include <cstring>

#include "tunnel/ip_packet.h"

namespace sluice {

namespace {

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t fold64(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Where the transport header of a whole TCP/UDP packet starts and how long the segment is, or
// nothing when the checksum helpers must refuse the packet.
struct TransportExtent {
  IpPacketInfo ip;
  size_t offset = 0;
  size_t length = 0;
  size_t checksum_at = 0;  // absolute offset of the checksum field
};

std::optional<TransportExtent> transport_extent(std::span<const uint8_t> packet) {
  auto info = parse_ip_packet(packet);
  if (!info || info->total_length != packet.size()) return std::nullopt;
  if (info->family == IpFamily::v4) {
    // A fragment's transport checksum covers the reassembled datagram, not this piece.
    const uint16_t fragment = load_be16(&packet[6]);
    if ((fragment & 0x3fffu) != 0) return std::nullopt;
  }
  TransportExtent e;
  e.ip = *info;
  e.offset = info->header_length;
  e.length = packet.size() - e.offset;
  if (info->protocol == kIpProtocolTcp) {
    if (e.length < 20) return std::nullopt;
    const size_t data_offset = static_cast<size_t>(packet[e.offset + 12] >> 4) * 4;
    if (data_offset < 20 || data_offset > e.length) return std::nullopt;
    e.checksum_at = e.offset + kTcpChecksumOffset;
  } else if (info->protocol == kIpProtocolUdp) {
    if (e.length < 8 || load_be16(&packet[e.offset + 4]) != e.length) return std::nullopt;
    e.checksum_at = e.offset + kUdpChecksumOffset;
  } else {
    return std::nullopt;
  }
  return e;
}

ChecksumSum pseudo_header_of(const TransportExtent& e) {
  return pseudo_header_sum(e.ip.source, e.ip.destination, e.ip.protocol,
                           static_cast<uint32_t>(e.length));
}

}  // namespace

ChecksumSum checksum_add(ChecksumSum sum, std::span<const uint8_t> bytes) {
  // Native-order words summed, folded, then swapped: one's-complement addition commutes with
  // byte swapping (RFC 1071 section 2(B)), so the loop needs no per-word byte order work.
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  uint64_t acc = 0;
  while (n >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);
    acc += uint64_t{w[0]} + w[1] + w[2] + w[3];
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    const uint8_t last[2] = {*p, 0};
    uint16_t w;
    std::memcpy(&w, last, 2);
    acc += w;
  }
  uint16_t folded = fold64(acc);
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>(folded << 8 | folded >> 8);
  }
  return sum + folded;
}

uint16_t checksum_fold(ChecksumSum sum) { return fold64(sum); }

uint16_t internet_checksum(std::span<const uint8_t> bytes) {
  return checksum_finish(checksum_add(0, bytes));
}

ChecksumSum pseudo_header_sum(std::span<const uint8_t> source,
                              std::span<const uint8_t> destination, uint8_t protocol,
                              uint32_t transport_length) {
  ChecksumSum sum = checksum_add(0, source);
  sum = checksum_add(sum, destination);
  sum = checksum_add16(sum, protocol);
  return checksum_add32(sum, transport_length);
}

ChecksumSum pseudo_header_sum(const IpAddress& source, const IpAddress& destination,
                              uint8_t protocol, uint32_t transport_length) {
  return pseudo_header_sum(std::span<const uint8_t>(source.bytes.data(), source.size()),
                           std::span<const uint8_t>(destination.bytes.data(), destination.size()),
                           protocol, transport_length);
}

uint16_t ipv4_header_checksum(std::span<const uint8_t> header) {
  if (header.size() < 12) return checksum_finish(checksum_add(0, header));
  // Skip the checksum field rather than copying the header to zero it.
  ChecksumSum sum = checksum_add(0, header.first(10));
  sum = checksum_add(sum, header.subspan(12));
  return checksum_finish(sum);
}

bool fill_ipv4_header_checksum(std::span<uint8_t> packet) {
  if (packet.size() < kIpv4MinHeaderLength || packet[0] >> 4 != 4) return false;
  const size_t header = size_t{packet[0] & 0x0fu} * 4;
  if (header < kIpv4MinHeaderLength || header > packet.size()) return false;
  store_be16(&packet[10], ipv4_header_checksum(packet.first(header)));
  return true;
}

bool fill_transport_checksum(std::span<uint8_t> packet) {
  auto e = transport_extent(packet);
  if (!e) return false;
  packet[e->checksum_at] = 0;
  packet[e->checksum_at + 1] = 0;
  ChecksumSum sum = pseudo_header_of(*e);
  sum = checksum_add(sum, packet.subspan(e->offset));
  uint16_t value = checksum_finish(sum);
  if (value == 0 && e->ip.protocol == kIpProtocolUdp) value = 0xffff;
  store_be16(&packet[e->checksum_at], value);
  return true;
}

bool transport_checksum_valid(std::span<const uint8_t> packet) {
  auto e = transport_extent(packet);
  if (!e) return false;
  if (e->ip.protocol == kIpProtocolUdp && load_be16(&packet[e->checksum_at]) == 0) return false;
  ChecksumSum sum = pseudo_header_of(*e);
  sum = checksum_add(sum, packet.subspan(e->offset));
  return checksum_fold(sum) == 0xffff;
}

}  // namespace sluice
