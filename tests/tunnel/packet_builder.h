// Test-only construction and checking of TCP/UDP over IPv4/IPv6 packets for the offload tests
// and the offload fuzz target. The checksum here is a deliberately naive, word-by-word RFC 1071
// sum, written independently of tunnel/inet_checksum.cpp so that one can check the other.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "tunnel/ip_address.h"

namespace sluice::test {

inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10,
                         kUrg = 0x20, kEce = 0x40, kCwr = 0x80;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xffff);
}

// Sum of big-endian 16-bit words, odd byte padded, folded; not complemented.
inline uint16_t naive_sum(std::span<const uint8_t> bytes, uint32_t start = 0) {
  uint64_t sum = start;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) sum += uint32_t{bytes[i]} << 8 | bytes[i + 1];
  if (bytes.size() % 2 == 1) sum += uint32_t{bytes.back()} << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

inline uint32_t naive_pseudo(bool v6, const uint8_t* packet, uint8_t protocol, uint32_t length) {
  const size_t at = v6 ? 8 : 12, n = v6 ? 16 : 4;
  uint32_t sum = naive_sum(std::span<const uint8_t>(packet + at, 2 * n));
  return sum + protocol + (length >> 16) + (length & 0xffff);
}

struct PacketSpec {
  bool v6 = false;
  uint8_t protocol = 6;  // 6 TCP, 17 UDP
  std::string source;     // defaults: 10.1.0.1 / fd01::1
  std::string destination;  // defaults: 10.2.0.2 / fd02::2
  uint16_t source_port = 40000;
  uint16_t destination_port = 5201;
  uint32_t seq = 1000;
  uint32_t ack = 7777;
  uint8_t flags = kAck;
  uint16_t window = 502;
  std::vector<uint8_t> tcp_options;   // padded by the caller to a multiple of 4
  std::vector<uint8_t> ipv4_options;  // likewise
  uint16_t ip_id = 0x1234;
  uint8_t ttl = 64;
  uint8_t tos = 0;  // IPv4 TOS or IPv6 traffic class
  uint32_t flow_label = 0;
  bool dont_fragment = true;
  std::vector<uint8_t> payload;
  bool zero_udp_checksum = false;  // IPv4 "no checksum"
};

inline std::vector<uint8_t> pattern(size_t n, uint8_t seed = 0) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
  return v;
}

// A complete packet with correct lengths and checksums.
inline std::vector<uint8_t> build_packet(const PacketSpec& s) {
  const size_t ih = s.v6 ? 40 : 20 + s.ipv4_options.size();
  const size_t th = s.protocol == 6 ? 20 + s.tcp_options.size() : 8;
  const size_t total = ih + th + s.payload.size();
  std::vector<uint8_t> p(total, 0);
  const IpAddress src = *IpAddress::parse(!s.source.empty() ? s.source : (s.v6 ? "fd01::1" : "10.1.0.1"));
  const IpAddress dst =
      *IpAddress::parse(!s.destination.empty() ? s.destination : (s.v6 ? "fd02::2" : "10.2.0.2"));
  if (s.v6) {
    const uint32_t word = 6u << 28 | uint32_t{s.tos} << 20 | (s.flow_label & 0xfffff);
    put32(&p[0], word);
    put16(&p[4], static_cast<uint32_t>(total - 40));
    p[6] = s.protocol;
    p[7] = s.ttl;
    std::memcpy(&p[8], src.bytes.data(), 16);
    std::memcpy(&p[24], dst.bytes.data(), 16);
  } else {
    p[0] = static_cast<uint8_t>(0x40 | ih / 4);
    p[1] = s.tos;
    put16(&p[2], static_cast<uint32_t>(total));
    put16(&p[4], s.ip_id);
    p[6] = s.dont_fragment ? 0x40 : 0;
    p[8] = s.ttl;
    p[9] = s.protocol;
    std::memcpy(&p[12], src.bytes.data(), 4);
    std::memcpy(&p[16], dst.bytes.data(), 4);
    std::copy(s.ipv4_options.begin(), s.ipv4_options.end(), p.begin() + 20);
    put16(&p[10], static_cast<uint16_t>(~naive_sum(std::span<const uint8_t>(p.data(), ih))));
  }
  uint8_t* l4 = &p[ih];
  put16(l4, s.source_port);
  put16(l4 + 2, s.destination_port);
  size_t checksum_at;
  if (s.protocol == 6) {
    put32(l4 + 4, s.seq);
    put32(l4 + 8, s.ack);
    l4[12] = static_cast<uint8_t>(th / 4 << 4);
    l4[13] = s.flags;
    put16(l4 + 14, s.window);
    std::copy(s.tcp_options.begin(), s.tcp_options.end(), l4 + 20);
    checksum_at = 16;
  } else {
    put16(l4 + 4, static_cast<uint32_t>(th + s.payload.size()));
    checksum_at = 6;
  }
  std::copy(s.payload.begin(), s.payload.end(), l4 + th);
  const uint32_t l4_length = static_cast<uint32_t>(th + s.payload.size());
  uint16_t c = static_cast<uint16_t>(
      ~naive_sum(std::span<const uint8_t>(l4, l4_length), naive_pseudo(s.v6, p.data(), s.protocol, l4_length)));
  if (s.protocol == 17 && c == 0) c = 0xffff;
  if (s.protocol == 17 && s.zero_udp_checksum) c = 0;
  put16(l4 + checksum_at, c);
  return p;
}

// "" when `p` is a whole IPv4/IPv6 packet carrying TCP or UDP whose lengths describe it exactly
// and whose IPv4 header checksum and transport checksum verify; otherwise what is wrong.
inline std::string check_packet(std::span<const uint8_t> p) {
  if (p.empty()) return "empty";
  const int version = p[0] >> 4;
  size_t ih;
  uint8_t protocol;
  if (version == 4) {
    if (p.size() < 20) return "short IPv4 header";
    ih = size_t{p[0] & 0x0fu} * 4;
    if (ih < 20 || ih > p.size()) return "bad IHL";
    if (be16(&p[2]) != p.size()) return "IPv4 total length " + std::to_string(be16(&p[2])) +
                                         " != " + std::to_string(p.size());
    if (naive_sum(p.first(ih)) != 0xffff) return "bad IPv4 header checksum";
    protocol = p[9];
  } else if (version == 6) {
    if (p.size() < 40) return "short IPv6 header";
    ih = 40;
    if (be16(&p[4]) + size_t{40} != p.size()) return "IPv6 payload length mismatch";
    protocol = p[6];
  } else {
    return "IP version " + std::to_string(version);
  }
  const size_t l4 = p.size() - ih;
  if (protocol == 6) {
    if (l4 < 20) return "short TCP header";
    const size_t th = static_cast<size_t>(p[ih + 12] >> 4) * 4;
    if (th < 20 || th > l4) return "bad TCP data offset";
  } else if (protocol == 17) {
    if (l4 < 8) return "short UDP header";
    if (be16(&p[ih + 4]) != l4) return "UDP length mismatch";
    if (be16(&p[ih + 6]) == 0) return "UDP checksum 0";
  } else {
    return "protocol " + std::to_string(protocol);
  }
  const uint32_t pseudo = naive_pseudo(version == 6, p.data(), protocol, static_cast<uint32_t>(l4));
  if (naive_sum(p.subspan(ih), pseudo) != 0xffff) return "bad transport checksum";
  return "";
}

}  // namespace sluice::test
