// TUN offloads against the real kernel, inside private network namespaces: negotiation, a run
// written as one super-packet and forwarded back out of the TUN as one super-packet (so the
// segments read must be exactly those written), and TCP transfers between two local sockets
// whose packets loop through the TUN, with the kernel producing the super-packets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "netns_check.h"
#include "platform/netlink.h"
#include "platform/tun_device.h"
#include "tunnel/inet_checksum.h"
#include "tunnel/packet_builder.h"

using namespace sluice;
using namespace sluice::platform;
using namespace sluice::test;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

bool write_sysctl(const char* path, const char* value) {
  std::ofstream f(path);
  f << value;
  return static_cast<bool>(f.flush());
}

std::string stats_text(const TunStats& s) {
  char text[512];
  std::snprintf(text, sizeof text,
                "read_calls %llu write_calls %llu packets_read %llu super_packets %llu segments %llu "
                "written %llu coalesced_writes %llu coalesced_packets %llu refused %llu "
                "truncated %llu too_big %llu",
                (unsigned long long)s.read_calls, (unsigned long long)s.write_calls,
                (unsigned long long)s.packets_read, (unsigned long long)s.super_packets_read,
                (unsigned long long)s.segments_produced, (unsigned long long)s.packets_written,
                (unsigned long long)s.coalesced_writes, (unsigned long long)s.packets_coalesced,
                (unsigned long long)s.coalesced_writes_refused,
                (unsigned long long)s.read_dropped_truncated,
                (unsigned long long)s.read_dropped_too_big);
  return text;
}

uint64_t malformed_drops(const TunStats& s) {
  uint64_t n = 0;
  for (uint64_t v : s.read_dropped_malformed) n += v;
  return n;
}

// A TUN called sluiceoff0, up, with 10.77.0.1/24 and fd77::1/64 and routes to 10.78.0.0/16
// and fd78::/48 through it.
struct Interface {
  std::unique_ptr<Netlink> netlink;
  std::unique_ptr<TunDevice> tun;
};

std::string bring_up(Interface& i, const TunOptions& options = {}) {
  auto nl = Netlink::open();
  EXPECT_OK(nl);
  i.netlink = std::move(*nl);
  auto tun = TunDevice::create("sluiceoff0", options);
  EXPECT_OK(tun);
  i.tun = std::move(*tun);
  const int index = i.tun->ifindex();
  EXPECT_OK(i.netlink->add_address(index, ip("10.77.0.1"), 24));
  EXPECT_OK(i.netlink->add_address(index, ip("fd77::1"), 64));
  EXPECT_OK(i.netlink->set_link_up(index, true));
  EXPECT_OK(i.netlink->add_route(index, *IpPrefix::parse("10.78.0.0/16")));
  EXPECT_OK(i.netlink->add_route(index, *IpPrefix::parse("fd78::/48")));
  return "";
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

// Loads `packets` into pool buffers (owned by the caller until it releases them).
std::vector<PacketBuffer*> load(BufferPool& pool, const std::vector<std::vector<uint8_t>>& packets) {
  std::vector<PacketBuffer*> out;
  for (const auto& p : packets) {
    PacketBuffer* b = pool.acquire();
    if (b == nullptr) break;
    std::copy(p.begin(), p.end(), b->data());
    b->set_size(p.size());
    out.push_back(b);
  }
  return out;
}

// Writes `sent` (one flow's consecutive packets, to an address routed back out of the TUN) with
// one write_batch, then reads with batches of `read_batch` buffers until as many packets of that
// flow came back. They must be the same packets, hop limit one lower.
std::string forward_run(Interface& i, BufferPool& pool, const std::vector<std::vector<uint8_t>>& sent,
                        size_t read_batch) {
  TunDevice& tun = *i.tun;
  const TunStats before = tun.stats();
  std::vector<PacketBuffer*> out = load(pool, sent);
  EXPECT(out.size() == sent.size());
  const int written = tun.write_batch(out);
  for (PacketBuffer* b : out) pool.release(b);
  EXPECT(written == static_cast<int>(sent.size()));
  EXPECT(tun.stats().coalesced_writes == before.coalesced_writes + 1);
  EXPECT(tun.stats().packets_coalesced == before.packets_coalesced + sent.size());

  const bool v6 = sent[0][0] >> 4 == 6;
  const size_t destination_at = v6 ? 24 : 16;
  const size_t address_size = v6 ? 16 : 4;
  std::vector<std::vector<uint8_t>> received;
  bool saw_pending = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (received.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    if (!tun.has_pending() && !readable(tun.fd(), 100)) continue;
    std::vector<PacketBuffer*> batch;
    for (size_t k = 0; k < read_batch; ++k) batch.push_back(pool.acquire());
    const int n = tun.read_batch(batch);
    saw_pending = saw_pending || tun.has_pending();
    for (int k = 0; k < n; ++k) {
      const uint8_t* p = batch[k]->data();
      const size_t size = batch[k]->size();
      // Skip whatever else the stack sends (MLD, router solicitations, ICMP).
      if (size > destination_at + address_size && p[0] == sent[0][0] &&
          p[v6 ? 6 : 9] == sent[0][v6 ? 6 : 9] &&
          std::memcmp(p + destination_at, sent[0].data() + destination_at, address_size) == 0)
        received.emplace_back(p, p + size);
    }
    for (PacketBuffer* b : batch) pool.release(b);
  }
  EXPECT(received.size() == sent.size());
  for (size_t k = 0; k < sent.size(); ++k) {
    std::vector<uint8_t> expected = sent[k];
    if (v6) {
      --expected[7];
    } else {
      --expected[8];
      fill_ipv4_header_checksum(expected);
    }
    const std::string problem = check_packet(received[k]);
    if (!problem.empty()) return netns_failure(__LINE__, "segment " + std::to_string(k) + ": " + problem);
    if (received[k] != expected)
      return netns_failure(__LINE__, "segment " + std::to_string(k) + " differs from what was written");
  }
  const TunStats& after = tun.stats();
  EXPECT(after.super_packets_read > before.super_packets_read);
  EXPECT(after.segments_produced - before.segments_produced >= sent.size());
  EXPECT(saw_pending == (read_batch < sent.size()));
  EXPECT(malformed_drops(after) == 0);
  return "";
}

}  // namespace

TEST_CASE("TUN offloads are negotiated, and can be declined", "[tun][offload]") {
  run_netns([]() -> std::string {
    auto with = TunDevice::create("sluiceoff0");
    EXPECT_OK(with);
    EXPECT((*with)->offloads().vnet_hdr);
    EXPECT((*with)->offloads().tso);
    std::fprintf(stderr, "tun offloads: vnet_hdr %d tso %d uso %d\n",
                 (*with)->offloads().vnet_hdr, (*with)->offloads().tso, (*with)->offloads().uso);
    // USO needs Linux 6.2; older kernels must still get TSO, which the line above checked.
    auto without = TunDevice::create("sluiceoff1", TunOptions{false});
    EXPECT_OK(without);
    EXPECT(!(*without)->offloads().vnet_hdr);
    EXPECT(!(*without)->offloads().tso && !(*without)->offloads().uso);
    EXPECT(!(*without)->has_pending());
    return "";
  });
}

TEST_CASE("TUN offloads: a coalesced run comes back from forwarding as the same segments",
          "[tun][offload]") {
  run_netns([]() -> std::string {
    Interface i;
    const std::string setup = bring_up(i);
    if (!setup.empty()) return setup;
    EXPECT(write_sysctl("/proc/sys/net/ipv4/ip_forward", "1"));
    EXPECT(write_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1"));
    EXPECT(write_sysctl("/proc/sys/net/ipv4/conf/all/send_redirects", "0"));
    EXPECT(write_sysctl("/proc/sys/net/ipv4/conf/sluiceoff0/send_redirects", "0"));
    BufferPool pool(128, 2048);

    // From a host on the TUN's subnet to one routed through it: the kernel forwards the
    // super-packet out of the TUN as it came in.
    PacketSpec tcp4;
    tcp4.source = "10.77.0.9";
    tcp4.destination = "10.78.0.5";
    tcp4.tcp_options = {1, 1, 8, 10, 0, 1, 0, 0, 0, 2, 0, 0};
    std::vector<std::vector<uint8_t>> run;
    for (int k = 0; k < 20; ++k) {
      tcp4.payload = pattern(k == 19 ? 333 : 1000, static_cast<uint8_t>(k));
      if (k == 19) tcp4.flags |= kPsh;
      run.push_back(build_packet(tcp4));
      tcp4.seq += static_cast<uint32_t>(tcp4.payload.size());
      ++tcp4.ip_id;
    }
    for (size_t batch : {size_t{64}, size_t{3}, size_t{1}}) {
      const std::string r = forward_run(i, pool, run, batch);
      if (!r.empty()) return "IPv4 TCP, read batch " + std::to_string(batch) + ": " + r;
    }

    PacketSpec tcp6;
    tcp6.v6 = true;
    tcp6.source = "fd77::9";
    tcp6.destination = "fd78::5";
    run.clear();
    for (int k = 0; k < 30; ++k) {
      tcp6.payload = pattern(1200, static_cast<uint8_t>(k));
      run.push_back(build_packet(tcp6));
      tcp6.seq += 1200;
    }
    std::string r = forward_run(i, pool, run, 7);
    if (!r.empty()) return "IPv6 TCP: " + r;

    if (i.tun->offloads().uso) {
      for (bool v6 : {false, true}) {
        PacketSpec udp;
        udp.v6 = v6;
        udp.protocol = 17;
        udp.source = v6 ? "fd77::9" : "10.77.0.9";
        udp.destination = v6 ? "fd78::5" : "10.78.0.5";
        run.clear();
        for (int k = 0; k < 10; ++k) {
          udp.payload = pattern(k == 9 ? 100 : 1300, static_cast<uint8_t>(k));
          run.push_back(build_packet(udp));
          ++udp.ip_id;
        }
        r = forward_run(i, pool, run, 4);
        if (!r.empty()) return std::string(v6 ? "IPv6" : "IPv4") + " UDP: " + r;
      }
    }
    return "";
  });
}

namespace {

// Rewrites a packet read from the TUN so it comes back to the other local socket: to B (the
// client's peer) becomes C -> A, to C (the accepted socket's peer) becomes B -> A. A is the
// TUN's own address. Returns false for anything else.
bool reflect(PacketBuffer* b, bool v6) {
  uint8_t* p = b->data();
  const size_t at = v6 ? 8 : 12, n = v6 ? 16 : 4;
  if (b->size() < at + 2 * n) return false;
  const IpAddress a = ip(v6 ? "fd77::1" : "10.77.0.1");
  const IpAddress peer_b = ip(v6 ? "fd77::2" : "10.77.0.2");
  const IpAddress peer_c = ip(v6 ? "fd77::3" : "10.77.0.3");
  const IpAddress* new_source;
  if (std::memcmp(p + at + n, peer_b.bytes.data(), n) == 0) {
    new_source = &peer_c;
  } else if (std::memcmp(p + at + n, peer_c.bytes.data(), n) == 0) {
    new_source = &peer_b;
  } else {
    return false;
  }
  std::memcpy(p + at, new_source->bytes.data(), n);
  std::memcpy(p + at + n, a.bytes.data(), n);
  std::span<uint8_t> packet(p, b->size());
  if (!v6) fill_ipv4_header_checksum(packet);
  return fill_transport_checksum(packet);
}

void set_nonblocking_socket_options(int fd) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}

sockaddr_storage socket_address(const IpAddress& a, uint16_t port, socklen_t* length) {
  sockaddr_storage s{};
  if (a.family == IpFamily::v4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&s);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, a.bytes.data(), 4);
    *length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&s);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, a.bytes.data(), 16);
    *length = sizeof(sockaddr_in6);
  }
  return s;
}

struct Transfer {
  std::vector<uint8_t> data;
  size_t sent = 0;
  size_t received = 0;
  bool intact = true;
  void take(const uint8_t* p, size_t n) {
    if (received + n > data.size() || std::memcmp(p, data.data() + received, n) != 0) intact = false;
    received += n;
  }
};

// A TCP connection from the client to B:port, looped through the TUN to a listener on A:port.
// `up` bytes go client -> server and `down` bytes back, while this thread forwards the TUN with
// read batches cycling through odd sizes so that segments often wait in has_pending().
std::string loop_transfer(Interface& i, BufferPool& pool, bool v6, size_t up, size_t down,
                          bool offload = true) {
  TunDevice& tun = *i.tun;
  const int family = v6 ? AF_INET6 : AF_INET;
  const uint16_t port = 5201;
  socklen_t length;

  const int listener = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  EXPECT(listener >= 0);
  set_nonblocking_socket_options(listener);
  sockaddr_storage local = socket_address(ip(v6 ? "fd77::1" : "10.77.0.1"), port, &length);
  EXPECT(bind(listener, reinterpret_cast<sockaddr*>(&local), length) == 0);
  EXPECT(listen(listener, 1) == 0);
  const int client = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  EXPECT(client >= 0);
  sockaddr_storage remote = socket_address(ip(v6 ? "fd77::2" : "10.77.0.2"), port, &length);
  const int c = connect(client, reinterpret_cast<sockaddr*>(&remote), length);
  EXPECT(c == 0 || errno == EINPROGRESS);
  int server = -1;

  Transfer to_server{pattern(up, 11)}, to_client{pattern(down, 99)};
  std::vector<uint8_t> buffer(1 << 16);
  std::vector<PacketBuffer*> batch, out;
  const size_t batch_sizes[] = {64, 1, 5, 64, 2, 17, 128};
  size_t turn = 0;
  uint64_t bad_checksums = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((to_server.received < up || to_client.received < down) &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd fds[3] = {{tun.fd(), POLLIN, 0}, {client, POLLIN, 0}, {server >= 0 ? server : listener, POLLIN, 0}};
    if (to_server.sent < up) fds[1].events |= POLLOUT;
    if (server >= 0 && to_client.sent < down) fds[2].events |= POLLOUT;
    poll(fds, 3, tun.has_pending() ? 0 : 100);

    if ((fds[0].revents & POLLIN) || tun.has_pending()) {
      batch.clear();
      const size_t want = batch_sizes[turn++ % std::size(batch_sizes)];
      for (size_t k = 0; k < want; ++k) batch.push_back(pool.acquire());
      const int n = tun.read_batch(batch);
      EXPECT(n >= 0);
      out.clear();
      for (int k = 0; k < n; ++k) {
        const std::span<const uint8_t> p(batch[k]->data(), batch[k]->size());
        // What read_batch hands out must already be complete: check before rewriting.
        if (!check_packet(p).empty()) {
          if ((p[0] >> 4) == (v6 ? 6 : 4) && (v6 ? p[6] : p[9]) == kIpProtocolTcp) ++bad_checksums;
          continue;
        }
        if (reflect(batch[k], v6)) out.push_back(batch[k]);
      }
      if (!out.empty()) tun.write_batch(out);
      for (PacketBuffer* b : batch) pool.release(b);
    }
    if (server < 0 && (fds[2].revents & POLLIN)) {
      server = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (to_server.sent < up && (fds[1].revents & POLLOUT)) {
      const ssize_t n = send(client, to_server.data.data() + to_server.sent, up - to_server.sent, 0);
      if (n > 0) to_server.sent += static_cast<size_t>(n);
    }
    if (fds[1].revents & POLLIN) {
      const ssize_t n = recv(client, buffer.data(), buffer.size(), 0);
      if (n > 0) to_client.take(buffer.data(), static_cast<size_t>(n));
    }
    if (server >= 0) {
      const ssize_t n = recv(server, buffer.data(), buffer.size(), 0);
      if (n > 0) to_server.take(buffer.data(), static_cast<size_t>(n));
      if (to_client.sent < down) {
        const ssize_t m = send(server, to_client.data.data() + to_client.sent, down - to_client.sent, 0);
        if (m > 0) to_client.sent += static_cast<size_t>(m);
      }
    }
  }
  tcp_info info{};
  socklen_t info_length = sizeof info;
  getsockopt(client, IPPROTO_TCP, TCP_INFO, &info, &info_length);
  close(client);
  if (server >= 0) close(server);
  close(listener);

  const TunStats& s = tun.stats();
  const std::string figures = stats_text(s) + ", client retransmits " +
                              std::to_string(info.tcpi_total_retrans);
  // The child's stderr reaches the terminal: the figures behind the offload's benefit.
  std::fprintf(stderr, "tun offload %s, %s, %zu up %zu down: %s\n", offload ? "on" : "off",
               v6 ? "IPv6" : "IPv4", up, down, figures.c_str());
  if (to_server.received != up || to_client.received != down)
    return netns_failure(__LINE__, "transfer incomplete: " + std::to_string(to_server.received) + "/" +
                              std::to_string(up) + " up, " + std::to_string(to_client.received) +
                              "/" + std::to_string(down) + " down; " + figures);
  EXPECT(to_server.intact && to_client.intact);
  EXPECT(bad_checksums == 0);
  if (offload) {
    // The kernel sent super-packets and they were cut up; the merged writes were taken.
    if (!(s.super_packets_read > 0 && s.segments_produced > s.super_packets_read))
      return netns_failure(__LINE__, "no super-packets: " + figures);
    EXPECT(s.coalesced_writes > 0);
    EXPECT(s.coalesced_writes_refused == 0);
  } else {
    EXPECT(s.super_packets_read == 0 && s.coalesced_writes == 0);
    EXPECT(s.write_calls == s.packets_written);  // one packet per write
  }
  EXPECT(malformed_drops(s) == 0 && s.read_dropped_too_big == 0 && s.read_dropped_truncated == 0);
  return "";
}

}  // namespace

TEST_CASE("TUN offloads: TCP through the TUN arrives intact, read as super-packets",
          "[tun][offload]") {
  for (bool v6 : {false, true}) {
    run_netns([v6]() -> std::string {
      Interface i;
      const std::string setup = bring_up(i);
      if (!setup.empty()) return setup;
      BufferPool pool(512, 2048);
      const std::string r = loop_transfer(i, pool, v6, 16u << 20, 2u << 20);
      if (!r.empty()) return std::string(v6 ? "IPv6: " : "IPv4: ") + r;
      if (pool.available() != pool.count()) return "pool buffers not returned";
      return "";
    });
  }
}

TEST_CASE("TUN without offloads carries TCP through the same loop", "[tun][offload]") {
  run_netns([]() -> std::string {
    Interface i;
    const std::string setup = bring_up(i, TunOptions{false});
    if (!setup.empty()) return setup;
    EXPECT(!i.tun->offloads().vnet_hdr);
    BufferPool pool(512, 2048);
    return loop_transfer(i, pool, false, 4u << 20, 1u << 20, false);
  });
}
