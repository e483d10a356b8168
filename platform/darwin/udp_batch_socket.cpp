// See udp_batch_socket.h. The x-call and per-datagram paths share the scratch arrays, the
// delivery rules (deliver) and the error rules (is_unreachable), so both give the same results;
// only the number of system calls differs.
#include "platform/darwin/udp_batch_socket.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "platform/darwin/udp_binding.h"
#include "platform/darwin/x_call_self_test.h"

namespace sluice::platform {

namespace {

// Large enough to absorb a burst of full batches. Darwin caps a socket's buffers with
// kern.ipc.maxsockbuf (8 MB by default, shared by both directions), so smaller sizes are
// tried until one is accepted.
constexpr int kSocketBufferBytes[] = {7 << 20, 4 << 20, 2 << 20, 1 << 20};

void raise_buffer(int fd, int option, const char* what) {
  for (const int size : kSocketBufferBytes) {
    if (setsockopt(fd, SOL_SOCKET, option, &size, sizeof size) == 0) return;
  }
  spdlog::debug("udp: raising {}: {}", what, std::strerror(errno));
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

// A queued ICMP error surfaces once on receive and is gone; it says nothing about the socket.
bool is_stale_icmp_error(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH;
}

bool is_would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS; }

// The kernel does not offer the batch calls (any more): not an error of this batch.
[[maybe_unused]] bool refuses_batch_calls(int err) {
  return err == ENOSYS || err == EOPNOTSUPP || err == ENOTSUP;
}

}  // namespace

Result<std::unique_ptr<UdpBatchSocket>> UdpBatchSocket::open(uint16_t port) {
  Result<UdpBinding> binding = open_udp(port, UdpScope::any);
  if (!binding) return binding.error();
  raise_buffer(binding->fd.get(), SO_RCVBUF, "SO_RCVBUF");
  raise_buffer(binding->fd.get(), SO_SNDBUF, "SO_SNDBUF");

  bool batch_calls = false;
  uint64_t fallbacks = 0;
#if SLUICE_DARWIN_BATCH_IO
  const XCallSelfTest self_test = run_x_call_self_test();
  if (self_test.passed) {
    batch_calls = true;
  } else {
    spdlog::warn("udp: recvmsg_x/sendmsg_x self-test failed ({}); using recvmsg/sendmsg",
                 self_test.failure);
    fallbacks = 1;
  }
#endif
  spdlog::debug("udp: listening on port {} ({}, {})", binding->port,
                binding->family == AF_INET6 ? "v4+v6" : "v4",
                batch_calls ? "recvmsg_x/sendmsg_x" : "recvmsg/sendmsg");
  std::unique_ptr<UdpBatchSocket> socket(
      new UdpBatchSocket(std::move(binding->fd), binding->family, binding->port, batch_calls));
  socket->stats_.fallbacks = fallbacks;
  return socket;
}

void UdpBatchSocket::fall_back(const char* why) {
  if (!batch_calls_) return;
  batch_calls_ = false;
  ++stats_.fallbacks;
  spdlog::warn("udp: {}; using recvmsg/sendmsg from now on", why);
}

void UdpBatchSocket::prepare_receive(size_t slot, PacketBuffer* buffer) {
  buffer->reset_for_outer();
  iovecs_[slot] = iovec{buffer->data(), buffer->capacity()};
  addresses_[slot].length = sizeof addresses_[slot].storage;
}

bool UdpBatchSocket::deliver(size_t from, size_t to, size_t length,
                             std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources) {
  const SocketAddress& address = addresses_[from];
  std::optional<Endpoint> source;
  if (address.length <= sizeof address.storage) source = to_endpoint(address.get(), address.length);
  if (!source) {
    ++stats_.sourceless;
    spdlog::trace("udp: dropping a datagram without a usable source address");
    return false;
  }
  PacketBuffer* target = buffers[to];
  if (to != from) {
    // buffers[to]'s own datagram was dropped; the caller's buffers may differ in capacity.
    if (length > target->capacity()) {
      ++stats_.truncated;
      return false;
    }
    std::memmove(target->data(), buffers[from]->data(), length);
  }
  target->set_size(length);
  sources[to] = *source;
  return true;
}

int UdpBatchSocket::receive_batch(std::span<PacketBuffer* const> buffers,
                                  std::span<Endpoint> sources) {
  const size_t n = std::min({buffers.size(), sources.size(), kMaxBatch});
  if (n == 0) return 0;
#if SLUICE_DARWIN_BATCH_IO
  if (batch_calls_) {
    const int got = receive_x(buffers, sources, n);
    // A refusal switched us to the fallback before anything was received: go on with it.
    if (batch_calls_ || got != 0) return got;
  }
#endif
  return receive_each(buffers, sources, n);
}

int UdpBatchSocket::receive_each(std::span<PacketBuffer* const> buffers,
                                 std::span<Endpoint> sources, size_t n) {
  size_t delivered = 0;
  // At most n system calls, so a stream of dropped datagrams cannot hold the loop.
  for (size_t attempt = 0; attempt < n; ++attempt) {
    prepare_receive(delivered, buffers[delivered]);
    msghdr h{};
    h.msg_name = &addresses_[delivered].storage;
    h.msg_namelen = addresses_[delivered].length;
    h.msg_iov = &iovecs_[delivered];
    h.msg_iovlen = 1;
    ssize_t r;
    do {
      r = recvmsg(fd_.get(), &h, MSG_DONTWAIT);
      ++stats_.receive_calls;
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (is_stale_icmp_error(err)) continue;
      if (delivered > 0) break;  // the error, if it persists, comes back on the next call
      return -err;
    }
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      ++stats_.truncated;
      spdlog::trace("udp: dropping a datagram longer than {} bytes", iovecs_[delivered].iov_len);
      continue;
    }
    addresses_[delivered].length = h.msg_namelen;
    if (deliver(delivered, delivered, static_cast<size_t>(r), buffers, sources)) ++delivered;
  }
  stats_.datagrams_received += delivered;
  return static_cast<int>(delivered);
}

int UdpBatchSocket::send_batch(std::span<const OutboundDatagram> datagrams) {
  int total = 0;
  size_t i = 0;
  while (i < datagrams.size()) {
    size_t prepared = 0;
    for (; i < datagrams.size() && prepared < kMaxBatch; ++i) {
      const OutboundDatagram& d = datagrams[i];
      const std::optional<SocketAddress> destination = to_socket_address(d.destination, family_);
      if (!destination) {
        ++stats_.unreachable_skipped;  // IPv6 peer on an IPv4-only host
        continue;
      }
      addresses_[prepared] = *destination;
      iovecs_[prepared] = iovec{d.buffer->data(), d.buffer->size()};
      ++prepared;
    }
    bool stopped = false;
#if SLUICE_DARWIN_BATCH_IO
    total += batch_calls_ ? send_x(prepared, stopped) : send_each(0, prepared, stopped);
#else
    total += send_each(0, prepared, stopped);
#endif
    if (stopped) break;
  }
  stats_.datagrams_sent += static_cast<uint64_t>(total);
  return total;
}

int UdpBatchSocket::send_each(size_t next, size_t count, bool& stopped) {
  int sent = 0;
  for (size_t i = next; i < count; ++i) {
    msghdr h{};
    h.msg_name = &addresses_[i].storage;
    h.msg_namelen = addresses_[i].length;
    h.msg_iov = &iovecs_[i];
    h.msg_iovlen = 1;
    ssize_t r;
    do {
      r = sendmsg(fd_.get(), &h, MSG_DONTWAIT);
      ++stats_.send_calls;
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
      ++sent;
      continue;
    }
    const int err = errno;
    if (is_unreachable(err)) {
      ++stats_.unreachable_skipped;
      spdlog::trace("udp: skipping datagram: {}", std::strerror(err));
      continue;
    }
    if (!is_would_block(err)) spdlog::error("udp: sendmsg: {}", std::strerror(err));
    stopped = true;
    break;
  }
  return sent;
}

#if SLUICE_DARWIN_BATCH_IO

int UdpBatchSocket::receive_x(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources,
                              size_t n) {
  for (size_t i = 0; i < n; ++i) {
    prepare_receive(i, buffers[i]);
    msghdr_x& m = messages_[i];
    m = msghdr_x{};  // XNU wants msg_flags zero on input
    m.msg_name = &addresses_[i].storage;
    m.msg_namelen = addresses_[i].length;
    m.msg_iov = &iovecs_[i];
    m.msg_iovlen = 1;
  }
  ssize_t got;
  do {
    got = recvmsg_x(fd_.get(), messages_.data(), static_cast<u_int>(n), MSG_DONTWAIT);
    ++stats_.receive_calls;
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || is_stale_icmp_error(err)) return 0;
    if (refuses_batch_calls(err)) {
      fall_back(err == ENOSYS ? "recvmsg_x: ENOSYS" : "recvmsg_x: not supported on this socket");
      return 0;
    }
    // Any other error is asked again of plain recvmsg: if that reads (or finds nothing), the
    // batch call is what failed, and returning its error would leave a readable socket unread
    // (the worker polling it would spin); if recvmsg fails too, the socket is the problem.
    const int plain = receive_each(buffers, sources, n);
    if (plain >= 0) {
      spdlog::warn("udp: recvmsg_x: {}", std::strerror(err));
      fall_back("recvmsg_x failed where recvmsg did not");
    }
    return plain;
  }
  if (static_cast<size_t>(got) > n) {
    // We cannot tell which slots hold real datagrams; deliver none.
    fall_back("recvmsg_x returned more datagrams than it was asked for");
    return 0;
  }
  size_t delivered = 0;
  bool impossible_length = false;
  for (size_t i = 0; i < static_cast<size_t>(got); ++i) {
    const msghdr_x& m = messages_[i];
    if ((m.msg_flags & MSG_TRUNC) != 0) {
      ++stats_.truncated;
      spdlog::trace("udp: dropping a datagram longer than {} bytes", iovecs_[i].iov_len);
      continue;
    }
    if (m.msg_datalen > iovecs_[i].iov_len) {
      impossible_length = true;
      continue;
    }
    addresses_[i].length = m.msg_namelen;
    if (deliver(i, delivered, m.msg_datalen, buffers, sources)) ++delivered;
  }
  if (impossible_length) fall_back("recvmsg_x reported a datagram longer than its buffer");
  stats_.datagrams_received += delivered;
  return static_cast<int>(delivered);
}

int UdpBatchSocket::send_x(size_t count, bool& stopped) {
  for (size_t i = 0; i < count; ++i) {
    msghdr_x& m = messages_[i];
    m = msghdr_x{};  // XNU wants msg_flags and msg_datalen zero on input
    m.msg_name = &addresses_[i].storage;
    m.msg_namelen = addresses_[i].length;
    m.msg_iov = &iovecs_[i];
    m.msg_iovlen = 1;
  }
  int sent = 0;
  size_t next = 0;
  size_t limit = count;
  while (next < count) {
    if (!batch_calls_) return sent + send_each(next, count, stopped);
    const size_t want = std::min(limit, count - next);
    const ssize_t r = sendmsg_x(fd_.get(), &messages_[next], static_cast<u_int>(want), MSG_DONTWAIT);
    ++stats_.send_calls;
    if (r > 0) {
      if (static_cast<size_t>(r) > want) {
        // Whatever it did with this batch, it is not what the contract says; count the batch
        // as sent (resending could duplicate it) and stop trusting the call.
        fall_back("sendmsg_x claimed more datagrams than it was given");
        sent += static_cast<int>(want);
        next += want;
        continue;
      }
      sent += static_cast<int>(r);
      next += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) {  // took nothing and said nothing: treat as a full socket
      stopped = true;
      return sent;
    }
    const int err = errno;
    if (err == EINTR) continue;
    // XNU refuses a whole batch whose bytes exceed the send high-water mark with EMSGSIZE;
    // only a single datagram's EMSGSIZE is about that datagram.
    if (err == EMSGSIZE && want > 1) {
      limit = want / 2;
      continue;
    }
    if (is_unreachable(err)) {
      // As with sendmmsg, a failure with nothing sent names the first datagram of the call.
      ++stats_.unreachable_skipped;
      spdlog::trace("udp: skipping datagram: {}", std::strerror(err));
      ++next;
      continue;
    }
    if (refuses_batch_calls(err)) {
      fall_back(err == ENOSYS ? "sendmsg_x: ENOSYS" : "sendmsg_x: not supported on this socket");
      continue;
    }
    if (!is_would_block(err)) spdlog::error("udp: sendmsg_x: {}", std::strerror(err));
    stopped = true;
    return sent;
  }
  return sent;
}

#endif  // SLUICE_DARWIN_BATCH_IO

}  // namespace sluice::platform
