// Receiving with UDP_GRO: the kernel may hand over several datagrams of one flow as a single
// coalesced read (up to 64 KiB), with the segment size in a UDP_GRO cmsg. Such a read cannot
// land in a pool buffer sized for one datagram, so it lands in scratch slots owned here and is
// split, by copy, into the caller's buffers. What does not fit stays queued for the next call.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"

namespace sluice::platform {

class GroReceiveQueue {
 public:
  // Most reads per recvmmsg call, as UdpSocket::kMaxBatch: with that many slots a caller
  // offering 128 buffers still gets 128 uncoalesced datagrams from one system call.
  static constexpr size_t kMaxSlots = 128;
  // One slot holds any UDP payload (at most 65527 bytes, over IPv6), coalesced or not.
  static constexpr size_t kSlotBytes = 65536;

  // `slots` (clamped to 1..kMaxSlots) reads per recvmmsg, each into its own slot. The scratch,
  // slots * kSlotBytes (8 MiB at the most), is allocated here once and never initialised: a
  // page becomes resident only once a read has landed in it, so resident memory follows the
  // largest reads actually seen, up to that bound.
  explicit GroReceiveQueue(size_t slots);

  // Bytes allocated by the constructor: the scratch plus the per-read bookkeeping.
  size_t allocated_bytes() const;

  bool empty() const { return next_read_ >= read_count_; }

  // One recvmmsg(MSG_DONTWAIT) of up to min(max_reads, slots) reads into the scratch; only
  // valid when empty(). Returns the number of reads (each one or more datagrams), or -errno
  // (including -EAGAIN when nothing is ready). Adds coalesced reads and the datagrams split
  // out of them to the two counters.
  int receive(int fd, size_t max_reads, uint64_t& gro_reads, uint64_t& gro_segments);

  // Moves queued datagrams, in arrival order, into buffers[0..k) with their senders in
  // sources[0..k), k = min(buffers.size(), sources.size(), queued). The buffers stay
  // caller-owned; each used one is reset_for_outer() and filled by copy. A datagram longer
  // than a buffer's room() is handed out with size 0 so the caller drops it. Returns k.
  size_t take(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources);

 private:
  struct Read {
    size_t length = 0;   // bytes in the slot
    size_t segment = 0;  // size of each datagram but the last; == length when not coalesced
    Endpoint source;
  };
  // Space for the one cmsg we enable (UDP_GRO, an int), with slack for any the kernel adds.
  static constexpr size_t kControlBytes = 64;

  size_t slots_;
  std::unique_ptr<uint8_t[]> scratch_;
  std::unique_ptr<mmsghdr[]> messages_;
  std::unique_ptr<iovec[]> iovecs_;
  std::unique_ptr<sockaddr_storage[]> names_;
  std::unique_ptr<uint64_t[]> controls_;  // kControlBytes per read, 8-aligned for cmsghdr
  std::unique_ptr<Read[]> reads_;
  size_t read_count_ = 0;
  size_t next_read_ = 0;    // the read that take() continues with
  size_t next_offset_ = 0;  // where its next datagram starts within its slot
};

}  // namespace sluice::platform
