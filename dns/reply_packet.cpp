#include "dns/reply_packet.h"

#include <cstring>

#include "tunnel/inet_checksum.h"

namespace sluice::dns {

namespace {

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void store16(uint8_t* p, size_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

constexpr uint8_t kDefaultHopLimit = 64;
constexpr size_t kTcpMinHeaderLength = 20;

}  // namespace

TransportView read_transport(std::span<const uint8_t> packet) {
  TransportView view;
  const auto info = parse_ip_packet(packet);
  if (!info) return view;
  if (info->protocol != kIpProtocolUdp && info->protocol != kIpProtocolTcp) return view;
  view.ip = *info;
  view.flow.source = info->source;
  view.flow.destination = info->destination;
  bool first_fragment = false;
  if (info->family == IpFamily::v4) {
    const uint16_t fragment = load16(&packet[6]);
    // A later fragment has no ports to say what it is: it passes as `other`.
    if ((fragment & 0x1fff) != 0) return view;
    first_fragment = (fragment & 0x2000) != 0;
  }
  const size_t start = info->header_length;
  const size_t end = info->total_length;  // padding after it is ignored
  if (end - start < 4) {
    view.kind = TransportView::Kind::malformed;
    return view;
  }
  view.flow.source_port = load16(&packet[start]);
  view.flow.destination_port = load16(&packet[start + 2]);
  const size_t needed = info->protocol == kIpProtocolUdp ? kUdpHeaderLength : kTcpMinHeaderLength;
  if (first_fragment || end - start < needed) {
    view.kind = TransportView::Kind::malformed;
    return view;
  }
  if (info->protocol == kIpProtocolTcp) {
    view.kind = TransportView::Kind::tcp;
    return view;
  }
  const size_t udp_length = load16(&packet[start + 4]);
  if (udp_length != end - start) {
    view.kind = TransportView::Kind::malformed;
    return view;
  }
  view.kind = TransportView::Kind::udp;
  view.payload = packet.subspan(start + kUdpHeaderLength, udp_length - kUdpHeaderLength);
  return view;
}

size_t write_udp_packet(std::span<uint8_t> packet, const UdpFlow& flow, size_t payload_length) {
  const IpFamily family = flow.source.family;
  if (flow.destination.family != family) return 0;
  const size_t headers = udp_headers_length(family);
  const size_t ip_header = headers - kUdpHeaderLength;
  const size_t udp_length = kUdpHeaderLength + payload_length;
  const size_t total = headers + payload_length;
  if (packet.size() < total || udp_length > 0xffff || (family == IpFamily::v4 && total > 0xffff)) return 0;
  uint8_t* p = packet.data();
  if (family == IpFamily::v4) {
    p[0] = 0x45;  // version 4, IHL 5
    p[1] = 0;
    store16(p + 2, total);
    store16(p + 4, 0);       // identification
    store16(p + 6, 0x4000);  // DF, offset 0
    p[8] = kDefaultHopLimit;
    p[9] = kIpProtocolUdp;
    store16(p + 10, 0);
    std::memcpy(p + 12, flow.source.bytes.data(), 4);
    std::memcpy(p + 16, flow.destination.bytes.data(), 4);
  } else {
    p[0] = 0x60;  // version 6, traffic class 0, flow label 0
    p[1] = p[2] = p[3] = 0;
    store16(p + 4, udp_length);
    p[6] = kIpProtocolUdp;
    p[7] = kDefaultHopLimit;
    std::memcpy(p + 8, flow.source.bytes.data(), 16);
    std::memcpy(p + 24, flow.destination.bytes.data(), 16);
  }
  uint8_t* udp = p + ip_header;
  store16(udp, flow.source_port);
  store16(udp + 2, flow.destination_port);
  store16(udp + 4, udp_length);
  store16(udp + 6, 0);
  const std::span<uint8_t> whole = packet.first(total);
  if (family == IpFamily::v4 && !fill_ipv4_header_checksum(whole)) return 0;
  if (!fill_transport_checksum(whole)) return 0;
  return total;
}

}  // namespace sluice::dns
