// ipstack/ip_stack.h: arbitrary IP packets into the embedded lwIP stack, with time moving on,
// DNS-over-TCP connections driven to their interesting states and the upstream client in use.
//
// Each input gets a fresh IpStack (tunnel 10.7.0.2 / fd07::2, DNS on 10.7.0.53 / fd07::53).
// The first byte configures it (see kConfig*), then records follow, each an op byte and its
// fields (fuzz_support.h's Reader: a truncated record reads as zeros):
//   0 raw      u16 length, bytes: handed to input() as they are
//   1 aimed    u8 how, u16 length, bytes: made into an IPv4 or IPv6 packet to a served
//              address (addresses, lengths and checksums fixed up), any protocol
//   2 client   u8 peer, u8 flags, i8 seq delta, i8 ack delta, u16 window, u16 length, bytes:
//              a TCP segment from one of four clients of port 53, numbered from what the
//              stack sent it, so handshakes complete and data lands in sequence
//   3 time     u16 milliseconds * 8: time moves on and the timers run
//   4 answer   u8 which query, u16 length, bytes: answer() a query received so far
//   5 stray    u64 id: answer() an id that is probably not a connection
//   6 query    u8 family, u16 timeout ms, u16 length, bytes: tcp_query() to an upstream
//   7 upstream u8 flags, i8 seq delta, i8 ack delta, u16 window, u16 length, bytes: a TCP
//              segment from the upstream of the latest tcp_query()
//
// Checked beyond the sanitizers: every packet the stack emits parses (tunnel/ip_packet.h) to
// exactly its own length, comes from an address the stack serves, and carries a valid TCP/UDP
// checksum; a timer that ran has moved next_deadline() past now; and once the stack is gone,
// lwIP holds no pcb, no pool pbuf and no heap memory.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include "fuzz_support.h"
#include "ipstack/ip_stack.h"
#include "ipstack/lwip_memory.h"
#include "ipstack/tcp_peer.h"
#include "lwip/memp.h"
#include "lwip/priv/memp_priv.h"
#include "lwip/stats.h"
#include "tunnel/inet_checksum.h"
#include "tunnel/ip_packet.h"

using namespace sluice;
using namespace sluice::test;

namespace {

constexpr uint8_t kConfigAnswerInHandler = 0x01;
constexpr uint8_t kConfigSmallLimits = 0x02;  // 2 connections, 64-byte queries and buffers
constexpr uint8_t kConfigShortIdle = 0x04;    // 1 s idle timeout instead of 10 s
constexpr size_t kMaxRecords = 96;
constexpr int64_t kMaxVirtualTime = seconds(20 * 60);

IpAddress address(const char* text) { return *IpAddress::parse(text); }

struct Harness {
  explicit Harness(uint8_t config_byte) {
    ipstack::IpStackConfig config;
    config.ipv4 = address("10.7.0.2");
    config.ipv6 = address("fd07::2");
    config.dns_addresses = {address("10.7.0.53"), address("fd07::53")};
    if (config_byte & kConfigSmallLimits) {
      config.dns_server.max_connections = 2;
      config.dns_server.max_query_bytes = 64;
      config.dns_server.send_buffer_bytes = 64;
      config.dns_client.max_in_flight = 2;
      config.dns_client.max_response_bytes = 64;
    }
    if (config_byte & kConfigShortIdle) config.dns_server.idle_timeout_ns = seconds(1);
    answer_in_handler = (config_byte & kConfigAnswerInHandler) != 0;
    config.output = [this](std::span<const uint8_t> p) { emitted(p); };
    config.on_dns_query = [this](ipstack::ConnectionId id, std::span<const uint8_t> q) {
      queries.push_back(id);
      if (answer_in_handler) stack->answer(id, q, now);
    };
    config.on_tcp_query_done = [this](ipstack::TcpQueryId, ipstack::TcpQueryError e,
                                      std::span<const uint8_t> r) {
      FUZZ_CHECK(e == ipstack::TcpQueryError::None || r.empty());
      ++results;
    };
    std::string error;
    stack = ipstack::IpStack::create(std::move(config), now, error);
    FUZZ_CHECK(stack != nullptr);
    clients.emplace_back(address("10.7.0.1"), 40000, address("10.7.0.53"), 53);
    clients.emplace_back(address("10.7.0.1"), 40001, address("10.7.0.53"), 53);
    clients.emplace_back(address("fd07::1"), 40002, address("fd07::53"), 53);
    clients.emplace_back(address("fd07::1"), 40003, address("fd07::53"), 53);
  }

  void emitted(std::span<const uint8_t> p) {
    const auto info = parse_ip_packet(p);
    FUZZ_CHECK(info.has_value());
    FUZZ_CHECK(info->total_length == p.size());
    FUZZ_CHECK(stack->serves(info->source));
    if (info->protocol == kIpProtocolTcp || info->protocol == kIpProtocolUdp) {
      FUZZ_CHECK(transport_checksum_valid(p));
    }
    const auto segment = parse_tcp_segment(p);
    if (!segment) return;
    for (TcpPeer& c : clients) {
      if (c.owns(*segment)) c.take(*segment);
    }
    if (upstream && upstream->owns(*segment)) upstream->take(*segment);
    // A SYN to an upstream: become that upstream.
    if ((segment->flags & kTcpSyn) && !(segment->flags & kTcpAck) && segment->destination_port == 53) {
      upstream.emplace(segment->destination, segment->destination_port, segment->source,
                       segment->source_port, 5000);
      upstream->take(*segment);
    }
  }

  void deliver(const std::vector<uint8_t>& p) { stack->input(p.data(), p.size(), now); }

  Now now{seconds(100), 0};
  std::unique_ptr<ipstack::IpStack> stack;
  std::vector<TcpPeer> clients;
  std::optional<TcpPeer> upstream;
  std::vector<ipstack::ConnectionId> queries;
  bool answer_in_handler = false;
  size_t results = 0;
};

// Turns fuzz bytes into an IP packet for a served address: version, lengths and addresses set,
// the IPv4 header checksum and any TCP/UDP checksum fixed (`how` bit 0x80 leaves them broken).
std::vector<uint8_t> aimed_packet(uint8_t how, std::span<const uint8_t> body) {
  const bool v6 = how & 1;
  const size_t header = v6 ? 40 : 20;
  std::vector<uint8_t> p(header + body.size(), 0);
  std::copy(body.begin(), body.end(), p.begin() + static_cast<long>(header));
  const IpAddress source = address(v6 ? "fd07::1" : "10.7.0.1");
  const char* targets4[] = {"10.7.0.53", "10.7.0.2"};
  const char* targets6[] = {"fd07::53", "fd07::2"};
  const IpAddress destination = address(v6 ? targets6[(how >> 1) & 1] : targets4[(how >> 1) & 1]);
  const uint8_t protocols[] = {6, 17, 1, 58};
  const uint8_t protocol = protocols[(how >> 2) & 3];
  if (v6) {
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>(body.size() >> 8);
    p[5] = static_cast<uint8_t>(body.size());
    p[6] = protocol;
    p[7] = 64;
    std::copy_n(source.bytes.begin(), 16, p.begin() + 8);
    std::copy_n(destination.bytes.begin(), 16, p.begin() + 24);
  } else {
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    p[8] = 64;
    p[9] = protocol;
    std::copy_n(source.bytes.begin(), 4, p.begin() + 12);
    std::copy_n(destination.bytes.begin(), 4, p.begin() + 16);
  }
  if (how & 0x80) return p;
  if (protocol == kIpProtocolUdp && body.size() >= 8) {
    p[header + 4] = static_cast<uint8_t>(body.size() >> 8);
    p[header + 5] = static_cast<uint8_t>(body.size());
  }
  if (!v6) fill_ipv4_header_checksum(p);
  fill_transport_checksum(p);  // refuses (and leaves) what is not whole TCP/UDP
  return p;
}

size_t pool_in_use(memp_t pool) { return memp_pools[pool]->stats->used; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_deterministic_process();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::reseed_random(0x1f1f);
  fuzz::Reader in(data, size);
  {
    Harness h(in.u8());
    const int64_t start = h.now.mono_ns;
    for (size_t record = 0; record < kMaxRecords && !in.empty(); ++record) {
      switch (in.u8() % 8) {
        case 0: {
          const auto bytes = fuzz::exact_copy(in.bytes(in.u16() % 2048));
          h.deliver(bytes);
          break;
        }
        case 1: {
          const uint8_t how = in.u8();
          h.deliver(aimed_packet(how, in.bytes(in.u16() % 1500)));
          break;
        }
        case 2: {
          TcpPeer& peer = h.clients[in.u8() % h.clients.size()];
          const uint8_t flags = in.u8();
          const auto seq = static_cast<int8_t>(in.u8());
          const auto ack = static_cast<int8_t>(in.u8());
          const uint16_t window = in.u16();
          const auto payload = in.bytes(in.u16() % 1400);
          h.deliver(peer.custom(flags, payload, seq, ack, window));
          break;
        }
        case 3: {
          if (h.now.mono_ns - start > kMaxVirtualTime) break;
          h.now.mono_ns += millis(int64_t{in.u16()} * 8);
          // Every timer due by now, each run moving the deadline on.
          for (int guard = 0; h.stack->next_deadline() <= h.now.mono_ns; ++guard) {
            FUZZ_CHECK(guard < 100000);
            h.stack->handle_timers(h.now);
            FUZZ_CHECK(h.stack->next_deadline() > h.now.mono_ns);
          }
          break;
        }
        case 4: {
          const uint8_t which = in.u8();
          const auto response = in.bytes(in.u16() % 3000);
          if (h.queries.empty()) break;
          h.stack->answer(h.queries[which % h.queries.size()], response, h.now);
          break;
        }
        case 5:
          h.stack->answer(in.u64(), std::vector<uint8_t>{1, 2, 3}, h.now);
          break;
        case 6: {
          const bool v6 = in.u8() & 1;
          const uint16_t timeout_ms = in.u16();
          const auto query = in.bytes(in.u16() % 600);
          const Endpoint upstream{address(v6 ? "fd00:99::1" : "192.0.2.53"), 53};
          h.stack->tcp_query(upstream, query, millis(timeout_ms), h.now);
          break;
        }
        case 7: {
          const uint8_t flags = in.u8();
          const auto seq = static_cast<int8_t>(in.u8());
          const auto ack = static_cast<int8_t>(in.u8());
          const uint16_t window = in.u16();
          const auto payload = in.bytes(in.u16() % 1400);
          if (h.upstream) h.deliver(h.upstream->custom(flags, payload, seq, ack, window));
          break;
        }
      }
    }
    if (std::getenv("SLUICE_FUZZ_VERBOSE") != nullptr) {
      const auto& c = h.stack->counters();
      std::fprintf(stderr,
                   "in %llu out %llu malformed %llu ip_drops %llu tcp_drops %llu accepted %llu "
                   "refused %llu queries %llu answers %llu resets %llu idle %llu tcpq %llu/%llu\n",
                   (unsigned long long)c.packets_in, (unsigned long long)c.packets_out,
                   (unsigned long long)c.input_malformed, (unsigned long long)c.lwip_ip_drops,
                   (unsigned long long)c.lwip_transport_drops,
                   (unsigned long long)c.dns_connections_accepted,
                   (unsigned long long)c.dns_connections_refused, (unsigned long long)c.dns_queries,
                   (unsigned long long)c.dns_answers, (unsigned long long)c.dns_connections_reset,
                   (unsigned long long)c.dns_connections_idle_closed,
                   (unsigned long long)c.tcp_queries_started,
                   (unsigned long long)c.tcp_queries_answered);
    }
  }
  // The stack is gone: lwIP must hold nothing of it.
  FUZZ_CHECK(pool_in_use(MEMP_TCP_PCB) == 0);
  FUZZ_CHECK(pool_in_use(MEMP_TCP_PCB_LISTEN) == 0);
  FUZZ_CHECK(pool_in_use(MEMP_TCP_SEG) == 0);
  FUZZ_CHECK(pool_in_use(MEMP_PBUF_POOL) == 0);
  FUZZ_CHECK(pool_in_use(MEMP_PBUF) == 0);
  FUZZ_CHECK(ipstack::lwip_memory().heap_used == 0);
  return 0;
}
