// The outer UDP socket on loopback: plain batches, UDP GSO runs, UDP GRO splitting with
// pending datagrams, the GSO fallback, don't-fragment and backpressure (the last two inside a
// private network namespace, where loopback's MTU and queueing discipline can be changed).
#include <netinet/udp.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "netns_check.h"
#include "platform/clock.h"
#include "platform/netlink.h"
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
    if (!s.has_pending()) poll(&p, 1, 10);
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

// A datagram whose every byte depends on its index, so reordering or a wrong cut shows.
void fill_indexed(PacketBuffer* b, uint32_t index, size_t size) {
  b->reset_for_inner();
  for (size_t k = 0; k < size; ++k) b->data()[k] = static_cast<uint8_t>(index * 131 + k * 7);
  b->set_size(size);
}

struct Datagram {
  Endpoint peer;  // destination when sent, source when received
  std::vector<uint8_t> bytes;
  bool operator==(const Datagram&) const = default;
};

// Builds `out` from (destination, size, count) groups, recording what the receiver should see.
struct BatchBuilder {
  BufferPool& pool;
  std::vector<OutboundDatagram> out;
  std::vector<Datagram> sent;
  void add(const Endpoint& to, size_t size, int count) {
    for (int i = 0; i < count; ++i) {
      PacketBuffer* b = pool.acquire();
      REQUIRE(b != nullptr);
      fill_indexed(b, static_cast<uint32_t>(out.size()), size);
      out.push_back({to, b});
      sent.push_back({to, std::vector<uint8_t>(b->data(), b->data() + b->size())});
    }
  }
  void release() {
    for (const OutboundDatagram& d : out) pool.release(d.buffer);
    out.clear();
  }
};

// Receives until `want` datagrams arrived or about two idle seconds passed, offering
// `per_call` buffers each time and calling again at once while has_pending(). Counts the
// receive_batch calls that returned datagrams in `calls`.
std::vector<Datagram> drain(UdpSocket& s, BufferPool& pool, size_t want, size_t per_call,
                            size_t* calls = nullptr) {
  std::vector<Datagram> got;
  std::vector<PacketBuffer*> buffers;
  for (size_t i = 0; i < per_call; ++i) buffers.push_back(pool.acquire());
  std::vector<Endpoint> sources(per_call);
  for (int idle = 0; got.size() < want && idle < 200;) {
    if (!s.has_pending()) {
      pollfd p{s.fd(), POLLIN, 0};
      if (poll(&p, 1, 10) == 0) {
        ++idle;
        continue;
      }
    }
    const int n = s.receive_batch(buffers, sources);
    REQUIRE(n >= 0);
    if (n > 0 && calls != nullptr) ++*calls;
    for (int i = 0; i < n; ++i) {
      const PacketBuffer* b = buffers[static_cast<size_t>(i)];
      got.push_back({sources[static_cast<size_t>(i)],
                     std::vector<uint8_t>(b->data(), b->data() + b->size())});
    }
  }
  for (PacketBuffer* b : buffers) pool.release(b);
  return got;
}

// The datagrams sent to `to`, as they should arrive from `from`.
std::vector<Datagram> expected_at(const std::vector<Datagram>& sent, const Endpoint& to,
                                  const Endpoint& from) {
  std::vector<Datagram> out;
  for (const Datagram& d : sent) {
    if (d.peer == to) out.push_back({from, d.bytes});
  }
  return out;
}

int read_int_option(int fd, int level, int option) {
  int value = -1;
  socklen_t length = sizeof value;
  REQUIRE(getsockopt(fd, level, option, &value, &length) == 0);
  return value;
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
  CHECK_FALSE(receiver->has_pending());
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
  const bool gro = GENERATE(true, false);
  INFO("receiver GRO " << gro);
  auto sender = std::move(*UdpSocket::open(0, 0));
  auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, gro}));
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
  CHECK(receiver->stats().datagrams_received == 3);
}

TEST_CASE("UdpSocket sets don't-fragment and large buffers", "[udp]") {
  auto s = std::move(*UdpSocket::open(0, 0));
  CHECK(s->dont_fragment());
  CHECK(read_int_option(s->fd(), IPPROTO_IP, IP_MTU_DISCOVER) == IP_PMTUDISC_DO);
  CHECK(read_int_option(s->fd(), IPPROTO_IPV6, IPV6_MTU_DISCOVER) == IPV6_PMTUDISC_DO);
  CHECK(read_int_option(s->fd(), IPPROTO_IPV6, IPV6_DONTFRAG) == 1);
  // As root, SO_*BUFFORCE gets the full 7 MiB; the kernel reports twice what it was asked.
  CHECK(s->receive_buffer_bytes() == 2 * (7 << 20));
  CHECK(s->send_buffer_bytes() == 2 * (7 << 20));
  CHECK(s->receive_buffer_bytes() == read_int_option(s->fd(), SOL_SOCKET, SO_RCVBUF));
}

TEST_CASE("UdpSocket honours forced-off offloads", "[udp]") {
  auto both = std::move(*UdpSocket::open(0, 0));
  CHECK(both->gso_enabled());  // this kernel (>= 5.0) has both
  CHECK(both->gro_enabled());
  CHECK(read_int_option(both->fd(), SOL_UDP, UDP_GRO) == 1);
  auto none = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
  CHECK_FALSE(none->gso_enabled());
  CHECK_FALSE(none->gro_enabled());
  CHECK(read_int_option(none->fd(), SOL_UDP, UDP_GRO) == 0);

  // The GRO scratch dominates what the socket allocates, and shrinks with gro_reads.
  UdpSocketOptions few;
  few.gro_reads = 4;
  auto small = std::move(*UdpSocket::open(0, 0, few));
  CHECK(none->scratch_bytes() < 256 * 1024);
  CHECK(small->scratch_bytes() - none->scratch_bytes() >= 4 * 65536);
  CHECK(small->scratch_bytes() - none->scratch_bytes() < 5 * 65536);
  CHECK(both->scratch_bytes() - none->scratch_bytes() >= 128 * 65536);
}

TEST_CASE("UdpSendBatch groups runs of one destination and size", "[udp]") {
  BufferPool pool(512, 2048);
  const Endpoint a = endpoint("192.0.2.1", 51820);
  const Endpoint b = endpoint("192.0.2.2", 51820);
  const Endpoint v6 = endpoint("2001:db8::1", 51820);
  BatchBuilder batch{pool, {}, {}};
  batch.add(a, 100, 3);
  batch.add(a, 50, 1);    // shorter tail closes the run: [0, 4)
  batch.add(a, 100, 2);   // a new run: [4, 6)
  batch.add(a, 101, 1);   // longer than the run's size: alone
  batch.add(b, 101, 1);   // another destination: alone
  batch.add(a, 0, 2);     // empty datagrams are never grouped
  batch.add(v6, 80, 2);   // unreachable from an AF_INET socket
  batch.add(a, 10, 65);   // over 64 segments: [15, 79) and [79, 80)
  batch.add(b, 1400, 50); // over 65507 bytes: 46 segments (64400 bytes) and 4

  UdpSendBatch send;
  send.start();
  uint64_t unreachable = 0;
  size_t count = send.prepare(batch.out, 0, AF_INET, true, 0, unreachable);
  const std::vector<UdpSendBatch::Span> want{
      {0, 4, true},   {4, 2, true},   {6, 1, false}, {7, 1, false}, {8, 1, false},
      {9, 1, false},  {12, 64, true}, {76, 1, false}, {77, 46, true}, {123, 4, true}};
  REQUIRE(count == want.size());
  for (size_t m = 0; m < count; ++m) {
    INFO("message " << m);
    CHECK(send.span(m).first == want[m].first);
    CHECK(send.span(m).count == want[m].count);
    CHECK(send.span(m).segmented == want[m].segmented);
    const msghdr& h = send.messages()[m].msg_hdr;
    CHECK(h.msg_iovlen == want[m].count);
    if (want[m].segmented) {
      // The iovecs point at the datagrams' own buffers, and the cmsg names the segment size.
      CHECK(h.msg_iov[0].iov_base == batch.out[want[m].first].buffer->data());
      const cmsghdr* c = CMSG_FIRSTHDR(&h);
      REQUIRE(c != nullptr);
      CHECK(c->cmsg_level == SOL_UDP);
      CHECK(c->cmsg_type == UDP_SEGMENT);
      uint16_t segment = 0;
      std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
      CHECK(segment == batch.out[want[m].first].buffer->size());
    } else {
      CHECK(h.msg_controllen == 0);
    }
  }
  CHECK(send.end() == batch.out.size());
  CHECK(unreachable == 2);

  // Prepared again (as after a refused GSO send), the unreachable ones are not counted twice,
  // and datagrams below plain_until go one per message.
  count = send.prepare(batch.out, 0, AF_INET, true, 3, unreachable);
  CHECK(unreachable == 2);
  REQUIRE(count >= 4);
  CHECK((send.span(0).count == 1 && send.span(1).count == 1 && send.span(2).count == 1));
  CHECK((send.span(3).first == 3 && send.span(3).count == 1));  // the tail, now alone
  CHECK(send.span(4).count == 2);

  batch.release();

  // Without GSO every datagram is its own message, and one batch stops at 128 messages.
  batch.add(a, 100, 200);
  send.start();
  count = send.prepare(batch.out, 0, AF_INET6, false, 0, unreachable);
  CHECK(count == UdpSendBatch::kMaxMessages);
  CHECK(send.end() == UdpSendBatch::kMaxMessages);
  CHECK(send.span(127).first == 127);
  batch.release();
}

TEST_CASE("UdpSocket GSO send of a mixed batch arrives whole and in order", "[udp]") {
  const bool gso = GENERATE(true, false);
  INFO("sender GSO " << gso);
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{gso, false}));
  auto receiver4 = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
  auto receiver6 = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
  REQUIRE(sender->gso_enabled() == gso);
  const Endpoint to4 = endpoint("127.0.0.1", receiver4->port());
  const Endpoint to6 = endpoint("::1", receiver6->port());

  BufferPool pool(600, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(to4, 1200, 10);
  batch.add(to4, 700, 1);  // the shorter tail of the first run
  batch.add(to6, 1200, 5);
  batch.add(to4, 500, 3);
  batch.add(to4, 100, 70);  // 64 + 6
  batch.add(to6, 1400, 60);  // 46 + 14 (65507-byte cap)
  batch.add(to4, 300, 2);
  batch.add(to4, 301, 1);  // longer: not part of the run before it
  const size_t total = batch.out.size();  // 152

  CHECK(sender->send_batch(batch.out) == static_cast<int>(total));
  const UdpSocketStats& s = sender->stats();
  CHECK(s.datagrams_sent == total);
  CHECK(s.unreachable_skipped == 0);
  CHECK(s.gso_fallbacks == 0);
  if (gso) {
    CHECK(s.send_syscalls == 1);  // 9 messages
    CHECK(s.gso_messages == 8);
    CHECK(s.gso_segments == total - 1);
  } else {
    CHECK(s.send_syscalls == 2);  // 152 messages: 128 + 24
    CHECK(s.gso_messages == 0);
    CHECK(s.gso_segments == 0);
  }

  const auto got4 = drain(*receiver4, pool, 87, 128);
  const auto got6 = drain(*receiver6, pool, 65, 128);
  CHECK(got4 == expected_at(batch.sent, to4, endpoint("127.0.0.1", sender->port())));
  CHECK(got6 == expected_at(batch.sent, to6, endpoint("::1", sender->port())));
  CHECK(got4.size() + got6.size() == total);
  CHECK(receiver4->stats().datagrams_received == got4.size());
  batch.release();
}

TEST_CASE("UdpSocket GSO to GRO: coalesced reads are split with pending datagrams", "[udp]") {
  const bool gso = GENERATE(true, false);
  const bool gro = GENERATE(true, false);
  INFO("sender GSO " << gso << ", receiver GRO " << gro);
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{gso, false}));
  auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, gro}));
  REQUIRE(receiver->gro_enabled() == gro);
  const Endpoint to4 = endpoint("127.0.0.1", receiver->port());
  const Endpoint to6 = endpoint("::1", receiver->port());

  BufferPool pool(64, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(to4, 1000, 20);
  batch.add(to4, 500, 1);
  batch.add(to6, 800, 10);
  batch.add(to4, 1000, 3);
  batch.add(to6, 64, 1);
  const size_t total = batch.out.size();  // 35
  REQUIRE(sender->send_batch(batch.out) == static_cast<int>(total));

  // Both families arrive at one socket in the order they were sent; 7 buffers per call.
  std::vector<Datagram> want;
  for (const Datagram& d : batch.sent) {
    const Endpoint from = d.peer == to4 ? endpoint("127.0.0.1", sender->port())
                                        : endpoint("::1", sender->port());
    want.push_back({from, d.bytes});
  }
  size_t calls = 0;
  const auto got = drain(*receiver, pool, total, 7, &calls);
  CHECK(got == want);
  CHECK_FALSE(receiver->has_pending());

  const UdpSocketStats& r = receiver->stats();
  CHECK(r.datagrams_received == total);
  if (gso && gro) {
    // Loopback hands the GSO messages to a GRO socket whole: three coalesced reads (the lone
    // 64-byte datagram was sent plain), split here; some calls are served from pending alone.
    CHECK(r.gro_reads == 3);
    CHECK(r.gro_segments == 34);
    CHECK(r.receive_syscalls < calls);
  } else {
    CHECK(r.gro_reads == 0);
    CHECK(r.gro_segments == 0);
    CHECK(r.receive_syscalls >= calls);
  }
  // Nothing left anywhere.
  std::vector<PacketBuffer*> in{pool.acquire()};
  std::vector<Endpoint> sources(1);
  CHECK(receiver->receive_batch(in, sources) == 0);
  pool.release(in[0]);
  batch.release();
}

TEST_CASE("UdpSocket GRO with a single scratch slot still receives everything", "[udp]") {
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, false}));
  UdpSocketOptions one_slot;
  one_slot.gro_reads = 0;  // clamped to 1
  auto receiver = std::move(*UdpSocket::open(0, 0, one_slot));
  const Endpoint to = endpoint("127.0.0.1", receiver->port());
  BufferPool pool(64, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(to, 700, 6);
  batch.add(to, 90, 1);
  batch.add(endpoint("::1", receiver->port()), 700, 4);
  REQUIRE(sender->send_batch(batch.out) == 11);
  std::vector<Datagram> want;
  for (const Datagram& d : batch.sent) {
    want.push_back({d.peer == to ? endpoint("127.0.0.1", sender->port())
                                 : endpoint("::1", sender->port()),
                    d.bytes});
  }
  CHECK(drain(*receiver, pool, 11, 16) == want);
  CHECK(receiver->stats().gro_reads == 2);     // the 90-byte tail closed the first run
  CHECK(receiver->stats().receive_syscalls >= 2);  // one read per call
  batch.release();
}

TEST_CASE("UdpSocket GRO hands out pending datagrams first, one call at a time", "[udp]") {
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, false}));
  auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, true}));
  const Endpoint to = endpoint("127.0.0.1", receiver->port());
  BufferPool pool(64, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(to, 600, 5);
  REQUIRE(sender->send_batch(batch.out) == 5);
  CHECK(sender->stats().gso_messages == 1);

  std::vector<PacketBuffer*> two{pool.acquire(), pool.acquire()};
  std::vector<Endpoint> sources(2);
  pollfd p{receiver->fd(), POLLIN, 0};
  REQUIRE(poll(&p, 1, 1000) == 1);
  REQUIRE(receiver->receive_batch(two, sources) == 2);
  CHECK(receiver->has_pending());
  CHECK(receiver->stats().receive_syscalls == 1);
  // The socket has nothing more to read: the rest is inside UdpSocket.
  CHECK(poll(&p, 1, 0) == 0);
  REQUIRE(receiver->receive_batch(two, sources) == 2);
  CHECK(receiver->stats().receive_syscalls == 1);
  CHECK(two[1]->size() == 600);
  CHECK(std::vector<uint8_t>(two[1]->data(), two[1]->data() + 600) == batch.sent[3].bytes);
  CHECK(sources[1] == endpoint("127.0.0.1", sender->port()));
  // The last pending one, then a system call that finds nothing more.
  REQUIRE(receiver->receive_batch(two, sources) == 1);
  CHECK_FALSE(receiver->has_pending());
  CHECK(std::vector<uint8_t>(two[0]->data(), two[0]->data() + 600) == batch.sent[4].bytes);
  CHECK(receiver->stats().receive_syscalls == 2);  // it used the free second buffer to look
  CHECK(receiver->receive_batch(two, sources) == 0);
  CHECK(receiver->stats().datagrams_received == 5);
  CHECK(receiver->stats().gro_segments == 5);

  // Segments too big for the caller's buffers come out empty, one per segment.
  REQUIRE(sender->send_batch(batch.out) == 5);
  BufferPool small(4, 256);
  std::vector<PacketBuffer*> tiny{small.acquire(), small.acquire(), small.acquire()};
  std::vector<Endpoint> tiny_sources(3);
  REQUIRE(poll(&p, 1, 1000) == 1);
  REQUIRE(receiver->receive_batch(tiny, tiny_sources) == 3);
  for (PacketBuffer* b : tiny) CHECK(b->size() == 0);
  CHECK(receiver->has_pending());
  REQUIRE(receiver->receive_batch(tiny, tiny_sources) == 2);
  for (PacketBuffer* b : two) pool.release(b);
  batch.release();
}

TEST_CASE("UdpSocket GSO fallback after a refused send loses nothing", "[udp]") {
  const int error = GENERATE(EIO, ENOPROTOOPT, EOPNOTSUPP, EINVAL);
  INFO("injected " << std::strerror(error));
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, false}));
  auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
  const Endpoint to4 = endpoint("127.0.0.1", receiver->port());
  const Endpoint to6 = endpoint("::1", receiver->port());
  BufferPool pool(256, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(to4, 100, 1);   // plain: really sent before the refused message
  batch.add(to4, 1000, 10);  // refused
  batch.add(to6, 900, 5);
  sender->fail_next_gso_send_for_test(error);
  REQUIRE(sender->send_batch(batch.out) == 16);

  const UdpSocketStats& s = sender->stats();
  CHECK_FALSE(sender->gso_enabled());
  CHECK(s.gso_fallbacks == 1);
  CHECK(s.datagrams_sent == 16);
  CHECK(s.unreachable_skipped == 0);
  CHECK(s.send_syscalls == 2);
  // EINVAL is confirmed by resending the run's first datagram alone while the later run is
  // still prepared for GSO, so that one goes out segmented; the others turn GSO off at once.
  CHECK(s.gso_messages == (error == EINVAL ? 1u : 0u));

  std::vector<Datagram> want;
  for (const Datagram& d : batch.sent) {
    want.push_back({d.peer == to4 ? endpoint("127.0.0.1", sender->port())
                                  : endpoint("::1", sender->port()),
                    d.bytes});
  }
  CHECK(drain(*receiver, pool, 16, 32) == want);

  // GSO stays off for this socket.
  const uint64_t gso_messages = s.gso_messages;
  CHECK(sender->send_batch(batch.out) == 16);
  CHECK(sender->stats().gso_messages == gso_messages);
  CHECK(drain(*receiver, pool, 16, 32).size() == 16);
  batch.release();
}

TEST_CASE("UdpSocket falls back when the kernel refuses GSO with EINVAL", "[udp]") {
  // With UDP checksums off (SO_NO_CHECK) the kernel refuses UDP_SEGMENT with EINVAL but still
  // sends the datagrams one by one: a real refusal, not an injected one.
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, false}));
  auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
  const int on = 1;
  REQUIRE(setsockopt(sender->fd(), SOL_SOCKET, SO_NO_CHECK, &on, sizeof on) == 0);
  const Endpoint to = endpoint("127.0.0.1", receiver->port());
  BufferPool pool(64, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(to, 1000, 8);
  batch.add(to, 400, 6);
  REQUIRE(sender->send_batch(batch.out) == 14);
  CHECK_FALSE(sender->gso_enabled());
  CHECK(sender->stats().gso_fallbacks >= 1);
  CHECK(sender->stats().unreachable_skipped == 0);
  CHECK(sender->stats().datagrams_sent == 14);
  CHECK(drain(*receiver, pool, 14, 16) ==
        expected_at(batch.sent, to, endpoint("127.0.0.1", sender->port())));
  batch.release();
}

TEST_CASE("UdpSocket keeps GSO when EINVAL came from the destination", "[udp]") {
  auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, false}));
  auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
  const Endpoint to = endpoint("127.0.0.1", receiver->port());
  BufferPool pool(64, 2048);
  BatchBuilder batch{pool, {}, {}};
  batch.add(endpoint("127.0.0.1", 0), 500, 5);  // port 0: EINVAL for each datagram alone too
  batch.add(to, 500, 5);
  REQUIRE(sender->send_batch(batch.out) == 5);
  const UdpSocketStats& s = sender->stats();
  CHECK(sender->gso_enabled());
  CHECK(s.gso_fallbacks == 1);
  CHECK(s.unreachable_skipped == 5);
  CHECK(s.gso_messages == 1);
  CHECK(s.gso_segments == 5);
  CHECK(s.datagrams_sent == 5);
  CHECK(drain(*receiver, pool, 5, 8) ==
        expected_at(batch.sent, to, endpoint("127.0.0.1", sender->port())));
  batch.release();
}

namespace {

// Receives up to `want` datagrams, giving up after half a second without any; returns their
// sizes.
std::vector<size_t> receive_sizes(UdpSocket& s, BufferPool& pool, size_t want) {
  std::vector<size_t> sizes;
  std::vector<PacketBuffer*> buffers{pool.acquire(), pool.acquire(), pool.acquire()};
  std::vector<Endpoint> sources(buffers.size());
  for (int idle = 0; sizes.size() < want && idle < 50;) {
    pollfd p{s.fd(), POLLIN, 0};
    if (!s.has_pending() && poll(&p, 1, 10) == 0) {
      ++idle;
      continue;
    }
    const int n = s.receive_batch(buffers, sources);
    for (int i = 0; i < n; ++i) sizes.push_back(buffers[static_cast<size_t>(i)]->size());
  }
  for (PacketBuffer* b : buffers) pool.release(b);
  return sizes;
}

}  // namespace

TEST_CASE("UdpSocket does not fragment: oversize datagrams fail with EMSGSIZE", "[udp][netns]") {
  run_netns([]() -> std::string {
    // Loopback in a fresh namespace, with the smallest MTU IPv6 allows.
    auto netlink = Netlink::open();
    if (!netlink) return "skip: netlink: " + netlink.error().message;
    if (!(*netlink)->set_mtu(1, 1280)) return "setting lo's MTU failed";
    if (!(*netlink)->set_link_up(1, true)) return "setting lo up failed";

    auto sender = std::move(*UdpSocket::open(0, 0));
    auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{true, false}));
    EXPECT(sender->dont_fragment());
    EXPECT(sender->gso_enabled());
    const Endpoint to4 = endpoint("127.0.0.1", receiver->port());
    const Endpoint to6 = endpoint("::1", receiver->port());
    BufferPool pool(32, 2048);
    std::vector<OutboundDatagram> out;
    auto add = [&](const Endpoint& to, size_t size) {
      PacketBuffer* b = pool.acquire();
      fill(b, 1, size);
      out.push_back({to, b});
    };
    add(to4, 1400);  // 1428 bytes on the wire: over 1280
    add(to4, 1000);
    add(to6, 1400);
    add(to6, 1000);
    for (int i = 0; i < 3; ++i) add(to4, 1300);  // a GSO run of over-MTU segments
    EXPECT(sender->send_batch(out) == 2);
    EXPECT(sender->stats().unreachable_skipped == 5);
    // Each 1400 opened a run closed by the 1000 after it; those two runs and the 1300 run were
    // refused for their over-MTU segments and retried one by one. GSO itself stays on.
    EXPECT(sender->stats().gso_fallbacks == 3);
    EXPECT(sender->gso_enabled());
    const std::vector<size_t> sizes = receive_sizes(*receiver, pool, 3);
    EXPECT((sizes == std::vector<size_t>{1000, 1000}));

    // A socket without don't-fragment gets the same datagram through, fragmented: so it was
    // don't-fragment that stopped ours.
    const int plain = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(receiver->port());
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const ssize_t n = sendto(plain, out[0].buffer->data(), 1400, 0,
                             reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
    close(plain);
    EXPECT(n == 1400);
    EXPECT((receive_sizes(*receiver, pool, 1) == std::vector<size_t>{1400}));
    for (const OutboundDatagram& d : out) pool.release(d.buffer);
    return "";
  });
}

TEST_CASE("UdpSocket waits for a full send buffer, within its bound", "[udp][netns]") {
  run_netns([]() -> std::string {
    auto netlink = Netlink::open();
    if (!netlink) return "skip: netlink: " + netlink.error().message;
    if (!(*netlink)->set_link_up(1, true)) return "setting lo up failed";
    // A slow queue on loopback keeps sent datagrams charged to the sender's socket, so a small
    // send buffer fills: 8 Mbit/s drains one 1000-byte datagram per millisecond.
    if (std::system("tc qdisc add dev lo root tbf rate 8mbit burst 1600 latency 2s"
                    " >/dev/null 2>&1") != 0) {
      return "skip: tc could not add a tbf qdisc";
    }
    auto sender = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
    auto receiver = std::move(*UdpSocket::open(0, 0, UdpSocketOptions{false, false}));
    const int small = 4096;
    EXPECT(setsockopt(sender->fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);

    BufferPool pool(80, 2048);
    std::vector<OutboundDatagram> out;
    for (int i = 0; i < 64; ++i) {
      PacketBuffer* b = pool.acquire();
      fill(b, i, 1000);
      out.push_back({endpoint("127.0.0.1", receiver->port()), b});
    }
    const int64_t start = monotonic_ns();
    const int sent = sender->send_batch(out);
    const int64_t elapsed = monotonic_ns() - start;
    const UdpSocketStats& s = sender->stats();
    EXPECT(s.send_waits >= 1);
    EXPECT(sent > 0);
    EXPECT(sent < 64);  // 5 ms at 1 datagram/ms cannot drain 64
    EXPECT(s.datagrams_sent == static_cast<uint64_t>(sent));
    EXPECT(s.send_syscalls >= 2 * s.send_waits);  // each wait: one poll, then one sendmmsg
    EXPECT(elapsed >= 2'000'000);
    EXPECT(elapsed < 100'000'000);
    // What was accepted arrives: the queue delays, it does not drop.
    const std::vector<size_t> sizes = receive_sizes(*receiver, pool, static_cast<size_t>(sent));
    EXPECT(sizes.size() == static_cast<size_t>(sent));
    for (const OutboundDatagram& d : out) pool.release(d.buffer);
    return "";
  });
}
