// DNS over TCP to an upstream server through the tunnel, from the stack's own address: the
// fallback when a UDP answer comes back truncated (RFC 7766 5). One connection per query:
// connect, send the framed query, read one framed response, close. At most max_in_flight at
// once; each has a deadline on the caller's clock. Buffers are allocated at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ipstack/ip_stack_counters.h"
#include "tunnel/ip_address.h"

namespace sluice::ipstack {

struct DnsTcpClientLimits {
  size_t max_in_flight = 4;          // at most SLUICE_IPSTACK_MAX_TCP_QUERIES (lwipopts.h)
  size_t max_query_bytes = 4096;     // longer queries are refused
  size_t max_response_bytes = 65535;  // a longer length prefix fails the query
};

using TcpQueryId = uint64_t;

enum class TcpQueryError : uint8_t {
  None,
  // Returned by query(); no callback follows.
  TooManyInFlight,
  InvalidQuery,     // empty, or longer than max_query_bytes
  NoSourceAddress,  // the stack has no address of the upstream's family
  NoResources,      // lwIP is out of pcbs, ports or memory
  // Passed to the callback.
  Timeout,
  ConnectionFailed,   // refused (RST), reset, or given up after retransmissions
  ConnectionClosed,   // the upstream closed before sending a whole response
  ResponseTooLarge,   // length prefix above max_response_bytes
  MalformedResponse,  // zero-length response
};
std::string_view tcp_query_error_name(TcpQueryError e);

struct TcpQueryStart {
  TcpQueryId id = 0;  // 0 when refused
  TcpQueryError error = TcpQueryError::None;
  bool ok() const { return error == TcpQueryError::None; }
};

// Called exactly once per query that query() started: with TcpQueryError::None and the
// response message (without its length prefix), or with an error and an empty span. `response`
// is borrowed for the call only. The callback may start new queries and call
// IpStack::answer(); it must not call IpStack::input() or handle_timers().
using TcpQueryCallback =
    std::function<void(TcpQueryId, TcpQueryError, std::span<const uint8_t> response)>;

class DnsTcpClient {
 public:
  // `counters` must outlive the client. The source addresses are the stack's own, one per
  // family (either may be absent).
  DnsTcpClient(const DnsTcpClientLimits& limits, TcpQueryCallback callback,
               IpStackCounters& counters, std::optional<IpAddress> source_v4,
               std::optional<IpAddress> source_v6);
  // Aborts queries in flight without calling their callbacks (see shutdown()).
  ~DnsTcpClient();
  DnsTcpClient(const DnsTcpClient&) = delete;
  DnsTcpClient& operator=(const DnsTcpClient&) = delete;

  // Starts a query to `upstream`; `query` (one DNS message, borrowed for the call) is copied.
  // The deadline is `timeout_ms` on lwIP's clock (the caller's, through IpStack).
  TcpQueryStart query(const Endpoint& upstream, std::span<const uint8_t> query,
                      uint32_t timeout_ms);

  size_t in_flight() const;

  // Aborts (RST) every query in flight; no callbacks. Idempotent.
  void shutdown();

 private:
  struct Query;
  friend struct DnsTcpClientCallbacks;

  // Ends a query whose pcb is detached or gone: frees the slot, then calls back.
  void finish(Query& q, TcpQueryError error, std::span<const uint8_t> response);
  void flush(Query& q);

  DnsTcpClientLimits limits_;
  TcpQueryCallback callback_;
  IpStackCounters& counters_;
  std::optional<IpAddress> source_v4_;
  std::optional<IpAddress> source_v6_;
  std::vector<std::unique_ptr<Query>> queries_;
};

}  // namespace sluice::ipstack
