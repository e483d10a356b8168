// See x_call_self_test.h. Each check names what it found, so the single warning a failed
// self-test logs says which part of the private contract changed.
#include "platform/darwin/x_call_self_test.h"

#if SLUICE_DARWIN_BATCH_IO

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "platform/darwin/udp_binding.h"
#include "platform/socket_address.h"

namespace sluice::platform {

namespace {

constexpr auto kDeliveryTimeout = std::chrono::milliseconds(500);
constexpr size_t kWholeLength = 40;   // fits its receive buffer
constexpr size_t kCutLength = 96;     // does not fit kCutBufferLength
constexpr size_t kCutBufferLength = 64;
constexpr size_t kSlots = 3;          // one more than sent, so a phantom datagram would show

XCallSelfTest failed(std::string why) { return XCallSelfTest{false, std::move(why)}; }

XCallSelfTest failed_errno(const char* call, int err) {
  return failed(std::string(call) + ": " + std::strerror(err));
}

void fill_pattern(uint8_t* bytes, size_t length, uint8_t seed) {
  for (size_t i = 0; i < length; ++i) bytes[i] = static_cast<uint8_t>(seed + i * 7);
}

bool has_pattern(const uint8_t* bytes, size_t length, uint8_t seed) {
  for (size_t i = 0; i < length; ++i) {
    if (bytes[i] != static_cast<uint8_t>(seed + i * 7)) return false;
  }
  return true;
}

// Sends both datagrams, allowing sendmsg_x to take them in more than one call.
XCallSelfTest send_both(int fd, std::array<msghdr_x, 2>& out) {
  size_t sent = 0;
  for (int tries = 0; sent < out.size() && tries < 4; ++tries) {
    const ssize_t r = sendmsg_x(fd, &out[sent], static_cast<u_int>(out.size() - sent), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      return failed_errno("sendmsg_x", errno);
    }
    if (r == 0 || static_cast<size_t>(r) > out.size() - sent) {
      return failed("sendmsg_x returned " + std::to_string(r) + " for " +
                    std::to_string(out.size() - sent) + " datagrams");
    }
    sent += static_cast<size_t>(r);
  }
  if (sent != out.size()) return failed("sendmsg_x did not take both datagrams");
  return XCallSelfTest{true, {}};
}

// Receives until two datagrams arrived or the timeout passed. `got` is how many did.
XCallSelfTest receive_both(int fd, std::array<msghdr_x, kSlots>& in, size_t& got) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + kDeliveryTimeout;
  got = 0;
  while (got < 2) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return failed("only " + std::to_string(got) + " of 2 datagrams arrived within " +
                    std::to_string(kDeliveryTimeout.count()) + " ms");
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
      return failed_errno("poll", errno);
    }
    const u_int want = static_cast<u_int>(kSlots - got);
    const ssize_t r = recvmsg_x(fd, &in[got], want, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      return failed_errno("recvmsg_x", errno);
    }
    if (static_cast<size_t>(r) > want || got + static_cast<size_t>(r) > 2) {
      return failed("recvmsg_x returned " + std::to_string(r) + " datagrams; " +
                    std::to_string(2 - got) + " were pending");
    }
    got += static_cast<size_t>(r);
  }
  return XCallSelfTest{true, {}};
}

XCallSelfTest check_source(const msghdr_x& m, const Endpoint& expected, const char* which) {
  if (m.msg_namelen > sizeof(sockaddr_storage)) {
    return failed(std::string(which) + ": source length " + std::to_string(m.msg_namelen));
  }
  const std::optional<Endpoint> source =
      to_endpoint(static_cast<const sockaddr*>(m.msg_name), m.msg_namelen);
  if (!source) return failed(std::string(which) + ": no usable source address");
  if (*source != expected) {
    return failed(std::string(which) + ": source " + source->to_string() + ", expected " +
                  expected.to_string());
  }
  return XCallSelfTest{true, {}};
}

}  // namespace

XCallSelfTest run_x_call_self_test() {
  Result<UdpBinding> receiver = open_udp(0, UdpScope::loopback);
  if (!receiver) return failed("loopback receiver: " + receiver.error().message);
  Result<UdpBinding> sender = open_udp(0, UdpScope::loopback);
  if (!sender) return failed("loopback sender: " + sender.error().message);

  const uint8_t loopback[4] = {127, 0, 0, 1};
  const Endpoint receiver_endpoint{IpAddress::v4(loopback), receiver->port};
  const Endpoint sender_endpoint{IpAddress::v4(loopback), sender->port};
  const std::optional<SocketAddress> destination =
      to_socket_address(receiver_endpoint, sender->family);
  if (!destination) return failed("no address form for the loopback receiver");

  std::array<uint8_t, kWholeLength> whole{};
  std::array<uint8_t, kCutLength> cut{};
  fill_pattern(whole.data(), whole.size(), 0x11);
  fill_pattern(cut.data(), cut.size(), 0x5a);
  std::array<iovec, 2> out_iov{{{whole.data(), whole.size()}, {cut.data(), cut.size()}}};
  std::array<msghdr_x, 2> out{};
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].msg_name = const_cast<sockaddr_storage*>(&destination->storage);
    out[i].msg_namelen = destination->length;
    out[i].msg_iov = &out_iov[i];
    out[i].msg_iovlen = 1;
  }
  if (XCallSelfTest r = send_both(sender->fd.get(), out); !r.passed) return r;

  std::array<std::array<uint8_t, 128>, kSlots> storage{};
  std::array<iovec, kSlots> in_iov{};
  std::array<SocketAddress, kSlots> sources{};
  std::array<msghdr_x, kSlots> in{};
  for (size_t i = 0; i < kSlots; ++i) {
    in_iov[i] = iovec{storage[i].data(), i == 1 ? kCutBufferLength : storage[i].size()};
    in[i].msg_name = &sources[i].storage;
    in[i].msg_namelen = sizeof sources[i].storage;
    in[i].msg_iov = &in_iov[i];
    in[i].msg_iovlen = 1;
  }
  size_t got = 0;
  if (XCallSelfTest r = receive_both(receiver->fd.get(), in, got); !r.passed) return r;

  // The whole datagram: exact length, bytes and sender, and no truncation flag.
  if ((in[0].msg_flags & MSG_TRUNC) != 0) return failed("MSG_TRUNC on a datagram that fit");
  if (in[0].msg_datalen != kWholeLength) {
    return failed("msg_datalen " + std::to_string(in[0].msg_datalen) + " for a " +
                  std::to_string(kWholeLength) + "-byte datagram");
  }
  if (!has_pattern(storage[0].data(), kWholeLength, 0x11)) return failed("datagram bytes differ");
  if (XCallSelfTest r = check_source(in[0], sender_endpoint, "first datagram"); !r.passed) return r;

  // The cut one: flagged, and a length that is either what was kept or the full datagram.
  if ((in[1].msg_flags & MSG_TRUNC) == 0) return failed("no MSG_TRUNC on a cut datagram");
  if (in[1].msg_datalen != kCutBufferLength && in[1].msg_datalen != kCutLength) {
    return failed("msg_datalen " + std::to_string(in[1].msg_datalen) + " for a cut datagram");
  }
  if (!has_pattern(storage[1].data(), kCutBufferLength, 0x5a)) {
    return failed("cut datagram bytes differ");
  }
  if (XCallSelfTest r = check_source(in[1], sender_endpoint, "second datagram"); !r.passed) {
    return r;
  }

  // Nothing else may be pending: a call that invents datagrams fails here.
  in[2].msg_flags = 0;
  const ssize_t extra = recvmsg_x(receiver->fd.get(), &in[2], 1, MSG_DONTWAIT);
  if (extra >= 0) {
    return failed("recvmsg_x returned " + std::to_string(extra) + " with nothing pending");
  }
  if (errno != EAGAIN && errno != EWOULDBLOCK) return failed_errno("recvmsg_x", errno);
  return XCallSelfTest{true, {}};
}

}  // namespace sluice::platform

#endif  // SLUICE_DARWIN_BATCH_IO
