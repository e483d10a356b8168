// The outer UDP socket that carries WireGuard datagrams: one dual-stack AF_INET6 socket
// (IPV6_V6ONLY=0) serving IPv4 and IPv6 peers, batched with recvmmsg/sendmmsg. On a host
// without IPv6 it falls back to AF_INET, and IPv6 destinations are skipped as unreachable.
// UDP GSO/GRO are a later step: they change what one mmsghdr carries, not this interface.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "platform/result.h"
#include "platform/socket_address.h"
#include "platform/unique_fd.h"
#include "tunnel/device.h"
#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"

namespace sluice::platform {

class UdpSocket {
 public:
  // Most datagrams one receive_batch/send_batch system call moves.
  static constexpr size_t kMaxBatch = 128;

  // Binds [::]:port (0 = the kernel picks one), nonblocking, with large kernel buffers and,
  // if fwmark != 0, SO_MARK so the tunnel's own traffic can be routed around the tunnel.
  // A port already taken gives an Error with code == EADDRINUSE.
  static Result<std::unique_ptr<UdpSocket>> open(uint16_t port, uint32_t fwmark);

  int fd() const { return fd_.get(); }
  uint16_t port() const { return port_; }  // the bound port, also when open() was given 0
  int family() const { return family_; }   // AF_INET6, or AF_INET on a host without IPv6

  // Sets SO_MARK on outgoing packets; 0 clears it. False (logged) if the kernel refuses,
  // typically EPERM without CAP_NET_ADMIN.
  bool set_fwmark(uint32_t mark);

  // Receives up to min(buffers.size(), sources.size(), kMaxBatch) datagrams. The buffers stay
  // caller-owned; each used one is reset_for_outer() here and filled from data() up to
  // capacity(), with its size set and its sender in sources[i] (IPv4 senders as plain IPv4).
  // A datagram longer than capacity() is returned with size 0, so the caller drops it.
  // Returns the count (0 when nothing is ready) or -errno on a socket error.
  int receive_batch(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources);

  // Sends each datagram's buffer (data(), size()) to its destination. Buffers stay
  // caller-owned and untouched. Destinations the kernel will not route to (EHOSTUNREACH,
  // ENETUNREACH, EPERM from a firewall, EADDRNOTAVAIL, EINVAL/EAFNOSUPPORT for a family
  // mismatch, EMSGSIZE) are skipped past and counted in unreachable_skipped(). Stops at
  // EAGAIN/ENOBUFS. Returns how many datagrams were handed to the kernel, never negative:
  // the caller drops and counts datagrams.size() - result.
  int send_batch(std::span<const OutboundDatagram> datagrams);

  uint64_t unreachable_skipped() const { return unreachable_skipped_; }

 private:
  UdpSocket(UniqueFd fd, int family, uint16_t port)
      : fd_(std::move(fd)), family_(family), port_(port) {}
  // Sends messages_[0, count) and returns how many were sent; bool = stopped early (EAGAIN).
  std::pair<int, bool> send_prepared(int count);

  UniqueFd fd_;
  int family_;
  uint16_t port_;
  uint64_t unreachable_skipped_ = 0;
  // Scratch space for one system call, kept here so the hot path does not allocate.
  std::array<mmsghdr, kMaxBatch> messages_{};
  std::array<iovec, kMaxBatch> iovecs_{};
  std::array<SocketAddress, kMaxBatch> addresses_{};
};

}  // namespace sluice::platform
