// Counters of the embedded stack: every packet, connection and query it drops is counted here
// under a reason. Monotonic except the `*_active`/`*_in_flight` gauges.
#pragma once

#include <cstdint>

namespace sluice::ipstack {

struct IpStackCounters {
  // --- Packets --------------------------------------------------------------------------------
  uint64_t packets_in = 0;        // handed to lwIP
  uint64_t packets_out = 0;       // emitted through the output callback
  uint64_t input_malformed = 0;   // not a whole IPv4/IPv6 packet (tunnel/ip_packet.h)
  uint64_t input_too_big = 0;     // longer than the MTU
  uint64_t input_no_buffer = 0;   // lwIP's PBUF_POOL was empty
  uint64_t output_too_big = 0;    // an emitted packet longer than the output buffer (a bug)
  // lwIP's own drops, from its statistics: bad checksums, not addressed to us, no listener
  // (answered with RST/ICMP), no memory.
  uint64_t lwip_ip_drops = 0;      // IPv4 and IPv6 layers
  uint64_t lwip_transport_drops = 0;  // TCP, UDP, ICMP, ICMPv6, ND
  uint64_t lwip_memory_errors = 0;    // heap or pool allocations that failed

  // --- DNS over TCP, server (ipstack/dns_tcp_server.h) -------------------------------------------
  uint64_t dns_connections_accepted = 0;
  uint64_t dns_connections_refused = 0;      // over max_connections: reset at once
  uint64_t dns_connections_active = 0;       // gauge
  uint64_t dns_connections_idle_closed = 0;  // idle timeout
  uint64_t dns_connections_reset = 0;        // reset by us: query too large, zero length, send
                                             // buffer overflow
  uint64_t dns_connections_lost = 0;         // reset by the peer, or aborted inside lwIP
  uint64_t dns_queries = 0;                  // complete messages handed to the handler
  uint64_t dns_queries_too_large = 0;        // length prefix above max_query_bytes
  uint64_t dns_answers = 0;                  // framed and queued for sending
  uint64_t dns_answers_connection_gone = 0;  // answer() for a closed connection: dropped
  uint64_t dns_answers_invalid = 0;          // empty or longer than 65535 bytes: dropped
  uint64_t dns_answers_overflow = 0;         // did not fit the send buffer: connection reset

  // --- DNS over TCP, client (ipstack/dns_tcp_client.h) -------------------------------------------
  uint64_t tcp_queries_started = 0;
  uint64_t tcp_queries_refused = 0;     // refused at tcp_query(): limits, no source address, memory
  uint64_t tcp_queries_in_flight = 0;   // gauge
  uint64_t tcp_queries_answered = 0;
  uint64_t tcp_queries_timed_out = 0;
  uint64_t tcp_queries_failed = 0;      // refused, reset, closed early, malformed or too large
};

}  // namespace sluice::ipstack
