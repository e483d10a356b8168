// DNS over TCP (RFC 7766) served inside the embedded stack: listens on port 53 of the given
// addresses, reassembles length-prefixed queries (several per connection, pipelined, split
// across segments in any way), hands each to the caller, and sends the caller's answers back
// framed, whenever they come (the caller may forward upstream first, so answers can arrive out
// of order, as RFC 7766 6.2.1.1 allows).
//
// Bounds: at most max_connections at once (more are reset as soon as they are established);
// per connection, one partial query of up to max_query_bytes and up to send_buffer_bytes of
// answers waiting for lwIP's send window. A connection that breaks a bound is reset; one with
// no traffic for idle_timeout is closed. All buffers are allocated at construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ipstack/ip_stack_counters.h"
#include "tunnel/ip_address.h"
#include "tunnel/time.h"

struct tcp_pcb;

namespace sluice::ipstack {

struct DnsTcpServerLimits {
  size_t max_connections = 16;  // at most SLUICE_IPSTACK_MAX_DNS_CONNECTIONS (lwipopts.h)
  size_t max_query_bytes = 4096;          // a longer length prefix resets the connection
  size_t send_buffer_bytes = 16 * 1024;   // framed answers not yet taken by lwIP
  int64_t idle_timeout_ns = seconds(10);  // no bytes in either direction for this long: close
};

// Names one connection for answer(). Never reused: once the connection is gone, answer() with
// its id is dropped and counted, even if the slot serves a new connection.
using ConnectionId = uint64_t;

// A complete query. `query` is borrowed for the call only (it points into lwIP's buffer or the
// connection's). The handler may call answer() at once or keep the id and answer later; it must
// not call IpStack::input() or handle_timers().
using DnsQueryHandler = std::function<void(ConnectionId, std::span<const uint8_t> query)>;

enum class AnswerStatus : uint8_t {
  Queued,          // framed and handed to lwIP or the connection's send buffer
  ConnectionGone,  // the connection was closed or reset: dropped and counted
  Invalid,         // empty, or longer than a DNS message can be (65535): dropped
  Overflow,        // more than the send buffer holds: the connection was reset
};

class DnsTcpServer {
 public:
  // `counters` must outlive the server. Allocates every connection's buffers.
  DnsTcpServer(const DnsTcpServerLimits& limits, DnsQueryHandler handler,
               IpStackCounters& counters);
  // Resets every connection and closes the listeners (see shutdown()).
  ~DnsTcpServer();
  DnsTcpServer(const DnsTcpServer&) = delete;
  DnsTcpServer& operator=(const DnsTcpServer&) = delete;

  // Listens on `address`:`port`; the address must be one the stack serves. False with `error`.
  bool listen(const IpAddress& address, uint16_t port, std::string& error);

  // Frames `response` (borrowed for the call; copied) and sends it on connection `id`.
  AnswerStatus answer(ConnectionId id, std::span<const uint8_t> response);

  size_t active_connections() const;

  // Resets (RST) every connection and closes the listeners; idempotent.
  void shutdown();

 private:
  struct Connection;
  friend struct DnsTcpServerCallbacks;

  Connection* find(ConnectionId id);
  Connection* free_slot();
  void release(Connection& c);
  // Each returns true when it aborted the pcb (an lwIP callback must then return ERR_ABRT).
  bool close(Connection& c);
  bool reset(Connection& c);
  bool finish_if_done(Connection& c);
  void flush(Connection& c);

  DnsTcpServerLimits limits_;
  uint32_t idle_timeout_ms_;
  DnsQueryHandler handler_;
  IpStackCounters& counters_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<struct tcp_pcb*> listeners_;
};

}  // namespace sluice::ipstack
