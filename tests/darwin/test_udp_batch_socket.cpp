// UdpBatchSocket over loopback: batches through recvmsg_x/sendmsg_x (the Linux shim), the
// start-up self-test and its fallback, runtime fallback, and that both paths give the same
// results with different system-call counts.
#include <poll.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "platform/darwin/udp_batch_socket.h"
#include "platform/darwin_shim/socket_x_faults.h"

using namespace sluice;
using namespace sluice::platform;
namespace shim = sluice::darwin_shim;

namespace {

using Bytes = std::vector<uint8_t>;

// Sets shim faults for one scope, so a failing CHECK cannot leak them into the next test.
struct FaultScope {
  explicit FaultScope(const shim::Faults& faults) { shim::set_faults(faults); }
  ~FaultScope() { shim::clear_faults(); }
  FaultScope(const FaultScope&) = delete;
  FaultScope& operator=(const FaultScope&) = delete;
};

std::unique_ptr<UdpBatchSocket> open_socket() {
  auto s = UdpBatchSocket::open(0);
  REQUIRE(s.has_value());
  return std::move(*s);
}

// A socket whose self-test failed, so it uses recvmsg/sendmsg for life. Without batch calls
// compiled in, every socket is one.
std::unique_ptr<UdpBatchSocket> open_fallback_socket() {
#if SLUICE_DARWIN_BATCH_IO
  shim::Faults broken;
  broken.receive_errno = ENOSYS;
  FaultScope scope(broken);
  auto s = open_socket();
  REQUIRE_FALSE(s->uses_batch_calls());
  REQUIRE(s->stats().fallbacks == 1);
  return s;
#else
  return open_socket();
#endif
}

Endpoint endpoint(const char* address, uint16_t port) {
  return Endpoint{*IpAddress::parse(address), port};
}

Bytes pattern(size_t size, unsigned seed) {
  Bytes b(size);
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(seed * 31 + i);
  return b;
}

PacketBuffer* holding(BufferPool& pool, const Bytes& bytes) {
  PacketBuffer* b = pool.acquire();
  REQUIRE(b != nullptr);
  b->reset_for_outer();
  std::memcpy(b->data(), bytes.data(), bytes.size());
  b->set_size(bytes.size());
  return b;
}

std::vector<PacketBuffer*> acquire(BufferPool& pool, size_t count) {
  std::vector<PacketBuffer*> buffers;
  for (size_t i = 0; i < count; ++i) buffers.push_back(pool.acquire());
  return buffers;
}

Bytes contents(const PacketBuffer* b) { return Bytes(b->data(), b->data() + b->size()); }

// Waits for the socket to become readable, then lets loopback queue the rest of a batch.
[[maybe_unused]] void wait_for_batch(const UdpBatchSocket& s) {
  pollfd p{s.fd(), POLLIN, 0};
  REQUIRE(poll(&p, 1, 1000) == 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// Receives until `want` datagrams arrived or a second passed.
int receive_all(UdpBatchSocket& s, std::vector<PacketBuffer*>& buffers,
                std::vector<Endpoint>& sources, int want) {
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

// One datagram as the receiver saw it; the sender's port is folded to 0 so runs with
// different sockets compare equal.
struct Received {
  Bytes data;
  Endpoint source;
  bool operator==(const Received&) const = default;
};

struct Outcome {
  int sent = 0;
  std::vector<Received> received;
  UdpBatchStats sender;
  UdpBatchStats receiver;
};

// Mixed IPv4/IPv6 destinations, sizes from 1 byte up, three datagrams too big for the
// receiver's 512-byte buffers and one destination the kernel refuses (port 0).
Outcome run_mixed_scenario(UdpBatchSocket& sender, UdpBatchSocket& receiver) {
  BufferPool pool(128, 2048);
  BufferPool small(64, 512);
  std::vector<OutboundDatagram> out;
  constexpr int kDatagrams = 40;
  for (int i = 0; i < kDatagrams; ++i) {
    const size_t size = (i % 13 == 5) ? 600 + static_cast<size_t>(i) : 1 + static_cast<size_t>(i) * 11;
    const char* address = (i % 3 == 0) ? "::1" : "127.0.0.1";
    out.push_back({endpoint(address, receiver.port()), holding(pool, pattern(size, static_cast<unsigned>(i)))});
  }
  out[17].destination.port = 0;

  Outcome outcome;
  outcome.sent = sender.send_batch(out);
  std::vector<PacketBuffer*> in = acquire(small, 64);
  std::vector<Endpoint> sources(64);
  const int got = receive_all(receiver, in, sources, kDatagrams - 1 - 3);
  for (int i = 0; i < got; ++i) {
    Endpoint source = sources[static_cast<size_t>(i)];
    CHECK(source.port == sender.port());
    source.port = 0;
    outcome.received.push_back({contents(in[static_cast<size_t>(i)]), source});
  }
  outcome.sender = sender.stats();
  outcome.receiver = receiver.stats();
  return outcome;
}

}  // namespace

TEST_CASE("UdpBatchSocket binds a port and detects EADDRINUSE", "[udp_batch]") {
  auto a = open_socket();
  CHECK(a->port() != 0);
  CHECK(a->family() == AF_INET6);
  CHECK(a->uses_batch_calls() == static_cast<bool>(SLUICE_DARWIN_BATCH_IO));
  CHECK(a->stats().fallbacks == 0);

  auto b = UdpBatchSocket::open(a->port());
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().code == EADDRINUSE);
}

TEST_CASE("UdpBatchSocket moves batches of 1 to 128 intact, IPv4 senders as plain IPv4",
          "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  BufferPool pool(256, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 128);
  std::vector<Endpoint> sources(128);
  for (size_t n = 1; n <= 128; ++n) {
    INFO("batch of " << n);
    std::vector<OutboundDatagram> out;
    for (size_t i = 0; i < n; ++i) {
      out.push_back({endpoint("127.0.0.1", receiver->port()), holding(pool, pattern(8 + i * 9, static_cast<unsigned>(n + i)))});
    }
    const uint64_t calls_before = sender->stats().send_calls;
    REQUIRE(sender->send_batch(out) == static_cast<int>(n));
    if (sender->uses_batch_calls()) CHECK(sender->stats().send_calls - calls_before == 1);
    for (OutboundDatagram& d : out) pool.release(d.buffer);

    REQUIRE(receive_all(*receiver, in, sources, static_cast<int>(n)) == static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      CHECK(contents(in[i]) == pattern(8 + i * 9, static_cast<unsigned>(n + i)));
      CHECK(in[i]->offset() == 0);
      CHECK(sources[i].address.family == IpFamily::v4);
      CHECK(sources[i] == endpoint("127.0.0.1", sender->port()));
    }
  }
  CHECK(sender->stats().datagrams_sent == 128 * 129 / 2);
  CHECK(receiver->stats().datagrams_received == 128 * 129 / 2);
  CHECK(receiver->stats().truncated == 0);
}

#if SLUICE_DARWIN_BATCH_IO

TEST_CASE("UdpBatchSocket: a batch of N is one sendmsg_x and one recvmsg_x", "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  REQUIRE(sender->uses_batch_calls());
  REQUIRE(receiver->uses_batch_calls());
  BufferPool pool(256, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 128);
  std::vector<Endpoint> sources(128);
  for (const size_t n : {size_t{1}, size_t{2}, size_t{16}, size_t{64}, size_t{127}, size_t{128}}) {
    INFO("batch of " << n);
    std::vector<OutboundDatagram> out;
    for (size_t i = 0; i < n; ++i) out.push_back({endpoint("::1", receiver->port()), holding(pool, pattern(100, 1))});
    const UdpBatchStats send_before = sender->stats();
    const shim::CallCounts shim_before = shim::call_counts();
    REQUIRE(sender->send_batch(out) == static_cast<int>(n));
    CHECK(sender->stats().send_calls - send_before.send_calls == 1);
    CHECK(shim::call_counts().sendmsg_x - shim_before.sendmsg_x == 1);
    for (OutboundDatagram& d : out) pool.release(d.buffer);

    wait_for_batch(*receiver);
    const uint64_t receive_before = receiver->stats().receive_calls;
    REQUIRE(receiver->receive_batch(in, sources) == static_cast<int>(n));
    CHECK(receiver->stats().receive_calls - receive_before == 1);
    CHECK(shim::call_counts().recvmsg_x - shim_before.recvmsg_x == 1);
  }
}

#endif  // SLUICE_DARWIN_BATCH_IO

TEST_CASE("UdpBatchSocket sends to IPv4 and IPv6 destinations in one batch", "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  BufferPool pool(32, 2048);
  std::vector<OutboundDatagram> out;
  for (unsigned i = 0; i < 8; ++i) {
    out.push_back({endpoint(i % 2 == 0 ? "127.0.0.1" : "::1", receiver->port()), holding(pool, pattern(50 + i, i))});
  }
  REQUIRE(sender->send_batch(out) == 8);
  if (sender->uses_batch_calls()) CHECK(sender->stats().send_calls == 1);
  std::vector<PacketBuffer*> in = acquire(pool, 8);
  std::vector<Endpoint> sources(8);
  REQUIRE(receive_all(*receiver, in, sources, 8) == 8);
  for (unsigned i = 0; i < 8; ++i) {
    CHECK(contents(in[i]) == pattern(50 + i, i));
    CHECK(sources[i] == endpoint(i % 2 == 0 ? "127.0.0.1" : "::1", sender->port()));
  }
}

TEST_CASE("UdpBatchSocket drops and counts oversized datagrams, never delivering them cut",
          "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  BufferPool pool(8, 2048);
  std::vector<OutboundDatagram> out;
  for (const size_t size : {64, 300, 65, 500, 66}) {
    out.push_back({endpoint("127.0.0.1", receiver->port()), holding(pool, pattern(size, static_cast<unsigned>(size)))});
  }
  REQUIRE(sender->send_batch(out) == 5);

  BufferPool small(8, 256);
  std::vector<PacketBuffer*> in = acquire(small, 8);
  std::vector<Endpoint> sources(8);
  REQUIRE(receive_all(*receiver, in, sources, 3) == 3);
  CHECK(contents(in[0]) == pattern(64, 64));
  CHECK(contents(in[1]) == pattern(65, 65));
  CHECK(contents(in[2]) == pattern(66, 66));
  CHECK(receiver->stats().truncated == 2);
  CHECK(receiver->stats().datagrams_received == 3);
  CHECK(receiver->receive_batch(in, sources) == 0);
}

TEST_CASE("UdpBatchSocket skips unreachable destinations and counts them", "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  BufferPool pool(8, 2048);
  std::vector<OutboundDatagram> out;
  for (unsigned i = 0; i < 4; ++i) {
    out.push_back({endpoint("127.0.0.1", receiver->port()), holding(pool, pattern(32, i))});
  }
  out[1].destination.port = 0;  // EINVAL from the kernel
  CHECK(sender->send_batch(out) == 3);
  CHECK(sender->unreachable_skipped() == 1);
  std::vector<PacketBuffer*> in = acquire(pool, 3);
  std::vector<Endpoint> sources(3);
  REQUIRE(receive_all(*receiver, in, sources, 3) == 3);
  CHECK(contents(in[0]) == pattern(32, 0));
  CHECK(contents(in[1]) == pattern(32, 2));
  CHECK(contents(in[2]) == pattern(32, 3));
}

TEST_CASE("UdpBatchSocket: nothing to receive is 0, not an error", "[udp_batch]") {
  auto receiver = open_socket();
  BufferPool pool(4, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 4);
  std::vector<Endpoint> sources(4);
  CHECK(receiver->receive_batch(in, sources) == 0);
  CHECK(receiver->receive_batch(in, std::span<Endpoint>()) == 0);
  CHECK(receiver->stats().datagrams_received == 0);
  CHECK(receiver->stats().fallbacks == 0);
}

#if SLUICE_DARWIN_BATCH_IO

TEST_CASE("UdpBatchSocket: EAGAIN, short counts and EMSGSIZE from the batch calls",
          "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  REQUIRE(sender->uses_batch_calls());
  BufferPool pool(64, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 16);
  std::vector<Endpoint> sources(16);
  auto batch = [&](size_t n, size_t size) {
    std::vector<OutboundDatagram> out;
    for (size_t i = 0; i < n; ++i) {
      out.push_back({endpoint("127.0.0.1", receiver->port()), holding(pool, pattern(size, static_cast<unsigned>(i)))});
    }
    return out;
  };
  auto release = [&](std::vector<OutboundDatagram>& out) {
    for (OutboundDatagram& d : out) pool.release(d.buffer);
  };

  SECTION("EAGAIN on the first call sends nothing and is not a fallback") {
    shim::Faults f;
    f.send_errno = EAGAIN;
    FaultScope scope(f);
    auto out = batch(5, 40);
    CHECK(sender->send_batch(out) == 0);
    CHECK(sender->uses_batch_calls());
    CHECK(sender->stats().fallbacks == 0);
    release(out);
  }

  SECTION("EAGAIN after a partial batch reports what went out") {
    shim::Faults f;
    f.max_per_call = 2;
    f.send_errno = EAGAIN;
    f.errno_after_calls = 1;
    FaultScope scope(f);
    auto out = batch(6, 40);
    CHECK(sender->send_batch(out) == 2);
    CHECK(sender->stats().send_calls == 2);
    release(out);
    CHECK(receive_all(*receiver, in, sources, 2) == 2);
    CHECK(contents(in[1]) == pattern(40, 1));
  }

  SECTION("short counts are completed with further calls, both ways") {
    shim::Faults f;
    f.max_per_call = 3;
    FaultScope scope(f);
    auto out = batch(10, 40);
    CHECK(sender->send_batch(out) == 10);
    CHECK(sender->stats().send_calls == 4);
    release(out);
    wait_for_batch(*receiver);
    CHECK(receiver->receive_batch(in, sources) == 3);  // a short count is a normal return
    CHECK(receive_all(*receiver, in, sources, 7) == 7);
    CHECK(contents(in[6]) == pattern(40, 9));
    CHECK(receiver->uses_batch_calls());
  }

  SECTION("a batch above the send high-water mark is split, a lone oversize one skipped") {
    shim::Faults f;
    f.send_byte_limit = 1000;
    FaultScope scope(f);
    auto out = batch(10, 300);
    CHECK(sender->send_batch(out) == 10);
    // 10 and 5 refused with EMSGSIZE, then five calls of 2.
    CHECK(sender->stats().send_calls == 7);
    CHECK(sender->unreachable_skipped() == 0);
    release(out);
    CHECK(receive_all(*receiver, in, sources, 10) == 10);
    CHECK(contents(in[9]) == pattern(300, 9));

    auto big = batch(1, 1200);
    CHECK(sender->send_batch(big) == 0);
    CHECK(sender->unreachable_skipped() == 1);
    CHECK(sender->uses_batch_calls());
    release(big);
  }
}

TEST_CASE("UdpBatchSocket self-test passes with a healthy shim and short counts", "[udp_batch]") {
  SECTION("healthy") {
    auto s = open_socket();
    CHECK(s->uses_batch_calls());
  }
  SECTION("one datagram per call is still the documented contract") {
    shim::Faults f;
    f.max_per_call = 1;
    FaultScope scope(f);
    auto s = open_socket();
    CHECK(s->uses_batch_calls());
    CHECK(s->stats().fallbacks == 0);
  }
}

TEST_CASE("UdpBatchSocket falls back for life when the self-test fails", "[udp_batch]") {
  shim::Faults f;
  SECTION("recvmsg_x: ENOSYS") { f.receive_errno = ENOSYS; }
  SECTION("sendmsg_x: ENOSYS") { f.send_errno = ENOSYS; }
  SECTION("sendmsg_x: EINVAL") { f.send_errno = EINVAL; }
  SECTION("recvmsg_x: EOPNOTSUPP") { f.receive_errno = EOPNOTSUPP; }
  SECTION("wrong msg_datalen") { f.overstate_length = true; }
  SECTION("MSG_TRUNC lost") { f.hide_truncation = true; }
  SECTION("source address lost") { f.hide_source = true; }
  SECTION("sendmsg_x claims success but sends nothing") { f.swallow_sends = true; }

  std::unique_ptr<UdpBatchSocket> sender;
  std::unique_ptr<UdpBatchSocket> receiver;
  {
    FaultScope scope(f);
    sender = open_socket();
    receiver = open_socket();
  }
  CHECK_FALSE(sender->uses_batch_calls());
  CHECK(sender->stats().fallbacks == 1);
  CHECK_FALSE(receiver->uses_batch_calls());

  // With the shim healthy again the sockets stay on recvmsg/sendmsg: no x-call is made.
  const shim::CallCounts before = shim::call_counts();
  BufferPool pool(16, 2048);
  std::vector<OutboundDatagram> out;
  for (unsigned i = 0; i < 5; ++i) {
    out.push_back({endpoint("127.0.0.1", receiver->port()), holding(pool, pattern(70, i))});
  }
  REQUIRE(sender->send_batch(out) == 5);
  CHECK(sender->stats().send_calls == 5);
  std::vector<PacketBuffer*> in = acquire(pool, 5);
  std::vector<Endpoint> sources(5);
  REQUIRE(receive_all(*receiver, in, sources, 5) == 5);
  CHECK(contents(in[4]) == pattern(70, 4));
  CHECK(sources[4] == endpoint("127.0.0.1", sender->port()));
  CHECK(shim::call_counts().sendmsg_x == before.sendmsg_x);
  CHECK(shim::call_counts().recvmsg_x == before.recvmsg_x);
}

TEST_CASE("UdpBatchSocket falls back when the kernel refuses the calls later", "[udp_batch]") {
  auto sender = open_socket();
  auto receiver = open_socket();
  REQUIRE(sender->uses_batch_calls());
  REQUIRE(receiver->uses_batch_calls());
  BufferPool pool(16, 2048);
  std::vector<PacketBuffer*> in = acquire(pool, 8);
  std::vector<Endpoint> sources(8);
  std::vector<OutboundDatagram> out;
  for (unsigned i = 0; i < 6; ++i) {
    out.push_back({endpoint("::1", receiver->port()), holding(pool, pattern(90, i))});
  }

  SECTION("sendmsg_x: EOPNOTSUPP mid-batch") {
    shim::Faults f;
    f.max_per_call = 2;
    f.send_errno = EOPNOTSUPP;
    f.errno_after_calls = 1;
    FaultScope scope(f);
    CHECK(sender->send_batch(out) == 6);  // 2 by sendmsg_x, 4 by sendmsg
    CHECK_FALSE(sender->uses_batch_calls());
    CHECK(sender->stats().fallbacks == 1);
    CHECK(sender->stats().send_calls == 2 + 4);
    REQUIRE(receive_all(*receiver, in, sources, 6) == 6);
    CHECK(contents(in[5]) == pattern(90, 5));
  }

  SECTION("recvmsg_x: ENOSYS") {
    REQUIRE(sender->send_batch(out) == 6);
    shim::Faults f;
    f.receive_errno = ENOSYS;
    FaultScope scope(f);
    REQUIRE(receive_all(*receiver, in, sources, 6) == 6);
    CHECK_FALSE(receiver->uses_batch_calls());
    CHECK(receiver->stats().fallbacks == 1);
    CHECK(contents(in[5]) == pattern(90, 5));
  }

  SECTION("recvmsg_x: EIO where recvmsg reads") {
    // Returning the error would leave the datagrams queued and a poller spinning on them.
    REQUIRE(sender->send_batch(out) == 6);
    wait_for_batch(*receiver);
    shim::Faults f;
    f.receive_errno = EIO;
    FaultScope scope(f);
    REQUIRE(receive_all(*receiver, in, sources, 6) == 6);
    CHECK_FALSE(receiver->uses_batch_calls());
    CHECK(receiver->stats().fallbacks == 1);
    CHECK(contents(in[5]) == pattern(90, 5));
  }

  SECTION("recvmsg_x: a length longer than the buffer") {
    // The datagram fills its buffer exactly, so the overstated length cannot be true.
    BufferPool exact(8, 90);
    std::vector<PacketBuffer*> tight = acquire(exact, 8);
    REQUIRE(sender->send_batch(out) == 6);
    wait_for_batch(*receiver);
    shim::Faults f;
    f.overstate_length = true;
    FaultScope scope(f);
    CHECK(receiver->receive_batch(tight, sources) == 0);  // none can be trusted
    CHECK_FALSE(receiver->uses_batch_calls());
    CHECK(receiver->stats().fallbacks == 1);
    CHECK(receiver->stats().datagrams_received == 0);
  }
}

TEST_CASE("UdpBatchSocket gives identical results through the fallback path", "[udp_batch]") {
  auto x_sender = open_socket();
  auto x_receiver = open_socket();
  REQUIRE(x_sender->uses_batch_calls());
  const Outcome x = run_mixed_scenario(*x_sender, *x_receiver);

  auto plain_sender = open_fallback_socket();
  auto plain_receiver = open_fallback_socket();
  const Outcome plain = run_mixed_scenario(*plain_sender, *plain_receiver);

  CHECK(x.sent == 39);
  CHECK(plain.sent == x.sent);
  REQUIRE(x.received.size() == 36);
  CHECK(plain.received == x.received);
  CHECK(plain.sender.datagrams_sent == x.sender.datagrams_sent);
  CHECK(plain.sender.unreachable_skipped == 1);
  CHECK(x.sender.unreachable_skipped == 1);
  CHECK(plain.receiver.truncated == 3);
  CHECK(x.receiver.truncated == 3);
  CHECK(plain.receiver.datagrams_received == x.receiver.datagrams_received);
  // The difference is the number of system calls: 40 sendmsg against 3 sendmsg_x (the
  // refused port-0 datagram ends the first call, the second fails on it, the third sends
  // the rest).
  CHECK(plain.sender.send_calls == 40);
  CHECK(x.sender.send_calls == 3);
  CHECK(plain.receiver.receive_calls > x.receiver.receive_calls);
}

#endif  // SLUICE_DARWIN_BATCH_IO

TEST_CASE("UdpBatchSocket's recvmsg/sendmsg path on a mixed batch", "[udp_batch]") {
  auto sender = open_fallback_socket();
  auto receiver = open_fallback_socket();
  const Outcome plain = run_mixed_scenario(*sender, *receiver);
  CHECK(plain.sent == 39);
  REQUIRE(plain.received.size() == 36);
  CHECK(plain.received[0].data == pattern(1, 0));
  CHECK(plain.received[0].source == endpoint("::1", 0));
  CHECK(plain.received[1].source == endpoint("127.0.0.1", 0));
  CHECK(plain.sender.unreachable_skipped == 1);
  CHECK(plain.sender.send_calls == 40);
  CHECK(plain.receiver.truncated == 3);
  CHECK(plain.receiver.datagrams_received == 36);
  CHECK(plain.receiver.receive_calls >= 39);  // one recvmsg per datagram, cut ones included
}
