// The embedded stack against the Linux TCP stack: a TUN in a private network namespace joins
// the kernel to an IpStack, and real kernel sockets talk to the DNS-over-TCP server and answer
// the stack's upstream queries. Virtual time runs with the real clock, and can be jumped ahead
// to fire the stack's timeouts at once.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ipstack/ip_stack.h"
#include "platform/netlink.h"
#include "platform/netns_check.h"
#include "platform/socket_address.h"
#include "platform/tun_device.h"
#include "platform/unique_fd.h"
#include "tcp_peer.h"
#include "tunnel/inet_checksum.h"

using namespace sluice;
using namespace sluice::platform;
using ipstack::AnswerStatus;
using ipstack::ConnectionId;
using ipstack::IpStack;
using ipstack::IpStackConfig;
using ipstack::TcpQueryError;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// The kernel's side of the TUN, and the stack's addresses behind it.
constexpr const char* kHost4 = "10.53.0.1";
constexpr const char* kHost6 = "fd53::1";
constexpr const char* kTunnel4 = "10.53.0.2";
constexpr const char* kTunnel6 = "fd53::2";
constexpr const char* kDns4 = "10.53.0.53";
constexpr const char* kDns6 = "fd53::53";

// A TUN whose far end is an IpStack; pump() moves packets both ways and runs its timers.
class TunRig {
 public:
  // Creates the TUN with the host's addresses and the stack with `config` (addresses, the
  // output and the clock are filled in here). "" on success.
  std::string start(IpStackConfig config) {
    auto netlink = Netlink::open();
    EXPECT_OK(netlink);
    auto tun = TunDevice::create("sldns%d");
    EXPECT_OK(tun);
    tun_ = std::move(*tun);
    const int ifindex = tun_->ifindex();
    EXPECT_OK((*netlink)->set_mtu(ifindex, 1420));
    EXPECT_OK((*netlink)->add_address(ifindex, ip(kHost4), 24));
    EXPECT_OK((*netlink)->add_address(ifindex, ip(kHost6), 64));
    EXPECT_OK((*netlink)->set_link_up(ifindex, true));
    EXPECT(ipv6_ready());
    config.ipv4 = ip(kTunnel4);
    config.ipv6 = ip(kTunnel6);
    config.mtu = 1420;
    config.output = [this](std::span<const uint8_t> packet) {
      PacketBuffer* b = pool_.acquire();
      if (b == nullptr || packet.size() > b->room() - PacketBuffer::kTailroom) {
        ++dropped_;
      } else {
        std::memcpy(b->data(), packet.data(), packet.size());
        b->set_size(packet.size());
        PacketBuffer* const batch[] = {b};
        if (tun_->write_batch(batch) != 1) ++dropped_;
      }
      if (b != nullptr) pool_.release(b);
    };
    std::string error;
    stack = IpStack::create(std::move(config), now(), error);
    if (stack == nullptr) return "IpStack::create: " + error;
    return "";
  }

  // The kernel takes a moment after the link comes up before it delivers IPv6 to its address
  // (addrconf installs the local route asynchronously). Pings fd53::1 through the TUN, from
  // the stack's address, until it answers; the stack does not exist yet.
  bool ipv6_ready() {
    const IpAddress from = ip(kTunnel6), to = ip(kHost6);
    std::vector<uint8_t> ping(48, 0);
    ping[0] = 0x60;
    ping[5] = 8;  // payload length: the ICMPv6 header
    ping[6] = 58;
    ping[7] = 64;
    std::memcpy(&ping[8], from.bytes.data(), 16);
    std::memcpy(&ping[24], to.bytes.data(), 16);
    ping[40] = 128;  // echo request
    const uint16_t checksum = checksum_finish(
        checksum_add(pseudo_header_sum(from, to, 58, 8), std::span(ping).subspan(40)));
    ping[42] = static_cast<uint8_t>(checksum >> 8);
    ping[43] = static_cast<uint8_t>(checksum);
    for (int attempt = 0; attempt < 100; ++attempt) {
      PacketBuffer* b = pool_.acquire();
      std::memcpy(b->data(), ping.data(), ping.size());
      b->set_size(ping.size());
      PacketBuffer* const out[] = {b};
      const int written = tun_->write_batch(out);
      pool_.release(b);
      if (written != 1) return false;
      pollfd p{tun_->fd(), POLLIN, 0};
      while (poll(&p, 1, 20) == 1) {
        std::vector<PacketBuffer*> batch;
        for (int i = 0; i < kBatch; ++i) batch.push_back(pool_.acquire());
        const int n = tun_->read_batch(batch);
        bool answered = false;
        for (int i = 0; i < n; ++i) {
          const uint8_t* r = batch[i]->data();
          if (batch[i]->size() > 40 && r[0] >> 4 == 6 && r[6] == 58 && r[40] == 129) answered = true;
        }
        for (PacketBuffer* used : batch) pool_.release(used);
        if (answered) return true;
        if (n <= 0) break;
      }
    }
    return false;
  }

  Now now() const {
    const auto real = std::chrono::steady_clock::now() - start_;
    return Now{std::chrono::duration_cast<std::chrono::nanoseconds>(real).count() + offset_ns_, 0};
  }

  // Reads what the kernel sent into the TUN (waiting up to `wait_ms` for the first packet) and
  // runs the stack's timers when due.
  void pump(int wait_ms = 5) {
    pollfd p{tun_->fd(), POLLIN, 0};
    if (poll(&p, 1, wait_ms) == 1) {
      std::vector<PacketBuffer*> batch;
      for (int i = 0; i < kBatch; ++i) batch.push_back(pool_.acquire());
      const int n = tun_->read_batch(batch);
      for (int i = 0; i < n; ++i) stack->input(batch[i]->data(), batch[i]->size(), now());
      for (PacketBuffer* b : batch) pool_.release(b);
    }
    if (stack->next_deadline() <= now().mono_ns) stack->handle_timers(now());
  }

  // Pumps until `done()` or `max_ms` of real time.
  bool pump_until(const std::function<bool()>& done, int max_ms = 10000) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      pump();
    }
    return true;
  }

  // Moves virtual time ahead at once and runs what falls due.
  void jump(int64_t ns) {
    offset_ns_ += ns;
    stack->handle_timers(now());
  }

  int dropped() const { return dropped_; }
  std::unique_ptr<IpStack> stack;

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int64_t offset_ns_ = seconds(100);
  // A batch holds a whole 64 KiB super-packet's segments when the TUN runs with offloads.
  static constexpr int kBatch = 64;
  BufferPool pool_{kBatch + 8, 2048};
  std::unique_ptr<TunDevice> tun_;
  int dropped_ = 0;
};

// A nonblocking kernel TCP socket connecting to `to`.
UniqueFd connect_to(const Endpoint& to) {
  const int family = to.address.family == IpFamily::v4 ? AF_INET : AF_INET6;
  UniqueFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const auto address = to_socket_address(to, family);
  connect(fd.get(), address->get(), address->length);
  return fd;
}

bool writable(int fd) {
  pollfd p{fd, POLLOUT, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

bool send_all(int fd, std::span<const uint8_t> bytes) {
  return send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

// Reads what is there without blocking. Returns 0 at EOF, -errno on error, else the count.
ssize_t read_some(int fd, std::vector<uint8_t>& into) {
  uint8_t buffer[4096];
  const ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN ? 1 : -errno;  // "nothing yet" is not EOF
  into.insert(into.end(), buffer, buffer + n);
  return n;
}

std::vector<uint8_t> concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct Query {
  ConnectionId id;
  std::vector<uint8_t> bytes;
};

}  // namespace

TEST_CASE("DNS over TCP from kernel sockets through a TUN: pipelined, split, answered later",
          "[ipstack][tun]") {
  run_netns([]() -> std::string {
    TunRig rig;
    std::vector<Query> queries;
    IpStackConfig config;
    config.dns_addresses = {ip(kDns4), ip(kDns6)};
    config.on_dns_query = [&](ConnectionId id, std::span<const uint8_t> q) {
      queries.push_back({id, {q.begin(), q.end()}});
    };
    const std::string started = rig.start(std::move(config));
    if (!started.empty()) return started;

    UniqueFd v4 = connect_to({ip(kDns4), 53});
    UniqueFd v6 = connect_to({ip(kDns6), 53});
    EXPECT(rig.pump_until([&] { return writable(v4.get()) && writable(v6.get()); }));

    // Three queries per connection, written so that the cuts fall inside a length prefix and
    // inside a body; each write is pumped through before the next.
    for (int fd : {v4.get(), v6.get()}) {
      const auto tag = std::to_string(fd);
      const auto stream = concat({test::dns_tcp_frame(bytes_of("first query " + tag)),
                                  test::dns_tcp_frame(std::vector<uint8_t>(600, 0x61)),
                                  test::dns_tcp_frame(bytes_of("third " + tag))});
      const size_t cut1 = 2 + 12 + tag.size() + 1, cut2 = cut1 + 400;
      EXPECT(send_all(fd, std::span(stream).first(cut1)));
      rig.pump(20);
      EXPECT(send_all(fd, std::span(stream).subspan(cut1, cut2 - cut1)));
      rig.pump(20);
      EXPECT(send_all(fd, std::span(stream).subspan(cut2)));
    }
    EXPECT(rig.pump_until([&] { return queries.size() == 6; }));

    // Answer everything, last query first.
    for (size_t i = queries.size(); i-- > 0;) {
      auto answer = bytes_of("answer to: ");
      answer.insert(answer.end(), queries[i].bytes.begin(), queries[i].bytes.end());
      EXPECT(rig.stack->answer(queries[i].id, answer, rig.now()) == AnswerStatus::Queued);
    }
    std::vector<ConnectionId> ids;
    for (int fd : {v4.get(), v6.get()}) {
      // This connection's queries, in the order they arrived; answered in reverse.
      const auto first = bytes_of("first query " + std::to_string(fd));
      std::optional<ConnectionId> id;
      for (const Query& q : queries) {
        if (q.bytes == first) id = q.id;
      }
      EXPECT(id);
      ids.push_back(*id);
      std::vector<Query> mine;
      for (const Query& q : queries) {
        if (q.id == *id) mine.push_back(q);
      }
      EXPECT(mine.size() == 3);
      EXPECT(mine[0].bytes == first);
      EXPECT(mine[1].bytes == std::vector<uint8_t>(600, 0x61));
      std::vector<uint8_t> expected;
      for (size_t i = mine.size(); i-- > 0;) {
        auto answer = bytes_of("answer to: ");
        answer.insert(answer.end(), mine[i].bytes.begin(), mine[i].bytes.end());
        const auto framed = test::dns_tcp_frame(answer);
        expected.insert(expected.end(), framed.begin(), framed.end());
      }
      std::vector<uint8_t> received;
      EXPECT(rig.pump_until([&] {
        read_some(fd, received);
        return received.size() >= expected.size();
      }));
      EXPECT(received == expected);
    }
    EXPECT(ids[0] != ids[1]);

    // The kernel closes; the stack closes its side (EOF) once nothing is owed.
    shutdown(v4.get(), SHUT_WR);
    std::vector<uint8_t> rest;
    EXPECT(rig.pump_until([&] { return read_some(v4.get(), rest) == 0; }));
    const auto& c = rig.stack->counters();
    EXPECT(c.dns_connections_accepted == 2);
    EXPECT(c.dns_queries == 6);
    EXPECT(c.dns_answers == 6);
    EXPECT(rig.dropped() == 0);
    return "";
  });
}

TEST_CASE("DNS over TCP through a TUN: connection limit and idle timeout hold",
          "[ipstack][tun]") {
  run_netns([]() -> std::string {
    TunRig rig;
    IpStackConfig config;
    config.dns_addresses = {ip(kDns4)};
    config.dns_server.max_connections = 2;
    config.dns_server.idle_timeout_ns = seconds(60);  // far beyond the real time the test takes
    config.on_dns_query = [&rig](ConnectionId id, std::span<const uint8_t> q) {
      rig.stack->answer(id, q, rig.now());  // echo at once
    };
    const std::string started = rig.start(std::move(config));
    if (!started.empty()) return started;

    UniqueFd a = connect_to({ip(kDns4), 53});
    UniqueFd b = connect_to({ip(kDns4), 53});
    EXPECT(rig.pump_until([&] { return writable(a.get()) && writable(b.get()); }));
    UniqueFd c = connect_to({ip(kDns4), 53});
    // The third handshake completes, then the stack resets it.
    std::vector<uint8_t> ignored;
    ssize_t c_result = 1;
    EXPECT(rig.pump_until([&] {
      c_result = read_some(c.get(), ignored);
      return c_result <= 0;
    }));
    EXPECT(c_result == -ECONNRESET);
    EXPECT(rig.stack->counters().dns_connections_refused == 1);

    // The admitted two still answer.
    const auto q = bytes_of("still here");
    for (int fd : {a.get(), b.get()}) {
      EXPECT(send_all(fd, test::dns_tcp_frame(q)));
      std::vector<uint8_t> got;
      EXPECT(rig.pump_until([&] {
        read_some(fd, got);
        return got.size() >= q.size() + 2;
      }));
      EXPECT(got == test::dns_tcp_frame(q));
    }

    // Let the kernel's delayed ACKs (real time) arrive first: an ACK of an answer counts as
    // activity. Then a minute of virtual silence closes both (EOF on the kernel side).
    for (int i = 0; i < 10; ++i) rig.pump(20);
    rig.jump(seconds(57));
    std::vector<uint8_t> none;
    rig.pump(50);
    EXPECT(read_some(a.get(), none) == 1);  // not yet
    rig.jump(seconds(4));
    for (int fd : {a.get(), b.get()}) {
      ssize_t r = 1;
      if (!rig.pump_until([&] { return (r = read_some(fd, none)) <= 0; }) || r != 0) {
        const auto& k = rig.stack->counters();
        return "no EOF on fd " + std::to_string(fd) + " r=" + std::to_string(r) + " idle_closed=" +
               std::to_string(k.dns_connections_idle_closed) + " active=" +
               std::to_string(k.dns_connections_active) + " lost=" + std::to_string(k.dns_connections_lost) +
               " out=" + std::to_string(k.packets_out) + " in=" + std::to_string(k.packets_in);
      }
    }
    EXPECT(rig.stack->counters().dns_connections_idle_closed == 2);
    EXPECT(rig.stack->counters().dns_connections_active == 0);
    return "";
  });
}

TEST_CASE("tcp_query reaches a kernel DNS responder through the TUN", "[ipstack][tun]") {
  run_netns([]() -> std::string {
    TunRig rig;
    struct Result {
      ipstack::TcpQueryId id;
      TcpQueryError error;
      std::vector<uint8_t> response;
    };
    std::vector<Result> results;
    IpStackConfig config;
    config.on_tcp_query_done = [&](ipstack::TcpQueryId id, TcpQueryError e, std::span<const uint8_t> r) {
      results.push_back({id, e, {r.begin(), r.end()}});
    };
    const std::string started = rig.start(std::move(config));
    if (!started.empty()) return started;

    for (const char* host : {kHost4, kHost6}) {
      results.clear();
      const IpAddress address = ip(host);
      const int family = address.family == IpFamily::v4 ? AF_INET : AF_INET6;
      UniqueFd listener(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      const int one = 1;
      setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      const auto bind_address = to_socket_address({address, 5353}, family);
      EXPECT(bind(listener.get(), bind_address->get(), bind_address->length) == 0);
      EXPECT(listen(listener.get(), 4) == 0);

      const auto query = bytes_of(std::string("upstream query via ") + host);
      const auto start = rig.stack->tcp_query({address, 5353}, query, seconds(60), rig.now());
      EXPECT(start.ok());
      UniqueFd conn;
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      if (!rig.pump_until([&] {
            conn = UniqueFd(accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer),
                                    &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC));
            return conn.get() >= 0;
          })) {
        const auto& k = rig.stack->counters();
        return std::string("no connection from the stack to ") + host + ": in " +
               std::to_string(k.packets_in) + " out " + std::to_string(k.packets_out) +
               " results " + std::to_string(results.size()) + " ip drops " +
               std::to_string(k.lwip_ip_drops) + " transport drops " +
               std::to_string(k.lwip_transport_drops) + " tun drops " + std::to_string(rig.dropped());
      }
      // The connection comes from the stack's own tunnel address.
      const auto from = to_endpoint(reinterpret_cast<sockaddr*>(&peer), peer_length);
      EXPECT(from && from->address == ip(address.family == IpFamily::v4 ? kTunnel4 : kTunnel6));

      std::vector<uint8_t> got;
      EXPECT(rig.pump_until([&] {
        read_some(conn.get(), got);
        return got.size() >= query.size() + 2;
      }));
      EXPECT(got == test::dns_tcp_frame(query));

      // The response in two writes, cut inside the length prefix.
      const auto response = std::vector<uint8_t>(1800, 0x3c);
      const auto framed = test::dns_tcp_frame(response);
      EXPECT(send_all(conn.get(), std::span(framed).first(1)));
      rig.pump(20);
      EXPECT(send_all(conn.get(), std::span(framed).subspan(1)));
      EXPECT(rig.pump_until([&] { return !results.empty(); }));
      EXPECT(results.size() == 1);
      EXPECT(results[0].id == start.id);
      EXPECT(results[0].error == TcpQueryError::None);
      EXPECT(results[0].response == response);
      // Then the stack closes: EOF for the responder.
      std::vector<uint8_t> rest;
      EXPECT(rig.pump_until([&] { return read_some(conn.get(), rest) == 0; }));
    }

    // Nobody listens on 5354: the kernel refuses.
    results.clear();
    EXPECT(rig.stack->tcp_query({ip(kHost4), 5354}, bytes_of("q"), seconds(60), rig.now()).ok());
    EXPECT(rig.pump_until([&] { return !results.empty(); }));
    EXPECT(results[0].error == TcpQueryError::ConnectionFailed);

    // A responder that accepts and never answers: the deadline fires in virtual time.
    results.clear();
    UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const auto bind_address = to_socket_address({ip(kHost4), 5355}, AF_INET);
    EXPECT(bind(listener.get(), bind_address->get(), bind_address->length) == 0);
    EXPECT(listen(listener.get(), 4) == 0);
    EXPECT(rig.stack->tcp_query({ip(kHost4), 5355}, bytes_of("q"), seconds(60), rig.now()).ok());
    UniqueFd silent;
    EXPECT(rig.pump_until([&] {
      silent = UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      return silent.get() >= 0;
    }));
    rig.pump(50);
    EXPECT(results.empty());
    rig.jump(seconds(60));
    EXPECT(results.size() == 1);
    EXPECT(results[0].error == TcpQueryError::Timeout);
    std::vector<uint8_t> rest;
    ssize_t r = 1;
    EXPECT(rig.pump_until([&] {
      r = read_some(silent.get(), rest);
      return r <= 0;
    }));
    EXPECT(r == -ECONNRESET);  // the stack aborts the connection it gave up on
    const auto& c = rig.stack->counters();
    EXPECT(c.tcp_queries_answered == 2);
    EXPECT(c.tcp_queries_failed == 1);
    EXPECT(c.tcp_queries_timed_out == 1);
    EXPECT(rig.dropped() == 0);
    return "";
  });
}
