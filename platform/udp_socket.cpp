#include "platform/udp_socket.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::platform {

namespace {

// As wireguard-go: large enough to absorb a burst of 128-datagram batches at line rate.
constexpr int kSocketBufferBytes = 7 << 20;

// SO_*BUFFORCE passes net.core.{r,w}mem_max when we have CAP_NET_ADMIN; otherwise the plain
// option still gets us up to that limit.
void raise_buffer(int fd, int force_option, int option, const char* what) {
  const int size = kSocketBufferBytes;
  if (setsockopt(fd, SOL_SOCKET, force_option, &size, sizeof size) == 0) return;
  if (setsockopt(fd, SOL_SOCKET, option, &size, sizeof size) != 0) {
    spdlog::debug("udp: raising {}: {}", what, std::strerror(errno));
  }
}

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

UniqueFd open_socket(int& family) {
  family = AF_INET6;
  UniqueFd fd(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid() && errno == EAFNOSUPPORT) {
    family = AF_INET;
    fd.reset(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<UdpSocket>> UdpSocket::open(uint16_t port, uint32_t fwmark) {
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
  raise_buffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, "SO_RCVBUF");
  raise_buffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, "SO_SNDBUF");
  if (fwmark != 0 && setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &fwmark, sizeof fwmark) != 0) {
    return Error::from_errno("udp: setting fwmark", errno);
  }

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
  spdlog::debug("udp: listening on port {} ({})", bound_port, family == AF_INET6 ? "v4+v6" : "v4");
  return std::unique_ptr<UdpSocket>(new UdpSocket(std::move(fd), family, bound_port));
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
    got = recvmmsg(fd_.get(), messages_.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return 0;
    // A queued ICMP error surfaces once and is gone; it says nothing about the socket.
    if (err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH) return 0;
    return -err;
  }
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
  return got;
}

std::pair<int, bool> UdpSocket::send_prepared(int count) {
  int sent = 0;
  int next = 0;
  while (next < count) {
    const int r = sendmmsg(fd_.get(), &messages_[next], static_cast<unsigned>(count - next), 0);
    if (r > 0) {
      sent += r;
      next += r;
      continue;
    }
    if (r == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (is_unreachable(err)) {
      // sendmmsg stops at the failing message; this retry-from-next call names it.
      ++unreachable_skipped_;
      spdlog::trace("udp: skipping datagram: {}", std::strerror(err));
      ++next;
      continue;
    }
    if (err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS) {
      spdlog::error("udp: sendmmsg: {}", std::strerror(err));
    }
    return {sent, true};
  }
  return {sent, next < count};
}

int UdpSocket::send_batch(std::span<const OutboundDatagram> datagrams) {
  int total = 0;
  size_t i = 0;
  while (i < datagrams.size()) {
    int prepared = 0;
    for (; i < datagrams.size() && prepared < static_cast<int>(kMaxBatch); ++i) {
      const OutboundDatagram& d = datagrams[i];
      std::optional<SocketAddress> dest = to_socket_address(d.destination, family_);
      if (!dest) {
        ++unreachable_skipped_;  // IPv6 peer on an IPv4-only host
        continue;
      }
      addresses_[prepared] = *dest;
      iovecs_[prepared] = iovec{d.buffer->data(), d.buffer->size()};
      mmsghdr& m = messages_[prepared];
      m = mmsghdr{};
      m.msg_hdr.msg_name = &addresses_[prepared].storage;
      m.msg_hdr.msg_namelen = addresses_[prepared].length;
      m.msg_hdr.msg_iov = &iovecs_[prepared];
      m.msg_hdr.msg_iovlen = 1;
      ++prepared;
    }
    const auto [sent, stopped] = send_prepared(prepared);
    total += sent;
    if (stopped) break;
  }
  return total;
}

}  // namespace sluice::platform
