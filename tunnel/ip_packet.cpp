#include "tunnel/ip_packet.h"

namespace sluice {

namespace {

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

struct Extent {
  IpFamily family;
  size_t header_length;
  size_t total_length;
};

// The one place that decides whether a header can be trusted to describe the buffer, so the
// two entry points cannot disagree.
std::optional<Extent> extent_of(std::span<const uint8_t> packet) {
  if (packet.empty()) return std::nullopt;
  switch (packet[0] >> 4) {
    case 4: {
      if (packet.size() < kIpv4MinHeaderLength) return std::nullopt;
      size_t header = size_t{packet[0] & 0x0fu} * 4;
      size_t total = load_be16(&packet[2]);
      // header <= total <= size also puts every option byte inside the buffer.
      if (header < kIpv4MinHeaderLength || header > total || total > packet.size())
        return std::nullopt;
      return Extent{IpFamily::v4, header, total};
    }
    case 6: {
      if (packet.size() < kIpv6HeaderLength) return std::nullopt;
      size_t total = kIpv6HeaderLength + load_be16(&packet[4]);
      if (total > packet.size()) return std::nullopt;
      return Extent{IpFamily::v6, kIpv6HeaderLength, total};
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<IpPacketInfo> parse_ip_packet(std::span<const uint8_t> packet) {
  auto extent = extent_of(packet);
  if (!extent) return std::nullopt;
  IpPacketInfo info;
  info.family = extent->family;
  info.total_length = static_cast<uint32_t>(extent->total_length);
  info.header_length = static_cast<uint16_t>(extent->header_length);
  const uint8_t* p = packet.data();
  if (extent->family == IpFamily::v4) {
    info.protocol = p[9];
    info.source = IpAddress::v4(p + 12);
    info.destination = IpAddress::v4(p + 16);
  } else {
    info.protocol = p[6];
    info.source = IpAddress::v6(p + 8);
    info.destination = IpAddress::v6(p + 24);
  }
  return info;
}

std::optional<size_t> ip_packet_length(std::span<const uint8_t> packet) {
  auto extent = extent_of(packet);
  if (!extent) return std::nullopt;
  return extent->total_length;
}

}  // namespace sluice
