// tunnel/inet_checksum.h against RFC 1071's worked example, a textbook IPv4 header, and a
// naive word-by-word reference (packet_builder.h) over random data, lengths and alignments.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "packet_builder.h"
#include "tunnel/inet_checksum.h"

using namespace sluice;
using namespace sluice::test;

TEST_CASE("inet_checksum: RFC 1071 section 3 example", "[checksum]") {
  const std::vector<uint8_t> bytes = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  CHECK(checksum_fold(checksum_add(0, bytes)) == 0xddf2);
  CHECK(internet_checksum(bytes) == 0x220d);
  // Pieces of even length sum to the same as the whole, in any grouping.
  ChecksumSum pieces = checksum_add(0, std::span(bytes).first(2));
  pieces = checksum_add(pieces, std::span(bytes).subspan(2, 4));
  pieces = checksum_add(pieces, std::span(bytes).subspan(6));
  CHECK(checksum_fold(pieces) == 0xddf2);
}

TEST_CASE("inet_checksum: empty input, odd lengths and folding", "[checksum]") {
  CHECK(checksum_fold(checksum_add(0, {})) == 0);
  CHECK(internet_checksum({}) == 0xffff);
  const std::vector<uint8_t> odd = {0xab};
  CHECK(checksum_fold(checksum_add(0, odd)) == 0xab00);  // padded at the end, not the front
  const std::vector<uint8_t> three = {0x12, 0x34, 0x56};
  CHECK(checksum_fold(checksum_add(0, three)) == 0x1234 + 0x5600);
  // Carries wrap around: 0xffff + 0x0001 is 0x0001 after the end-around carry.
  CHECK(checksum_fold(0xffffu + 0x0001u) == 0x0001);
  CHECK(checksum_fold(0x1'0000'0000ull) == 0x0001);
  CHECK(checksum_finish(0xffff) == 0);
  CHECK(checksum_add32(0, 0x0001ffff) == 0x10000);
}

TEST_CASE("inet_checksum: agrees with a naive reference at every length and alignment",
          "[checksum]") {
  std::mt19937 rng(1071);
  std::vector<uint8_t> storage(4096 + 16);
  for (auto& b : storage) b = static_cast<uint8_t>(rng());
  for (size_t length = 0; length <= 300; ++length) {
    for (size_t align = 0; align < 8; ++align) {
      std::span<const uint8_t> s(storage.data() + align, length);
      INFO("length " << length << " align " << align);
      REQUIRE(checksum_fold(checksum_add(0, s)) == naive_sum(s));
    }
  }
  for (int i = 0; i < 200; ++i) {
    const size_t length = rng() % 4096;
    std::span<const uint8_t> s(storage.data() + rng() % 16, length);
    REQUIRE(checksum_fold(checksum_add(0, s)) == naive_sum(s));
  }
  // All 0xff bytes and all zero bytes are the edge cases of one's complement.
  std::vector<uint8_t> ones(1500, 0xff), zeros(1500, 0);
  CHECK(checksum_fold(checksum_add(0, ones)) == naive_sum(ones));
  CHECK(checksum_fold(checksum_add(0, zeros)) == 0);
  // A running sum carried across many pieces.
  ChecksumSum sum = 0;
  for (size_t at = 0; at < 4096; at += 64) sum = checksum_add(sum, std::span(storage).subspan(at, 64));
  CHECK(checksum_fold(sum) == naive_sum(std::span(storage).first(4096)));
}

TEST_CASE("inet_checksum: IPv4 header checksum of a textbook header", "[checksum]") {
  // 192.168.0.1 -> 192.168.0.199, UDP, total length 115, DF: checksum 0xb861.
  std::vector<uint8_t> h = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                            0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  CHECK(ipv4_header_checksum(h) == 0xb861);
  h[10] = h[11] = 0x55;  // the stored value does not matter
  CHECK(ipv4_header_checksum(h) == 0xb861);
  CHECK(internet_checksum(h) != 0);
  std::vector<uint8_t> packet = h;
  packet.resize(115);
  REQUIRE(fill_ipv4_header_checksum(packet));
  CHECK(be16(&packet[10]) == 0xb861);
  CHECK(internet_checksum(std::span(packet).first(20)) == 0);

  std::vector<uint8_t> v6(40, 0);
  v6[0] = 0x60;
  CHECK_FALSE(fill_ipv4_header_checksum(v6));
  std::vector<uint8_t> short_header = {0x46, 0, 0, 20};
  short_header.resize(20);  // IHL 6 needs 24 bytes
  CHECK_FALSE(fill_ipv4_header_checksum(short_header));
}

TEST_CASE("inet_checksum: pseudo-headers for IPv4 and IPv6", "[checksum]") {
  const IpAddress a4 = *IpAddress::parse("10.1.2.3"), b4 = *IpAddress::parse("192.0.2.77");
  const IpAddress a6 = *IpAddress::parse("2001:db8::1"), b6 = *IpAddress::parse("fd00::abcd:1");
  // By hand: 0x0a01 + 0x0203 + 0xc000 + 0x024d + 17 + 1000.
  CHECK(checksum_fold(pseudo_header_sum(a4, b4, kIpProtocolUdp, 1000)) ==
        checksum_fold(0x0a01 + 0x0203 + 0xc000 + 0x024d + 17 + 1000));
  CHECK(pseudo_header_sum(a4, b4, 6, 40) ==
        pseudo_header_sum(std::span<const uint8_t>(a4.bytes.data(), 4),
                          std::span<const uint8_t>(b4.bytes.data(), 4), 6, 40));
  std::vector<uint8_t> addresses(a6.bytes.begin(), a6.bytes.end());
  addresses.insert(addresses.end(), b6.bytes.begin(), b6.bytes.end());
  CHECK(checksum_fold(pseudo_header_sum(a6, b6, 6, 70000)) ==
        checksum_fold(naive_sum(addresses) + 6u + 1u + (70000u & 0xffff)));
}

TEST_CASE("inet_checksum: TCP and UDP over IPv4 and IPv6 match the reference", "[checksum]") {
  for (bool v6 : {false, true}) {
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}}) {
      for (size_t payload : {0, 1, 2, 3, 511, 1448}) {
        PacketSpec spec;
        spec.v6 = v6;
        spec.protocol = protocol;
        spec.payload = pattern(payload, static_cast<uint8_t>(payload));
        if (protocol == 6) spec.tcp_options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
        std::vector<uint8_t> p = build_packet(spec);
        INFO("v6 " << v6 << " protocol " << int(protocol) << " payload " << payload);
        REQUIRE(check_packet(p) == "");
        CHECK(transport_checksum_valid(p));
        const std::vector<uint8_t> expected = p;
        // Scribble over the checksum and let fill_transport_checksum restore it.
        const size_t at = (v6 ? 40 : 20) + (protocol == 6 ? 16 : 6);
        p[at] ^= 0x5a;
        p[at + 1] ^= 0xa5;
        CHECK_FALSE(transport_checksum_valid(p));
        REQUIRE(fill_transport_checksum(p));
        CHECK(p == expected);
        // One flipped payload bit is caught.
        if (payload > 0) {
          p.back() ^= 0x01;
          CHECK_FALSE(transport_checksum_valid(p));
        }
      }
    }
  }
}

TEST_CASE("inet_checksum: a UDP checksum of 0 is sent as 0xFFFF", "[checksum]") {
  for (bool v6 : {false, true}) {
    PacketSpec spec;
    spec.v6 = v6;
    spec.protocol = 17;
    spec.payload = {0, 0};
    std::vector<uint8_t> p = build_packet(spec);
    const size_t ih = v6 ? 40 : 20;
    // Pick the two payload bytes so that the whole sum is 0xFFFF, i.e. the checksum is 0.
    p[ih + 6] = p[ih + 7] = 0;
    const uint32_t l4 = static_cast<uint32_t>(p.size() - ih);
    const uint16_t rest =
        naive_sum(std::span<const uint8_t>(p).subspan(ih), naive_pseudo(v6, p.data(), 17, l4));
    put16(&p[p.size() - 2], static_cast<uint16_t>(~rest));
    REQUIRE(naive_sum(std::span<const uint8_t>(p).subspan(ih), naive_pseudo(v6, p.data(), 17, l4)) ==
            0xffff);
    REQUIRE(fill_transport_checksum(p));
    CHECK(be16(&p[ih + 6]) == 0xffff);
    CHECK(transport_checksum_valid(p));
    CHECK(check_packet(p) == "");
  }
}

TEST_CASE("inet_checksum: packets the whole-packet helpers refuse stay untouched", "[checksum]") {
  PacketSpec spec;
  spec.payload = pattern(100);
  const std::vector<uint8_t> tcp = build_packet(spec);
  spec.protocol = 17;
  const std::vector<uint8_t> udp = build_packet(spec);

  auto refused = [](std::vector<uint8_t> p) {
    const std::vector<uint8_t> before = p;
    const bool filled = fill_transport_checksum(p);
    return !filled && p == before && !transport_checksum_valid(before);
  };
  // Shorter than its IP length, or padded past it.
  CHECK(refused(std::vector<uint8_t>(tcp.begin(), tcp.end() - 1)));
  std::vector<uint8_t> padded = tcp;
  padded.push_back(0);
  CHECK(refused(padded));
  // TCP data offset below 5 words or past the packet.
  std::vector<uint8_t> bad_offset = tcp;
  bad_offset[20 + 12] = 0x40;
  CHECK(refused(bad_offset));
  std::vector<uint8_t> tiny = build_packet(PacketSpec{});  // 40 bytes, no room for 60
  tiny[20 + 12] = 0xf0;
  CHECK(refused(tiny));
  // UDP length disagreeing with the IP length.
  std::vector<uint8_t> udp_length = udp;
  put16(&udp_length[24], 50);
  CHECK(refused(udp_length));
  // An IPv4 fragment.
  std::vector<uint8_t> fragment = udp;
  fragment[6] |= 0x20;
  CHECK(refused(fragment));
  // Neither TCP nor UDP.
  std::vector<uint8_t> icmp = udp;
  icmp[9] = 1;
  CHECK(refused(icmp));
  // Not IP at all.
  CHECK(refused({0x10, 0x20}));
  CHECK(refused({}));
  // IPv4 "no checksum" is not a verified checksum.
  spec.zero_udp_checksum = true;
  CHECK_FALSE(transport_checksum_valid(build_packet(spec)));
}
