// tunnel/coalescing.h: which packets merge into runs, the super-packet each run becomes, and
// that per-flow order survives. A merged run cut again by tunnel/segmentation.h must give back
// the very packets that went in.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "packet_builder.h"
#include "tunnel/coalescing.h"
#include "tunnel/inet_checksum.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/segmentation.h"

using namespace sluice;
using namespace sluice::test;

namespace {

// Pool buffers holding test packets; all returned to the pool when the batch goes.
class Batch {
 public:
  explicit Batch(BufferPool& pool) : pool_(pool) {}
  ~Batch() {
    for (PacketBuffer* b : buffers) pool_.release(b);
  }
  void add(const std::vector<uint8_t>& packet) {
    PacketBuffer* b = pool_.acquire();
    REQUIRE(b != nullptr);
    REQUIRE(packet.size() <= b->room());
    std::copy(packet.begin(), packet.end(), b->data());
    b->set_size(packet.size());
    buffers.push_back(b);
    originals.push_back(packet);
  }
  std::vector<PacketBuffer*> buffers;
  std::vector<std::vector<uint8_t>> originals;

 private:
  BufferPool& pool_;
};

// The runs of the last plan() as lists of batch indices.
std::vector<std::vector<uint32_t>> runs_of(const Coalescer& c) {
  std::vector<std::vector<uint32_t>> out;
  for (const Coalescer::Run& run : c.runs()) {
    std::vector<uint32_t> members;
    for (uint32_t i = run.first; i != Coalescer::kEnd; i = c.next_in_run(i)) members.push_back(i);
    REQUIRE(members.size() == run.count);
    out.push_back(members);
  }
  return out;
}

using Runs = std::vector<std::vector<uint32_t>>;

// Consecutive segments of one TCP flow: `sizes` payload bytes each, ids counting up, PSH on the
// last if asked.
std::vector<std::vector<uint8_t>> tcp_flow(PacketSpec spec, const std::vector<size_t>& sizes,
                                           bool psh_last = false) {
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < sizes.size(); ++i) {
    spec.payload = pattern(sizes[i], static_cast<uint8_t>(spec.seq));
    if (psh_last && i + 1 == sizes.size()) spec.flags |= kPsh;
    out.push_back(build_packet(spec));
    spec.seq += static_cast<uint32_t>(sizes[i]);
    ++spec.ip_id;
  }
  return out;
}

// Builds run `r` and cuts it again; the segments must be exactly the packets that went in.
void check_round_trip(const Coalescer& c, size_t r, const Batch& batch) {
  std::vector<uint8_t> out(Coalescer::kMaxBuildSize);
  const size_t n = c.build(r, batch.buffers, out);
  REQUIRE(n > VirtioNetHdr::kSize);
  const VirtioNetHdr h = VirtioNetHdr::decode(out);
  const std::span<const uint8_t> merged(out.data() + VirtioNetHdr::kSize, n - VirtioNetHdr::kSize);
  CHECK(h.flags == VirtioNetHdr::kNeedsCsum);
  const bool v6 = merged[0] >> 4 == 6;
  const uint8_t protocol = v6 ? merged[6] : merged[9];
  CHECK(h.csum_start == (v6 ? 40 : 20));
  CHECK(h.csum_offset == (protocol == 6 ? 16 : 6));
  // The checksum field holds the folded pseudo-header sum over the merged length.
  const uint32_t l4 = static_cast<uint32_t>(merged.size() - h.csum_start);
  CHECK(be16(&merged[h.csum_start + h.csum_offset]) ==
        naive_sum({}, naive_pseudo(v6, merged.data(), protocol, l4)));
  if (!v6) CHECK(naive_sum(merged.first(20)) == 0xffff);
  CHECK((v6 ? be16(&merged[4]) + 40u : be16(&merged[2])) == merged.size());

  GsoError e = GsoError::none;
  auto g = GsoPacket::parse(h, merged, &e);
  REQUIRE(g);
  const Coalescer::Run& run = c.runs()[r];
  REQUIRE(g->segment_count() == run.count);
  size_t k = 0;
  for (uint32_t i = run.first; i != Coalescer::kEnd; i = c.next_in_run(i), ++k) {
    std::vector<uint8_t> seg(g->segment_size(k));
    REQUIRE(g->write_segment(k, seg) == seg.size());
    INFO("segment " << k << " of run " << r);
    CHECK(seg == batch.originals[i]);
  }
}

}  // namespace

TEST_CASE("coalescing: one TCP flow over IPv4 and IPv6 merges and round-trips", "[coalescing]") {
  BufferPool pool(80, 2048);
  for (bool v6 : {false, true}) {
    Coalescer c(CoalescingOptions{});
    Batch batch(pool);
    PacketSpec spec;
    spec.v6 = v6;
    spec.tcp_options = {1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78};
    for (auto& p : tcp_flow(spec, {1448, 1448, 1448, 1448, 1448, 1448, 1448, 1448, 1448, 700}, true))
      batch.add(p);
    REQUIRE(c.plan(batch.buffers) == 10);
    REQUIRE(runs_of(c) == Runs{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
    const size_t ih = v6 ? 40 : 20;
    CHECK(c.runs()[0].length == ih + 32 + 9 * 1448 + 700);

    std::vector<uint8_t> out(Coalescer::kMaxBuildSize);
    const size_t n = c.build(0, batch.buffers, out);
    REQUIRE(n == VirtioNetHdr::kSize + c.runs()[0].length);
    const VirtioNetHdr h = VirtioNetHdr::decode(out);
    CHECK(h.gso_type == (v6 ? VirtioNetHdr::kGsoTcpV6 : VirtioNetHdr::kGsoTcpV4));
    CHECK(h.gso_size == 1448);
    CHECK(h.hdr_len == ih + 32);
    CHECK((out[VirtioNetHdr::kSize + ih + 13] & kPsh) != 0);  // from the last segment
    check_round_trip(c, 0, batch);
  }
}

TEST_CASE("coalescing: UDP merges only when USO is on", "[coalescing]") {
  BufferPool pool(32, 2048);
  for (bool v6 : {false, true}) {
    Batch batch(pool);
    PacketSpec spec;
    spec.v6 = v6;
    spec.protocol = 17;
    for (size_t size : {1200, 1200, 1200, 77}) {
      spec.payload = pattern(size, static_cast<uint8_t>(batch.buffers.size()));
      batch.add(build_packet(spec));
      ++spec.ip_id;
    }
    Coalescer off(CoalescingOptions{});
    off.plan(batch.buffers);
    CHECK(runs_of(off) == Runs{{0}, {1}, {2}, {3}});
    std::vector<uint8_t> unused(Coalescer::kMaxBuildSize);
    CHECK(off.build(0, batch.buffers, unused) == 0);

    Coalescer on(CoalescingOptions{256, true});
    on.plan(batch.buffers);
    REQUIRE(runs_of(on) == Runs{{0, 1, 2, 3}});
    std::vector<uint8_t> out(Coalescer::kMaxBuildSize);
    REQUIRE(on.build(0, batch.buffers, out) > 0);
    CHECK(VirtioNetHdr::decode(out).gso_type == VirtioNetHdr::kGsoUdpL4);
    CHECK(VirtioNetHdr::decode(out).hdr_len == (v6 ? 48 : 28));
    check_round_trip(on, 0, batch);
  }
}

TEST_CASE("coalescing: interleaved flows merge per flow, written at their first packet",
          "[coalescing]") {
  BufferPool pool(32, 2048);
  Batch batch(pool);
  PacketSpec a;
  PacketSpec b;
  b.source_port = 40001;
  const auto fa = tcp_flow(a, {1000, 1000, 1000});
  const auto fb = tcp_flow(b, {1000, 1000});
  for (const auto* p : {&fa[0], &fb[0], &fa[1], &fb[1], &fa[2]}) batch.add(*p);
  Coalescer c(CoalescingOptions{});
  c.plan(batch.buffers);
  REQUIRE(runs_of(c) == Runs{{0, 2, 4}, {1, 3}});
  check_round_trip(c, 0, batch);
  check_round_trip(c, 1, batch);
}

TEST_CASE("coalescing: what ends a run", "[coalescing]") {
  BufferPool pool(32, 2048);
  Coalescer c(CoalescingOptions{});
  const PacketSpec base;
  auto plan = [&](std::vector<std::vector<uint8_t>> packets) {
    Batch batch(pool);
    for (auto& p : packets) batch.add(p);
    c.plan(batch.buffers);
    return runs_of(c);
  };
  auto flow = [&](const std::vector<size_t>& sizes) { return tcp_flow(base, sizes); };

  SECTION("a sequence gap") {
    auto f = flow({1000, 1000, 1000, 1000});
    f.erase(f.begin() + 2);
    CHECK(plan(f) == Runs{{0, 1}, {2}});
  }
  SECTION("a different ACK, window, timestamp, TTL, TOS or DF") {
    const std::vector<std::function<void(PacketSpec&)>> changes = {
        [](PacketSpec& s) { s.ack += 1; },
        [](PacketSpec& s) { s.window += 1; },
        [](PacketSpec& s) { s.tcp_options = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 1}; },
        [](PacketSpec& s) { s.ttl = 63; },
        [](PacketSpec& s) { s.tos = 1; },
        [](PacketSpec& s) { s.dont_fragment = false; },
    };
    for (size_t k = 0; k < changes.size(); ++k) {
      PacketSpec s = base;
      if (k == 2) s.tcp_options = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 1};
      auto f = tcp_flow(s, {1000, 1000, 1000});
      PacketSpec changed = s;
      changed.seq += 2000;
      changed.ip_id += 2;
      changes[k](changed);
      f[2] = tcp_flow(changed, {1000})[0];
      INFO("change " << k);
      CHECK(plan(f) == Runs{{0, 1}, {2}});
    }
  }
  SECTION("flags other than ACK and PSH, and segments without payload") {
    for (uint8_t flags : {uint8_t(kAck | kFin), uint8_t(kAck | kUrg), uint8_t(kAck | kSyn),
                          uint8_t(kAck | kRst), uint8_t(kAck | kCwr), uint8_t(kAck | kEce),
                          uint8_t(kPsh)}) {
      auto f = flow({1000, 1000, 1000});
      PacketSpec odd = base;
      odd.seq += 1000;
      odd.ip_id += 1;
      odd.flags = flags;
      odd.payload = pattern(1000, static_cast<uint8_t>(odd.seq));
      f[1] = build_packet(odd);
      INFO("flags " << int(flags));
      CHECK(plan(f) == Runs{{0}, {1}, {2}});
    }
    auto f = flow({1000, 0, 1000});
    CHECK(plan(f) == Runs{{0}, {1}, {2}});
  }
  SECTION("PSH and a short segment end the run they join") {
    auto f = flow({1000, 1000, 1000, 1000});
    f[1][20 + 13] |= kPsh;
    fill_transport_checksum(f[1]);
    CHECK(plan(f) == Runs{{0, 1}, {2, 3}});
    CHECK(plan(flow({1000, 500, 500})) == Runs{{0, 1}, {2}});
    CHECK(plan(flow({500, 1000})) == Runs{{0}, {1}});
  }
  SECTION("a bad checksum keeps a packet out of every run") {
    auto f = flow({1000, 1000, 1000});
    f[1][100] ^= 0xff;
    CHECK(plan(f) == Runs{{0}, {1}, {2}});
    f = flow({1000, 1000, 1000});
    f[0][100] ^= 0xff;
    CHECK(plan(f) == Runs{{0}, {1, 2}});
  }
  SECTION("a packet of the flow that cannot merge ends the run: no reordering") {
    auto f = flow({1000, 1000, 1000});
    PacketSpec ack_only = base;
    ack_only.seq += 2000;
    f.insert(f.begin() + 2, build_packet(ack_only));  // a pure ACK, same flow
    // The third data segment is in sequence with the second but comes after the ACK.
    CHECK(plan(f) == Runs{{0, 1}, {2}, {3}});
  }
  SECTION("ICMP does not interrupt; an unparseable or fragmented packet does") {
    auto f = flow({1000, 1000});
    PacketSpec icmp = base;
    icmp.protocol = 17;
    std::vector<uint8_t> ping = build_packet(icmp);
    ping[9] = 1;
    fill_ipv4_header_checksum(ping);
    f.insert(f.begin() + 1, ping);
    CHECK(plan(f) == Runs{{0, 2}, {1}});

    f = flow({1000, 1000});
    f.insert(f.begin() + 1, std::vector<uint8_t>{0x45, 0, 0});
    CHECK(plan(f) == Runs{{0}, {1}, {2}});

    f = flow({1000, 1000});
    PacketSpec other = base;
    other.protocol = 17;
    std::vector<uint8_t> later_fragment = build_packet(other);
    later_fragment[7] = 10;  // offset 80: no ports to tell whose it is
    fill_ipv4_header_checksum(later_fragment);
    f.insert(f.begin() + 1, later_fragment);
    CHECK(plan(f) == Runs{{0}, {1}, {2}});

    PacketSpec v6 = base;
    v6.v6 = true;
    f = tcp_flow(v6, {1000, 1000});
    std::vector<uint8_t> extension = build_packet(v6);
    extension[6] = 60;  // destination options: TCP may hide behind
    f.insert(f.begin() + 1, extension);
    CHECK(plan(f) == Runs{{0}, {1}, {2}});
  }
  SECTION("IPv4 options, fragments and padding are never merged") {
    PacketSpec opt = base;
    opt.ipv4_options = {1, 1, 1, 0};
    CHECK(plan(tcp_flow(opt, {1000, 1000})) == Runs{{0}, {1}});
    auto f = flow({1000, 1000});
    for (auto& p : f) {
      p[6] |= 0x20;  // MF
      fill_ipv4_header_checksum(p);
    }
    CHECK(plan(f) == Runs{{0}, {1}});
    f = flow({1000, 1000});
    f[1].push_back(0);
    CHECK(plan(f) == Runs{{0}, {1}});
  }
  SECTION("UDP without a checksum is never merged") {
    Coalescer udp(CoalescingOptions{256, true});
    Batch batch(pool);
    PacketSpec s = base;
    s.protocol = 17;
    s.zero_udp_checksum = true;
    s.payload = pattern(500);
    batch.add(build_packet(s));
    batch.add(build_packet(s));
    udp.plan(batch.buffers);
    CHECK(runs_of(udp) == Runs{{0}, {1}});
  }
}

TEST_CASE("coalescing: runs stop at 64 packets and 65535 bytes", "[coalescing]") {
  BufferPool pool(80, 2048);
  {
    Batch batch(pool);
    for (auto& p : tcp_flow(PacketSpec{}, std::vector<size_t>(70, 100))) batch.add(p);
    Coalescer c(CoalescingOptions{});
    c.plan(batch.buffers);
    REQUIRE(c.runs().size() == 2);
    CHECK(c.runs()[0].count == 64);
    CHECK(c.runs()[1].count == 6);
    check_round_trip(c, 0, batch);
    check_round_trip(c, 1, batch);
  }
  {
    Batch batch(pool);
    for (auto& p : tcp_flow(PacketSpec{}, std::vector<size_t>(50, 1448))) batch.add(p);
    Coalescer c(CoalescingOptions{});
    c.plan(batch.buffers);
    REQUIRE(c.runs().size() == 2);
    CHECK(c.runs()[0].count == 45);  // 40 + 45 * 1448 = 65200; one more would pass 65535
    CHECK(c.runs()[0].length == 65200);
    check_round_trip(c, 0, batch);
  }
}

TEST_CASE("coalescing: plan takes at most max_packets; build refuses what it cannot do",
          "[coalescing]") {
  BufferPool pool(16, 2048);
  Batch batch(pool);
  for (auto& p : tcp_flow(PacketSpec{}, std::vector<size_t>(10, 1000))) batch.add(p);
  Coalescer c(CoalescingOptions{4, false});
  CHECK(c.plan(batch.buffers) == 4);
  CHECK(runs_of(c) == Runs{{0, 1, 2, 3}});
  const std::span<PacketBuffer* const> rest = std::span(batch.buffers).subspan(4);
  CHECK(c.plan(rest) == 4);
  CHECK(runs_of(c) == Runs{{0, 1, 2, 3}});

  std::vector<uint8_t> small(VirtioNetHdr::kSize + c.runs()[0].length - 1, 0xee);
  CHECK(c.build(0, rest, small) == 0);
  CHECK(std::all_of(small.begin(), small.end(), [](uint8_t b) { return b == 0xee; }));
  std::vector<uint8_t> big(Coalescer::kMaxBuildSize);
  CHECK(c.build(1, rest, big) == 0);
  CHECK(c.plan({}) == 0);
  CHECK(c.runs().empty());
}

TEST_CASE("coalescing: random batches keep every packet once and every flow in order",
          "[coalescing]") {
  BufferPool pool(160, 2048);
  std::mt19937 rng(4242);
  for (int round = 0; round < 200; ++round) {
    Batch batch(pool);
    // A few flows, TCP and UDP, IPv4 and IPv6, with gaps, flag changes and corruption.
    struct Flow {
      PacketSpec spec;
    };
    std::vector<Flow> flows(1 + rng() % 5);
    for (size_t f = 0; f < flows.size(); ++f) {
      flows[f].spec.v6 = rng() % 2;
      flows[f].spec.protocol = rng() % 3 == 0 ? 17 : 6;
      flows[f].spec.source_port = static_cast<uint16_t>(1000 + f);
    }
    const size_t count = 1 + rng() % 150;
    for (size_t i = 0; i < count; ++i) {
      PacketSpec& s = flows[rng() % flows.size()].spec;
      const size_t size = rng() % 4 == 0 ? rng() % 1400 : 1000;
      s.payload = pattern(size, static_cast<uint8_t>(rng()));
      s.flags = rng() % 10 == 0 ? kAck | kPsh : kAck;
      if (rng() % 20 == 0) s.seq += 1;  // a gap
      std::vector<uint8_t> p = build_packet(s);
      if (rng() % 30 == 0) p[p.size() / 2] ^= 0x10;  // corruption
      batch.add(p);
      s.seq += static_cast<uint32_t>(size);
      ++s.ip_id;
    }
    Coalescer c(CoalescingOptions{256, rng() % 2 == 0});
    REQUIRE(c.plan(batch.buffers) == count);
    const Runs runs = runs_of(c);

    // Every packet exactly once; runs in order of their first packet.
    std::vector<int> seen(count, 0);
    uint32_t previous_first = 0;
    for (size_t r = 0; r < runs.size(); ++r) {
      if (r > 0) REQUIRE(runs[r][0] > previous_first);
      previous_first = runs[r][0];
      for (uint32_t i : runs[r]) ++seen[i];
    }
    REQUIRE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));

    // Per flow, the write order is the batch order.
    using Key = std::tuple<int, int, std::vector<uint8_t>>;
    auto key_of = [&](uint32_t i) {
      const auto& p = batch.originals[i];
      const bool v6 = p[0] >> 4 == 6;
      const size_t ih = v6 ? 40 : 20;
      return Key{v6 ? p[6] : p[9], be16(&p[ih]),
                 std::vector<uint8_t>(p.begin() + (v6 ? 8 : 12), p.begin() + (v6 ? 40 : 20))};
    };
    std::map<Key, std::vector<uint32_t>> written;
    for (const auto& run : runs)
      for (uint32_t i : run) written[key_of(i)].push_back(i);
    for (const auto& [key, order] : written) REQUIRE(std::is_sorted(order.begin(), order.end()));

    for (size_t r = 0; r < runs.size(); ++r) {
      if (runs[r].size() > 1) check_round_trip(c, r, batch);
    }
  }
}
