#include <poll.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "platform/udp_socket.h"

using namespace sluice;
using namespace sluice::platform;

namespace {

// Receives until `want` datagrams arrived or a second passed.
int receive_all(UdpSocket& s, std::vector<PacketBuffer*>& buffers, std::vector<Endpoint>& sources,
                int want) {
  int got = 0;
  for (int tries = 0; got < want && tries < 100; ++tries) {
    pollfd p{s.fd(), POLLIN, 0};
    poll(&p, 1, 10);
    const int n = s.receive_batch(std::span(buffers).subspan(static_cast<size_t>(got)),
                                  std::span(sources).subspan(static_cast<size_t>(got)));
    REQUIRE(n >= 0);
    got += n;
  }
  return got;
}

Endpoint endpoint(const char* address, uint16_t port) {
  return Endpoint{*IpAddress::parse(address), port};
}

void fill(PacketBuffer* b, int tag, size_t size) {
  b->reset_for_inner();
  std::memset(b->data(), tag, size);
  b->set_size(size);
}

}  // namespace

TEST_CASE("UdpSocket allocates a port and detects EADDRINUSE", "[udp]") {
  auto a = UdpSocket::open(0, 0);
  REQUIRE(a.has_value());
  CHECK((*a)->port() != 0);
  CHECK((*a)->family() == AF_INET6);

  auto b = UdpSocket::open((*a)->port(), 0);
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().code == EADDRINUSE);
  CHECK_FALSE(b.error().message.empty());

  CHECK((*a)->set_fwmark(0x51));  // we run as root in the test environment
  CHECK((*a)->set_fwmark(0));
}

TEST_CASE("UdpSocket batches over IPv4 loopback with plain IPv4 sources", "[udp]") {
  auto sender = std::move(*UdpSocket::open(0, 0));
  auto receiver = std::move(*UdpSocket::open(0, 0));
  BufferPool pool(600, 2048);

  // More than one sendmmsg batch, and distinct sizes so order and length are checked.
  constexpr int kCount = 200;
  std::vector<OutboundDatagram> out;
  for (int i = 0; i < kCount; ++i) {
    PacketBuffer* b = pool.acquire();
    fill(b, i & 0xff, 100 + static_cast<size_t>(i));
    out.push_back({endpoint("127.0.0.1", receiver->port()), b});
  }
  CHECK(sender->send_batch(out) == kCount);

  std::vector<PacketBuffer*> in;
  for (int i = 0; i < kCount; ++i) in.push_back(pool.acquire());
  std::vector<Endpoint> sources(kCount);
  REQUIRE(receive_all(*receiver, in, sources, kCount) == kCount);
  for (int i = 0; i < kCount; ++i) {
    INFO("datagram " << i);
    CHECK(in[i]->offset() == 0);
    REQUIRE(in[i]->size() == 100 + static_cast<size_t>(i));
    CHECK(in[i]->data()[0] == (i & 0xff));
    CHECK(sources[i].address.family == IpFamily::v4);
    CHECK(sources[i] == endpoint("127.0.0.1", sender->port()));
  }
  // Nothing more is pending.
  CHECK(receiver->receive_batch(in, sources) == 0);
}

TEST_CASE("UdpSocket batches over IPv6 loopback", "[udp]") {
  auto sender = std::move(*UdpSocket::open(0, 0));
  auto receiver = std::move(*UdpSocket::open(0, 0));
  BufferPool pool(8, 2048);
  std::vector<OutboundDatagram> out;
  for (int i = 0; i < 3; ++i) {
    PacketBuffer* b = pool.acquire();
    fill(b, 0x60 + i, 64);
    out.push_back({endpoint("::1", receiver->port()), b});
  }
  CHECK(sender->send_batch(out) == 3);
  std::vector<PacketBuffer*> in{pool.acquire(), pool.acquire(), pool.acquire()};
  std::vector<Endpoint> sources(3);
  REQUIRE(receive_all(*receiver, in, sources, 3) == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(in[i]->data()[5] == 0x60 + i);
    CHECK(sources[i] == endpoint("::1", sender->port()));
  }
}

TEST_CASE("UdpSocket skips unreachable destinations and drops oversize datagrams", "[udp]") {
  auto sender = std::move(*UdpSocket::open(0, 0));
  auto receiver = std::move(*UdpSocket::open(0, 0));
  BufferPool pool(8, 256);
  std::vector<OutboundDatagram> out;
  for (int i = 0; i < 3; ++i) {
    PacketBuffer* b = pool.acquire();
    fill(b, i + 1, 32);
    out.push_back({endpoint("127.0.0.1", receiver->port()), b});
  }
  out[1].destination.port = 0;  // the kernel refuses port 0 with EINVAL
  CHECK(sender->send_batch(out) == 2);
  CHECK(sender->unreachable_skipped() == 1);

  std::vector<PacketBuffer*> in{pool.acquire(), pool.acquire()};
  std::vector<Endpoint> sources(2);
  REQUIRE(receive_all(*receiver, in, sources, 2) == 2);
  CHECK(in[0]->data()[0] == 1);
  CHECK(in[1]->data()[0] == 3);

  // A datagram bigger than the receive buffer comes back empty rather than cut short.
  PacketBuffer* big_buffer = pool.acquire();
  big_buffer->reset_for_outer();
  big_buffer->set_size(200);
  std::vector<OutboundDatagram> big{{endpoint("::1", receiver->port()), big_buffer}};
  CHECK(sender->send_batch(big) == 1);
  BufferPool small(1, 64);
  std::vector<PacketBuffer*> one{small.acquire()};
  REQUIRE(receive_all(*receiver, one, sources, 1) == 1);
  CHECK(one[0]->size() == 0);
}
