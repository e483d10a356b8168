// Userspace GRO for packets written to a TUN with offloads on: consecutive in-order TCP
// segments of one flow (and, with USO, UDP datagrams of one flow) from a batch of decrypted
// packets are merged into one super-packet with a virtio_net_hdr, so the kernel takes a whole
// run in one write and hands it up its stack as one skb. The rules are those of the kernel's
// tcp_gro_receive / udp_gro_receive as wireguard-go's tun offload applies them:
//
//   TCP: same addresses and ports, same ACK number, window, urgent pointer and options (so
//        equal timestamps), flags ACK or ACK|PSH only, the next sequence number exactly,
//        payloads of the first segment's size except a shorter (or PSH) last one, which ends
//        the run; IPv4 without options or fragmentation, with equal TOS, TTL and DF, and ids
//        counting up unless DF is set; IPv6 with equal version, traffic class, flow label and
//        hop limit and no extension headers.
//   UDP: the same flow, IP and size rules, and non-zero checksums.
//   Both: every merged packet's own checksum verifies (the kernel will compute one checksum
//        for the whole run, which must not launder a corrupted segment), at most 64 packets
//        and 65535 bytes per run.
//
// A run is written where its first packet stood in the batch. Packets are never reordered
// within a flow (same addresses, ports and protocol): a packet that cannot join its flow's
// current run ends that run, and later packets of the flow start a new one behind it. A
// packet whose flow cannot be named (not IP, a later IPv4 fragment, IPv6 extension headers)
// ends every run begun before it, since it might belong to any of them.
//
// Sans-IO and allocation-free after construction: the planner's tables are sized once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tunnel/packet_buffer.h"
#include "tunnel/virtio_net_hdr.h"

namespace sluice {

struct CoalescingOptions {
  // Most packets one plan() looks at; its tables are sized for this once.
  size_t max_packets = 256;
  // Merge UDP too: only when the TUN accepted TUN_F_USO4|TUN_F_USO6, since an older kernel
  // refuses GSO_UDP_L4 writes.
  bool udp = false;
};

class Coalescer {
 public:
  static constexpr size_t kMaxRunPackets = 64;
  static constexpr size_t kMaxRunBytes = 65535;  // IP total length of a merged packet
  // What build() may write: the virtio header and the largest merged packet.
  static constexpr size_t kMaxBuildSize = VirtioNetHdr::kSize + kMaxRunBytes;
  static constexpr uint32_t kEnd = UINT32_MAX;

  // One write: a single packet as it is, or a run of `count` packets merged by build().
  struct Run {
    uint32_t first = 0;   // index into the planned batch of the run's first packet
    uint32_t count = 0;   // packets in the run; next_in_run() walks them in order
    uint32_t length = 0;  // IP length of the merged packet (of the packet, for count 1)
  };

  explicit Coalescer(CoalescingOptions options);

  // Groups packets[0, n) with n = min(packets.size(), max_packets) into runs and returns n; the
  // caller plans the rest in further calls. The buffers stay the caller's; their bytes are read
  // (and must not change until build() has run) but not written.
  size_t plan(std::span<PacketBuffer* const> packets);

  // Bytes of the planner's tables, all allocated by the constructor.
  size_t table_bytes() const;

  // The runs of the last plan(), in write order (by the index of their first packet).
  std::span<const Run> runs() const { return {runs_.data(), runs_.size()}; }
  // The packet after `index` in its run, or kEnd.
  uint32_t next_in_run(uint32_t index) const { return next_[index]; }

  // Writes the virtio_net_hdr and the merged packet of runs()[run], which must have count >= 2,
  // into `out` (borrowed for the call; kMaxBuildSize is always enough) and returns the bytes
  // written; 0, nothing written, if `out` is too small, `run` is out of range or has a single
  // packet (write that one as it is). `packets` must be the span given to the last plan().
  size_t build(size_t run, std::span<PacketBuffer* const> packets, std::span<uint8_t> out) const;

 private:
  struct FlowKey {
    uint8_t family = 0;
    uint8_t protocol = 0;
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    uint8_t source[16] = {};
    uint8_t destination[16] = {};
    bool operator==(const FlowKey&) const = default;
  };
  struct Slot {
    FlowKey key;
    uint32_t run = kEnd;  // the flow's newest run
    bool used = false;
  };
  // What a run needs to decide whether the next packet of its flow may join.
  struct RunState {
    uint32_t last = 0;      // index of the run's last packet
    uint32_t next_seq = 0;  // TCP: the sequence number a joining segment must carry
    uint16_t gso_size = 0;  // payload bytes of the first packet
    uint16_t header_length = 0;  // IP + transport header
    uint8_t kind = 0;       // see coalescing.cpp: TCP/UDP over IPv4/IPv6, or none
    bool open = false;      // more packets may join
    bool verified = false;  // the first packet's checksum has been checked
    bool psh = false;       // the last packet carried PSH
  };
  struct Candidate;

  static Candidate classify(std::span<const uint8_t> packet, bool udp);
  Slot& slot_for(const FlowKey& key);
  uint32_t start_run(uint32_t index, const Candidate& c);
  bool try_join(uint32_t run, std::span<PacketBuffer* const> packets, uint32_t index,
                const Candidate& c);
  void clear_slots();

  CoalescingOptions options_;
  std::vector<Run> runs_;
  std::vector<RunState> state_;          // parallel to runs_
  int64_t last_barrier_ = -1;            // no run that started before this index may grow
  std::vector<uint32_t> next_;
  std::vector<Slot> slots_;              // open addressing, power-of-two size
  std::vector<uint32_t> used_slots_;     // to clear only what the last plan touched
};

}  // namespace sluice
