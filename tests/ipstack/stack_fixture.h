// An IpStack driven entirely in memory and in virtual time: what it emits is collected (and
// checked to be well-formed IP with valid checksums), queries and query results are recorded.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "ipstack/ip_stack.h"
#include "tcp_peer.h"
#include "tunnel/inet_checksum.h"
#include "tunnel/ip_packet.h"

namespace sluice::test {

inline IpAddress ip(const char* text) { return *IpAddress::parse(text); }

struct QueryRecord {
  ipstack::ConnectionId id;
  std::vector<uint8_t> query;
};
struct TcpResult {
  ipstack::TcpQueryId id;
  ipstack::TcpQueryError error;
  std::vector<uint8_t> response;
};

class StackFixture {
 public:
  static constexpr const char* kTunnel4 = "10.7.0.2";
  static constexpr const char* kTunnel6 = "fd07::2";
  static constexpr const char* kDns4 = "10.7.0.53";
  static constexpr const char* kDns6 = "fd07::53";

  static ipstack::IpStackConfig default_config() {
    ipstack::IpStackConfig c;
    c.ipv4 = ip(kTunnel4);
    c.ipv6 = ip(kTunnel6);
    c.dns_addresses = {ip(kDns4), ip(kDns6)};
    return c;
  }

  explicit StackFixture(ipstack::IpStackConfig config = default_config()) {
    config.output = [this](std::span<const uint8_t> p) {
      // Every packet must be a whole IP packet; TCP/UDP ones must carry a valid checksum.
      const auto info = parse_ip_packet(p);
      if (!info || info->total_length != p.size()) ++malformed_output;
      if (info && (info->protocol == kIpProtocolTcp || info->protocol == kIpProtocolUdp) &&
          !transport_checksum_valid(p)) {
        ++malformed_output;
      }
      out.emplace_back(p.begin(), p.end());
    };
    config.on_dns_query = [this](ipstack::ConnectionId id, std::span<const uint8_t> q) {
      queries.push_back({id, {q.begin(), q.end()}});
      if (answer_immediately) stack->answer(id, q, now);  // echo, inside the handler
    };
    config.on_tcp_query_done = [this](ipstack::TcpQueryId id, ipstack::TcpQueryError e,
                                      std::span<const uint8_t> r) {
      results.push_back({id, e, {r.begin(), r.end()}});
    };
    std::string error;
    stack = ipstack::IpStack::create(std::move(config), now, error);
    INFO(error);
    REQUIRE(stack != nullptr);
  }

  ~StackFixture() { CHECK(malformed_output == 0); }

  void deliver(const std::vector<uint8_t>& packet) {
    stack->input(packet.data(), packet.size(), now);
  }

  // Hands every TCP segment emitted so far to the peers it belongs to; returns them all and
  // forgets them.
  std::vector<TcpSegment> route(std::initializer_list<TcpPeer*> peers) {
    std::vector<TcpSegment> segments;
    for (const auto& p : out) {
      auto s = parse_tcp_segment(p);
      if (!s) continue;
      for (TcpPeer* peer : peers) {
        if (peer->owns(*s)) peer->take(*s);
      }
      segments.push_back(*s);
    }
    out.clear();
    return segments;
  }

  // The three-way handshake from `peer` to the stack.
  void connect(TcpPeer& peer) {
    deliver(peer.syn());
    route({&peer});
    REQUIRE(peer.established());
    deliver(peer.ack());
  }

  // Moves virtual time on by `ns`, running every timer that falls due on the way.
  void advance(int64_t ns) {
    const int64_t end = now.mono_ns + ns;
    while (stack->next_deadline() <= end) {
      now.mono_ns = std::max(now.mono_ns, stack->next_deadline());
      stack->handle_timers(now);
    }
    now.mono_ns = end;
    stack->handle_timers(now);
  }

  Now now{seconds(1000), 0};
  std::unique_ptr<ipstack::IpStack> stack;
  std::vector<std::vector<uint8_t>> out;
  std::vector<QueryRecord> queries;
  std::vector<TcpResult> results;
  bool answer_immediately = false;
  int malformed_output = 0;
};

inline std::vector<uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace sluice::test
