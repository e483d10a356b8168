#include "platform/udp_socket.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "platform/clock.h"
#include "platform/udp_socket_setup.h"

namespace sluice::platform {

namespace {

// ENOBUFS means a queue below the socket was full; POLLOUT would not wait for it, so pause.
constexpr int64_t kNoBufsPauseNs = 200'000;
// Each wait is charged at least this much of the budget, so a poll that keeps returning at
// once cannot turn the wait into thousands of system calls: at most 100 waits per call.
constexpr int64_t kMinWaitChargeNs = UdpSocket::kSendWaitBudgetNs / 100;

// Errors that concern one destination, not the socket: skip that datagram and go on.
bool is_unreachable(int err) {
  switch (err) {
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EPERM:
    case EACCES:
    case EADDRNOTAVAIL:
    case EINVAL:
    case EAFNOSUPPORT:
    case EMSGSIZE:
    case ECONNREFUSED:
    case EHOSTDOWN:
    case ENETDOWN:
      return true;
    default:
      return false;
  }
}

// What a kernel or device says when it will not segment: EIO from udp_send_skb (no checksum
// offload on older kernels, or an IPsec route), ENOPROTOOPT/EOPNOTSUPP where UDP_SEGMENT is
// unknown. EINVAL is ambiguous (also a bad destination), so it is confirmed before acting.
bool refuses_segmentation(int err) { return err == EIO || err == ENOPROTOOPT || err == EOPNOTSUPP; }

bool is_full(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

UniqueFd open_socket(int& family) {
  family = AF_INET6;
  UniqueFd fd(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid() && errno == EAFNOSUPPORT) {
    family = AF_INET;
    fd.reset(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  }
  return fd;
}

SocketAddress any_address(int family, uint16_t port) {
  SocketAddress local;
  if (family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&local.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = in6addr_any;
    sin6->sin6_port = htons(port);
    local.length = sizeof(sockaddr_in6);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&local.storage);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    sin->sin_port = htons(port);
    local.length = sizeof(sockaddr_in);
  }
  return local;
}

}  // namespace

Result<std::unique_ptr<UdpSocket>> UdpSocket::open(uint16_t port, uint32_t fwmark,
                                                   UdpSocketOptions options) {
  int family = 0;
  UniqueFd fd = open_socket(family);
  if (!fd.valid()) return Error::from_errno("udp socket", errno);
  if (family == AF_INET) spdlog::info("udp: no IPv6 on this host; IPv4 peers only");

  if (family == AF_INET6) {
    const int off = 0;
    if (setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) {
      return Error::from_errno("udp: clearing IPV6_V6ONLY", errno);
    }
  }
  const SocketBufferSizes buffers = raise_socket_buffers(fd.get());
  if (fwmark != 0 && setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &fwmark, sizeof fwmark) != 0) {
    return Error::from_errno("udp: setting fwmark", errno);
  }
  const bool dont_fragment = set_dont_fragment(fd.get(), family);
  if (!dont_fragment) spdlog::info("udp: the kernel did not confirm don't-fragment");

  const SocketAddress local = any_address(family, port);
  if (bind(fd.get(), local.get(), local.length) != 0) {
    return Error::from_errno("udp: binding port " + std::to_string(port), errno);
  }
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (getsockname(fd.get(), bound.get(), &bound.length) != 0) {
    return Error::from_errno("udp: getsockname", errno);
  }
  const std::optional<Endpoint> endpoint = to_endpoint(bound.get(), bound.length);
  const uint16_t bound_port = endpoint ? endpoint->port : port;

  const bool gso = options.gso && probe_udp_segment(fd.get());
  const bool gro = options.gro && enable_udp_gro(fd.get());
  std::unique_ptr<UdpSocket> socket(new UdpSocket(std::move(fd), family, bound_port));
  socket->gso_ = gso;
  socket->dont_fragment_ = dont_fragment;
  socket->receive_buffer_bytes_ = buffers.receive_bytes;
  socket->send_buffer_bytes_ = buffers.send_bytes;
  if (gro) socket->gro_ = std::make_unique<GroReceiveQueue>(options.gro_reads);
  spdlog::debug(
      "udp: listening on port {} ({}); gso {}, gro {}, don't-fragment {}, rcvbuf {}, sndbuf {}",
      bound_port, family == AF_INET6 ? "v4+v6" : "v4", gso ? "on" : "off", gro ? "on" : "off",
      dont_fragment ? "on" : "off", buffers.receive_bytes, buffers.send_bytes);
  return socket;
}

size_t UdpSocket::scratch_bytes() const {
  return sizeof(UdpSocket) + UdpSendBatch::kAllocatedBytes + (gro_ ? gro_->allocated_bytes() : 0);
}

bool UdpSocket::set_fwmark(uint32_t mark) {
  if (setsockopt(fd_.get(), SOL_SOCKET, SO_MARK, &mark, sizeof mark) != 0) {
    spdlog::error("udp: setting fwmark {:#x}: {}", mark, std::strerror(errno));
    return false;
  }
  return true;
}

int UdpSocket::receive_batch(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources) {
  const size_t n = std::min({buffers.size(), sources.size(), kMaxBatch});
  if (n == 0) return 0;
  return gro_ ? receive_coalesced(buffers, sources, n) : receive_direct(buffers, sources, n);
}

namespace {

// recvmmsg's errno as receive_batch's result.
int receive_result(int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) return 0;
  // A queued ICMP error surfaces once and is gone; it says nothing about the socket.
  if (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH) return 0;
  return -err;
}

}  // namespace

int UdpSocket::receive_direct(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources,
                              size_t n) {
  for (size_t i = 0; i < n; ++i) {
    PacketBuffer* b = buffers[i];
    b->reset_for_outer();
    iovecs_[i] = iovec{b->data(), b->capacity()};
    messages_[i] = mmsghdr{};
    messages_[i].msg_hdr.msg_name = &addresses_[i].storage;
    messages_[i].msg_hdr.msg_namelen = sizeof addresses_[i].storage;
    messages_[i].msg_hdr.msg_iov = &iovecs_[i];
    messages_[i].msg_hdr.msg_iovlen = 1;
  }
  int got;
  do {
    ++stats_.receive_syscalls;
    got = recvmmsg(fd_.get(), messages_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return receive_result(errno);
  for (int i = 0; i < got; ++i) {
    const msghdr& h = messages_[i].msg_hdr;
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      spdlog::debug("udp: dropping a datagram longer than {} bytes", buffers[i]->capacity());
      buffers[i]->set_size(0);
    } else {
      buffers[i]->set_size(messages_[i].msg_len);
    }
    const std::optional<Endpoint> source =
        to_endpoint(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
    sources[i] = source.value_or(Endpoint{});
  }
  stats_.datagrams_received += static_cast<uint64_t>(got);
  return got;
}

int UdpSocket::receive_coalesced(std::span<PacketBuffer* const> buffers,
                                 std::span<Endpoint> sources, size_t n) {
  size_t got = gro_->take(buffers.first(n), sources.first(n));
  // Buffers full, or datagrams still queued: no system call this time.
  if (got == n || !gro_->empty()) {
    stats_.datagrams_received += got;
    return static_cast<int>(got);
  }
  // Each read holds at least one datagram, so asking for more reads than free buffers would
  // only queue more.
  ++stats_.receive_syscalls;
  const int reads = gro_->receive(fd_.get(), n - got, stats_.gro_reads, stats_.gro_segments);
  if (reads > 0) got += gro_->take(buffers.subspan(got, n - got), sources.subspan(got, n - got));
  stats_.datagrams_received += got;
  if (reads < 0 && got == 0) return receive_result(-reads);
  return static_cast<int>(got);
}

int UdpSocket::send_batch(std::span<const OutboundDatagram> datagrams) {
  int sent = 0;
  size_t plain_until = 0;
  int64_t wait_budget_ns = kSendWaitBudgetNs;
  gso_probe_ = kNoProbe;
  send_.start();
  size_t from = 0;
  while (from < datagrams.size()) {
    const size_t count =
        send_.prepare(datagrams, from, family_, gso_, plain_until, stats_.unreachable_skipped);
    if (count == 0) break;  // the rest had no address this socket can reach
    const SendProgress progress = send_prepared(count, sent, plain_until, wait_budget_ns);
    if (progress.stop) break;
    from = progress.resume;
  }
  gso_probe_ = kNoProbe;
  return sent;
}

UdpSocket::SendProgress UdpSocket::send_prepared(size_t message_count, int& sent,
                                                 size_t& plain_until, int64_t& wait_budget_ns) {
  size_t next = 0;
  while (next < message_count) {
    const int r = send_messages(next, message_count);
    if (r > 0) {
      account_sent(next, static_cast<size_t>(r), sent);
      next += static_cast<size_t>(r);
      continue;
    }
    const int err = r < 0 ? errno : EAGAIN;
    if (err == EINTR) continue;
    const UdpSendBatch::Span& message = send_.span(next);
    if (message.segmented &&
        (refuses_segmentation(err) || err == EINVAL || err == EMSGSIZE)) {
      // Resend the run one datagram per message, so each gets its own verdict and nothing
      // is lost to the refusal.
      on_gso_error(err, message);
      ++stats_.gso_fallbacks;
      plain_until = message.first + message.count;
      return {message.first, false};
    }
    if (is_unreachable(err)) {
      // sendmmsg stops at the failing message; this retry-from-next call names it.
      stats_.unreachable_skipped += message.count;
      spdlog::trace("udp: skipping {} datagram(s): {}", message.count, std::strerror(err));
      ++next;
      continue;
    }
    if (is_full(err)) {
      if (wait_for_room(err, wait_budget_ns)) continue;
      return {message.first, true};
    }
    spdlog::error("udp: sendmmsg: {}", std::strerror(err));
    return {message.first, true};
  }
  return {send_.end(), false};
}

int UdpSocket::send_messages(size_t first, size_t count) {
  size_t n = count - first;
  if (injected_gso_error_ != 0) {
    for (size_t m = first; m < count; ++m) {
      if (!send_.span(m).segmented) continue;
      if (m == first) {
        errno = std::exchange(injected_gso_error_, 0);
        return -1;
      }
      n = m - first;  // the kernel would send the messages before the refused one
      break;
    }
  }
  ++stats_.send_syscalls;
  return sendmmsg(fd_.get(), send_.messages() + first, static_cast<unsigned>(n), 0);
}

void UdpSocket::account_sent(size_t first, size_t n, int& sent) {
  for (size_t m = first; m < first + n; ++m) {
    const UdpSendBatch::Span& message = send_.span(m);
    sent += static_cast<int>(message.count);
    stats_.datagrams_sent += message.count;
    if (message.segmented) {
      ++stats_.gso_messages;
      stats_.gso_segments += message.count;
    } else if (message.first == gso_probe_) {
      // The datagram whose GSO run got EINVAL went through alone: the destination is fine,
      // so the kernel refused the segmentation.
      gso_probe_ = kNoProbe;
      disable_gso(EINVAL);
    }
  }
}

void UdpSocket::on_gso_error(int error, const UdpSendBatch::Span& run) {
  if (refuses_segmentation(error)) {
    disable_gso(error);
  } else if (error == EINVAL) {
    gso_probe_ = run.first;
  }
  // EMSGSIZE: a segment over the path MTU; the datagrams alone will say which.
}

void UdpSocket::disable_gso(int error) {
  if (!gso_) return;
  gso_ = false;
  spdlog::info("udp: port {}: the kernel refused a UDP GSO send ({}); sending without GSO",
               port_, std::strerror(error));
}

bool UdpSocket::wait_for_room(int error, int64_t& wait_budget_ns) {
  if (wait_budget_ns <= 0) return false;
  const int64_t slice =
      error == ENOBUFS ? std::min(wait_budget_ns, kNoBufsPauseNs) : wait_budget_ns;
  const timespec timeout{static_cast<time_t>(slice / 1'000'000'000),
                         static_cast<long>(slice % 1'000'000'000)};
  pollfd p{fd_.get(), POLLOUT, 0};
  const int64_t start = monotonic_ns();
  ++stats_.send_waits;
  ++stats_.send_syscalls;
  ppoll(error == ENOBUFS ? nullptr : &p, error == ENOBUFS ? 0 : 1, &timeout, nullptr);
  wait_budget_ns -= std::max(monotonic_ns() - start, kMinWaitChargeNs);
  return true;
}

}  // namespace sluice::platform
