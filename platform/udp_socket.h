// The outer UDP socket that carries WireGuard datagrams: one dual-stack AF_INET6 socket
// (IPV6_V6ONLY=0) serving IPv4 and IPv6 peers, batched with recvmmsg/sendmmsg. On a host
// without IPv6 it falls back to AF_INET, and IPv6 destinations are skipped as unreachable.
// Where the kernel offers them it uses UDP GSO (several datagrams per sent message) and UDP
// GRO (several per received read); both are invisible to callers, who still deal in one
// datagram per PacketBuffer. Datagrams are never fragmented by us (don't-fragment is set).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "platform/result.h"
#include "platform/socket_address.h"
#include "platform/udp_gro_queue.h"
#include "platform/udp_send_batch.h"
#include "platform/unique_fd.h"
#include "tunnel/device.h"
#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"

namespace sluice::platform {

struct UdpSocketOptions {
  bool gso = true;  // use UDP_SEGMENT when the kernel has it
  bool gro = true;  // use UDP_GRO when the kernel has it
  // With GRO, reads per recvmmsg (1..kMaxBatch), each into its own 64 KiB scratch slot: the
  // socket reserves gro_reads * 64 KiB (8 MiB by default). Fewer saves memory; a read still
  // carries up to 64 coalesced datagrams, but uncoalesced ones then take more system calls.
  size_t gro_reads = 128;
};

// Every system call of the data path is counted, so syscalls per datagram can be reported.
struct UdpSocketStats {
  uint64_t send_syscalls = 0;        // sendmmsg calls, plus poll() calls waiting for room
  uint64_t receive_syscalls = 0;     // recvmmsg calls
  uint64_t datagrams_sent = 0;       // handed to the kernel, each GSO segment counted
  uint64_t datagrams_received = 0;   // handed to the caller (truncated ones too, with size 0)
  uint64_t gso_messages = 0;         // messages sent with UDP_SEGMENT
  uint64_t gso_segments = 0;         // datagrams in those messages
  uint64_t gro_reads = 0;            // reads that arrived coalesced (with a UDP_GRO cmsg)
  uint64_t gro_segments = 0;         // datagrams split out of them
  uint64_t gso_fallbacks = 0;        // GSO messages refused and resent one datagram each
  uint64_t unreachable_skipped = 0;  // datagrams skipped for their destination or size
  uint64_t send_waits = 0;           // waits for room after EAGAIN/ENOBUFS
};

class UdpSocket {
 public:
  // Most datagrams one receive_batch call returns; send_batch puts up to this many messages
  // (each one datagram, or a GSO run of up to 64) into one sendmmsg.
  static constexpr size_t kMaxBatch = 128;
  // Longest a send_batch call waits in total for a full send buffer to drain before it gives up.
  static constexpr int64_t kSendWaitBudgetNs = 5'000'000;

  // Binds [::]:port (0 = the kernel picks one), nonblocking, with large kernel buffers,
  // don't-fragment, and, if fwmark != 0, SO_MARK so the tunnel's own traffic can be routed
  // around the tunnel. GSO and GRO are used if `options` allows and the kernel supports them.
  // A port already taken gives an Error with code == EADDRINUSE.
  static Result<std::unique_ptr<UdpSocket>> open(uint16_t port, uint32_t fwmark,
                                                 UdpSocketOptions options = {});

  int fd() const { return fd_.get(); }
  uint16_t port() const { return port_; }  // the bound port, also when open() was given 0
  int family() const { return family_; }   // AF_INET6, or AF_INET on a host without IPv6
  // Whether each offload is in use now; GSO turns itself off after a refused send.
  bool gso_enabled() const { return gso_; }
  bool gro_enabled() const { return gro_ != nullptr; }
  // True when the kernel confirmed don't-fragment for every family this socket sends.
  bool dont_fragment() const { return dont_fragment_; }
  // Kernel buffer sizes as getsockopt(SO_RCVBUF/SO_SNDBUF) reported them after open().
  int receive_buffer_bytes() const { return receive_buffer_bytes_; }
  int send_buffer_bytes() const { return send_buffer_bytes_; }
  const UdpSocketStats& stats() const { return stats_; }
  // Memory open() allocated besides the caller's buffers: this object, the send scratch (about
  // 150 KiB) and, with GRO, the receive scratch (gro_reads * 64 KiB of address space).
  size_t scratch_bytes() const;

  // Sets SO_MARK on outgoing packets; 0 clears it. False (logged) if the kernel refuses,
  // typically EPERM without CAP_NET_ADMIN.
  bool set_fwmark(uint32_t mark);

  // Receives up to min(buffers.size(), sources.size(), kMaxBatch) datagrams. The buffers stay
  // caller-owned; each used one is reset_for_outer() here and filled from data() up to
  // capacity(), with its size set and its sender in sources[i] (IPv4 senders as plain IPv4).
  // A datagram longer than capacity() is returned with size 0, so the caller drops it.
  // With GRO, datagrams left over from an earlier coalesced read are returned first.
  // Returns the count (0 when nothing is ready) or -errno on a socket error.
  int receive_batch(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources);

  // True when datagrams already read from the kernel wait inside this socket (GRO delivered
  // more than the last receive_batch had buffers for). The fd may not be readable then, so an
  // event loop must call receive_batch again without waiting for it.
  bool has_pending() const { return gro_ != nullptr && !gro_->empty(); }

  // Sends each datagram's buffer (data(), size()) to its destination, in order. Buffers stay
  // caller-owned and untouched; the kernel has copied them when this returns. Destinations the
  // kernel will not route to (EHOSTUNREACH, ENETUNREACH, EPERM from a firewall,
  // EADDRNOTAVAIL, EINVAL/EAFNOSUPPORT for a family mismatch) and datagrams over the path MTU
  // (EMSGSIZE) are skipped past and counted in unreachable_skipped. When the send buffer is
  // full (EAGAIN/ENOBUFS) it waits for room, at most kSendWaitBudgetNs in all, then stops.
  // Returns how many datagrams were handed to the kernel, never negative: the caller drops and
  // counts datagrams.size() - result.
  int send_batch(std::span<const OutboundDatagram> datagrams);

  uint64_t unreachable_skipped() const { return stats_.unreachable_skipped; }

  // Test hook: the next send that includes a GSO message fails on it with `error`, as a kernel
  // or device refusing segmentation would (the messages before it are really sent).
  void fail_next_gso_send_for_test(int error) { injected_gso_error_ = error; }

 private:
  UdpSocket(UniqueFd fd, int family, uint16_t port) : fd_(std::move(fd)), family_(family), port_(port) {}

  // Where sending the prepared messages left off: the datagram to prepare from next, and
  // whether to stop there (send buffer still full after waiting, or a socket error).
  struct SendProgress {
    size_t resume = 0;
    bool stop = false;
  };
  SendProgress send_prepared(size_t message_count, int& sent, size_t& plain_until,
                             int64_t& wait_budget_ns);
  // sendmmsg of messages [first, count), or the injected failure; counted as a system call.
  int send_messages(size_t first, size_t count);
  // Counts messages [first, first + n) as sent.
  void account_sent(size_t first, size_t n, int& sent);
  // A GSO message failed with `error`: decides whether GSO itself was refused.
  void on_gso_error(int error, const UdpSendBatch::Span& run);
  void disable_gso(int error);
  // Waits for POLLOUT (or briefly, for ENOBUFS) within the budget; false when it is spent.
  bool wait_for_room(int error, int64_t& wait_budget_ns);
  int receive_direct(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources,
                     size_t n);
  int receive_coalesced(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources,
                        size_t n);

  UniqueFd fd_;
  int family_;
  uint16_t port_;
  bool gso_ = false;
  bool dont_fragment_ = false;
  int receive_buffer_bytes_ = 0;
  int send_buffer_bytes_ = 0;
  int injected_gso_error_ = 0;
  // After an EINVAL on a GSO run, the run's first datagram is resent alone: if that succeeds,
  // the destination was fine and the kernel refused the segmentation itself.
  static constexpr size_t kNoProbe = SIZE_MAX;
  size_t gso_probe_ = kNoProbe;
  UdpSocketStats stats_;
  // Scratch space, allocated at open() so the hot path does not allocate.
  UdpSendBatch send_;
  std::unique_ptr<GroReceiveQueue> gro_;  // null without GRO
  std::array<mmsghdr, kMaxBatch> messages_{};
  std::array<iovec, kMaxBatch> iovecs_{};
  std::array<SocketAddress, kMaxBatch> addresses_{};
};

}  // namespace sluice::platform
