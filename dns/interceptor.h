// The DNS interceptor: answers, inside Sluice, the DNS queries the host sends into the tunnel,
// so none of them leaves as a raw packet. Sans-IO: packets, messages and the time go in;
// packets, messages and a deadline come out. The caller (platform/dns_pipeline) owns the TUN,
// the Device, the IpStack, the sockets and the clock.
//
//   handle_outbound  packets read from the TUN: UDP queries to an intercepted address:53 are
//                    answered (policy, cache) or forwarded; TCP segments to an intercepted
//                    address:53 go to out.to_stack for the IpStack's DNS server; .local
//                    queries, mDNS and all other traffic stay in the batch
//   handle_inbound   packets the Device decrypted: replies to our upstream queries through the
//                    tunnel (UDP to one of our tunnel addresses and source ports) are taken
//   handle_stream_query   one query the IpStack's DNS-over-TCP server received
//   handle_direct_reply   a UDP reply from a direct upstream, received by the caller's socket
//   handle_tcp_reply      the end of a TCP attempt the caller ran for out.tcp_queries
//   handle_timers / next_deadline   upstream timeouts and retries
//
// The answer to a query: the override or block action if the policy says so, else the cached
// answer, else the upstream set's reply (retried across servers on timeout or server error,
// over TCP if it came back truncated), else SERVFAIL when every attempt failed. Malformed
// queries get FORMERR when their header is readable and are dropped otherwise.
//
// Buffer ownership: the interceptor takes ownership of every packet it removes from a batch
// given to it, and releases it to the pool (or passes it on in out.to_stack). Every buffer in
// an InterceptorOutput belongs to the caller, who releases it to the pool after use.
// Single-threaded; the hot path allocates nothing once the output vectors have grown to their
// working size (everything else is allocated in the constructor).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dns/answer_cache.h"
#include "dns/dns_config.h"
#include "dns/dns_counters.h"
#include "dns/query_log.h"
#include "dns/upstream.h"
#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/time.h"

namespace sluice::dns {

struct InterceptorOptions {
  // The tunnel's own addresses (wg-quick Address=): queries through the tunnel leave from the
  // first one of the server's family. Without one of a family, servers of that family cannot
  // be reached through the tunnel (counted as upstream_no_route).
  std::vector<IpAddress> tunnel_addresses;
  uint32_t mtu = 1420;  // the tunnel's inner MTU
  // UDP source ports of queries through the tunnel: [first_source_port, + source_ports). Above
  // Linux's default ephemeral range (32768-60999), so the host's own sockets on the tunnel
  // address do not collide with them; replies to these ports are always taken.
  uint16_t first_source_port = 61000;
  uint16_t source_ports = 64;
  size_t max_in_flight = 1024;  // pending upstream queries; past it the oldest gets SERVFAIL
  // Whether TCP to an intercepted address:53 goes to out.to_stack (an IpStack serves it).
  // Without a stack it passes through like other traffic.
  bool tcp_to_stack = true;
};

// A DNS message for a direct upstream over UDP, sent by the caller from its own socket.
// `message` holds the bytes at data(); the caller releases it.
struct DirectQuery {
  Endpoint server;
  PacketBuffer* message = nullptr;
};

// A TCP attempt for the caller to run: through the tunnel (IpStack::tcp_query) or direct (a TCP
// socket), giving up after `timeout_ns`. The caller reports the end with handle_tcp_reply(token).
// `message` holds the DNS message (no length prefix) at data(); the caller releases it.
struct TcpQuery {
  uint64_t token = 0;
  Endpoint server;
  bool direct = false;
  int64_t timeout_ns = 0;
  PacketBuffer* message = nullptr;
};

// An answer for a DNS-over-TCP client, in InterceptorOutput::stream_bytes.
struct StreamAnswer {
  uint64_t connection = 0;
  size_t offset = 0;
  size_t length = 0;
};

struct InterceptorOutput {
  // `stream_capacity` bounds stream_bytes: answers for TCP clients past it in one call are
  // dropped and counted (the client retries).
  explicit InterceptorOutput(size_t stream_capacity = 256 * 1024);

  std::vector<PacketBuffer*> to_tun;     // answers: complete IP packets for the TUN
  std::vector<PacketBuffer*> to_tunnel;  // queries through the tunnel: inner IP packets for
                                         // Device::handle_inner (data() at kHeadroom)
  std::vector<PacketBuffer*> to_stack;   // TCP segments from the TUN for the IpStack
  std::vector<DirectQuery> direct;
  std::vector<TcpQuery> tcp_queries;
  std::vector<StreamAnswer> stream_answers;
  std::vector<uint8_t> stream_bytes;     // capacity reserved once, never grown
  std::vector<QueryLogRecord> log;       // only when the policy enables the query log

  std::span<const uint8_t> bytes_of(const StreamAnswer& a) const {
    return std::span<const uint8_t>(stream_bytes).subspan(a.offset, a.length);
  }
  bool empty() const;
  // Forgets everything without releasing buffers: release them first.
  void clear();
};

class DnsInterceptor {
 public:
  // `pool` supplies the buffers of answers and upstream queries and receives the packets the
  // interceptor takes; it must outlive the interceptor. `policy` must not be null.
  DnsInterceptor(InterceptorOptions options, std::shared_ptr<const DnsPolicy> policy, BufferPool& pool);

  // Swaps in a new policy (a reload). Queries in flight finish with the policy they started
  // with; the cache is emptied (a route or an override may have changed what is right), and
  // rebuilt if its limits changed. `policy` must not be null.
  void set_policy(std::shared_ptr<const DnsPolicy> policy);
  const DnsPolicy& policy() const { return *policy_; }
  const std::shared_ptr<const DnsPolicy>& policy_ptr() const { return policy_; }

  // Packets read from the TUN. Removes (and takes ownership of) the packets it handles,
  // keeping the order of the rest.
  void handle_outbound(std::vector<PacketBuffer*>& packets, const Now& now, InterceptorOutput& out);
  // Packets the Device delivered for the TUN. Removes (and takes ownership of) the replies to
  // our queries through the tunnel.
  void handle_inbound(std::vector<PacketBuffer*>& packets, const Now& now, InterceptorOutput& out);
  // A query from a DNS-over-TCP client; `query` is borrowed for the call.
  void handle_stream_query(uint64_t connection, std::span<const uint8_t> query, const Now& now,
                           InterceptorOutput& out);
  // A UDP datagram from `source` on the caller's direct-upstream socket; borrowed for the call.
  void handle_direct_reply(const Endpoint& source, std::span<const uint8_t> reply, const Now& now,
                           InterceptorOutput& out);
  // The end of TCP attempt `token`: `ok` with the response (borrowed for the call), or failed.
  // Unknown or stale tokens are ignored.
  void handle_tcp_reply(uint64_t token, bool ok, std::span<const uint8_t> reply, const Now& now,
                        InterceptorOutput& out);

  void handle_timers(const Now& now, InterceptorOutput& out);
  // When handle_timers() is next due (monotonic ns); INT64_MAX with nothing pending. May be
  // early (a query answered since), never late.
  int64_t next_deadline() const { return next_deadline_; }

  // Whether `port` is one of the UDP source ports of queries through the tunnel.
  bool is_source_port(uint16_t port) const {
    return port >= options_.first_source_port &&
           port - options_.first_source_port < options_.source_ports;
  }
  const DnsCounters& counters() const { return counters_; }
  const CacheCounters& cache_counters() const { return cache_->counters(); }
  size_t in_flight() const { return pending_.size(); }
  const InterceptorOptions& options() const { return options_; }

 private:
  enum class Taken : uint8_t { no, yes };

  Taken take_outbound(PacketBuffer* packet, const Now& now, InterceptorOutput& out);
  Taken take_udp_query(PacketBuffer* packet, const TransportView& view, const Now& now,
                       InterceptorOutput& out);
  // Answers or forwards a parsed query. `reuse` (may be null) is a buffer the UDP answer may
  // be written into; it is consumed either way.
  void answer_query(const ClientQuery& client, PacketBuffer* reuse, const Now& now, InterceptorOutput& out);
  // FORMERR for bytes that did not parse, or drop when even the header is unreadable.
  void answer_unparsed(const QueryClient& client, std::span<const uint8_t> query, PacketBuffer* reuse,
                       const Now& now, InterceptorOutput& out);

  void forward(const ClientQuery& client, size_t set, const Now& now, InterceptorOutput& out);
  void on_tunnel_reply(const TransportView& view, const Now& now, InterceptorOutput& out);
  // Sends the current attempt of `q` or, past the last one, fails it. Returns false when `q`
  // was released.
  bool send_attempt(PendingQuery& q, const Now& now, InterceptorOutput& out);
  void start_tcp(PendingQuery& q, const Now& now, InterceptorOutput& out);
  void on_reply(PendingQuery& q, std::span<const uint8_t> reply, bool via_tcp, const Now& now,
                InterceptorOutput& out);
  // Gives up on `q`: SERVFAIL to its client, then releases it.
  void fail(PendingQuery& q, const Now& now, InterceptorOutput& out);
  void cache_reply(const ClientQuery& client, std::span<const uint8_t> reply, const TtlFields& ttl,
                   const Now& now);

  // Writes the query of attempt `q` (DNS message only) into `out`; returns its length or 0.
  size_t write_upstream_query(const PendingQuery& q, std::span<uint8_t> out) const;

  // Sends the message in scratch_[0, length) to the client: shaped for it first if `shape`
  // (a reply from upstream or the cache), then truncated to the client's UDP limit.
  void deliver(const ClientQuery& client, size_t length, bool shape, QueryAction action,
               PacketBuffer* reuse, const Now& now, InterceptorOutput& out);
  void deliver_error(const ClientQuery& client, Rcode rcode, QueryAction action, PacketBuffer* reuse,
                     const Now& now, InterceptorOutput& out);
  // Builds a local answer (override, block action) into scratch_; returns its length or 0.
  size_t build_local_answer(const ClientQuery& client, const DnsDecision& decision);
  // Emits bytes as the answer to `client`: a UDP packet (into `reuse` or a new buffer) or a
  // stream answer. False when there was no room (counted).
  bool emit(const QueryClient& client, std::span<const uint8_t> message, PacketBuffer* reuse,
            InterceptorOutput& out);
  void log(const ClientQuery& client, QueryAction action, uint16_t rcode, const Now& now,
           InterceptorOutput& out);

  uint16_t advertised_payload(const QueryClient& client) const;
  size_t answer_limit(const ClientQuery& client) const;
  std::optional<IpAddress> tunnel_source(IpFamily family) const;
  bool is_tunnel_address(const IpAddress& address) const;
  void note_deadline(int64_t deadline_ns) {
    if (deadline_ns < next_deadline_) next_deadline_ = deadline_ns;
  }

  InterceptorOptions options_;
  std::shared_ptr<const DnsPolicy> policy_;
  BufferPool& pool_;
  std::unique_ptr<AnswerCache> cache_;
  PendingQueries pending_;
  DnsCounters counters_;
  std::vector<uint8_t> scratch_;        // kMaxMessageLength + room for an added OPT
  std::vector<uint16_t> ttl_offsets_;   // kMaxRecordsPerMessage
  int64_t next_deadline_;
  uint16_t next_port_ = 0;
  Name local_zone_;                     // "local": mDNS names (RFC 6762) are never answered here
  Name soa_mname_;                      // the SOA of synthesised negative answers
  Name soa_rname_;
};

}  // namespace sluice::dns
