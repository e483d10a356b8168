// Forwarding to upstream servers: which server each attempt goes to, what payload size to
// advertise, whether a reply answers the query it claims to, how an upstream reply is reshaped
// for the client that asked, and the bounded table of queries waiting for an upstream.
//
// An attempt goes to the set's servers in order, wrapping around: with servers A, B and two
// retries the attempts go to A, B, A, each with the set's timeout. A truncated UDP reply is
// retried over TCP to the same server within the same attempt (RFC 7766 section 5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dns/dns_config.h"
#include "dns/message.h"
#include "dns/reply_packet.h"
#include "dns/split_routes.h"

namespace sluice::dns {

// The largest payload a resolver must accept (RFC 1035 section 4.2.1); also the floor for EDNS.
inline constexpr uint16_t kClassicUdpPayload = 512;
// What a direct upstream is told we accept: the DNS Flag Day 2020 size, which fits any
// ordinary path MTU without fragmentation.
inline constexpr uint16_t kDirectUdpPayload = 1232;

inline uint32_t attempts_of(const UpstreamSet& set) { return 1 + set.retries; }
// The server of attempt `attempt` (0-based). `set.servers` must not be empty.
inline const Upstream& server_for_attempt(const UpstreamSet& set, uint32_t attempt) {
  return set.servers[attempt % set.servers.size()];
}

// The EDNS UDP payload size to advertise to `server`: through the tunnel, what one inner packet
// of the tunnel's MTU can carry after the IP and UDP headers of the server's family (so a reply
// never needs fragmenting inside the tunnel); direct, kDirectUdpPayload. Never below 512.
uint16_t upstream_udp_payload(const Upstream& server, uint32_t tunnel_mtu);

// The largest UDP answer a client may be sent: its EDNS payload size (512 without EDNS, and at
// least 512), and never more than one packet of `mtu` can carry in the client's family.
uint16_t client_udp_limit(const QueryQuestion& query, IpFamily family, uint32_t mtu);

enum class ReplyVerdict : uint8_t {
  answer,        // a reply to the question: relay (and cache) it
  truncated,     // TC set: ask again over TCP
  server_error,  // FORMERR, SERVFAIL, NOTIMP or REFUSED from the server: try the next one
  mismatch,      // not a reply to this question (wrong name, type or class): ignore it
  malformed,     // not a readable DNS response
};

// Judges `reply` (borrowed for the call) as an answer to `question`: QR must be set; a reply
// with one question must echo it (names compare case-insensitively); a reply without a question
// counts only as a server error. Framing is checked as far as the question; the caller checks
// the records (find_ttl_fields) before trusting them.
ReplyVerdict judge_reply(std::span<const uint8_t> reply, const Question& question);

// Rewrites an upstream reply (or a cached copy of one) in place for the client of `query`:
// the client's id, the question name in the client's letter case (RFC 1035 case is not
// significant, but stubs that randomise it, as DNS 0x20 does, check it), and the OPT record as
// the client's query had it: removed if the query had none (RFC 6891 section 7), else present
// with `payload_size` and the query's DO bit (added if the upstream sent none). `message` is
// caller-owned, holds the reply in its first `length` bytes and may grow by 11 bytes (an added
// OPT) if it has room. Returns the new length, or nothing if the reply cannot be walked (it then
// has not been changed).
std::optional<size_t> shape_reply(std::span<uint8_t> message, size_t length, const QueryQuestion& query,
                                  uint16_t payload_size);

// Who asked a query that is waiting for an upstream, and how to answer them.
struct QueryClient {
  enum class Kind : uint8_t { udp, stream };
  Kind kind = Kind::udp;
  UdpFlow flow;         // udp: the query's own flow (client -> intercepted address:53)
  uint64_t stream = 0;  // stream: the IpStack connection that carried the query
};

struct ClientQuery {
  QueryClient client;
  QueryQuestion query;  // id, flags, question as sent, EDNS
  int64_t arrived_ns = 0;       // monotonic, for latency and the query log
  int64_t arrived_wall_ns = 0;  // for the query log
};

struct PendingQuery {
  enum class Transport : uint8_t { udp, tcp };

  bool in_use = false;
  ClientQuery client;
  // The policy the query was routed with: a reload does not move queries already in flight.
  std::shared_ptr<const DnsPolicy> policy;
  size_t set = 0;             // index into policy->routes
  uint32_t attempt = 0;       // the current attempt, 0-based
  Upstream server;            // the current attempt's server
  Transport transport = Transport::udp;
  uint16_t upstream_id = 0;   // the DNS id of the current attempt (unique among pending queries)
  uint16_t source_port = 0;   // UDP through the tunnel: the port the attempt was sent from
  uint64_t tcp_token = 0;     // TCP: names the attempt in handle_tcp_reply(); 0 when none
  int64_t deadline_ns = 0;    // the current attempt fails at this monotonic time
  uint64_t sequence = 0;      // allocation order: the smallest is the oldest
};

// The bounded table of pending queries with an index by upstream DNS id. Everything is
// allocated in the constructor; nothing is allocated afterwards.
class PendingQueries {
 public:
  // `capacity` is clamped to 1..kMaxCapacity.
  explicit PendingQueries(size_t capacity);
  static constexpr size_t kMaxCapacity = 16384;  // well below the 65536 DNS ids

  size_t capacity() const { return slots_.size(); }
  size_t size() const { return used_; }

  // A free slot, marked in use and stamped with the next sequence number; nullptr when full.
  PendingQuery* allocate();
  // The in-use query allocated first; nullptr when empty.
  PendingQuery* oldest();
  // Frees the slot: its id and token stop matching, its policy reference is dropped.
  void release(PendingQuery& query);

  // Gives `query` a random DNS id no other pending query holds, replacing its old one.
  void assign_id(PendingQuery& query);
  PendingQuery* find_by_id(uint16_t id);
  // Gives `query` a fresh token for a TCP attempt; tokens are never 0 and never reused.
  uint64_t assign_token(PendingQuery& query);
  PendingQuery* find_by_token(uint64_t token);

  // Every slot, in use or not, for scans by deadline.
  std::span<PendingQuery> slots() { return slots_; }

 private:
  size_t index_of(const PendingQuery& query) const {
    return static_cast<size_t>(&query - slots_.data());
  }

  std::vector<PendingQuery> slots_;
  std::vector<uint32_t> free_;
  std::vector<uint16_t> by_id_;  // DNS id -> slot + 1; 0 when the id is free
  size_t used_ = 0;
  uint64_t next_sequence_ = 1;
  uint64_t next_token_ = 1;
};

}  // namespace sluice::dns
