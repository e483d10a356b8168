// A Linux TUN interface (IFF_TUN | IFF_NO_PI), nonblocking so the event loop drives it.
//
// With offloads (the default) it is opened with IFF_VNET_HDR and TUNSETOFFLOAD, so the kernel
// hands over TCP (and, from Linux 6.2, UDP) super-packets of up to 64 KiB and takes them back:
// one system call moves dozens of segments. The API does not change with them: read_batch
// still yields plain IP packets with complete checksums, cut here from a super-packet
// (tunnel/segmentation.h), and write_batch still takes plain IP packets, merging runs of one
// flow into super-packets here (tunnel/coalescing.h). Without offloads each read or write is
// exactly one IP packet.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "platform/result.h"
#include "platform/unique_fd.h"
#include "tunnel/coalescing.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/segmentation.h"
#include "tunnel/virtio_net_hdr.h"

namespace sluice::platform {

struct TunOptions {
  // Ask for IFF_VNET_HDR with checksum, TSO4/TSO6 and, if the kernel has it, USO offload.
  // Without kernel support the device silently runs without (see offloads()).
  bool offload = true;
  // Packets one coalescing pass of write_batch looks at; its tables are sized for this once.
  // Larger batches are written in several passes.
  size_t max_write_batch = 256;
};

// What the kernel accepted at create().
struct TunOffloads {
  bool vnet_hdr = false;  // every read and write carries a virtio_net_hdr
  bool tso = false;       // TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6
  bool uso = false;       // TUN_F_USO4 | TUN_F_USO6 as well (Linux 6.2+)
};

struct TunStats {
  uint64_t read_calls = 0;          // read/readv system calls, EAGAIN included
  uint64_t write_calls = 0;         // write/writev system calls
  uint64_t packets_read = 0;        // packets handed out by read_batch, segments included
  uint64_t super_packets_read = 0;  // GSO packets read
  uint64_t segments_produced = 0;   // segments cut from them and handed out
  uint64_t packets_written = 0;     // packets write_batch reported written (merged or alone)
  uint64_t coalesced_writes = 0;    // writes carrying a merged run
  uint64_t packets_coalesced = 0;   // packets that went out inside those writes
  uint64_t coalesced_writes_refused = 0;  // merged writes the kernel refused, resent singly
  // Reads dropped: longer than the caller's buffer plus the scratch buffer, or shorter than
  // the virtio header (truncated); a plain packet or a segment larger than the caller's buffer
  // (too_big; size buffers for the MTU); or a malformed virtio header or super-packet, by reason.
  uint64_t read_dropped_truncated = 0;
  uint64_t read_dropped_too_big = 0;
  std::array<uint64_t, kGsoErrorCount> read_dropped_malformed{};
};

class TunDevice {
 public:
  // Creates (or attaches to an unused existing) TUN interface called `name`. The name must
  // be 1..15 bytes (IFNAMSIZ - 1); a "%d" in it lets the kernel pick the number. The interface
  // lives until this object is destroyed or someone deletes the link.
  static Result<std::unique_ptr<TunDevice>> create(const std::string& name,
                                                   const TunOptions& options = {});

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }  // as the kernel named it
  int ifindex() const { return ifindex_; }
  const TunOffloads& offloads() const { return offloads_; }
  const TunStats& stats() const { return stats_; }
  // Memory this device allocated at create() besides the caller's buffers: with offloads, the
  // read and write scratch buffers (about 192 KiB) and the coalescer's tables; 0 without.
  size_t scratch_bytes() const;

  // Reads up to buffers.size() packets, one per buffer, in the order the kernel sent them.
  // The buffers stay owned by the caller, who has reset them (reset_for_inner) so data()
  // leaves headroom; at most room() - PacketBuffer::kTailroom bytes land in each, and a packet
  // that does not fit is dropped and counted (size buffers for the MTU). Sets each filled
  // buffer's size; every packet is a plain IP packet with complete checksums.
  // A super-packet that yields more segments than there are buffers left keeps the rest here
  // (has_pending()); the next call hands them out first, before reading again. The caller
  // must call again while has_pending(): the fd need not be readable then.
  // Returns the number filled (0 if none was ready), or -errno on a fatal error, e.g. -EBADFD
  // once the interface has been deleted.
  int read_batch(std::span<PacketBuffer* const> buffers);
  bool has_pending() const { return pending_.has_value(); }

  // Writes the packets (data(), size()), each one IP packet; the buffers stay caller-owned.
  // With offloads, the 10 bytes in front of data() are overwritten with a virtio_net_hdr when
  // offset() leaves room for it (the packet bytes themselves are not changed), and runs of one
  // flow go out merged in one write (copied into a scratch buffer). A packet the kernel refuses
  // (malformed, EINVAL) is skipped; writing stops at EAGAIN or when the interface is gone.
  // Returns how many packets were written (alone or merged), so the caller counts
  // packets.size() - result as dropped.
  int write_batch(std::span<PacketBuffer* const> packets);

 private:
  enum class WriteOutcome { written, refused, stop };

  TunDevice(UniqueFd fd, std::string name, int ifindex, TunOffloads offloads,
            const TunOptions& options);

  int read_plain(std::span<PacketBuffer* const> buffers);
  int write_plain(std::span<PacketBuffer* const> packets);
  // Fills buffers from the pending super-packet; returns how many.
  size_t hand_out_pending(std::span<PacketBuffer* const> buffers);
  WriteOutcome write_with_header(PacketBuffer* packet);
  WriteOutcome write_bytes(const uint8_t* data, size_t size);

  UniqueFd fd_;
  std::string name_;
  int ifindex_;
  TunOffloads offloads_;
  TunStats stats_;

  // Offload state, allocated once at create() when vnet_hdr is on.
  // Read scratch: [prefix: kScratchPrefix][read region: kScratchRead]. A read lands in the
  // caller's first buffer and spills into the read region; a super-packet's first part is
  // then copied into the end of the prefix so the whole packet is contiguous.
  std::unique_ptr<uint8_t[]> read_scratch_;
  std::unique_ptr<uint8_t[]> write_scratch_;  // Coalescer::kMaxBuildSize
  std::unique_ptr<Coalescer> coalescer_;
  std::array<uint8_t, VirtioNetHdr::kSize> read_header_{};
  std::optional<GsoPacket> pending_;  // borrows read_scratch_
  size_t pending_next_ = 0;           // next segment of pending_ to hand out
};

}  // namespace sluice::platform
