// platform/darwin: the utun framing and the batched UDP socket, run on Linux over the
// recvmsg_x/sendmsg_x shim (platform/darwin_shim) with real sockets. The input is what the
// kernel hands them, and how the shim misbehaves:
//
//   byte 0 bit 0 clear: utun. Records (u16 length, bytes) are written as datagrams into the
//     peer end of a SOCK_DGRAM socketpair the UtunDevice adopted; read_batch with byte 1 % 8
//     + 1 buffers of a small capacity (byte 2) must deliver exactly the datagrams whose family
//     header matches their IP version and whose IP header fits, minus the header, in order,
//     counting the rest; the delivered packets written back must come out with the right
//     Darwin family header.
//   bit 0 set: UDP. Byte 1 picks shim faults (batch cap, a receive errno after some calls,
//     hidden truncation, overstated lengths, hidden sources), byte 2 the buffer capacity;
//     records (u16 length) are datagrams sent over loopback to a fresh UdpBatchSocket. Without
//     lying faults every datagram is delivered intact or counted as truncated; with them,
//     whatever is delivered must still lie inside its buffer.
#include <poll.h>
#include <cerrno>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "fuzz_support.h"
#include "platform/darwin/udp_batch_socket.h"
#include "platform/darwin/utun_device.h"
#include "platform/darwin_shim/socket_x_faults.h"
#include "tunnel/ip_packet.h"

using namespace sluice;
using namespace sluice::platform;
namespace shim = sluice::darwin_shim;

namespace {

constexpr size_t kMaxDatagrams = 48;

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> records(fuzz::Reader& in, size_t max_length) {
  std::vector<Bytes> out;
  while (!in.empty() && out.size() < kMaxDatagrams) {
    const size_t length = in.u16() % (max_length + 1);
    const auto bytes = in.bytes(length);
    out.emplace_back(bytes.begin(), bytes.end());
  }
  return out;
}

uint32_t load_be32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }

// What read_batch must make of one datagram: the packet, or nothing. The kernel cuts a
// datagram longer than the buffer without saying so; what arrived is delivered only when its
// IP header says the packet is complete (the rest was padding).
std::optional<Bytes> expected_utun_packet(const Bytes& d, size_t room) {
  if (d.size() < UtunDevice::kFamilyHeaderLength + 1) return std::nullopt;
  const uint32_t family = load_be32(d.data());
  const size_t arrived = std::min(d.size() - UtunDevice::kFamilyHeaderLength, room);
  const Bytes packet(d.begin() + UtunDevice::kFamilyHeaderLength,
                     d.begin() + static_cast<long>(UtunDevice::kFamilyHeaderLength + arrived));
  const uint8_t version = packet[0] >> 4;
  if (!((family == UtunDevice::kDarwinAfInet && version == 4) ||
        (family == UtunDevice::kDarwinAfInet6 && version == 6)))
    return std::nullopt;
  if (!ip_packet_length(packet)) return std::nullopt;
  return packet;
}

void fuzz_utun(fuzz::Reader& in) {
  const size_t batch = in.u8() % 8 + 1;
  const size_t capacity = 64 + in.u8() * 8;
  const std::vector<Bytes> datagrams = records(in, 2100);
  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
  const int peer = sv[1];
  auto utun = UtunDevice::adopt(UniqueFd(sv[0]));
  FUZZ_CHECK(utun.has_value());
  BufferPool pool(batch, capacity);
  std::vector<PacketBuffer*> buffers;
  for (size_t i = 0; i < batch; ++i) buffers.push_back(pool.acquire());

  std::vector<Bytes> expected;
  size_t sent = 0;
  bool end_of_file = false;  // an empty datagram: the kernel never sends one but at teardown
  for (const Bytes& d : datagrams) {
    if (::send(peer, d.data(), d.size(), MSG_DONTWAIT) != static_cast<ssize_t>(d.size())) break;
    if (d.empty()) {
      end_of_file = true;
      break;
    }
    ++sent;
    const size_t room = capacity - PacketBuffer::kHeadroom - PacketBuffer::kTailroom;
    if (auto p = expected_utun_packet(d, room)) expected.push_back(*p);
  }
  std::vector<Bytes> delivered;
  for (int rounds = 0; rounds < 200; ++rounds) {
    for (PacketBuffer* b : buffers) b->reset_for_inner();
    const int n = (*utun)->read_batch(buffers);
    if (n == -EPIPE) {
      FUZZ_CHECK(end_of_file);
      break;
    }
    FUZZ_CHECK(n >= 0 && static_cast<size_t>(n) <= batch);
    const UtunStats& seen = (*utun)->stats();
    // A call that read only dropped datagrams returns 0 too; the empty one is then still queued.
    if (n == 0 && seen.packets_read + seen.bad_family + seen.truncated == sent && !end_of_file) break;
    for (int i = 0; i < n; ++i) {
      const PacketBuffer* b = buffers[static_cast<size_t>(i)];
      FUZZ_CHECK(b->offset() + b->size() + PacketBuffer::kTailroom <= b->capacity());
      delivered.emplace_back(b->data(), b->data() + b->size());
    }
  }
  FUZZ_CHECK(delivered == expected);
  const UtunStats& s = (*utun)->stats();
  FUZZ_CHECK(s.packets_read == delivered.size());
  FUZZ_CHECK(s.packets_read + s.bad_family + s.truncated == sent);

  if (end_of_file) {
    ::close(peer);
    return;  // the descriptor is finished; nothing can be written back
  }
  // Back out: each delivered packet behind the family header of its version.
  size_t k = 0;
  for (const Bytes& p : delivered) {
    PacketBuffer* b = buffers[0];
    b->reset_for_inner();
    std::memcpy(b->data(), p.data(), p.size());
    b->set_size(p.size());
    FUZZ_CHECK((*utun)->write_batch(std::span<PacketBuffer* const>(&b, 1)) == 1);
    Bytes got(p.size() + UtunDevice::kFamilyHeaderLength + 1);
    const ssize_t r = ::recv(peer, got.data(), got.size(), MSG_DONTWAIT);
    FUZZ_CHECK(r == static_cast<ssize_t>(p.size() + UtunDevice::kFamilyHeaderLength));
    const uint32_t family = load_be32(got.data());
    FUZZ_CHECK(family == (p[0] >> 4 == 4 ? UtunDevice::kDarwinAfInet : UtunDevice::kDarwinAfInet6));
    FUZZ_CHECK(std::equal(p.begin(), p.end(), got.begin() + UtunDevice::kFamilyHeaderLength));
    if (++k == 16) break;  // enough to check the framing; writing is one call per packet
  }
  ::close(peer);
}

void fuzz_udp(fuzz::Reader& in) {
  const uint8_t f = in.u8();
  shim::Faults faults;
  faults.max_per_call = f & 0x07;
  faults.hide_truncation = f & 0x08;
  faults.overstate_length = f & 0x10;
  faults.hide_source = f & 0x20;
  if (f & 0x40) {
    faults.receive_errno = (f & 0x80) ? ENOSYS : EIO;
    faults.errno_after_calls = 2;  // after the self-test's calls: a runtime failure
  }
  const bool lying = faults.overstate_length || faults.hide_source || faults.hide_truncation;
  const size_t capacity = 64 + in.u8() * 8;
  const std::vector<Bytes> datagrams = records(in, 2000);

  auto socket = UdpBatchSocket::open(0);
  FUZZ_CHECK(socket.has_value());
  shim::set_faults(faults);
  const int sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(sender >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons((*socket)->port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<Bytes> sent;
  for (const Bytes& d : datagrams) {
    if (::sendto(sender, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) ==
        static_cast<ssize_t>(d.size()))
      sent.push_back(d);
  }
  BufferPool pool(UdpBatchSocket::kMaxBatch, capacity);
  std::vector<PacketBuffer*> buffers;
  for (size_t i = 0; i < 16; ++i) buffers.push_back(pool.acquire());
  std::vector<Endpoint> sources(buffers.size());
  std::vector<Bytes> delivered;
  int empty_rounds = 0;
  for (int rounds = 0; rounds < 400 && empty_rounds < 3; ++rounds) {
    const int n = (*socket)->receive_batch(buffers, sources);
    if (n <= 0) {
      ++empty_rounds;
      pollfd p{(*socket)->fd(), POLLIN, 0};
      ::poll(&p, 1, 2);
      continue;
    }
    empty_rounds = 0;
    FUZZ_CHECK(static_cast<size_t>(n) <= buffers.size());
    for (int i = 0; i < n; ++i) {
      const PacketBuffer* b = buffers[static_cast<size_t>(i)];
      FUZZ_CHECK(b->offset() + b->size() <= b->capacity());
      if (!lying) FUZZ_CHECK(sources[static_cast<size_t>(i)].port != 0);
      delivered.emplace_back(b->data(), b->data() + b->size());
    }
  }
  shim::clear_faults();
  ::close(sender);
  if (lying) return;
  // Loopback keeps order and loses nothing this small: every datagram that fits arrives intact.
  std::vector<Bytes> expected;
  for (const Bytes& d : sent)
    if (d.size() <= capacity) expected.push_back(d);
  FUZZ_CHECK(delivered == expected);
  FUZZ_CHECK((*socket)->stats().truncated == sent.size() - expected.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader in(data, size);
  if (in.u8() & 1) {
    fuzz_udp(in);
  } else {
    fuzz_utun(in);
  }
  return 0;
}
