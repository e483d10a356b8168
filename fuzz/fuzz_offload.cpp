// tunnel/segmentation.h and tunnel/coalescing.h: the two halves of TUN offload.
//
// Input byte 0, bit 0 clear: a virtio_net_hdr (10 bytes) and the packet that followed it in a
// TUN read. GSO packets are cut into segments, each written into an exact-size buffer, and
// every segment must be a well-formed IP packet with valid checksums whose payloads add up to
// the super-packet's. Other packets go through complete_checksum.
//
// Bit 0 set: a batch of packets for a TUN write (records: u8 flags, u16 length, bytes; flag
// bit 0 fixes up lengths and checksums so that runs can form), bit 1 turns UDP merging on.
// Every packet must be in exactly one run, each flow in batch order; every merged run must be a
// well-formed super-packet that segmentation cuts back into the packets that went in.
//
// The checks use the naive checksum of tests/tunnel/packet_builder.h, not the code under test.
#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "fuzz_support.h"
#include "tunnel/coalescing.h"
#include "tunnel/inet_checksum.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/packet_builder.h"
#include "tunnel/segmentation.h"

using namespace sluice;
using sluice::test::be16;
using sluice::test::be32;
using sluice::test::naive_pseudo;
using sluice::test::naive_sum;

namespace {

constexpr size_t kMaxBatch = 64;
constexpr size_t kBufferCapacity = 2048;

// A segment that claims `ip_header` bytes of IP header (csum_start) and carries `protocol`.
void check_segment(std::span<const uint8_t> s, size_t ip_header, bool tcp) {
  FUZZ_CHECK(s.size() > ip_header);
  const bool v6 = s[0] >> 4 == 6;
  if (v6) {
    FUZZ_CHECK(be16(&s[4]) + size_t{40} == s.size());
  } else {
    FUZZ_CHECK(s[0] >> 4 == 4);
    FUZZ_CHECK(size_t{s[0] & 0x0fu} * 4 == ip_header);
    FUZZ_CHECK(be16(&s[2]) == s.size());
    FUZZ_CHECK(naive_sum(s.first(ip_header)) == 0xffff);
  }
  const size_t l4 = s.size() - ip_header;
  const uint8_t protocol = tcp ? 6 : 17;
  if (tcp) {
    FUZZ_CHECK(l4 >= 20);
    const size_t thl = size_t{s[ip_header + 12]} >> 4 << 2;
    FUZZ_CHECK(thl >= 20 && thl <= l4);
  } else {
    FUZZ_CHECK(l4 >= 8);
    FUZZ_CHECK(be16(&s[ip_header + 4]) == l4);
    FUZZ_CHECK(be16(&s[ip_header + 6]) != 0);
  }
  const uint32_t pseudo = naive_pseudo(v6, s.data(), protocol, static_cast<uint32_t>(l4));
  FUZZ_CHECK(naive_sum(s.subspan(ip_header), pseudo) == 0xffff);
}

void fuzz_segmentation(fuzz::Reader& in) {
  const std::vector<uint8_t> header = fuzz::exact_copy(in.bytes(VirtioNetHdr::kSize));
  if (header.size() < VirtioNetHdr::kSize) return;
  const VirtioNetHdr hdr = VirtioNetHdr::decode(header);
  std::vector<uint8_t> packet = fuzz::exact_copy(in.bytes(in.remaining()));

  if (hdr.gso_type == VirtioNetHdr::kGsoNone) {
    const std::vector<uint8_t> before = packet;
    const GsoError e = complete_checksum(hdr, packet);
    const size_t field = size_t{hdr.csum_start} + hdr.csum_offset;
    if (e != GsoError::none || (hdr.flags & VirtioNetHdr::kNeedsCsum) == 0) {
      FUZZ_CHECK(packet == before);
      return;
    }
    FUZZ_CHECK(field + 2 <= packet.size());
    for (size_t i = 0; i < packet.size(); ++i) {
      if (i != field && i != field + 1) FUZZ_CHECK(packet[i] == before[i]);
    }
    // The stored value is the complement of the sum that included the old field contents.
    const uint16_t expected = static_cast<uint16_t>(
        ~naive_sum(std::span<const uint8_t>(before).subspan(hdr.csum_start)));
    FUZZ_CHECK(be16(&packet[field]) == (expected == 0 ? 0xffff : expected));
    return;
  }

  GsoError error = GsoError::none;
  auto gso = GsoPacket::parse(hdr, packet, &error);
  if (!gso) {
    FUZZ_CHECK(error != GsoError::none);
    FUZZ_CHECK(static_cast<size_t>(error) < kGsoErrorCount);
    return;
  }
  const size_t ip_header = hdr.csum_start;
  const size_t headers = gso->header_length();
  const bool tcp = gso->is_tcp();
  FUZZ_CHECK(headers > ip_header && headers < packet.size());
  FUZZ_CHECK(gso->segment_count() >= 1);
  FUZZ_CHECK(gso->segment_count() == (packet.size() - headers + hdr.gso_size - 1) / hdr.gso_size);
  std::vector<uint8_t> payload;
  for (size_t i = 0; i < gso->segment_count(); ++i) {
    const size_t size = gso->segment_size(i);
    FUZZ_CHECK(size > headers && size <= headers + hdr.gso_size);
    std::vector<uint8_t> seg(size);
    std::vector<uint8_t> short_out(size - 1);
    FUZZ_CHECK(gso->write_segment(i, short_out) == 0);
    FUZZ_CHECK(gso->write_segment(i, seg) == size);
    check_segment(seg, ip_header, tcp);
    if (tcp) {
      const uint8_t flags = seg[ip_header + 13];
      const bool last = i + 1 == gso->segment_count();
      if (!last) FUZZ_CHECK((flags & (test::kFin | test::kPsh)) == 0);
      if (i > 0) FUZZ_CHECK((flags & test::kCwr) == 0);
      FUZZ_CHECK(be32(&seg[ip_header + 4]) ==
                 static_cast<uint32_t>(be32(&packet[ip_header + 4]) + i * hdr.gso_size));
    }
    payload.insert(payload.end(), seg.begin() + static_cast<long>(headers), seg.end());
  }
  FUZZ_CHECK(std::equal(payload.begin(), payload.end(), packet.begin() + static_cast<long>(headers),
                        packet.end()));
  std::vector<uint8_t> big(65536 + 64);
  FUZZ_CHECK(gso->write_segment(gso->segment_count(), big) == 0);
}

// Makes a fuzzed packet self-consistent where it can: IP and UDP lengths, then checksums.
void fix_up(std::vector<uint8_t>& p) {
  if (p.size() < 20) return;
  if (p[0] >> 4 == 4) {
    test::put16(&p[2], static_cast<uint32_t>(p.size()));
    p[6] &= 0x40;  // DF may stay; no fragments
    p[7] = 0;
  } else if (p[0] >> 4 == 6 && p.size() >= 40) {
    test::put16(&p[4], static_cast<uint32_t>(p.size() - 40));
  } else {
    return;
  }
  const bool v6 = p[0] >> 4 == 6;
  const size_t ih = v6 ? 40 : size_t{p[0] & 0x0fu} * 4;
  if ((v6 ? p[6] : p[9]) == 17 && ih + 8 <= p.size())
    test::put16(&p[ih + 4], static_cast<uint32_t>(p.size() - ih));
  fill_ipv4_header_checksum(p);
  fill_transport_checksum(p);
}

using FlowKey = std::tuple<int, int, std::vector<uint8_t>, uint32_t>;

// The flow of a TCP/UDP packet as the coalescer must respect it, if it has one.
std::optional<FlowKey> flow_of(std::span<const uint8_t> p) {
  if (p.size() < 20) return std::nullopt;
  const int version = p[0] >> 4;
  size_t ih;
  uint8_t protocol;
  if (version == 4) {
    ih = size_t{p[0] & 0x0fu} * 4;
    protocol = p[9];
    if ((be16(&p[6]) & 0x1fff) != 0) return std::nullopt;
  } else if (version == 6 && p.size() >= 40) {
    ih = 40;
    protocol = p[6];
  } else {
    return std::nullopt;
  }
  if ((protocol != 6 && protocol != 17) || ih + 4 > p.size()) return std::nullopt;
  const size_t at = version == 6 ? 8 : 12, n = version == 6 ? 32 : 8;
  return FlowKey{version, protocol, std::vector<uint8_t>(p.begin() + at, p.begin() + at + n),
                 be32(&p[ih])};
}

void fuzz_coalescing(fuzz::Reader& in, bool udp) {
  static BufferPool pool(kMaxBatch, kBufferCapacity);
  std::vector<std::vector<uint8_t>> packets;
  while (!in.empty() && packets.size() < kMaxBatch) {
    const uint8_t flags = in.u8();
    const size_t length = std::min<size_t>(in.u16(), kBufferCapacity - PacketBuffer::kHeadroom);
    std::span<const uint8_t> bytes = in.bytes(length);
    std::vector<uint8_t> p(bytes.begin(), bytes.end());
    if (flags & 1) fix_up(p);
    packets.push_back(std::move(p));
  }
  std::vector<PacketBuffer*> batch;
  for (const auto& p : packets) {
    PacketBuffer* b = pool.acquire();
    FUZZ_CHECK(b != nullptr);
    if (!p.empty()) std::memcpy(b->data(), p.data(), p.size());
    b->set_size(p.size());
    batch.push_back(b);
  }

  Coalescer coalescer(CoalescingOptions{kMaxBatch, udp});
  FUZZ_CHECK(coalescer.plan(batch) == batch.size());
  std::vector<int> seen(batch.size(), 0);
  std::map<FlowKey, std::vector<uint32_t>> order;
  uint32_t previous_first = 0;
  const auto runs = coalescer.runs();
  for (size_t r = 0; r < runs.size(); ++r) {
    const Coalescer::Run& run = runs[r];
    FUZZ_CHECK(run.first < batch.size());
    if (r > 0) FUZZ_CHECK(run.first > previous_first);
    previous_first = run.first;
    std::vector<uint32_t> members;
    for (uint32_t i = run.first; i != Coalescer::kEnd; i = coalescer.next_in_run(i)) {
      FUZZ_CHECK(i < batch.size() && members.size() < run.count);
      members.push_back(i);
      ++seen[i];
      if (auto key = flow_of(packets[i])) order[*key].push_back(i);
    }
    FUZZ_CHECK(members.size() == run.count);
    FUZZ_CHECK(std::is_sorted(members.begin(), members.end()));
    if (run.count < 2) {
      FUZZ_CHECK(run.length == packets[run.first].size());
      continue;
    }
    FUZZ_CHECK(run.count <= Coalescer::kMaxRunPackets && run.length <= Coalescer::kMaxRunBytes);

    std::vector<uint8_t> out(VirtioNetHdr::kSize + run.length);
    std::vector<uint8_t> short_out(out.size() - 1);
    FUZZ_CHECK(coalescer.build(r, batch, short_out) == 0);
    FUZZ_CHECK(coalescer.build(r, batch, out) == out.size());
    const VirtioNetHdr hdr = VirtioNetHdr::decode(out);
    const std::span<const uint8_t> merged(out.data() + VirtioNetHdr::kSize, run.length);
    FUZZ_CHECK(hdr.flags == VirtioNetHdr::kNeedsCsum);
    const bool tcp = hdr.gso_type != VirtioNetHdr::kGsoUdpL4;
    FUZZ_CHECK(udp || tcp);
    const bool v6 = merged[0] >> 4 == 6;
    const uint32_t l4 = static_cast<uint32_t>(merged.size() - hdr.csum_start);
    FUZZ_CHECK(be16(&merged[hdr.csum_start + hdr.csum_offset]) ==
               naive_sum({}, naive_pseudo(v6, merged.data(), tcp ? 6 : 17, l4)));

    // Cut it again: the packets that went in must come out, but for the IPv4 id (which the
    // kernel renumbers and GRO does not require consecutive under DF) and the header checksum.
    GsoError error = GsoError::none;
    auto gso = GsoPacket::parse(hdr, merged, &error);
    FUZZ_CHECK(gso.has_value());
    FUZZ_CHECK(gso->segment_count() == run.count);
    for (size_t k = 0; k < members.size(); ++k) {
      std::vector<uint8_t> seg(gso->segment_size(k));
      FUZZ_CHECK(gso->write_segment(k, seg) == seg.size());
      check_segment(seg, hdr.csum_start, tcp);
      std::vector<uint8_t> original = packets[members[k]];
      FUZZ_CHECK(seg.size() == original.size());
      if (!v6 && (original[6] & 0x40) != 0) {
        seg[4] = original[4];
        seg[5] = original[5];
        seg[10] = original[10];
        seg[11] = original[11];
      }
      FUZZ_CHECK(seg == original);
    }
  }
  for (int n : seen) FUZZ_CHECK(n == 1);
  for (const auto& [key, indices] : order) FUZZ_CHECK(std::is_sorted(indices.begin(), indices.end()));
  for (PacketBuffer* b : batch) pool.release(b);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (spdlog::set_level(spdlog::level::off), true);
  (void)quiet;
  fuzz::Reader in(data, size);
  const uint8_t mode = in.u8();
  if ((mode & 1) == 0) {
    fuzz_segmentation(in);
  } else {
    fuzz_coalescing(in, (mode & 2) != 0);
  }
  return 0;
}
