// The Darwin outer UDP socket: one dual-stack socket (udp_binding.h) that moves WireGuard
// datagrams in batches. With SLUICE_DARWIN_BATCH_IO it uses XNU's private recvmsg_x/sendmsg_x,
// one system call per batch, but only after run_x_call_self_test() passed at open(); if the
// self-test fails, or the kernel later refuses the calls (ENOSYS, EOPNOTSUPP) or reports
// something impossible, it logs once and uses recvmsg/sendmsg loops for the rest of its life.
// Without SLUICE_DARWIN_BATCH_IO (App Store builds) only the loops are compiled.
//
// The interface mirrors platform/udp_socket.h, so the daemon and the C embedding API can drive
// either; the differences are stated at receive_batch and send_batch.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "platform/darwin/socket_x.h"
#include "platform/result.h"
#include "platform/socket_address.h"
#include "platform/unique_fd.h"
#include "tunnel/device.h"
#include "tunnel/packet_buffer.h"

namespace sluice::platform {

struct UdpBatchStats {
  uint64_t receive_calls = 0;        // recvmsg_x or recvmsg system calls by receive_batch
  uint64_t send_calls = 0;           // sendmsg_x or sendmsg system calls by send_batch
  uint64_t datagrams_received = 0;   // delivered to the caller
  uint64_t datagrams_sent = 0;       // handed to the kernel
  uint64_t truncated = 0;            // longer than the buffer: dropped, never delivered cut
  uint64_t sourceless = 0;           // arrived without a usable sender address: dropped
  uint64_t unreachable_skipped = 0;  // destinations the kernel would not send to (as UdpSocket)
  uint64_t fallbacks = 0;            // 1 once the socket gave up on recvmsg_x/sendmsg_x
};

class UdpBatchSocket {
 public:
  // Most datagrams one receive_batch/send_batch system call moves.
  static constexpr size_t kMaxBatch = 128;

  // Binds [::]:port (0 = the kernel picks one), nonblocking, with large kernel buffers, then
  // runs the batch-call self-test (a few milliseconds on loopback, at most about half a
  // second). A port already taken gives an Error with code == EADDRINUSE.
  static Result<std::unique_ptr<UdpBatchSocket>> open(uint16_t port);

  int fd() const { return fd_.get(); }
  uint16_t port() const { return port_; }
  int family() const { return family_; }  // AF_INET6, or AF_INET on a host without IPv6
  // True while datagrams move with recvmsg_x/sendmsg_x; false for good once it falls back.
  bool uses_batch_calls() const { return batch_calls_; }

  // Receives up to min(buffers.size(), sources.size(), kMaxBatch) datagrams and returns how
  // many it delivered, in buffers[0, n) with their senders in sources[0, n) (IPv4 senders as
  // plain IPv4). The buffers stay caller-owned; each is reset_for_outer() here and filled from
  // data() up to capacity(), with its size set. Unlike UdpSocket, a datagram longer than
  // capacity() is not returned at all (counted in truncated), nor is one without a usable
  // sender (sourceless); later datagrams move down to fill the gap, and buffers past n may
  // have been written. Returns 0 when nothing is ready, or -errno on a socket error.
  int receive_batch(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources);

  // Sends each datagram's buffer (data(), size()) to its destination. Buffers stay
  // caller-owned and untouched. Destinations the kernel will not route to are skipped past
  // and counted in unreachable_skipped, as in UdpSocket. Stops at EAGAIN/ENOBUFS. Returns how
  // many datagrams were handed to the kernel, never negative: the caller drops and counts
  // datagrams.size() - result.
  int send_batch(std::span<const OutboundDatagram> datagrams);

  uint64_t unreachable_skipped() const { return stats_.unreachable_skipped; }
  const UdpBatchStats& stats() const { return stats_; }

 private:
  UdpBatchSocket(UniqueFd fd, int family, uint16_t port, bool batch_calls)
      : fd_(std::move(fd)), family_(family), port_(port), batch_calls_(batch_calls) {}

  // Points iovecs_[slot] and addresses_[slot] at the buffer, reset for receiving.
  void prepare_receive(size_t slot, PacketBuffer* buffer);
  // Files slot `from`'s datagram (length bytes) as number `to` in the output, moving it down
  // if `to` < `from`. False if it is dropped (no usable source, or too long for buffers[to]).
  bool deliver(size_t from, size_t to, size_t length, std::span<PacketBuffer* const> buffers,
               std::span<Endpoint> sources);
  int receive_each(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources, size_t n);
  // Sends the prepared slots [0, count) one sendmsg at a time, starting at `next`. Returns how
  // many were sent; sets `stopped` if it stopped at EAGAIN or a socket error.
  int send_each(size_t next, size_t count, bool& stopped);
#if SLUICE_DARWIN_BATCH_IO
  int receive_x(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources, size_t n);
  int send_x(size_t count, bool& stopped);
#endif
  void fall_back(const char* why);

  UniqueFd fd_;
  int family_;
  uint16_t port_;
  bool batch_calls_;
  UdpBatchStats stats_;
  // Scratch space for one batch, kept here so the hot path does not allocate.
  std::array<iovec, kMaxBatch> iovecs_{};
  std::array<SocketAddress, kMaxBatch> addresses_{};
#if SLUICE_DARWIN_BATCH_IO
  std::array<msghdr_x, kMaxBatch> messages_{};
#endif
};

}  // namespace sluice::platform
