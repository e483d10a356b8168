// What the DNS interceptor counts: every query by how it was answered, every packet it took and
// dropped by reason, the upstream traffic, and a latency histogram from a query's arrival to
// its answer. Exposed as "key=value" lines, the same flat format as `sluice stats`.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tunnel/time.h"

namespace sluice::dns {

// Latency in fixed buckets, upper bounds inclusive; the last bucket holds everything slower.
// Cache hits land in the first buckets, forwarded queries in the middle, timeouts at the end.
class LatencyHistogram {
 public:
  static constexpr std::array<int64_t, 10> kUpperBoundsNs = {
      100'000, 1'000'000, 5'000'000, 10'000'000, 50'000'000, 100'000'000, 500'000'000,
      1'000'000'000, 2'000'000'000, 5'000'000'000};
  static constexpr size_t kBuckets = kUpperBoundsNs.size() + 1;
  static constexpr std::array<std::string_view, kBuckets> kNames = {
      "le_100us", "le_1ms", "le_5ms", "le_10ms", "le_50ms", "le_100ms",
      "le_500ms", "le_1s",  "le_2s",  "le_5s",   "gt_5s"};

  void record(int64_t latency_ns) {
    size_t i = 0;
    while (i < kUpperBoundsNs.size() && latency_ns > kUpperBoundsNs[i]) ++i;
    ++buckets_[i];
    ++count_;
    sum_ns_ += static_cast<uint64_t>(latency_ns < 0 ? 0 : latency_ns);
  }
  uint64_t bucket(size_t i) const { return buckets_[i]; }
  uint64_t count() const { return count_; }
  uint64_t sum_ns() const { return sum_ns_; }

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
};

struct DnsCounters {
  // --- Queries from clients, each counted once under how it was answered --------------------
  uint64_t queries_udp = 0;       // well-formed queries taken from the TUN
  uint64_t queries_tcp = 0;       // queries received over TCP (through the IpStack)
  uint64_t cache_hits = 0;        // answered from the answer cache
  uint64_t blocked = 0;           // answered by the block action
  uint64_t overridden = 0;        // answered from [Override]
  uint64_t forwarded = 0;         // sent upstream (answered later, or SERVFAIL)
  uint64_t formerr = 0;           // FORMERR sent for a query that did not parse
  uint64_t notimp = 0;            // NOTIMP sent for an opcode other than QUERY
  uint64_t badvers = 0;           // BADVERS sent for an EDNS version other than 0
  uint64_t servfail = 0;          // SERVFAIL sent (every upstream failed, or evicted)
  uint64_t passed_through = 0;    // .local queries to an intercept address, left untouched
  // --- Packets and queries dropped --------------------------------------------------------
  uint64_t malformed_dropped = 0;   // no readable DNS header, a response where a query belongs,
                                    // a broken IP/UDP header or an IPv4 fragment
  uint64_t no_buffer_dropped = 0;   // the pool (or the TCP answer space) had no room for an answer
  uint64_t inflight_evicted = 0;    // the in-flight table was full: the oldest got SERVFAIL
  // --- Upstream traffic -------------------------------------------------------------------
  uint64_t upstream_queries = 0;    // attempts sent: UDP through the tunnel or direct, and TCP
  uint64_t upstream_retries = 0;    // attempts after the first
  uint64_t upstream_timeouts = 0;   // attempts that ran out of time
  uint64_t upstream_errors = 0;     // replies that failed the query: SERVFAIL, REFUSED, malformed
  uint64_t upstream_failures = 0;   // queries for which every attempt failed
  uint64_t upstream_unmatched = 0;  // replies to our ports that match no query (late, spoofed)
  uint64_t upstream_no_route = 0;   // attempts skipped: no tunnel address of the server's family
  uint64_t tcp_fallbacks = 0;       // truncated UDP replies retried over TCP
  uint64_t tcp_failures = 0;        // TCP attempts that failed (refused, reset, timed out)
  uint64_t log_dropped = 0;         // query log records lost because the caller did not drain
  LatencyHistogram latency;         // arrival to answer, every answered query
};

// Appends the counters as "dns_<name>=<value>\n" lines.
inline void append_dns_stats(std::string& out, const DnsCounters& c) {
  auto line = [&out](std::string_view key, uint64_t value) {
    out.append("dns_").append(key).append("=").append(std::to_string(value)).append("\n");
  };
  line("queries", c.queries_udp + c.queries_tcp);
  line("queries_udp", c.queries_udp);
  line("queries_tcp", c.queries_tcp);
  line("cache_hits", c.cache_hits);
  line("blocked", c.blocked);
  line("overridden", c.overridden);
  line("forwarded", c.forwarded);
  line("formerr", c.formerr);
  line("notimp", c.notimp);
  line("badvers", c.badvers);
  line("servfail", c.servfail);
  line("passed_through", c.passed_through);
  line("malformed_dropped", c.malformed_dropped);
  line("no_buffer_dropped", c.no_buffer_dropped);
  line("inflight_evicted", c.inflight_evicted);
  line("upstream_queries", c.upstream_queries);
  line("upstream_retries", c.upstream_retries);
  line("upstream_timeouts", c.upstream_timeouts);
  line("upstream_errors", c.upstream_errors);
  line("upstream_failures", c.upstream_failures);
  line("upstream_unmatched", c.upstream_unmatched);
  line("upstream_no_route", c.upstream_no_route);
  line("tcp_fallbacks", c.tcp_fallbacks);
  line("tcp_failures", c.tcp_failures);
  line("log_dropped", c.log_dropped);
  line("latency_count", c.latency.count());
  line("latency_sum_us", c.latency.sum_ns() / 1000);
  for (size_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
    out.append("dns_latency_").append(LatencyHistogram::kNames[i]).append("=");
    out.append(std::to_string(c.latency.bucket(i))).append("\n");
  }
}

}  // namespace sluice::dns
