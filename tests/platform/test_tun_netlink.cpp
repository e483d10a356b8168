// TUN, rtnetlink and the link monitor, each run inside a private network namespace.
#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

#include "netns_check.h"
#include "platform/netlink.h"
#include "platform/tun_device.h"
#include "platform/udp_socket.h"

using namespace sluice;
using namespace sluice::platform;

namespace {

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
IpPrefix prefix(const char* text) { return *IpPrefix::parse(text); }

// Reads from the TUN until IP packets carrying UDP to each of `destinations` showed up; other
// traffic (router solicitations, MLD reports) is skipped.
bool tun_saw_udp_to(TunDevice& tun, BufferPool& pool, std::vector<IpAddress> destinations) {
  for (int tries = 0; tries < 50 && !destinations.empty(); ++tries) {
    if (!readable(tun.fd(), 100)) continue;
    std::vector<PacketBuffer*> batch{pool.acquire(), pool.acquire(), pool.acquire()};
    const int n = tun.read_batch(batch);
    for (int i = 0; i < n; ++i) {
      const uint8_t* p = batch[i]->data();
      const size_t size = batch[i]->size();
      std::optional<IpAddress> dst;
      if (size >= 28 && p[0] >> 4 == 4 && p[9] == 17) dst = IpAddress::v4(p + 16);
      if (size >= 48 && p[0] >> 4 == 6 && p[6] == 17) dst = IpAddress::v6(p + 24);
      if (dst) std::erase(destinations, *dst);
    }
    for (PacketBuffer* b : batch) pool.release(b);
  }
  return destinations.empty();
}

// An IPv4/UDP packet from 10.77.0.2:5555 to 10.77.0.1:port (UDP checksum 0 = none, legal in
// IPv4), as a peer's decrypted packet would arrive on the TUN.
void build_udp4(PacketBuffer* b, uint16_t port, const char* payload) {
  const size_t payload_size = std::strlen(payload);
  const size_t total = 28 + payload_size;
  b->reset_for_inner();
  uint8_t* p = b->data();
  std::memset(p, 0, 28);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;
  p[9] = 17;
  const uint8_t src[4] = {10, 77, 0, 2}, dst[4] = {10, 77, 0, 1};
  std::memcpy(p + 12, src, 4);
  std::memcpy(p + 16, dst, 4);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[20] = 5555 >> 8;
  p[21] = 5555 & 0xff;
  p[22] = static_cast<uint8_t>(port >> 8);
  p[23] = static_cast<uint8_t>(port);
  p[24] = static_cast<uint8_t>((8 + payload_size) >> 8);
  p[25] = static_cast<uint8_t>(8 + payload_size);
  std::memcpy(p + 28, payload, payload_size);
  b->set_size(total);
}

}  // namespace

TEST_CASE("TunDevice rejects names the kernel cannot take", "[tun]") {
  auto too_long = TunDevice::create("sixteen-chars-xx");
  REQUIRE_FALSE(too_long.has_value());
  CHECK(too_long.error().code == EINVAL);
  CHECK(too_long.error().message.find("15") != std::string::npos);
  CHECK_FALSE(TunDevice::create("").has_value());
}

TEST_CASE("TUN and netlink configure an interface that carries packets", "[tun][netlink]") {
  run_netns([]() -> std::string {
    auto netlink_result = Netlink::open();
    EXPECT_OK(netlink_result);
    Netlink& nl = **netlink_result;
    auto tun_result = TunDevice::create("sluicetest0");
    EXPECT_OK(tun_result);
    TunDevice& tun = **tun_result;
    EXPECT(tun.name() == "sluicetest0");
    EXPECT(tun.ifindex() > 0);
    const int ifindex = tun.ifindex();

    EXPECT_OK(nl.set_mtu(ifindex, 1380));
    auto huge_mtu = nl.set_mtu(ifindex, 1u << 20);
    EXPECT(!huge_mtu.has_value() && huge_mtu.error().code == EINVAL);
    // The kernel's extended ack says why; we pass it on.
    EXPECT(huge_mtu.error().message.find("(") != std::string::npos);
    EXPECT_OK(nl.add_address(ifindex, ip("10.77.0.1"), 24));
    EXPECT_OK(nl.add_address(ifindex, ip("fd77::1"), 64));
    auto again = nl.add_address(ifindex, ip("10.77.0.1"), 24);
    EXPECT(!again.has_value() && again.error().code == EEXIST);
    EXPECT_OK(nl.set_link_up(ifindex, true));
    EXPECT_OK(nl.add_route(ifindex, prefix("10.78.0.0/16")));
    EXPECT_OK(nl.add_route(ifindex, prefix("fd78::/48")));
    auto duplicate = nl.add_route(ifindex, prefix("10.78.0.0/16"));
    EXPECT(!duplicate.has_value() && duplicate.error().code == EEXIST);

    auto link = nl.get_link(ifindex);
    EXPECT_OK(link);
    EXPECT(link->name == "sluicetest0");
    EXPECT(link->mtu == 1380);
    EXPECT(link->up);

    auto addresses = nl.list_addresses(ifindex);
    EXPECT_OK(addresses);
    const auto has_address = [&](const char* a, uint8_t len) {
      return std::count(addresses->begin(), addresses->end(), InterfaceAddress{ip(a), len}) == 1;
    };
    EXPECT(has_address("10.77.0.1", 24));
    EXPECT(has_address("fd77::1", 64));

    auto routes = nl.list_routes(ifindex);
    EXPECT_OK(routes);
    const auto has_route = [&](const char* p) {
      return std::count(routes->begin(), routes->end(), prefix(p)) == 1;
    };
    EXPECT(has_route("10.78.0.0/16"));
    EXPECT(has_route("fd78::/48"));
    EXPECT(has_route("10.77.0.0/24"));  // the prefix route of the address

    // Out through the TUN: a datagram sent to an address routed to it.
    BufferPool pool(16, 2048);
    auto socket_result = UdpSocket::open(0, 0);
    EXPECT_OK(socket_result);
    UdpSocket& socket = **socket_result;
    PacketBuffer* probe = pool.acquire();
    probe->set_size(10);
    std::vector<OutboundDatagram> probes{{Endpoint{ip("10.78.1.2"), 9}, probe},
                                         {Endpoint{ip("fd78::5"), 9}, probe}};
    EXPECT(socket.send_batch(probes) == 2);
    pool.release(probe);
    EXPECT(tun_saw_udp_to(tun, pool, {ip("10.78.1.2"), ip("fd78::5")}));

    // In through the TUN: a packet written to it reaches our socket, from a plain IPv4 source.
    PacketBuffer* packet = pool.acquire();
    build_udp4(packet, socket.port(), "hello");
    std::vector<PacketBuffer*> packets{packet};
    EXPECT(tun.write_batch(packets) == 1);
    pool.release(packet);
    EXPECT(readable(socket.fd(), 1000));
    std::vector<PacketBuffer*> in{pool.acquire()};
    std::vector<Endpoint> sources(1);
    EXPECT(socket.receive_batch(in, sources) == 1);
    EXPECT(in[0]->size() == 5);
    EXPECT(std::memcmp(in[0]->data(), "hello", 5) == 0);
    EXPECT(sources[0] == (Endpoint{ip("10.77.0.2"), 5555}));
    pool.release(in[0]);

    // A malformed packet is refused and not counted as written.
    PacketBuffer* junk = pool.acquire();
    junk->set_size(3);
    std::memset(junk->data(), 0x45, 3);
    std::vector<PacketBuffer*> junk_batch{junk};
    const int junk_written = tun.write_batch(junk_batch);
    EXPECT(junk_written == 0 || junk_written == 1);  // some kernels accept and drop later
    pool.release(junk);

    EXPECT_OK(nl.delete_route(ifindex, prefix("10.78.0.0/16")));
    EXPECT_OK(nl.delete_route(ifindex, prefix("fd78::/48")));
    EXPECT_OK(nl.delete_address(ifindex, ip("fd77::1"), 64));
    auto gone = nl.delete_route(ifindex, prefix("10.78.0.0/16"));
    EXPECT(!gone.has_value() && gone.error().code == ESRCH);
    routes = nl.list_routes(ifindex);
    EXPECT_OK(routes);
    EXPECT(!has_route("10.78.0.0/16"));
    EXPECT(!has_route("fd78::/48"));
    addresses = nl.list_addresses(ifindex);
    EXPECT_OK(addresses);
    EXPECT(!has_address("fd77::1", 64));
    EXPECT(has_address("10.77.0.1", 24));

    EXPECT_OK(nl.set_link_up(ifindex, false));
    link = nl.get_link(ifindex);
    EXPECT_OK(link);
    EXPECT(!link->up);
    return "";
  });
}

TEST_CASE("LinkMonitor reports the deletion of its interface only", "[tun][netlink]") {
  run_netns([]() -> std::string {
    auto nl = Netlink::open();
    EXPECT_OK(nl);
    auto ours = TunDevice::create("sluicetest0");
    EXPECT_OK(ours);
    auto other = TunDevice::create("sluicetest%d");
    EXPECT_OK(other);
    EXPECT((*other)->name() == "sluicetest1");

    auto missing = LinkMonitor::open(999999);
    EXPECT(!missing.has_value() && missing.error().code == ENODEV);

    auto monitor_result = LinkMonitor::open((*ours)->ifindex());
    EXPECT_OK(monitor_result);
    LinkMonitor& monitor = **monitor_result;
    EXPECT(!monitor.link_deleted());

    EXPECT_OK((*nl)->delete_link((*other)->ifindex()));
    EXPECT(readable(monitor.fd(), 1000));
    EXPECT(!monitor.link_deleted());

    EXPECT_OK((*nl)->delete_link((*ours)->ifindex()));
    EXPECT(readable(monitor.fd(), 1000));
    EXPECT(monitor.link_deleted());
    EXPECT(monitor.link_deleted());  // sticky

    BufferPool pool(1, 2048);
    std::vector<PacketBuffer*> batch{pool.acquire()};
    const int r = (*ours)->read_batch(batch);
    EXPECT(r < 0);
    return r == -EBADFD ? "" : netns_failure(__LINE__, "read after delete gave " + std::to_string(r));
  });
}
