// The embedded TCP/IP stack (lwIP) joined to Sluice's packet pipeline, sans-IO: packets and the
// time go in, packets come out through a callback, and next_deadline() says when to call
// handle_timers(). It serves DNS over TCP on the tunnel's DNS addresses and opens DNS-over-TCP
// connections to upstreams through the tunnel.
//
// One per process at a time: lwIP (NO_SYS=1) keeps its state in globals, so create() refuses
// while another IpStack exists. Single-threaded: every call, and every callback it makes, on
// the thread that uses it. Reentrancy: the output callback may run inside any call (input(),
// handle_timers(), answer(), tcp_query()); the query handler and the tcp_query callback run
// inside input() or handle_timers() and may call answer() and tcp_query(), never input() or
// handle_timers(). No clock is read: every call takes the caller's `Now` (only mono_ns is used),
// which also drives lwIP's sys_now(); a time earlier than the last one is treated as the last.
//
// Memory: lwIP's own, static and bounded by ipstack/lwipopts.h (about 124 KB; see there), plus
// per IpStack the buffers sized by IpStackConfig, allocated in create(): per DNS connection
// max_query_bytes + send_buffer_bytes, per in-flight upstream query max_query_bytes + 2 +
// max_response_bytes, and one MTU-sized output buffer. Nothing is allocated per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ipstack/dns_tcp_client.h"
#include "ipstack/dns_tcp_server.h"
#include "ipstack/ip_stack_counters.h"
#include "ipstack/packet_sink.h"
#include "tunnel/ip_address.h"
#include "tunnel/time.h"

namespace sluice::ipstack {

class TunnelNetif;

struct IpStackConfig {
  // The tunnel's own addresses (wg-quick's Address): the source of tcp_query() connections.
  std::optional<IpAddress> ipv4;
  std::optional<IpAddress> ipv6;
  uint16_t mtu = 1420;  // the tunnel's MTU; longer input packets are dropped. 1280..65535.
  // Where DNS over TCP is served (port dns_port); these become addresses of the stack too.
  std::vector<IpAddress> dns_addresses;
  uint16_t dns_port = 53;
  DnsTcpServerLimits dns_server;
  DnsTcpClientLimits dns_client;

  // Every IP packet the stack sends (required). Replies to the local host go to the TUN;
  // packets to peers' networks are sealed into the tunnel: the pipeline tells them apart.
  PacketSink output;
  // Each DNS query received over TCP (required when dns_addresses is not empty).
  DnsQueryHandler on_dns_query;
  // Each finished tcp_query() (required to use tcp_query()).
  TcpQueryCallback on_tcp_query_done;
};

class IpStack {
 public:
  // Initialises lwIP (once per process) and adds the netifs and listeners. Returns nullptr with
  // `error` set if the configuration is invalid, a limit exceeds lwipopts.h's ceilings, or
  // another IpStack is alive.
  static std::unique_ptr<IpStack> create(IpStackConfig config, const Now& now, std::string& error);
  // Resets every connection (no packets are emitted for that), removes the netifs and frees
  // every lwIP connection, TIME_WAIT included, so the next IpStack starts clean.
  ~IpStack();
  IpStack(const IpStack&) = delete;
  IpStack& operator=(const IpStack&) = delete;

  // One inner IP packet addressed to this stack (the caller classifies: see serves()).
  // `packet` stays the caller's: it is copied into one of lwIP's pool buffers before this
  // returns. Malformed, oversized or unbuffered packets are dropped and counted.
  void input(const uint8_t* packet, size_t length, const Now& now);

  // Runs lwIP's timers (TCP retransmission, TIME_WAIT, our idle timeouts and query deadlines).
  void handle_timers(const Now& now);
  // When handle_timers() is due next, on the caller's monotonic clock (mono_ns); INT64_MAX when
  // nothing is scheduled. Valid after any call; earlier calls are harmless.
  int64_t next_deadline() const;

  // Sends the answer to a query from on_dns_query (see DnsTcpServer::answer). `response` is
  // borrowed for the call.
  AnswerStatus answer(ConnectionId id, std::span<const uint8_t> response, const Now& now);

  // Starts a DNS-over-TCP query to `upstream` from the stack's address of the same family;
  // the result comes through on_tcp_query_done unless this returns an error. `query` is
  // borrowed for the call.
  TcpQueryStart tcp_query(const Endpoint& upstream, std::span<const uint8_t> query,
                          int64_t timeout_ns, const Now& now);

  // True if `address` is one of the stack's addresses (tunnel or DNS).
  bool serves(const IpAddress& address) const;

  // The counters, lwIP's drop and memory-error statistics folded in.
  const IpStackCounters& counters();

 private:
  explicit IpStack(IpStackConfig config);
  void set_time(const Now& now);

  IpStackConfig config_;
  IpStackCounters counters_;
  std::unique_ptr<TunnelNetif> netif_;  // lwIP's types stay out of this header
  DnsTcpServer server_;
  DnsTcpClient client_;
  // lwIP's statistics at the last fold, to add only what changed (they are 32-bit and shared
  // with earlier IpStacks).
  uint32_t lwip_ip_seen_ = 0;
  uint32_t lwip_transport_seen_ = 0;
  uint32_t lwip_memory_seen_ = 0;
};

}  // namespace sluice::ipstack
