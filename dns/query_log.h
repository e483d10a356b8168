// The query log: one line per answered query, off unless the policy enables it.
//
//   2025-03-01T12:00:00.123Z 10.88.0.2:41234 udp example.com A forwarded NOERROR 12.345ms
//   time (UTC, from the caller's wall clock), client (address:port, or the TCP connection),
//   transport, name, type, action, rcode, latency from arrival to answer.
//
// The interceptor only produces QueryLogRecords (plain values, no allocation); QueryLog formats
// and appends them to a file. Writes are buffered and flushed when the buffer fills or on
// flush(), so a busy resolver costs one write(2) per batch, not per query.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "dns/name.h"
#include "dns/reply_packet.h"

namespace sluice::dns {

enum class QueryAction : uint8_t {
  cached,      // answered from the answer cache
  forwarded,   // answered with an upstream's reply
  blocked,     // answered with the block action
  overridden,  // answered from [Override]
  servfail,    // every upstream attempt failed, or the query was evicted
  formerr,     // the query did not parse
  notimp,      // an opcode other than QUERY
  badvers,     // an EDNS version other than 0
};
std::string_view query_action_name(QueryAction action);

// "A", "AAAA", ... or "TYPE123" (RFC 3597 section 5).
std::string_view record_type_name(uint16_t type, std::span<char, 16> scratch);
// "NOERROR", "NXDOMAIN", ... or "RCODE12".
std::string_view rcode_name(uint16_t rcode, std::span<char, 16> scratch);

struct QueryLogRecord {
  int64_t wall_ns = 0;       // when the query arrived (Unix time)
  bool tcp = false;
  UdpFlow client;            // UDP: the query's flow (source = the client)
  uint64_t connection = 0;   // TCP: the IpStack connection
  Name name;                 // the root when the query did not parse
  uint16_t type = 0;
  QueryAction action = QueryAction::forwarded;
  uint16_t rcode = 0;
  int64_t latency_ns = 0;
};

// Appends one line, '\n' included.
void format_query_log_line(const QueryLogRecord& record, std::string& out);

class QueryLog {
 public:
  // Opens `path` for appending (created 0640 if missing). An error names the path and errno.
  static std::variant<std::unique_ptr<QueryLog>, std::string> open(const std::string& path);
  ~QueryLog();  // flushes
  QueryLog(const QueryLog&) = delete;
  QueryLog& operator=(const QueryLog&) = delete;

  // Formats `records` (borrowed for the call) into the buffer, writing it out when it fills.
  void write(std::span<const QueryLogRecord> records);
  // Writes out whatever is buffered. Returns false (once per failure) if a write failed.
  bool flush();
  const std::string& path() const { return path_; }
  uint64_t write_errors() const { return write_errors_; }

 private:
  QueryLog(std::string path, int fd);
  static constexpr size_t kBufferBytes = 64 * 1024;

  std::string path_;
  int fd_ = -1;
  std::string buffer_;
  uint64_t write_errors_ = 0;
};

}  // namespace sluice::dns
