// IpStack as a whole: one per process, configuration checks, bad input, the output path,
// timers, and lwIP's memory coming back when a stack goes away.
#include <catch2/catch.hpp>
#include <cstring>

#include "ipstack/lwip_memory.h"
#include "lwip/memp.h"
#include "lwip/priv/memp_priv.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "stack_fixture.h"

using namespace sluice;
using namespace sluice::test;
using ipstack::IpStack;
using ipstack::IpStackConfig;

namespace {

std::string create_error(IpStackConfig config) {
  if (!config.output) config.output = [](std::span<const uint8_t>) {};
  std::string error;
  auto stack = IpStack::create(std::move(config), Now{}, error);
  if (stack != nullptr) return "";
  CHECK_FALSE(error.empty());
  return error;
}

// An ICMP (IPv4) or ICMPv6 echo request from `source` to `destination` with `payload`.
std::vector<uint8_t> echo_request(const IpAddress& source, const IpAddress& destination,
                                  std::span<const uint8_t> payload) {
  const bool v4 = source.family == IpFamily::v4;
  const size_t ip_header = v4 ? 20 : 40;
  const size_t icmp_length = 8 + payload.size();
  std::vector<uint8_t> p(ip_header + icmp_length, 0);
  if (v4) {
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 64;
    p[9] = 1;
    std::memcpy(&p[12], source.bytes.data(), 4);
    std::memcpy(&p[16], destination.bytes.data(), 4);
    fill_ipv4_header_checksum(p);
  } else {
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>(icmp_length >> 8);
    p[5] = static_cast<uint8_t>(icmp_length);
    p[6] = 58;
    p[7] = 64;
    std::memcpy(&p[8], source.bytes.data(), 16);
    std::memcpy(&p[24], destination.bytes.data(), 16);
  }
  uint8_t* icmp = &p[ip_header];
  icmp[0] = v4 ? 8 : 128;
  icmp[4] = 0x12;  // identifier
  icmp[6] = 0x01;  // sequence
  std::memcpy(icmp + 8, payload.data(), payload.size());
  ChecksumSum sum = v4 ? 0 : pseudo_header_sum(source, destination, 58, static_cast<uint32_t>(icmp_length));
  sum = checksum_add(sum, std::span<const uint8_t>(icmp, icmp_length));
  const uint16_t checksum = checksum_finish(sum);
  icmp[2] = static_cast<uint8_t>(checksum >> 8);
  icmp[3] = static_cast<uint8_t>(checksum);
  return p;
}

size_t pool_in_use(memp_t pool) { return memp_pools[pool]->stats->used; }

}  // namespace

TEST_CASE("IpStack: one per process at a time", "[ipstack]") {
  StackFixture first;
  std::string error;
  IpStackConfig config = StackFixture::default_config();
  config.output = [](std::span<const uint8_t>) {};
  config.on_dns_query = [](ipstack::ConnectionId, std::span<const uint8_t>) {};
  CHECK(IpStack::create(config, Now{}, error) == nullptr);
  CHECK(error.find("another IpStack") != std::string::npos);
  first.stack.reset();
  error.clear();
  auto second = IpStack::create(config, Now{}, error);
  CHECK(second != nullptr);
  CHECK(error.empty());
}

TEST_CASE("IpStack: configurations it cannot honour are refused", "[ipstack]") {
  IpStackConfig good;
  good.ipv4 = ip("10.1.0.2");
  CHECK(create_error(good).empty());

  IpStackConfig no_output = good;
  std::string error;
  CHECK(IpStack::create(no_output, Now{}, error) == nullptr);
  CHECK(error.find("output") != std::string::npos);

  IpStackConfig c = good;
  c.mtu = 1000;
  CHECK(create_error(c).find("mtu") != std::string::npos);
  c = good;
  c.ipv4 = ip("fd00::1");
  CHECK(create_error(c).find("IPv4") != std::string::npos);
  c = IpStackConfig{};
  CHECK(create_error(c).find("address") != std::string::npos);
  c = good;
  c.dns_addresses = {ip("10.1.0.53")};
  CHECK(create_error(c).find("on_dns_query") != std::string::npos);
  c.on_dns_query = [](ipstack::ConnectionId, std::span<const uint8_t>) {};
  c.dns_server.max_connections = SLUICE_IPSTACK_MAX_DNS_CONNECTIONS + 1;
  CHECK(create_error(c).find("max_connections") != std::string::npos);
  c.dns_server.max_connections = 4;
  c.dns_addresses = {ip("0.0.0.0")};
  CHECK(create_error(c).find("unspecified") != std::string::npos);
  c.dns_addresses.clear();
  for (int i = 0; i < 9; ++i) c.dns_addresses.push_back(*IpAddress::parse("10.2.0." + std::to_string(i + 1)));
  CHECK(create_error(c).find("too many addresses") != std::string::npos);
  // A failed create leaves nothing behind: the next one works.
  CHECK(create_error(good).empty());
}

TEST_CASE("IpStack: bad input is dropped, counted, and answers nothing", "[ipstack]") {
  StackFixture f;
  const std::vector<uint8_t> garbage{0x45, 0, 0, 10, 1, 2, 3};
  f.deliver(garbage);
  f.deliver({});
  f.deliver(std::vector<uint8_t>(40, 0x60));  // IPv6 header claiming more than the buffer
  CHECK(f.stack->counters().input_malformed == 3);

  TcpPeer peer(ip("10.7.0.1"), 50000, ip(StackFixture::kDns4), 53);
  auto syn = peer.syn();
  syn.back() ^= 0xff;  // the MSS option: breaks the TCP checksum
  f.deliver(syn);
  CHECK(f.out.empty());
  CHECK(f.stack->counters().lwip_transport_drops >= 1);

  // Too big for the MTU.
  std::vector<uint8_t> big = build_tcp_packet(ip("10.7.0.1"), 1, ip(StackFixture::kDns4), 53, 0, 0,
                                              kTcpAck, std::vector<uint8_t>(1500, 0));
  f.deliver(big);
  CHECK(f.stack->counters().input_too_big == 1);

  // Not addressed to the stack: lwIP drops it.
  const auto before = f.stack->counters().lwip_ip_drops;
  TcpPeer stranger(ip("10.7.0.1"), 50001, ip("10.7.0.99"), 53);
  f.deliver(stranger.syn());
  CHECK(f.out.empty());
  CHECK(f.stack->counters().lwip_ip_drops == before + 1);
  CHECK(f.stack->counters().packets_out == 0);
}

TEST_CASE("IpStack: a closed port answers with RST, ping with an echo reply", "[ipstack]") {
  const IpFamily family = GENERATE(IpFamily::v4, IpFamily::v6);
  const bool v4 = family == IpFamily::v4;
  StackFixture f;
  const IpAddress client = ip(v4 ? "10.7.0.1" : "fd07::1");
  const IpAddress dns = ip(v4 ? StackFixture::kDns4 : StackFixture::kDns6);
  TcpPeer peer(client, 50002, dns, 80);
  f.deliver(peer.syn());
  f.route({&peer});
  CHECK(peer.reset());

  const auto payload = bytes_of("ping payload");
  f.deliver(echo_request(client, dns, payload));
  REQUIRE(f.out.size() == 1);
  const auto reply = parse_ip_packet(f.out[0]);
  REQUIRE(reply);
  CHECK(reply->source == dns);
  CHECK(reply->destination == client);
  CHECK(reply->protocol == (v4 ? 1 : 58));
  CHECK(f.out[0][reply->header_length] == (v4 ? 0 : 129));  // echo reply
  CHECK(std::equal(payload.begin(), payload.end(), f.out[0].end() - static_cast<long>(payload.size())));
  CHECK(f.stack->counters().packets_out == 2);
  CHECK(f.stack->serves(dns));
  CHECK(f.stack->serves(ip(v4 ? StackFixture::kTunnel4 : StackFixture::kTunnel6)));
  CHECK_FALSE(f.stack->serves(client));
}

TEST_CASE("IpStack: next_deadline moves on once its timers have run", "[ipstack]") {
  StackFixture f;
  const int64_t first = f.stack->next_deadline();
  CHECK(first > f.now.mono_ns);
  CHECK(first <= f.now.mono_ns + seconds(1));  // lwIP's cyclic ND6 timer
  for (int i = 0; i < 20; ++i) {
    const int64_t due = f.stack->next_deadline();
    f.now.mono_ns = due;
    f.stack->handle_timers(f.now);
    CHECK(f.stack->next_deadline() > due);
  }
  // A connection brings TCP's 250 ms timer in.
  TcpPeer peer(ip("10.7.0.1"), 50003, ip(StackFixture::kDns4), 53);
  f.connect(peer);
  CHECK(f.stack->next_deadline() <= f.now.mono_ns + millis(250));
  // Time going backwards is taken as no time passing.
  const Now earlier{f.now.mono_ns - seconds(100), 0};
  f.stack->handle_timers(earlier);
  CHECK(f.stack->next_deadline() > earlier.mono_ns);
}

TEST_CASE("IpStack: lwIP's memory is bounded and all returned when the stack goes", "[ipstack][memory]") {
  {
    StackFixture warm_up;  // lwip_init() on first use
  }
  const size_t pcbs = pool_in_use(MEMP_TCP_PCB);
  const size_t listeners = pool_in_use(MEMP_TCP_PCB_LISTEN);
  const size_t segments = pool_in_use(MEMP_TCP_SEG);
  const size_t pool_pbufs = pool_in_use(MEMP_PBUF_POOL);
  CHECK(pcbs == 0);
  CHECK(listeners == 0);

  const auto memory = ipstack::lwip_memory();
  INFO("lwIP static memory: heap " << memory.heap_bytes << " B, pools " << memory.pool_bytes
                                   << " B, total " << memory.total_bytes() << " B");
  CHECK(memory.total_bytes() < 192 * 1024);
  CHECK(memory.heap_bytes >= 64 * 1024);

  {
    StackFixture f;
    std::vector<TcpPeer> peers;
    for (uint16_t i = 0; i < 6; ++i) peers.emplace_back(ip("10.7.0.1"), 51000 + i, ip(StackFixture::kDns4), 53);
    for (auto& p : peers) f.connect(p);
    for (auto& p : peers) f.deliver(p.data(dns_tcp_frame(bytes_of("query"))));
    REQUIRE(f.queries.size() == 6);
    // Answer half (some closed by us into FIN_WAIT, one by the peer into TIME_WAIT), leave
    // half open, and leave an upstream query in flight.
    for (size_t i = 0; i < 3; ++i) f.stack->answer(f.queries[i].id, std::vector<uint8_t>(3000, 1), f.now);
    f.deliver(peers[0].fin());
    f.route({&peers[0]});
    f.deliver(peers[0].ack());
    REQUIRE(f.stack->tcp_query({ip("192.0.2.1"), 53}, bytes_of("q"), seconds(30), f.now).ok());
    CHECK(pool_in_use(MEMP_TCP_PCB) == 6);  // peers[0] is gone after LAST_ACK
    CHECK(ipstack::lwip_memory().heap_used > 0);
    // The idle timeout closes the rest from our side; peers[3] finishes into TIME_WAIT.
    f.advance(seconds(11));
    f.route({&peers[3]});
    REQUIRE(peers[3].fin_received());
    f.deliver(peers[3].fin());
    CHECK(f.stack->counters().dns_connections_active == 0);
    // lwIP's own now: four closing, one in TIME_WAIT, and the query's.
    CHECK(pool_in_use(MEMP_TCP_PCB) == 6);
    CHECK(tcp_tw_pcbs != nullptr);
  }
  CHECK(pool_in_use(MEMP_TCP_PCB) == pcbs);
  CHECK(pool_in_use(MEMP_TCP_PCB_LISTEN) == listeners);
  CHECK(pool_in_use(MEMP_TCP_SEG) == segments);
  CHECK(pool_in_use(MEMP_PBUF_POOL) == pool_pbufs);
  CHECK(ipstack::lwip_memory().heap_used == 0);
}
