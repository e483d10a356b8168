// Bounds-checked reading of the inner IP packets that travel through the tunnel: enough of the
// header to route a packet (AllowedIPs by destination outbound, by source inbound), to hand it
// to the right local service, and to cut WireGuard's padding off after decryption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunnel/ip_address.h"

namespace sluice {

inline constexpr size_t kIpv4MinHeaderLength = 20;
inline constexpr size_t kIpv6HeaderLength = 40;

struct IpPacketInfo {
  IpFamily family = IpFamily::v4;
  IpAddress source;
  IpAddress destination;
  // The packet's length according to its header: IPv4 total length, or IPv6 payload length
  // plus the fixed header. 32 bits because the IPv6 sum can exceed 65535.
  uint32_t total_length = 0;
  uint8_t protocol = 0;  // IPv4 protocol, or the IPv6 fixed header's next header
  // Where the payload starts: IPv4 IHL * 4, or 40 for IPv6. IPv6 extension headers are not
  // walked; they count as payload, and `protocol` then names the first of them.
  uint16_t header_length = 0;
};

// Reads the header of the packet in `packet` (borrowed for the call; nothing is kept). Returns
// nothing unless the version is 4 or 6 and the header is honest about the buffer: IPv4 needs
// IHL >= 5 and IHL * 4 <= total length <= buffer size; IPv6 needs 40 + payload length <=
// buffer size. Bytes past the total length (padding) are allowed and ignored. IPv6
// jumbograms (payload length 0 with a jumbo option) are read as 40-byte packets.
std::optional<IpPacketInfo> parse_ip_packet(std::span<const uint8_t> packet);

// The length the header claims, under the same checks as parse_ip_packet(): what a decrypted
// transport message's plaintext is cut to, dropping WireGuard's zero padding. `packet` is
// borrowed for the call. An empty plaintext is a keepalive, not a packet: it yields nothing
// here, and the caller must recognise it first.
std::optional<size_t> ip_packet_length(std::span<const uint8_t> packet);

}  // namespace sluice
