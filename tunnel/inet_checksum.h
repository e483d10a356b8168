// The Internet checksum (RFC 1071): the one's-complement sum of 16-bit big-endian words that
// IPv4 headers, TCP and UDP carry. Built in layers so each user takes what it needs: a running
// sum over any bytes, the folded sum (what a CHECKSUM_PARTIAL / VIRTIO_NET_HDR_F_NEEDS_CSUM
// packet carries in its checksum field), the pseudo-headers of RFC 793/768 and RFC 8200 8.1,
// and whole-packet helpers that fill or verify the IPv4 header and TCP/UDP checksums.
//
// Every function borrows its buffers for the duration of the call and keeps nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tunnel/ip_address.h"

namespace sluice {

inline constexpr uint8_t kIpProtocolTcp = 6;
inline constexpr uint8_t kIpProtocolUdp = 17;
inline constexpr size_t kTcpChecksumOffset = 16;  // within the TCP header
inline constexpr size_t kUdpChecksumOffset = 6;   // within the UDP header

// A running one's-complement sum, not yet folded to 16 bits. Sums of separately added pieces
// combine by plain addition (checksum_add takes care of carries when folding), so a pseudo-
// header sum can be added to a payload sum computed elsewhere. 64 bits hold the carries of any
// packet this code will see (2^48 bytes before overflow).
using ChecksumSum = uint64_t;

// Adds `bytes` as big-endian 16-bit words to `sum`. An odd-length piece is padded with a zero
// byte at its end, so only the last piece of a checksummed range may have odd length.
ChecksumSum checksum_add(ChecksumSum sum, std::span<const uint8_t> bytes);
inline ChecksumSum checksum_add16(ChecksumSum sum, uint16_t word) { return sum + word; }
inline ChecksumSum checksum_add32(ChecksumSum sum, uint32_t word) {
  return sum + (word >> 16) + (word & 0xffffu);
}

// Folds the carries back in: the 16-bit one's-complement sum, not complemented.
uint16_t checksum_fold(ChecksumSum sum);
// The value a checksum field holds: the complement of the folded sum.
inline uint16_t checksum_finish(ChecksumSum sum) {
  return static_cast<uint16_t>(~checksum_fold(sum));
}
// checksum_finish(checksum_add(0, bytes)).
uint16_t internet_checksum(std::span<const uint8_t> bytes);

// The pseudo-header sum for TCP or UDP: source and destination address (4 bytes each for IPv4,
// 16 for IPv6; both spans must have the same size), the protocol number and the transport
// length (header plus payload). IPv4 puts the length in 16 bits and IPv6 in 32; the sum is the
// same for lengths below 65536, and the 32-bit form is used so IPv6 lengths are not cut.
ChecksumSum pseudo_header_sum(std::span<const uint8_t> source, std::span<const uint8_t> destination,
                              uint8_t protocol, uint32_t transport_length);
ChecksumSum pseudo_header_sum(const IpAddress& source, const IpAddress& destination,
                              uint8_t protocol, uint32_t transport_length);

// The IPv4 header checksum of `header` (IHL * 4 bytes, 20..60), computed as if its checksum
// field (bytes 10-11) were zero: the value to store there.
uint16_t ipv4_header_checksum(std::span<const uint8_t> header);

// --- Whole packets ----------------------------------------------------------------------------
// These take one IP packet (IPv4 with any IHL, or IPv6 whose fixed header's next header is TCP
// or UDP: extension headers are not walked) whose header lengths agree with the span, as
// parse_ip_packet() checks, and whose length field covers the whole span (padding is refused).

// Stores the IPv4 header checksum. False, packet untouched, unless `packet` is IPv4 with a
// valid header length.
bool fill_ipv4_header_checksum(std::span<uint8_t> packet);

// Computes and stores the TCP or UDP checksum over the pseudo-header and the whole transport
// segment. A UDP checksum that computes to 0 is stored as 0xFFFF (RFC 768: 0 means "none").
// False, packet untouched, if it is not a complete TCP or UDP packet: unknown protocol, a
// transport header that does not fit, a UDP length that disagrees with the IP length, or an
// IPv4 fragment.
bool fill_transport_checksum(std::span<uint8_t> packet);

// True when the stored TCP or UDP checksum verifies. A UDP checksum of 0 over IPv4 ("none")
// counts as not verified: callers use this to decide whether bytes can be trusted, and a
// missing checksum proves nothing. False for anything fill_transport_checksum would refuse.
bool transport_checksum_valid(std::span<const uint8_t> packet);

}  // namespace sluice
