#include "tunnel/coalescing.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "tunnel/inet_checksum.h"
#include "tunnel/ip_packet.h"

namespace sluice {

namespace {

constexpr uint8_t kKindNone = 0;
constexpr uint8_t kKindTcp4 = 1;
constexpr uint8_t kKindTcp6 = 2;
constexpr uint8_t kKindUdp4 = 3;
constexpr uint8_t kKindUdp6 = 4;

constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpPsh = 0x08;
constexpr size_t kTcpFlagsOffset = 13;

bool is_tcp(uint8_t kind) { return kind == kKindTcp4 || kind == kKindTcp6; }
bool is_v6(uint8_t kind) { return kind == kKindTcp6 || kind == kKindUdp6; }

uint16_t load_be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load_be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
void store_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// IPv6 next-header values after which a TCP or UDP header may still follow, unseen by us.
bool is_ipv6_extension(uint8_t next_header) {
  switch (next_header) {
    case 0: case 43: case 44: case 51: case 60: case 135: case 139: case 140: return true;
    default: return false;
  }
}

// The fields GRO requires equal between segments of one run (inet_gro_receive and
// ipv6_gro_receive): TOS, DF and TTL; or version, traffic class, flow label and hop limit.
bool ip_headers_match(const uint8_t* a, const uint8_t* b, bool v6) {
  if (v6) return std::memcmp(a, b, 4) == 0 && a[7] == b[7];
  return a[1] == b[1] && (a[6] >> 5) == (b[6] >> 5) && a[8] == b[8];
}

std::span<const uint8_t> bytes_of(const PacketBuffer* b) { return {b->data(), b->size()}; }

}  // namespace

// What plan() learns from one packet.
struct Coalescer::Candidate {
  bool keyed = false;      // belongs to a TCP/UDP flow we can name
  bool barrier = false;    // might belong to a flow we cannot name: no run may grow past it
  bool mergeable = false;  // may start or join a run
  FlowKey key;
  uint8_t kind = kKindNone;
  uint16_t header_length = 0;
  uint32_t payload = 0;
  uint32_t seq = 0;
  bool psh = false;
};

Coalescer::Candidate Coalescer::classify(std::span<const uint8_t> p, bool udp) {
  Candidate c;
  auto info = parse_ip_packet(p);
  if (!info) {
    c.barrier = true;  // not even IP: who knows what it was
    return c;
  }
  const bool v6 = info->family == IpFamily::v6;
  const uint8_t protocol = info->protocol;
  if (protocol != kIpProtocolTcp && protocol != kIpProtocolUdp) {
    // ICMP and the like belong to no flow; an IPv6 extension header may hide TCP or UDP.
    c.barrier = v6 && is_ipv6_extension(protocol);
    return c;
  }
  const size_t ih = info->header_length;
  const size_t total = info->total_length;
  bool fragment = false;
  if (!v6) {
    const uint16_t frag = load_be16(&p[6]);
    if ((frag & 0x1fffu) != 0) {
      c.barrier = true;  // a later fragment carries no ports
      return c;
    }
    fragment = (frag & 0x2000u) != 0;
  }
  if (total < ih + 4) {
    c.barrier = true;
    return c;
  }
  c.keyed = true;
  c.key.family = v6 ? 6 : 4;
  c.key.protocol = protocol;
  c.key.source_port = load_be16(&p[ih]);
  c.key.destination_port = load_be16(&p[ih + 2]);
  std::memcpy(c.key.source, info->source.bytes.data(), info->source.size());
  std::memcpy(c.key.destination, info->destination.bytes.data(), info->destination.size());

  // From here on only whether it can be merged is decided.
  if (fragment || total != p.size()) return c;
  if (!v6 && ih != kIpv4MinHeaderLength) return c;  // IPv4 options: GRO does not merge them
  const size_t l4 = total - ih;
  if (protocol == kIpProtocolTcp) {
    if (l4 < 20) return c;
    const size_t thl = static_cast<size_t>(p[ih + 12] >> 4) * 4;
    if (thl < 20 || thl > l4) return c;
    const uint8_t flags = p[ih + kTcpFlagsOffset];
    if (flags != kTcpAck && flags != (kTcpAck | kTcpPsh)) return c;
    if (l4 == thl) return c;  // a pure ACK
    c.kind = v6 ? kKindTcp6 : kKindTcp4;
    c.header_length = static_cast<uint16_t>(ih + thl);
    c.payload = static_cast<uint32_t>(l4 - thl);
    c.seq = load_be32(&p[ih + 4]);
    c.psh = (flags & kTcpPsh) != 0;
  } else {
    if (!udp || l4 <= 8 || load_be16(&p[ih + 4]) != l4) return c;
    if (load_be16(&p[ih + 6]) == 0) return c;  // no checksum: nothing to verify the bytes by
    c.kind = v6 ? kKindUdp6 : kKindUdp4;
    c.header_length = static_cast<uint16_t>(ih + 8);
    c.payload = static_cast<uint32_t>(l4 - 8);
  }
  c.mergeable = true;
  return c;
}

Coalescer::Coalescer(CoalescingOptions options) : options_(options) {
  options_.max_packets = std::clamp<size_t>(options_.max_packets, 1, size_t{1} << 20);
  runs_.reserve(options_.max_packets);
  state_.reserve(options_.max_packets);
  next_.assign(options_.max_packets, kEnd);
  slots_.resize(std::bit_ceil(options_.max_packets * 2));
  used_slots_.reserve(options_.max_packets);
}

size_t Coalescer::table_bytes() const {
  return runs_.capacity() * sizeof(Run) + state_.capacity() * sizeof(RunState) +
         next_.capacity() * sizeof(uint32_t) + slots_.capacity() * sizeof(Slot) +
         used_slots_.capacity() * sizeof(uint32_t);
}

void Coalescer::clear_slots() {
  for (uint32_t i : used_slots_) slots_[i] = Slot{};
  used_slots_.clear();
}

Coalescer::Slot& Coalescer::slot_for(const FlowKey& key) {
  // FNV-1a over the key; the table is at most half full, so probes stay short.
  uint32_t h = 2166136261u;
  const auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
  };
  const uint8_t ports[6] = {key.family, key.protocol, static_cast<uint8_t>(key.source_port >> 8),
                            static_cast<uint8_t>(key.source_port),
                            static_cast<uint8_t>(key.destination_port >> 8),
                            static_cast<uint8_t>(key.destination_port)};
  mix(ports, sizeof ports);
  mix(key.source, sizeof key.source);
  mix(key.destination, sizeof key.destination);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.used) {
      s.used = true;
      s.key = key;
      used_slots_.push_back(static_cast<uint32_t>(i));
      return s;
    }
    if (s.key == key) return s;
  }
}

uint32_t Coalescer::start_run(uint32_t index, const Candidate& c) {
  Run run;
  run.first = index;
  run.count = 1;
  run.length = 0;  // set by plan(), which has the buffer
  RunState s;
  s.last = index;
  s.kind = c.kind;
  s.header_length = c.header_length;
  s.gso_size = static_cast<uint16_t>(c.payload);
  s.next_seq = c.seq + c.payload;
  s.psh = c.psh;
  // Nothing may follow a PSH segment in a run: PSH belongs on the last one.
  s.open = c.mergeable && !c.psh;
  runs_.push_back(run);
  state_.push_back(s);
  return static_cast<uint32_t>(runs_.size() - 1);
}

bool Coalescer::try_join(uint32_t r, std::span<PacketBuffer* const> packets, uint32_t index,
                         const Candidate& c) {
  Run& run = runs_[r];
  RunState& s = state_[r];
  if (!s.open || static_cast<int64_t>(run.first) <= last_barrier_) return false;
  if (c.kind != s.kind || c.header_length != s.header_length) return false;
  if (run.count >= kMaxRunPackets || run.length + c.payload > kMaxRunBytes) return false;
  if (c.payload > s.gso_size) return false;

  const uint8_t* head = packets[run.first]->data();
  const uint8_t* p = packets[index]->data();
  const bool v6 = is_v6(s.kind);
  if (!ip_headers_match(head, p, v6)) return false;
  // Without DF the ids must count up as the kernel's segmentation will renumber them
  // (inet_gro_receive's flush_id); with DF they carry no meaning.
  if (!v6 && (head[6] & 0x40) == 0 &&
      load_be16(p + 4) != static_cast<uint16_t>(load_be16(head + 4) + run.count))
    return false;
  if (is_tcp(s.kind)) {
    const size_t ih = v6 ? kIpv6HeaderLength : kIpv4MinHeaderLength;
    if (c.seq != s.next_seq) return false;
    // ACK number, the reserved bits, window, urgent pointer and every option byte
    // (timestamps included): tcp_gro_receive's rule, so segmentation restores each segment.
    if (std::memcmp(head + ih + 8, p + ih + 8, 5) != 0) return false;
    if (std::memcmp(head + ih + 14, p + ih + 14, 2) != 0) return false;
    if (std::memcmp(head + ih + 18, p + ih + 18, s.header_length - ih - 18) != 0) return false;
  }
  // Checked only once a merge is on the table, so single packets cost nothing here.
  if (!s.verified) {
    if (!transport_checksum_valid(bytes_of(packets[run.first]))) {
      s.open = false;
      return false;
    }
    s.verified = true;
  }
  if (!transport_checksum_valid(bytes_of(packets[index]))) return false;

  next_[s.last] = index;
  s.last = index;
  ++run.count;
  run.length += c.payload;
  s.next_seq += c.payload;
  // A short segment ends the run (every segment but the last is gso_size long), and so does
  // PSH.
  if (c.payload < s.gso_size || c.psh) s.open = false;
  if (c.psh) s.psh = true;
  return true;
}

size_t Coalescer::plan(std::span<PacketBuffer* const> packets) {
  const size_t n = std::min(packets.size(), options_.max_packets);
  runs_.clear();
  state_.clear();
  clear_slots();
  last_barrier_ = -1;
  for (uint32_t i = 0; i < n; ++i) {
    next_[i] = kEnd;
    const Candidate c = classify(bytes_of(packets[i]), options_.udp);
    if (!c.keyed) {
      if (c.barrier) last_barrier_ = i;
      const uint32_t r = start_run(i, c);
      runs_[r].length = static_cast<uint32_t>(packets[i]->size());
      continue;
    }
    Slot& slot = slot_for(c.key);
    if (c.mergeable && slot.run != kEnd && try_join(slot.run, packets, i, c)) continue;
    // Anything of this flow that did not join ends its current run: later packets of the flow
    // may only join a run that starts behind this one, so the flow's order holds.
    slot.run = start_run(i, c);
    runs_[slot.run].length = static_cast<uint32_t>(packets[i]->size());
  }
  return n;
}

size_t Coalescer::build(size_t r, std::span<PacketBuffer* const> packets,
                        std::span<uint8_t> out) const {
  if (r >= runs_.size()) return 0;
  const Run& run = runs_[r];
  const RunState& s = state_[r];
  if (run.count < 2 || out.size() < VirtioNetHdr::kSize + run.length) return 0;

  uint8_t* p = out.data() + VirtioNetHdr::kSize;
  const PacketBuffer* head = packets[run.first];
  std::memcpy(p, head->data(), head->size());
  size_t at = head->size();
  for (uint32_t i = next_[run.first]; i != kEnd; i = next_[i]) {
    const PacketBuffer* b = packets[i];
    const size_t payload = b->size() - s.header_length;
    std::memcpy(p + at, b->data() + s.header_length, payload);
    at += payload;
  }

  const bool v6 = is_v6(s.kind);
  const bool tcp = is_tcp(s.kind);
  const size_t ih = v6 ? kIpv6HeaderLength : kIpv4MinHeaderLength;
  if (v6) {
    store_be16(p + 4, static_cast<uint16_t>(at - ih));
  } else {
    store_be16(p + 2, static_cast<uint16_t>(at));
    store_be16(p + 10, ipv4_header_checksum(std::span<const uint8_t>(p, ih)));
  }
  uint8_t* l4 = p + ih;
  const size_t l4_length = at - ih;
  size_t checksum_offset = kTcpChecksumOffset;
  if (tcp) {
    if (s.psh) l4[kTcpFlagsOffset] |= kTcpPsh;
  } else {
    store_be16(l4 + 4, static_cast<uint16_t>(l4_length));
    checksum_offset = kUdpChecksumOffset;
  }
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum and the kernel adds the rest.
  const size_t address_at = v6 ? 8 : 12;
  const size_t address_size = v6 ? 16 : 4;
  const ChecksumSum pseudo =
      pseudo_header_sum(std::span<const uint8_t>(p + address_at, address_size),
                        std::span<const uint8_t>(p + address_at + address_size, address_size),
                        tcp ? kIpProtocolTcp : kIpProtocolUdp, static_cast<uint32_t>(l4_length));
  store_be16(l4 + checksum_offset, checksum_fold(pseudo));

  VirtioNetHdr hdr;
  hdr.flags = VirtioNetHdr::kNeedsCsum;
  hdr.gso_type = tcp ? (v6 ? VirtioNetHdr::kGsoTcpV6 : VirtioNetHdr::kGsoTcpV4)
                     : VirtioNetHdr::kGsoUdpL4;
  hdr.hdr_len = s.header_length;
  hdr.gso_size = s.gso_size;
  hdr.csum_start = static_cast<uint16_t>(ih);
  hdr.csum_offset = static_cast<uint16_t>(checksum_offset);
  hdr.encode(out);
  return VirtioNetHdr::kSize + at;
}

}  // namespace sluice
