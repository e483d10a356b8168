// The DNS policy: which queries the stack answers itself and how (docs/DNS.md describes the
// file). Two steps, so that a reload is all or nothing:
//   parse_dns_config  text -> DnsConfig, a plain value (no file is opened)
//   build_dns_policy  DnsConfig -> DnsPolicy, reading the block and allow list files
// A bad config or an unreadable list gives a ConfigError and no policy; the caller swaps a
// complete DnsPolicy in for the running one only after both steps succeeded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dns/answer_cache.h"
#include "dns/block_list_loader.h"
#include "dns/domain_set.h"
#include "dns/overrides.h"
#include "dns/split_routes.h"
#include "tunnel/ip_address.h"
#include "tunnel/wg_quick_config.h"  // ConfigError

namespace sluice::dns {

// A real policy file is a few KiB; long lists belong in List files, which are streamed.
inline constexpr size_t kMaxDnsConfigBytes = 1 << 20;
inline constexpr size_t kMaxDnsConfigLineBytes = 64 * 1024;

enum class InterceptMode : uint8_t {
  dns_servers,  // queries to the intercept addresses (by default the tunnel's DNS= servers)
  all_port_53,  // every query to port 53, whatever its destination
};

enum class BlockAction : uint8_t {
  nxdomain,     // the name does not exist
  refused,      // RCODE REFUSED
  null_answer,  // A 0.0.0.0, AAAA ::, NODATA for other types
};

struct InlineRule {
  std::string name;  // lowercase text without the final dot; a valid CanonicalName::from_text
  DomainMatch match = DomainMatch::exact;
  bool operator==(const InlineRule&) const = default;
};

struct ListFile {
  std::string path;   // as written; relative paths are taken from the config file's directory
  unsigned line = 0;  // the List line, for error messages
};

// [Block] or [Allow].
struct DomainListConfig {
  std::vector<ListFile> files;
  std::vector<InlineRule> rules;
  size_t max_domains = DomainSetBuilder::kDefaultMaxRules;
};

struct OverrideHost {
  std::string name;  // as InlineRule::name
  std::vector<IpAddress> addresses;
  unsigned line = 0;
};

// One [Upstream] section. No domains means the default set.
struct UpstreamConfig {
  std::vector<std::string> domains;  // as InlineRule::name
  UpstreamSet set;
  unsigned line = 0;
};

struct DnsConfig {
  static constexpr uint32_t kDefaultBlockTtl = 60;

  InterceptMode intercept_mode = InterceptMode::dns_servers;
  std::vector<IpAddress> intercept_addresses;  // empty: the tunnel's DNS= servers

  BlockAction block_action = BlockAction::nxdomain;
  uint32_t block_ttl = kDefaultBlockTtl;  // of null answers, and the negative TTL of the others
  DomainListConfig block;
  DomainListConfig allow;

  uint32_t override_ttl = Overrides::kDefaultTtl;
  std::vector<OverrideHost> overrides;

  std::vector<UpstreamConfig> upstreams;  // no default section: the tunnel's DNS= servers

  CacheLimits cache;

  bool query_log = false;
  std::string query_log_path;
};

// Parses a whole policy file. `file_name` is only used in error messages. The first problem in
// file order is reported as FILE:LINE: KEY: message; nothing partial is returned.
std::variant<DnsConfig, ConfigError> parse_dns_config(std::string_view text, std::string_view file_name);

// What the interceptor does with one query.
struct DnsDecision {
  enum class Kind : uint8_t {
    forward,   // send to routes.set(upstream_set)
    answer,    // NOERROR with `addresses` (all of the query's family), TTL `ttl`
    nodata,    // NOERROR, no answer records; negative TTL `ttl`
    nxdomain,  // negative TTL `ttl`
    refused,
  };
  Kind kind = Kind::forward;
  bool blocked = false;  // the block list decided this, for counters and the query log
  size_t upstream_set = SplitRoutes::kDefaultSet;
  std::span<const IpAddress> addresses;  // points into the policy (or static storage)
  uint32_t ttl = 0;
};

struct ListReport {
  std::string path;        // as opened
  bool allow = false;      // an [Allow] list, else a [Block] list
  BlockListStats stats;
};

// A complete, immutable policy. Its lookups allocate nothing and may run on any thread.
struct DnsPolicy {
  InterceptMode intercept_mode = InterceptMode::dns_servers;
  std::vector<IpAddress> intercept_addresses;
  BlockAction block_action = BlockAction::nxdomain;
  uint32_t block_ttl = DnsConfig::kDefaultBlockTtl;
  DomainSet blocked;
  DomainSet allowed;
  Overrides overrides;
  SplitRoutes routes;
  CacheLimits cache;
  bool query_log = false;
  std::string query_log_path;
  std::vector<ListReport> lists;  // what each list file held, for the log

  // Whether a query to `destination`:`port` is for the interceptor.
  bool intercepts(const IpAddress& destination, uint16_t port) const;
  // Overrides first, then the block list unless the allow list matches, then the routes.
  DnsDecision decide(const CanonicalName& qname, uint16_t qtype) const;
};

// Loads the lists and builds the policy. `config_path` locates relative List paths and names
// the file in errors. `tunnel_dns` is the tunnel's DNS= servers (WgQuickConfig::dns_servers):
// the default intercept addresses and, reached through the tunnel on port 53, the default
// upstream set.
std::variant<DnsPolicy, ConfigError> build_dns_policy(const DnsConfig& config, std::string_view config_path,
                                                      std::span<const IpAddress> tunnel_dns);

// Reads the file at `config_path` (at most kMaxDnsConfigBytes), then parse and build.
std::variant<DnsPolicy, ConfigError> load_dns_policy(const std::string& config_path,
                                                     std::span<const IpAddress> tunnel_dns);

}  // namespace sluice::dns
