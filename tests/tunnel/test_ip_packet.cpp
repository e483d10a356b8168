#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "tunnel/ip_address.h"
#include "tunnel/ip_packet.h"

using namespace sluice;

namespace {

IpAddress A(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

// An IPv4 packet of `total` bytes (header included) with `ihl` header words, followed by
// `padding` zero bytes. Buffers are exactly sized so AddressSanitizer sees any overread.
std::vector<uint8_t> ipv4(uint8_t ihl, uint16_t total, size_t padding = 0, uint8_t protocol = 17) {
  std::vector<uint8_t> p(std::max<size_t>(total, size_t{ihl} * 4) + padding, 0);
  p[0] = static_cast<uint8_t>(0x40 | ihl);
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;  // TTL
  p[9] = protocol;
  const uint8_t src[4] = {10, 0, 0, 1}, dst[4] = {192, 168, 7, 200};
  std::copy(src, src + 4, p.begin() + 12);
  std::copy(dst, dst + 4, p.begin() + 16);
  return p;
}

std::vector<uint8_t> ipv6(uint16_t payload, size_t padding = 0, uint8_t next_header = 6) {
  std::vector<uint8_t> p(40 + size_t{payload} + padding, 0);
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>(payload >> 8);
  p[5] = static_cast<uint8_t>(payload);
  p[6] = next_header;
  p[7] = 64;
  IpAddress src = A("2001:db8::1"), dst = A("fd00:1:2:3::abcd");
  std::copy(src.bytes.begin(), src.bytes.end(), p.begin() + 8);
  std::copy(dst.bytes.begin(), dst.bytes.end(), p.begin() + 24);
  return p;
}

std::span<const uint8_t> first(const std::vector<uint8_t>& p, size_t n) { return {p.data(), n}; }

}  // namespace

TEST_CASE("ip_packet: a plain IPv4 packet", "[ip_packet]") {
  auto p = ipv4(5, 60);
  auto info = parse_ip_packet(p);
  REQUIRE(info);
  CHECK(info->family == IpFamily::v4);
  CHECK(info->source == A("10.0.0.1"));
  CHECK(info->destination == A("192.168.7.200"));
  CHECK(info->total_length == 60);
  CHECK(info->header_length == 20);
  CHECK(info->protocol == 17);
  CHECK(ip_packet_length(p) == size_t{60});
}

TEST_CASE("ip_packet: IPv4 with options and with padding", "[ip_packet]") {
  auto opts = ipv4(15, 60);  // the largest header, and nothing else
  auto info = parse_ip_packet(opts);
  REQUIRE(info);
  CHECK(info->header_length == 60);
  CHECK(info->total_length == 60);

  // WireGuard pads plaintext to a multiple of 16: the header's length is what counts.
  auto padded = ipv4(5, 21, 11, 1);
  info = parse_ip_packet(padded);
  REQUIRE(info);
  CHECK(info->total_length == 21);
  CHECK(info->protocol == 1);
  CHECK(ip_packet_length(padded) == size_t{21});

  // The header alone is a whole packet.
  CHECK(ip_packet_length(ipv4(5, 20)) == size_t{20});
}

TEST_CASE("ip_packet: truncated IPv4 headers", "[ip_packet]") {
  auto p = ipv4(5, 20);
  for (size_t n = 0; n < 20; ++n) {
    CAPTURE(n);
    CHECK_FALSE(parse_ip_packet(first(p, n)));
    CHECK_FALSE(ip_packet_length(first(p, n)));
  }
  CHECK(parse_ip_packet(first(p, 20)));
}

TEST_CASE("ip_packet: bad versions", "[ip_packet]") {
  for (unsigned version : {0u, 1u, 5u, 7u, 15u}) {
    CAPTURE(version);
    auto p = ipv4(5, 40);
    p[0] = static_cast<uint8_t>(version << 4 | 5);
    CHECK_FALSE(parse_ip_packet(p));
    CHECK_FALSE(ip_packet_length(p));
  }
  // A 6 on an IPv4-shaped packet is read as IPv6 and found too short.
  auto p = ipv4(5, 20);
  p[0] = 0x65;
  CHECK_FALSE(parse_ip_packet(p));
}

TEST_CASE("ip_packet: bad IHL", "[ip_packet]") {
  for (uint8_t ihl = 0; ihl < 5; ++ihl) {
    CAPTURE(ihl);
    auto p = ipv4(ihl, 40);
    CHECK_FALSE(parse_ip_packet(p));
    CHECK_FALSE(ip_packet_length(p));
  }
  // A header longer than the packet it claims.
  auto p = ipv4(5, 40);
  p[0] = 0x40 | 11;  // 44-byte header in a 40-byte packet
  CHECK_FALSE(parse_ip_packet(p));
  // A header longer than the buffer, even if the total length is not.
  auto q = ipv4(5, 24);
  q[0] = 0x40 | 15;
  CHECK_FALSE(parse_ip_packet(q));
}

TEST_CASE("ip_packet: dishonest IPv4 total length", "[ip_packet]") {
  auto p = ipv4(5, 60);
  p[2] = 0;
  p[3] = 61;  // one more than the buffer
  CHECK_FALSE(parse_ip_packet(p));
  CHECK_FALSE(ip_packet_length(p));
  p[2] = 0xff;
  p[3] = 0xff;
  CHECK_FALSE(parse_ip_packet(p));
  p[2] = 0;
  p[3] = 19;  // shorter than the header
  CHECK_FALSE(parse_ip_packet(p));
  p[3] = 0;
  CHECK_FALSE(parse_ip_packet(p));
  CHECK_FALSE(parse_ip_packet(first(ipv4(5, 60), 59)));  // cut short by one byte
}

TEST_CASE("ip_packet: a plain IPv6 packet", "[ip_packet]") {
  auto p = ipv6(20);
  auto info = parse_ip_packet(p);
  REQUIRE(info);
  CHECK(info->family == IpFamily::v6);
  CHECK(info->source == A("2001:db8::1"));
  CHECK(info->destination == A("fd00:1:2:3::abcd"));
  CHECK(info->total_length == 60);
  CHECK(info->header_length == 40);
  CHECK(info->protocol == 6);
  CHECK(ip_packet_length(p) == size_t{60});
}

TEST_CASE("ip_packet: IPv6 edges", "[ip_packet]") {
  // No payload at all.
  auto empty = ipv6(0);
  CHECK(ip_packet_length(empty) == size_t{40});
  // Padding after the payload is ignored.
  auto padded = ipv6(8, 8, 58);
  auto info = parse_ip_packet(padded);
  REQUIRE(info);
  CHECK(info->total_length == 48);
  CHECK(info->protocol == 58);
  // The largest payload: the total no longer fits 16 bits.
  auto big = ipv6(65535);
  info = parse_ip_packet(big);
  REQUIRE(info);
  CHECK(info->total_length == 65575u);
  CHECK(ip_packet_length(big) == size_t{65575});
}

TEST_CASE("ip_packet: truncated and dishonest IPv6", "[ip_packet]") {
  auto p = ipv6(16);
  for (size_t n = 0; n < p.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(parse_ip_packet(first(p, n)));
    CHECK_FALSE(ip_packet_length(first(p, n)));
  }
  auto q = ipv6(16);
  q[5] = 17;  // claims one byte more than there is
  CHECK_FALSE(parse_ip_packet(q));
  q[4] = 0xff;
  CHECK_FALSE(parse_ip_packet(q));
}

TEST_CASE("ip_packet: random bytes are never over-read or trusted", "[ip_packet][random]") {
  std::mt19937_64 rng(99);
  size_t accepted = 0;
  for (int i = 0; i < 100'000; ++i) {
    std::vector<uint8_t> p(rng() % 100);
    for (auto& b : p) b = static_cast<uint8_t>(rng());
    // Bias towards plausible headers so the interesting checks are reached.
    if (!p.empty() && rng() % 2) p[0] = static_cast<uint8_t>((rng() % 2 ? 0x40 : 0x60) | (p[0] & 0x0f));
    if (p.size() >= 6 && rng() % 2) {
      p[2] = p[4] = 0;
      p[3] = static_cast<uint8_t>(rng() % 100);
      p[5] = static_cast<uint8_t>(rng() % 60);
    }
    auto info = parse_ip_packet(p);
    auto length = ip_packet_length(p);
    REQUIRE(info.has_value() == length.has_value());
    if (!info) continue;
    ++accepted;
    REQUIRE(*length == info->total_length);
    REQUIRE(info->total_length <= p.size());
    REQUIRE(info->header_length <= info->total_length);
    REQUIRE(static_cast<unsigned>(info->family) == (p[0] >> 4));
  }
  CHECK(accepted > 1000);
}

TEST_CASE("address text with an embedded NUL is rejected", "[ip_address]") {
  using namespace std::string_view_literals;
  CHECK_FALSE(sluice::IpAddress::parse("1.2.3.4\0junk"sv));
  CHECK_FALSE(sluice::IpPrefix::parse("10.0.0.0\0/8"sv));
  CHECK_FALSE(sluice::Endpoint::parse("1.2.3.4\0:51820"sv));
  CHECK(sluice::IpAddress::parse("1.2.3.4"sv));
}
