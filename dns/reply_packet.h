// The IP and UDP framing around DNS messages that travel as raw packets: reading a query (or an
// upstream's reply) out of an IPv4/IPv6 UDP packet, and writing a complete packet around a
// message, with the IPv4 header checksum and the UDP checksum over the pseudo-header. A packet
// written back into the TUN must be exactly right (lengths, addresses, ports, checksums, the
// address family of the header) or the kernel drops it without a word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunnel/ip_address.h"
#include "tunnel/ip_packet.h"

namespace sluice::dns {

inline constexpr size_t kUdpHeaderLength = 8;
inline constexpr uint16_t kDnsPort = 53;

// Source and destination of a UDP datagram. Both addresses have the same family.
struct UdpFlow {
  IpAddress source;
  IpAddress destination;
  uint16_t source_port = 0;
  uint16_t destination_port = 0;

  // The flow an answer takes: addresses and ports swapped.
  UdpFlow reversed() const { return {destination, source, destination_port, source_port}; }
  bool operator==(const UdpFlow&) const = default;
};

// IP header plus UDP header: 28 bytes for IPv4 (no options), 48 for IPv6 (no extension headers).
constexpr size_t udp_headers_length(IpFamily family) {
  return (family == IpFamily::v4 ? kIpv4MinHeaderLength : kIpv6HeaderLength) + kUdpHeaderLength;
}

// What an IP packet is, as far as the interceptor cares. The ports are read for TCP and UDP.
struct TransportView {
  enum class Kind : uint8_t {
    other,      // not IPv4/IPv6 TCP or UDP, or not a valid IP packet: none of our business
    udp,        // a whole UDP datagram; `payload` is its data
    tcp,        // a TCP segment whose ports could be read
    malformed,  // UDP or TCP whose header is cut off or whose UDP length disagrees with the IP
                // length, or the first fragment of a fragmented IPv4 datagram (stubs never
                // fragment queries, and nothing here reassembles). The ports are filled in when
                // at least 4 bytes of the transport header are there, else they are 0. Later
                // fragments carry no ports and are `other`.
  };
  Kind kind = Kind::other;
  IpPacketInfo ip;
  UdpFlow flow;                        // addresses and ports (TCP ports too)
  std::span<const uint8_t> payload;    // UDP only; borrowed from the packet
};

// Reads `packet` (borrowed for the call; the payload span points into it). IPv6 extension
// headers are not walked: a packet with one is `other`. Checksums are not verified: packets
// from the TUN may carry a partial checksum (offloads), and packets from the tunnel are
// authenticated by WireGuard.
TransportView read_transport(std::span<const uint8_t> packet);

// Writes the IP and UDP headers of `flow` into the first udp_headers_length() bytes of `packet`
// (caller-owned), around the `payload_length` bytes the caller has already put right behind
// them, and fills the IPv4 header checksum and the UDP checksum (0 is sent as 0xFFFF). IPv4
// goes with DF set, identification 0 (RFC 6864 allows it for atomic datagrams) and TTL 64; IPv6
// with hop limit 64. Returns the packet's length, or 0 (nothing meaningful written) if the
// families of the flow's addresses differ, `packet` is too short, or the length does not fit
// the header's length field.
size_t write_udp_packet(std::span<uint8_t> packet, const UdpFlow& flow, size_t payload_length);

}  // namespace sluice::dns
