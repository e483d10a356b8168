// IP/UDP framing of DNS messages (dns/reply_packet.h), checked against the captured packets of
// /work/shared/vectors and against tests/tunnel/packet_builder.h's naive checksum code, which
// shares nothing with tunnel/inet_checksum.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "captured_vectors.h"
#include "dns/reply_packet.h"
#include "tunnel/packet_builder.h"

using namespace sluice;
using namespace sluice::dns;

using sluice::dns::test::from_hex;
using sluice::dns::test::kQueryHex;
using sluice::dns::test::kReplyHex;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

}  // namespace

TEST_CASE("read_transport reads the captured query's flow and payload", "[dns][reply_packet]") {
  const auto query = from_hex(kQueryHex);
  REQUIRE(query.size() == 60);
  const TransportView v = read_transport(query);
  REQUIRE(v.kind == TransportView::Kind::udp);
  CHECK(v.flow.source == ip("192.168.0.100"));
  CHECK(v.flow.destination == ip("8.8.8.8"));
  CHECK(v.flow.source_port == 60782);
  CHECK(v.flow.destination_port == 53);
  CHECK(v.payload.size() == 32);
  CHECK(v.payload.data() == query.data() + 28);
}

TEST_CASE("write_udp_packet rebuilds the captured reply around its payload", "[dns][reply_packet]") {
  const auto query = from_hex(kQueryHex);
  const auto reply = from_hex(kReplyHex);
  REQUIRE(reply.size() == 137);
  CHECK(sluice::test::check_packet(reply) == "");

  const TransportView q = read_transport(query);
  const TransportView r = read_transport(reply);
  REQUIRE(r.kind == TransportView::Kind::udp);
  CHECK(r.flow == q.flow.reversed());

  std::vector<uint8_t> packet(200, 0xee);
  std::copy(r.payload.begin(), r.payload.end(), packet.begin() + 28);
  const size_t n = write_udp_packet(packet, q.flow.reversed(), r.payload.size());
  REQUIRE(n == reply.size());
  packet.resize(n);
  CHECK(sluice::test::check_packet(packet) == "");
  // Everything but the IPv4 identification (ours is 0: RFC 6864 for atomic datagrams) and the
  // header checksum, which covers it, is the captured reply byte for byte.
  for (size_t i = 0; i < n; ++i) {
    if (i == 4 || i == 5 || i == 10 || i == 11) continue;
    INFO("byte " << i);
    CHECK(packet[i] == reply[i]);
  }
  // The UDP checksum is the captured one exactly (the pseudo-header does not cover the id).
  CHECK(packet[26] == reply[26]);
  CHECK(packet[27] == reply[27]);
}

TEST_CASE("write_udp_packet over IPv6: pseudo-header checksum and lengths", "[dns][reply_packet]") {
  const UdpFlow flow{ip("fd00::1"), ip("fd88::2"), 53, 40000};
  std::vector<uint8_t> payload = sluice::test::pattern(301);
  std::vector<uint8_t> packet(48 + payload.size());
  std::copy(payload.begin(), payload.end(), packet.begin() + 48);
  const size_t n = write_udp_packet(packet, flow, payload.size());
  REQUIRE(n == packet.size());
  CHECK(sluice::test::check_packet(packet) == "");
  CHECK(packet[0] >> 4 == 6);
  CHECK(packet[6] == 17);
  const TransportView v = read_transport(packet);
  REQUIRE(v.kind == TransportView::Kind::udp);
  CHECK(v.flow == flow);
  CHECK(std::vector<uint8_t>(v.payload.begin(), v.payload.end()) == payload);
}

TEST_CASE("A UDP checksum that computes to 0 is sent as 0xFFFF", "[dns][reply_packet]") {
  for (bool v6 : {false, true}) {
    const UdpFlow flow = v6 ? UdpFlow{ip("fd00::1"), ip("fd88::2"), 53, 1234}
                            : UdpFlow{ip("10.64.0.1"), ip("10.88.0.2"), 53, 1234};
    const size_t h = udp_headers_length(flow.source.family);
    std::vector<uint8_t> packet(h + 2, 0);
    REQUIRE(write_udp_packet(packet, flow, 2) == packet.size());
    // With payload word W = the checksum C of the zero payload, the sum becomes ~C + C = 0xFFFF
    // and the checksum 0, which UDP must send as 0xFFFF.
    packet[h] = packet[h - 2];
    packet[h + 1] = packet[h - 1];
    REQUIRE(write_udp_packet(packet, flow, 2) == packet.size());
    CHECK(packet[h - 2] == 0xff);
    CHECK(packet[h - 1] == 0xff);
    CHECK(sluice::test::check_packet(packet) == "");
  }
}

TEST_CASE("write_udp_packet refuses what it cannot write", "[dns][reply_packet]") {
  std::vector<uint8_t> packet(100, 0);
  CHECK(write_udp_packet(packet, UdpFlow{ip("10.0.0.1"), ip("fd00::1"), 1, 2}, 10) == 0);  // mixed families
  CHECK(write_udp_packet(packet, UdpFlow{ip("10.0.0.1"), ip("10.0.0.2"), 1, 2}, 73) == 0);  // 28 + 73 > 100
  CHECK(write_udp_packet(packet, UdpFlow{ip("fd00::1"), ip("fd00::2"), 1, 2}, 53) == 0);    // 48 + 53 > 100
  std::vector<uint8_t> big(70000, 0);
  CHECK(write_udp_packet(big, UdpFlow{ip("10.0.0.1"), ip("10.0.0.2"), 1, 2}, 65535 - 27) == 0);
  CHECK(write_udp_packet(big, UdpFlow{ip("fd00::1"), ip("fd00::2"), 1, 2}, 65535 - 7) == 0);
  CHECK(write_udp_packet(big, UdpFlow{ip("fd00::1"), ip("fd00::2"), 1, 2}, 65535 - 8) == 65535 + 40);
}

TEST_CASE("read_transport classifies what is not a whole UDP datagram", "[dns][reply_packet]") {
  sluice::test::PacketSpec udp;
  udp.protocol = 17;
  udp.destination_port = 53;
  udp.payload = sluice::test::pattern(20);
  const auto good = sluice::test::build_packet(udp);
  CHECK(read_transport(good).kind == TransportView::Kind::udp);

  SECTION("UDP length disagreeing with the IP length") {
    auto p = good;
    p[24] = 0;
    p[25] = 27;  // one short
    CHECK(read_transport(p).kind == TransportView::Kind::malformed);
    p[25] = 29;  // one past the packet
    CHECK(read_transport(p).kind == TransportView::Kind::malformed);
  }
  SECTION("UDP header cut off; ports still read when there") {
    auto p = good;
    p.resize(26);
    p[2] = 0;
    p[3] = 26;
    const TransportView v = read_transport(p);
    CHECK(v.kind == TransportView::Kind::malformed);
    CHECK(v.flow.destination_port == 53);
  }
  SECTION("IPv4 fragments: the first is malformed, later ones carry no ports") {
    auto p = good;
    p[6] |= 0x20;  // MF
    CHECK(read_transport(p).kind == TransportView::Kind::malformed);
    p = good;
    p[7] = 0x10;  // offset 16 * 8
    CHECK(read_transport(p).kind == TransportView::Kind::other);
  }
  SECTION("TCP ports, other protocols, garbage") {
    sluice::test::PacketSpec tcp;
    tcp.destination_port = 53;
    const TransportView v = read_transport(sluice::test::build_packet(tcp));
    CHECK(v.kind == TransportView::Kind::tcp);
    CHECK(v.flow.source_port == 40000);
    CHECK(v.flow.destination_port == 53);
    auto icmp = good;
    icmp[9] = 1;
    CHECK(read_transport(icmp).kind == TransportView::Kind::other);
    CHECK(read_transport(std::vector<uint8_t>{0x45, 0, 0}).kind == TransportView::Kind::other);
    CHECK(read_transport(std::vector<uint8_t>{}).kind == TransportView::Kind::other);
  }
  SECTION("padding after the IP length is ignored") {
    auto p = good;
    p.push_back(0);
    p.push_back(0);
    const TransportView v = read_transport(p);
    REQUIRE(v.kind == TransportView::Kind::udp);
    CHECK(v.payload.size() == 20);
  }
}
