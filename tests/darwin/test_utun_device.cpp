// utun framing over a socketpair(AF_UNIX, SOCK_DGRAM): the adopted end is the utun descriptor,
// the other end plays the kernel, sending and receiving family-header-prefixed datagrams.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "platform/darwin/utun_device.h"

using namespace sluice;
using namespace sluice::platform;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes ipv4_packet(size_t total, uint8_t tag) {
  Bytes p(total, tag);
  p[0] = 0x45;
  p[1] = 0;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[9] = 17;
  return p;
}

Bytes ipv6_packet(size_t total, uint8_t tag) {
  Bytes p(total, tag);
  const size_t payload = total - 40;
  p[0] = 0x60;
  p[1] = p[2] = p[3] = 0;
  p[4] = static_cast<uint8_t>(payload >> 8);
  p[5] = static_cast<uint8_t>(payload);
  p[6] = 17;
  p[7] = 64;
  return p;
}

Bytes framed(uint32_t family, const Bytes& packet) {
  Bytes out(4 + packet.size());
  out[0] = static_cast<uint8_t>(family >> 24);
  out[1] = static_cast<uint8_t>(family >> 16);
  out[2] = static_cast<uint8_t>(family >> 8);
  out[3] = static_cast<uint8_t>(family);
  if (!packet.empty()) std::memcpy(out.data() + 4, packet.data(), packet.size());
  return out;
}

struct UtunPair {
  std::unique_ptr<UtunDevice> device;
  UniqueFd kernel;  // the far end, standing in for the kernel's side of the utun

  void kernel_send(const Bytes& datagram) const {
    REQUIRE(send(kernel.get(), datagram.data(), datagram.size(), 0) ==
            static_cast<ssize_t>(datagram.size()));
  }
  std::optional<Bytes> kernel_receive() const {
    Bytes buffer(4096);
    const ssize_t n = recv(kernel.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buffer.resize(static_cast<size_t>(n));
    return buffer;
  }
};

UtunPair make_pair() {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
  auto device = UtunDevice::adopt(UniqueFd(sv[0]));
  REQUIRE(device.has_value());
  return UtunPair{std::move(*device), UniqueFd(sv[1])};
}

std::vector<PacketBuffer*> acquire(BufferPool& pool, size_t count) {
  std::vector<PacketBuffer*> buffers;
  for (size_t i = 0; i < count; ++i) buffers.push_back(pool.acquire());
  return buffers;
}

Bytes contents(const PacketBuffer* b) { return Bytes(b->data(), b->data() + b->size()); }

PacketBuffer* holding(BufferPool& pool, const Bytes& packet) {
  PacketBuffer* b = pool.acquire();
  std::memcpy(b->data(), packet.data(), packet.size());
  b->set_size(packet.size());
  return b;
}

}  // namespace

TEST_CASE("utun: reads IPv4 and IPv6 packets to data() without the family header", "[utun]") {
  UtunPair pair = make_pair();
  CHECK((pair.device->name().empty()));  // names come from UTUN_OPT_IFNAME, Apple only
  const Bytes v4 = ipv4_packet(84, 0xa4);
  const Bytes v6 = ipv6_packet(104, 0xb6);
  pair.kernel_send(framed(UtunDevice::kDarwinAfInet, v4));
  pair.kernel_send(framed(UtunDevice::kDarwinAfInet6, v6));

  BufferPool pool(8, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 4);
  REQUIRE(pair.device->read_batch(in) == 2);
  CHECK(in[0]->offset() == PacketBuffer::kHeadroom);  // read in place, no copy
  CHECK(contents(in[0]) == v4);
  CHECK(contents(in[1]) == v6);
  CHECK(pair.device->stats().packets_read == 2);
  CHECK(pair.device->read_batch(in) == 0);  // nothing more: EAGAIN is "none ready"
}

TEST_CASE("utun: writes Darwin's family numbers in network byte order", "[utun]") {
  UtunPair pair = make_pair();
  BufferPool pool(8, 2048);
  const Bytes v4 = ipv4_packet(60, 0x44);
  const Bytes v6 = ipv6_packet(72, 0x66);
  std::vector<PacketBuffer*> out{holding(pool, v4), holding(pool, v6)};
  // Mark the headroom: the header must go out from its own iovec, not be written there.
  std::memset(out[0]->data() - PacketBuffer::kHeadroom, 0xee, PacketBuffer::kHeadroom);

  REQUIRE(pair.device->write_batch(out) == 2);
  CHECK(pair.device->stats().packets_written == 2);
  const std::optional<Bytes> first = pair.kernel_receive();
  const std::optional<Bytes> second = pair.kernel_receive();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first == framed(2, v4));
  CHECK(*second == framed(30, v6));  // Darwin's AF_INET6, whatever the build host says
  CHECK((*second)[3] == 30);
  CHECK(contents(out[0]) == v4);
  const uint8_t* headroom = out[0]->data() - PacketBuffer::kHeadroom;
  for (size_t i = 0; i < PacketBuffer::kHeadroom; ++i) CHECK(headroom[i] == 0xee);
}

TEST_CASE("utun: packets make the round trip both ways", "[utun]") {
  UtunPair pair = make_pair();
  BufferPool pool(16, 2048);
  std::vector<Bytes> packets{ipv4_packet(20, 1), ipv6_packet(40, 2), ipv4_packet(1500, 3),
                             ipv6_packet(1280, 4), ipv4_packet(576, 5)};
  std::vector<PacketBuffer*> out;
  for (const Bytes& p : packets) out.push_back(holding(pool, p));
  REQUIRE(pair.device->write_batch(out) == static_cast<int>(packets.size()));
  // Echo each datagram back unchanged, as the kernel would deliver a reply.
  for (size_t i = 0; i < packets.size(); ++i) {
    const std::optional<Bytes> d = pair.kernel_receive();
    REQUIRE(d);
    pair.kernel_send(*d);
  }
  std::vector<PacketBuffer*> in = acquire(pool, 8);
  REQUIRE(pair.device->read_batch(in) == static_cast<int>(packets.size()));
  for (size_t i = 0; i < packets.size(); ++i) {
    INFO("packet " << i);
    CHECK(contents(in[i]) == packets[i]);
  }
}

TEST_CASE("utun: wrong family headers are dropped and counted", "[utun]") {
  UtunPair pair = make_pair();
  const Bytes v4 = ipv4_packet(40, 0x14);
  const Bytes v6 = ipv6_packet(60, 0x16);
  pair.kernel_send(framed(2, v4));   // good
  pair.kernel_send(framed(10, v6));  // Linux's AF_INET6 is not Darwin's
  pair.kernel_send(framed(2, v6));   // IPv4 header on an IPv6 packet
  pair.kernel_send(framed(30, v4));  // IPv6 header on an IPv4 packet
  pair.kernel_send(framed(0x1e000000, v6));  // 30 in host order on a little-endian host
  pair.kernel_send(framed(30, v6));  // good

  BufferPool pool(8, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 6);
  REQUIRE(pair.device->read_batch(in) == 2);
  CHECK(contents(in[0]) == v4);
  CHECK(contents(in[1]) == v6);
  CHECK(pair.device->stats().bad_family == 4);
  CHECK(pair.device->stats().truncated == 0);
  CHECK(pair.device->stats().packets_read == 2);
}

TEST_CASE("utun: truncated packets are dropped and counted", "[utun]") {
  UtunPair pair = make_pair();
  // Room for 200 bytes of packet: 16 headroom + 200 + 32 tailroom.
  BufferPool pool(8, PacketBuffer::kHeadroom + 200 + PacketBuffer::kTailroom);
  const Bytes good = ipv4_packet(200, 0x77);  // exactly fills the buffer
  Bytes short_v4 = ipv4_packet(100, 0x31);
  short_v4.resize(60);  // the header claims 100 bytes
  Bytes short_v6 = ipv6_packet(80, 0x36);
  short_v6.resize(30);  // not even a whole IPv6 header
  Bytes bad_ihl = ipv4_packet(40, 0x41);
  bad_ihl[0] = 0x44;  // IHL 4: a header shorter than the minimum

  pair.kernel_send(Bytes{0, 0, 2});  // part of a family header
  pair.kernel_send(framed(2, good));
  pair.kernel_send(Bytes{0, 0, 0, 2});  // a family header and nothing else
  pair.kernel_send(framed(2, short_v4));
  pair.kernel_send(framed(30, short_v6));
  pair.kernel_send(framed(2, bad_ihl));
  pair.kernel_send(framed(2, ipv4_packet(300, 0x99)));  // longer than the buffer: cut by read
  pair.kernel_send(framed(30, ipv6_packet(48, 0x66)));

  std::vector<PacketBuffer*> in = acquire(pool, 8);
  REQUIRE(pair.device->read_batch(in) == 2);
  CHECK(contents(in[0]) == good);
  CHECK(contents(in[1]) == ipv6_packet(48, 0x66));
  CHECK(pair.device->stats().truncated == 6);
  CHECK(pair.device->stats().bad_family == 0);
}

TEST_CASE("utun: batch boundaries", "[utun]") {
  UtunPair pair = make_pair();
  BufferPool pool(16, 2048);

  SECTION("a batch reads at most its buffers, the rest waits for the next call") {
    for (uint8_t i = 0; i < 5; ++i) pair.kernel_send(framed(2, ipv4_packet(30 + i, i)));
    std::vector<PacketBuffer*> in = acquire(pool, 3);
    REQUIRE(pair.device->read_batch(in) == 3);
    CHECK(contents(in[2]) == ipv4_packet(32, 2));
    REQUIRE(pair.device->read_batch(in) == 2);
    CHECK(contents(in[0]) == ipv4_packet(33, 3));
    CHECK(contents(in[1]) == ipv4_packet(34, 4));
    CHECK(pair.device->read_batch(in) == 0);
    CHECK(pair.device->read_batch({}) == 0);
  }

  SECTION("dropped packets use up read attempts, not buffers") {
    pair.kernel_send(framed(7, ipv4_packet(30, 1)));
    pair.kernel_send(framed(2, ipv4_packet(31, 2)));
    pair.kernel_send(framed(7, ipv4_packet(32, 3)));
    pair.kernel_send(framed(2, ipv4_packet(33, 4)));
    pair.kernel_send(framed(2, ipv4_packet(34, 5)));
    std::vector<PacketBuffer*> in = acquire(pool, 4);
    // Four reads: two dropped, two delivered into the first two buffers.
    REQUIRE(pair.device->read_batch(in) == 2);
    CHECK(contents(in[0]) == ipv4_packet(31, 2));
    CHECK(contents(in[1]) == ipv4_packet(33, 4));
    REQUIRE(pair.device->read_batch(in) == 1);
    CHECK(contents(in[0]) == ipv4_packet(34, 5));
    CHECK(pair.device->stats().bad_family == 2);
  }

  SECTION("a write batch stops at EAGAIN and reports what went out") {
    // A connected AF_UNIX datagram socket is limited by its send buffer; make it tiny.
    const int tiny = 1;
    REQUIRE(setsockopt(pair.device->fd(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny) == 0);
    BufferPool big(64, 2048);
    std::vector<PacketBuffer*> out;
    for (size_t i = 0; i < 64; ++i) out.push_back(holding(big, ipv6_packet(1000 + i, 0)));
    const int written = pair.device->write_batch(out);
    REQUIRE(written > 0);
    REQUIRE(written < 64);
    int received = 0;
    while (const std::optional<Bytes> d = pair.kernel_receive()) {
      CHECK(*d == framed(30, ipv6_packet(1000 + static_cast<size_t>(received), 0)));
      ++received;
    }
    CHECK(received == written);
    CHECK(pair.device->stats().write_refused == 0);
  }

  SECTION("packets that are not IPv4 or IPv6 are skipped, the rest written") {
    PacketBuffer* empty = pool.acquire();
    PacketBuffer* v5 = holding(pool, ipv4_packet(30, 0));
    v5->data()[0] = 0x55;
    std::vector<PacketBuffer*> out{empty, holding(pool, ipv4_packet(30, 1)), v5,
                                   holding(pool, ipv6_packet(50, 2))};
    REQUIRE(pair.device->write_batch(out) == 2);
    CHECK(pair.device->stats().write_refused == 2);
    CHECK(*pair.kernel_receive() == framed(2, ipv4_packet(30, 1)));
    CHECK(*pair.kernel_receive() == framed(30, ipv6_packet(50, 2)));
    CHECK_FALSE(pair.kernel_receive());
  }
}

TEST_CASE("utun: end of file and a vanished peer", "[utun]") {
  UtunPair pair = make_pair();
  BufferPool pool(4, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 2);

  SECTION("an empty read ends the device after what was read before it") {
    pair.kernel_send(framed(2, ipv4_packet(30, 1)));
    pair.kernel_send(Bytes{});
    pair.kernel_send(framed(2, ipv4_packet(30, 2)));
    REQUIRE(pair.device->read_batch(in) == 1);
    CHECK(contents(in[0]) == ipv4_packet(30, 1));
    CHECK(pair.device->read_batch(in) == -EPIPE);
    CHECK(pair.device->read_batch(in) == -EPIPE);
  }

  SECTION("an empty read with nothing before it is -EPIPE at once") {
    pair.kernel_send(Bytes{});
    CHECK(pair.device->read_batch(in) == -EPIPE);
  }

  SECTION("writes stop when the other side is gone") {
    pair.kernel.reset();
    std::vector<PacketBuffer*> out{holding(pool, ipv4_packet(30, 1))};
    CHECK(pair.device->write_batch(out) == 0);
    CHECK(pair.device->stats().write_refused == 0);
  }
}

TEST_CASE("utun: adopting a closed descriptor fails cleanly", "[utun]") {
  auto none = UtunDevice::adopt(UniqueFd());
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == EBADF);

  auto closed = UtunDevice::adopt(UniqueFd(1 << 20));  // a number that names no open file
  REQUIRE_FALSE(closed.has_value());
  CHECK(closed.error().code == EBADF);
}
