// sluice replay and the pcap format: a capture holding a peer's real handshake initiation, a
// packet from the host and a forged datagram goes through the replay; the outputs are read back
// with PcapReader and the response is fed to the peer, which must accept it.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/x25519.h"
#include "dns/reply_packet.h"
#include "platform/pcap_writer.h"
#include "platform/replay.h"
#include "tunnel/device.h"
#include "tunnel/packet_builder.h"
#include "tunnel/pcap.h"
#include "tunnel/wg_quick_config.h"

using namespace sluice;
using namespace sluice::platform;

namespace {

constexpr int64_t kT0 = int64_t{1700000000} * 1000000000;

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<uint8_t> udp_packet(const char* src, uint16_t sport, const char* dst, uint16_t dport,
                                std::span<const uint8_t> payload) {
  dns::UdpFlow flow{*IpAddress::parse(src), *IpAddress::parse(dst), sport, dport};
  std::vector<uint8_t> p(dns::udp_headers_length(IpFamily::v4) + payload.size());
  std::copy(payload.begin(), payload.end(), p.begin() + static_cast<long>(dns::udp_headers_length(IpFamily::v4)));
  p.resize(dns::write_udp_packet(p, flow, payload.size()));
  return p;
}

struct TempDir {
  TempDir() {
    char pattern[] = "/tmp/sluice-replay.XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
  std::string path;
};

}  // namespace

TEST_CASE("PcapReader reads what write_pcap_* wrote and refuses malformed files") {
  std::vector<uint8_t> file(kPcapFileHeaderLength);
  write_pcap_file_header(file);
  const std::vector<uint8_t> ip = test::build_packet(test::PacketSpec{});
  std::vector<uint8_t> record(kPcapRecordHeaderLength);
  write_pcap_record_header(record, kT0 + 123, static_cast<uint32_t>(ip.size()), static_cast<uint32_t>(ip.size()));
  file.insert(file.end(), record.begin(), record.end());
  file.insert(file.end(), ip.begin(), ip.end());

  PcapReader reader(file);
  REQUIRE(reader.error().empty());
  CHECK(reader.link_type() == kPcapLinkTypeRaw);
  auto p = reader.next();
  REQUIRE(p);
  CHECK(p->timestamp_ns == kT0 + 123);
  CHECK(std::vector<uint8_t>(p->ip.begin(), p->ip.end()) == ip);
  CHECK(!reader.next());
  CHECK(reader.error().empty());

  SECTION("a record cut off at the end") {
    file.pop_back();
    PcapReader cut(file);
    CHECK(!cut.next());
    CHECK(cut.error() == "record 1: " + std::to_string(ip.size()) + " captured bytes, the file ends first");
  }
  SECTION("not a pcap file") {
    file[0] ^= 0xff;
    CHECK(PcapReader(file).error().find("not a pcap file") != std::string::npos);
  }
  SECTION("Ethernet frames: IP is taken, ARP skipped") {
    std::vector<uint8_t> eth(kPcapFileHeaderLength);
    write_pcap_file_header(eth);
    eth[20] = 1;  // LINKTYPE_ETHERNET, little-endian host
    for (uint16_t type : {uint16_t{0x0806}, uint16_t{0x0800}}) {
      std::vector<uint8_t> frame(12, 0xaa);
      frame.push_back(static_cast<uint8_t>(type >> 8));
      frame.push_back(static_cast<uint8_t>(type));
      frame.insert(frame.end(), ip.begin(), ip.end());
      write_pcap_record_header(record, kT0, static_cast<uint32_t>(frame.size()), static_cast<uint32_t>(frame.size()));
      eth.insert(eth.end(), record.begin(), record.end());
      eth.insert(eth.end(), frame.begin(), frame.end());
    }
    PcapReader r(eth);
    auto q = r.next();
    REQUIRE(q);
    CHECK(q->ip.size() == ip.size());
    CHECK(r.skipped() == 1);
    CHECK(r.records() == 2);
  }
}

TEST_CASE("sluice replay answers a captured initiation; the peer accepts the response") {
  TempDir dir;
  const crypto::PrivateKey a_private = crypto::generate_private_key();
  const crypto::PrivateKey b_private = crypto::generate_private_key();
  const std::string config_path = dir.path + "/a.conf";
  {
    std::ofstream conf(config_path);
    conf << "[Interface]\nPrivateKey = " << crypto::key_to_base64(a_private) << "\nListenPort = 51820\n"
         << "[Peer]\nPublicKey = " << crypto::key_to_base64(crypto::public_key_of(b_private))
         << "\nAllowedIPs = 10.9.0.2/32\nEndpoint = 198.51.100.2:51821\n";
  }
  // The peer: a real Device that initiates because its host sends a packet.
  BufferPool b_pool(64, 2048);
  Device b(DeviceOptions{}, b_pool);
  DeviceChange b_change;
  b_change.private_key = b_private;
  b_change.listen_port = 51821;
  PeerChange a_peer;
  a_peer.public_key = crypto::public_key_of(a_private);
  a_peer.endpoint = Endpoint::parse("198.51.100.1:51820");
  a_peer.allowed_ips.push_back(*IpPrefix::parse("10.9.0.1/32"));
  b_change.peers.push_back(a_peer);
  DeviceOutput b_out;
  const Now t0{int64_t{5} * 1000000000, kT0};
  b.apply(b_change, t0, b_out);
  test::PacketSpec spec;
  spec.protocol = 17;
  spec.source = "10.9.0.2";
  spec.destination = "10.9.0.1";
  const std::vector<uint8_t> inner = test::build_packet(spec);
  PacketBuffer* buf = b_pool.acquire();
  std::copy(inner.begin(), inner.end(), buf->data());
  buf->set_size(inner.size());
  b.handle_inner(std::span<PacketBuffer* const>(&buf, 1), t0, b_out);
  REQUIRE(b_out.datagrams.size() == 1);
  const std::vector<uint8_t> initiation(b_out.datagrams[0].buffer->data(),
                                        b_out.datagrams[0].buffer->data() + b_out.datagrams[0].buffer->size());
  for (auto& d : b_out.datagrams) b_pool.release(d.buffer);
  b_out.clear();

  // The capture: the initiation, a forged datagram, and a packet from A's host to B.
  const std::string capture_path = dir.path + "/in.pcap";
  {
    auto w = PcapWriter::create(capture_path, 0);
    REQUIRE(w);
    (*w)->write(kT0, udp_packet("198.51.100.2", 51821, "198.51.100.1", 51820, initiation));
    const std::vector<uint8_t> forged(148, 0x01);
    (*w)->write(kT0 + 1000000, udp_packet("203.0.113.9", 999, "198.51.100.1", 51820, forged));
    spec.source = "10.9.0.1";
    spec.destination = "10.9.0.2";
    (*w)->write(kT0 + 2000000, test::build_packet(spec));
  }

  auto report = replay_capture(ReplayOptions{config_path, capture_path, dir.path + "/out"});
  REQUIRE(report);
  CHECK(report->records == 3);
  CHECK(report->outer_in == 2);
  CHECK(report->inner_in == 1);
  CHECK(report->counters.handshake_responses_sent == 1);
  uint64_t drops = 0;
  for (uint64_t n : report->counters.drops) drops += n;
  CHECK(drops >= 1);  // the forged initiation

  // The response, framed from A's captured address and port to B's endpoint.
  const std::vector<uint8_t> outer = read_all(report->outer_path);
  PcapReader reader(outer);
  REQUIRE(reader.error().empty());
  std::optional<PcapPacket> response;
  while (auto p = reader.next()) {
    const dns::TransportView v = dns::read_transport(p->ip);
    REQUIRE(v.kind == dns::TransportView::Kind::udp);
    CHECK(v.flow.source == *IpAddress::parse("198.51.100.1"));
    CHECK(v.flow.source_port == 51820);
    CHECK(v.flow.destination_port == 51821);
    if (crypto::classify_message(v.payload) == crypto::MessageType::HandshakeResponse && !response) response = p;
  }
  REQUIRE(response);
  CHECK(response->timestamp_ns == kT0);

  // B completes its handshake with it and sends the packet it held back.
  const dns::TransportView v = dns::read_transport(response->ip);
  PacketBuffer* r = b_pool.acquire();
  r->reset_for_outer();
  std::copy(v.payload.begin(), v.payload.end(), r->data());
  r->set_size(v.payload.size());
  const InboundDatagram d{*Endpoint::parse("198.51.100.1:51820"), r};
  b.handle_outer(std::span<const InboundDatagram>(&d, 1), Now{t0.mono_ns + 1000000, kT0 + 1000000}, b_out);
  CHECK(b.counters().handshakes_completed == 1);
  REQUIRE(!b_out.datagrams.empty());
  CHECK(crypto::classify_message({b_out.datagrams[0].buffer->data(), b_out.datagrams[0].buffer->size()}) ==
        crypto::MessageType::TransportData);
  for (auto& o : b_out.datagrams) b_pool.release(o.buffer);
  b_out.clear();

  SECTION("a malformed capture is refused with the record number") {
    std::vector<uint8_t> bad = read_all(capture_path);
    bad.resize(bad.size() - 3);
    const std::string bad_path = dir.path + "/bad.pcap";
    std::ofstream(bad_path, std::ios::binary).write(reinterpret_cast<const char*>(bad.data()),
                                                    static_cast<std::streamsize>(bad.size()));
    auto refused = replay_capture(ReplayOptions{config_path, bad_path, dir.path + "/bad"});
    REQUIRE(!refused);
    CHECK(refused.error().message.find("record 3") != std::string::npos);
  }
}

TEST_CASE("PcapWriter stops at its size bound and counts the rest") {
  TempDir dir;
  const std::string path = dir.path + "/bounded.pcap";
  const std::vector<uint8_t> ip = test::build_packet(test::PacketSpec{});
  const uint64_t limit = kPcapFileHeaderLength + 3 * (kPcapRecordHeaderLength + ip.size());
  {
    auto w = PcapWriter::create(path, limit);
    REQUIRE(w);
    for (int i = 0; i < 10; ++i) (*w)->write(kT0 + i, ip);
    CHECK((*w)->packets() == 3);
    CHECK((*w)->dropped() == 7);
  }
  CHECK(read_all(path).size() == limit);
}
