// tunnel/segmentation.h: cutting TSO4/TSO6/USO super-packets as the kernel would, completing
// NEEDS_CSUM checksums, and refusing malformed headers. Every input vector is exactly sized,
// so AddressSanitizer reports any read past a packet.
#include <catch2/catch.hpp>

#include <vector>

#include "packet_builder.h"
#include "tunnel/inet_checksum.h"
#include "tunnel/segmentation.h"

using namespace sluice;
using namespace sluice::test;

namespace {

VirtioNetHdr gso_header(uint8_t type, uint16_t gso_size, uint16_t ip_header, bool tcp) {
  VirtioNetHdr h;
  h.flags = VirtioNetHdr::kNeedsCsum;
  h.gso_type = type;
  h.gso_size = gso_size;
  h.csum_start = ip_header;
  h.csum_offset = tcp ? 16 : 6;
  h.hdr_len = ip_header;  // deliberately wrong: the kernel's value is not trusted
  return h;
}

std::vector<std::vector<uint8_t>> segment_all(const GsoPacket& g) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < g.segment_count(); ++i) {
    std::vector<uint8_t> seg(g.segment_size(i));
    REQUIRE(g.write_segment(i, seg) == seg.size());
    out.push_back(std::move(seg));
  }
  return out;
}

GsoError refusal(const VirtioNetHdr& h, const std::vector<uint8_t>& packet) {
  GsoError e = GsoError::none;
  auto g = GsoPacket::parse(h, packet, &e);
  return g ? GsoError::none : e;
}

}  // namespace

TEST_CASE("segmentation: TSO4 with timestamps is cut into MSS segments", "[segmentation]") {
  PacketSpec spec;
  spec.seq = 0xfffff000;  // wraps during the run
  spec.ip_id = 0xfffe;    // so does the IPv4 id
  spec.flags = kAck | kPsh | kFin | kCwr | kEce;
  spec.tcp_options = {1, 1, 8, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
  spec.payload = pattern(10000, 3);
  const std::vector<uint8_t> super = build_packet(spec);
  const VirtioNetHdr h = gso_header(VirtioNetHdr::kGsoTcpV4, 1448, 20, true);

  GsoError e = GsoError::unsupported_gso_type;
  auto g = GsoPacket::parse(h, super, &e);
  REQUIRE(g);
  CHECK(e == GsoError::none);
  CHECK(g->header_length() == 52);
  REQUIRE(g->segment_count() == 7);  // 6 x 1448 + 1312
  const auto segments = segment_all(*g);
  std::vector<uint8_t> payload;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i];
    INFO("segment " << i);
    CHECK(check_packet(s) == "");
    CHECK(s.size() == 52 + (i < 6 ? 1448 : 1312));
    CHECK(be16(&s[4]) == static_cast<uint16_t>(0xfffe + i));
    CHECK(be32(&s[24]) == static_cast<uint32_t>(0xfffff000u + 1448 * i));
    CHECK(be32(&s[28]) == 7777);  // ack untouched
    const uint8_t flags = s[33];
    CHECK((flags & kAck) != 0);
    CHECK((flags & kEce) != 0);
    CHECK(((flags & kCwr) != 0) == (i == 0));
    CHECK(((flags & kPsh) != 0) == (i == 6));
    CHECK(((flags & kFin) != 0) == (i == 6));
    CHECK(std::equal(s.begin() + 40, s.begin() + 52, spec.tcp_options.begin()));
    CHECK(s[6] == 0x40);  // DF kept
    payload.insert(payload.end(), s.begin() + 52, s.end());
  }
  CHECK(payload == spec.payload);
}

TEST_CASE("segmentation: TSO6 with an odd MSS and odd total", "[segmentation]") {
  PacketSpec spec;
  spec.v6 = true;
  spec.flow_label = 0xabcde;
  spec.tos = 0x28;
  spec.payload = pattern(4001, 9);
  const std::vector<uint8_t> super = build_packet(spec);
  const VirtioNetHdr h = gso_header(VirtioNetHdr::kGsoTcpV6, 999, 40, true);
  auto g = GsoPacket::parse(h, super, nullptr);
  REQUIRE(g);
  REQUIRE(g->segment_count() == 5);  // 4 x 999 + 5
  const auto segments = segment_all(*g);
  std::vector<uint8_t> payload;
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& s = segments[i];
    INFO("segment " << i);
    CHECK(check_packet(s) == "");
    CHECK(s.size() == 60 + (i < 4 ? 999 : 5));
    CHECK(std::equal(s.begin(), s.begin() + 4, super.begin()));  // class and flow label
    CHECK(be32(&s[44]) == 1000 + 999 * i);
    payload.insert(payload.end(), s.begin() + 60, s.end());
  }
  CHECK(payload == spec.payload);
}

TEST_CASE("segmentation: USO over IPv4 and IPv6 gives whole datagrams", "[segmentation]") {
  for (bool v6 : {false, true}) {
    PacketSpec spec;
    spec.v6 = v6;
    spec.protocol = 17;
    spec.payload = pattern(5000, 1);
    const std::vector<uint8_t> super = build_packet(spec);
    const uint16_t ih = v6 ? 40 : 20;
    auto g = GsoPacket::parse(gso_header(VirtioNetHdr::kGsoUdpL4, 1200, ih, false), super, nullptr);
    REQUIRE(g);
    CHECK_FALSE(g->is_tcp());
    REQUIRE(g->segment_count() == 5);
    const auto segments = segment_all(*g);
    std::vector<uint8_t> payload;
    for (size_t i = 0; i < segments.size(); ++i) {
      const auto& s = segments[i];
      INFO("v6 " << v6 << " segment " << i);
      CHECK(check_packet(s) == "");
      const size_t data = i < 4 ? 1200 : 200;
      CHECK(s.size() == ih + 8u + data);
      CHECK(be16(&s[ih + 4]) == 8 + data);
      CHECK(be16(&s[ih]) == 40000);
      payload.insert(payload.end(), s.begin() + ih + 8, s.end());
    }
    CHECK(payload == spec.payload);
  }
}

TEST_CASE("segmentation: exact multiples, a single short segment, IPv4 options", "[segmentation]") {
  PacketSpec spec;
  spec.payload = pattern(3000);
  const std::vector<uint8_t> exact = build_packet(spec);
  auto g = GsoPacket::parse(gso_header(VirtioNetHdr::kGsoTcpV4, 1000, 20, true), exact, nullptr);
  REQUIRE(g);
  CHECK(g->segment_count() == 3);
  CHECK(g->segment_size(2) == 1040);
  CHECK(g->segment_size(3) == 0);
  for (const auto& seg : segment_all(*g)) CHECK(check_packet(seg) == "");

  spec.payload = pattern(10);
  const std::vector<uint8_t> small = build_packet(spec);
  g = GsoPacket::parse(gso_header(VirtioNetHdr::kGsoTcpV4, 1000, 20, true), small, nullptr);
  REQUIRE(g);
  REQUIRE(g->segment_count() == 1);
  CHECK(segment_all(*g)[0] == small);

  spec.ipv4_options = {0x94, 0x04, 0x00, 0x00};  // router alert
  spec.payload = pattern(2500);
  const std::vector<uint8_t> with_options = build_packet(spec);
  g = GsoPacket::parse(gso_header(VirtioNetHdr::kGsoTcpV4, 1200, 24, true), with_options, nullptr);
  REQUIRE(g);
  REQUIRE(g->segment_count() == 3);
  for (const auto& s : segment_all(*g)) {
    CHECK(check_packet(s) == "");
    CHECK(s[0] == 0x46);
    CHECK(std::equal(s.begin() + 20, s.begin() + 24, spec.ipv4_options.begin()));
  }
}

TEST_CASE("segmentation: IPv6 extension headers are carried into every segment",
          "[segmentation]") {
  PacketSpec spec;
  spec.v6 = true;
  spec.payload = pattern(3000);
  std::vector<uint8_t> p = build_packet(spec);
  // Insert an 8-byte destination options header (PadN) between the fixed and TCP headers.
  const std::vector<uint8_t> ext = {6, 0, 1, 4, 0, 0, 0, 0};
  p.insert(p.begin() + 40, ext.begin(), ext.end());
  p[6] = 60;
  put16(&p[4], static_cast<uint32_t>(p.size() - 40));
  auto g = GsoPacket::parse(gso_header(VirtioNetHdr::kGsoTcpV6, 1400, 48, true), p, nullptr);
  REQUIRE(g);
  REQUIRE(g->segment_count() == 3);
  for (const auto& s : segment_all(*g)) {
    CHECK(be16(&s[4]) == s.size() - 40);
    CHECK(std::equal(s.begin() + 40, s.begin() + 48, ext.begin()));
    const uint32_t l4 = static_cast<uint32_t>(s.size() - 48);
    CHECK(naive_sum(std::span<const uint8_t>(s).subspan(48), naive_pseudo(true, s.data(), 6, l4)) ==
          0xffff);
  }
}

TEST_CASE("segmentation: write_segment refuses short output and bad indices", "[segmentation]") {
  PacketSpec spec;
  spec.payload = pattern(3000);
  const std::vector<uint8_t> super = build_packet(spec);
  auto g = GsoPacket::parse(gso_header(VirtioNetHdr::kGsoTcpV4, 1448, 20, true), super, nullptr);
  REQUIRE(g);
  std::vector<uint8_t> out(g->segment_size(0) - 1, 0xee);
  CHECK(g->write_segment(0, out) == 0);
  CHECK(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0xee; }));
  std::vector<uint8_t> big(2000);
  CHECK(g->write_segment(g->segment_count(), big) == 0);
  CHECK(g->write_segment(g->segment_count() - 1, big) == g->segment_size(g->segment_count() - 1));
}

TEST_CASE("segmentation: malformed super-packets are refused with a reason", "[segmentation]") {
  PacketSpec spec;
  spec.payload = pattern(3000);
  const std::vector<uint8_t> tcp4 = build_packet(spec);
  spec.v6 = true;
  const std::vector<uint8_t> tcp6 = build_packet(spec);
  spec.v6 = false;
  spec.protocol = 17;
  const std::vector<uint8_t> udp4 = build_packet(spec);
  const VirtioNetHdr t4 = gso_header(VirtioNetHdr::kGsoTcpV4, 1448, 20, true);
  REQUIRE(refusal(t4, tcp4) == GsoError::none);

  VirtioNetHdr h = t4;
  h.gso_size = 0;
  CHECK(refusal(h, tcp4) == GsoError::gso_size_zero);
  for (uint8_t type : {uint8_t{VirtioNetHdr::kGsoUdp}, uint8_t{2}, uint8_t{6}, uint8_t{0x7f},
                       uint8_t{VirtioNetHdr::kGsoUdpL4 | VirtioNetHdr::kGsoEcn}}) {
    h = t4;
    h.gso_type = type;
    INFO("gso_type " << int(type));
    CHECK(refusal(h, tcp4) == GsoError::unsupported_gso_type);
  }
  CHECK(GsoPacket::parse(VirtioNetHdr{}, tcp4, nullptr) == std::nullopt);  // GSO_NONE
  h = t4;
  h.gso_type = VirtioNetHdr::kGsoTcpV4 | VirtioNetHdr::kGsoEcn;
  CHECK(refusal(h, tcp4) == GsoError::none);

  // The IP version must be the one the type names.
  CHECK(refusal(t4, tcp6) == GsoError::family_mismatch);
  CHECK(refusal(gso_header(VirtioNetHdr::kGsoTcpV6, 1448, 40, true), tcp4) ==
        GsoError::family_mismatch);
  std::vector<uint8_t> v5 = tcp4;
  v5[0] = 0x55;
  CHECK(refusal(gso_header(VirtioNetHdr::kGsoUdpL4, 1448, 20, false), v5) ==
        GsoError::family_mismatch);

  // csum_start must be the IPv4 header length; the protocol must match; no fragments.
  h = t4;
  h.csum_start = 24;
  CHECK(refusal(h, tcp4) == GsoError::bad_ip_header);
  CHECK(refusal(t4, udp4) == GsoError::bad_ip_header);
  std::vector<uint8_t> fragment = tcp4;
  fragment[6] |= 0x20;
  CHECK(refusal(t4, fragment) == GsoError::bad_ip_header);
  fragment = tcp4;
  fragment[7] = 1;
  CHECK(refusal(t4, fragment) == GsoError::bad_ip_header);
  h = gso_header(VirtioNetHdr::kGsoTcpV6, 1448, 39, true);
  CHECK(refusal(h, tcp6) == GsoError::bad_ip_header);

  // TCP data offset below 5 words, or past the packet.
  std::vector<uint8_t> bad = tcp4;
  bad[32] = 0x40;
  CHECK(refusal(t4, bad) == GsoError::bad_transport_header);
  // The checksum field must be where the protocol keeps it.
  h = t4;
  h.csum_offset = 6;
  CHECK(refusal(h, tcp4) == GsoError::bad_checksum_range);
  h.flags = 0;  // without NEEDS_CSUM the offset is not used
  CHECK(refusal(h, tcp4) == GsoError::none);

  // Headers only.
  std::vector<uint8_t> headers(tcp4.begin(), tcp4.begin() + 40);
  CHECK(refusal(t4, headers) == GsoError::no_payload);
  CHECK(refusal(t4, {}) == GsoError::bad_ip_header);

  // Longer than IPv4 can describe.
  std::vector<uint8_t> huge = tcp4;
  huge.resize(65536, 0);
  CHECK(refusal(t4, huge) == GsoError::too_long);
  CHECK(std::string(to_string(GsoError::too_long)).find("IP") != std::string::npos);
}

TEST_CASE("segmentation: every truncation of a super-packet is refused or in bounds",
          "[segmentation]") {
  for (bool v6 : {false, true}) {
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}}) {
      PacketSpec spec;
      spec.v6 = v6;
      spec.protocol = protocol;
      spec.tcp_options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
      spec.payload = pattern(200);
      const std::vector<uint8_t> full = build_packet(spec);
      const uint8_t type = protocol == 17 ? VirtioNetHdr::kGsoUdpL4
                           : v6           ? VirtioNetHdr::kGsoTcpV6
                                          : VirtioNetHdr::kGsoTcpV4;
      const VirtioNetHdr h = gso_header(type, 64, v6 ? 40 : 20, protocol == 6);
      const size_t headers = (v6 ? 40u : 20u) + (protocol == 6 ? 32u : 8u);
      for (size_t n = 0; n <= full.size(); ++n) {
        const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(n));
        GsoError e = GsoError::none;
        auto g = GsoPacket::parse(h, cut, &e);
        INFO("v6 " << v6 << " protocol " << int(protocol) << " length " << n);
        REQUIRE(g.has_value() == (n > headers));
        if (!g) {
          CHECK(e != GsoError::none);
          continue;
        }
        CHECK(g->segment_count() == (n - headers + 63) / 64);
        for (const auto& s : segment_all(*g)) CHECK(check_packet(s) == "");
      }
    }
  }
}

TEST_CASE("segmentation: NEEDS_CSUM on a single packet is completed in place", "[segmentation]") {
  for (bool v6 : {false, true}) {
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}}) {
      PacketSpec spec;
      spec.v6 = v6;
      spec.protocol = protocol;
      spec.payload = pattern(333);
      const std::vector<uint8_t> expected = build_packet(spec);
      std::vector<uint8_t> p = expected;
      const uint16_t ih = v6 ? 40 : 20;
      const uint16_t offset = protocol == 6 ? 16 : 6;
      // What the kernel hands over: the folded pseudo-header sum in the checksum field.
      const uint32_t l4 = static_cast<uint32_t>(p.size() - ih);
      put16(&p[ih + offset],
            naive_sum({}, naive_pseudo(v6, p.data(), protocol, l4)));
      VirtioNetHdr h;
      h.flags = VirtioNetHdr::kNeedsCsum;
      h.csum_start = ih;
      h.csum_offset = offset;
      REQUIRE(complete_checksum(h, p) == GsoError::none);
      INFO("v6 " << v6 << " protocol " << int(protocol));
      CHECK(check_packet(p) == "");
      CHECK(p == expected);
    }
  }
  // Without the flag nothing is touched; a range outside the packet is refused untouched.
  PacketSpec spec;
  spec.payload = pattern(10);
  std::vector<uint8_t> p = build_packet(spec);
  const std::vector<uint8_t> before = p;
  VirtioNetHdr h;
  h.csum_start = 20;
  h.csum_offset = 16;
  CHECK(complete_checksum(h, p) == GsoError::none);
  CHECK(p == before);
  h.flags = VirtioNetHdr::kNeedsCsum;
  h.csum_start = static_cast<uint16_t>(p.size());
  CHECK(complete_checksum(h, p) == GsoError::bad_checksum_range);
  h.csum_start = 20;
  h.csum_offset = static_cast<uint16_t>(p.size() - 21);  // field would end one byte past
  CHECK(complete_checksum(h, p) == GsoError::bad_checksum_range);
  h.csum_offset = 0xffff;
  CHECK(complete_checksum(h, p) == GsoError::bad_checksum_range);
  CHECK(p == before);
}
