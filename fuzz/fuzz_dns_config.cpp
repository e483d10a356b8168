// parse_dns_config and build_dns_policy (dns/dns_config.h): the DNS policy file. Checks:
//  - an error names a line that exists (or 0, the whole file) and says something;
//  - a parsed config keeps every promise of the format: names valid and normalised, values in
//    range, one default upstream, no domain routed twice, no host overridden twice;
//  - the policy built from it (list files left out: the fuzzer must not open paths) agrees
//    with the config: overrides answer first, inline block rules block unless allowed, and
//    every routed domain selects its own upstream set.
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include "dns/dns_config.h"
#include "fuzz_support.h"
#include "tunnel/key_value.h"

using namespace sluice;
using namespace sluice::dns;

namespace {

constexpr uint16_t kTypeA = 1;

CanonicalName must_name(const std::string& text) {
  auto name = CanonicalName::from_text(text);
  FUZZ_CHECK(name.has_value());
  FUZZ_CHECK(name->to_text() == text);  // stored in normal form: lowercase, no final dot
  return *name;
}

void check_config(const DnsConfig& c) {
  FUZZ_CHECK(c.cache.min_ttl <= c.cache.max_ttl);
  FUZZ_CHECK(c.cache.max_entries <= CacheLimits::kMaxEntriesLimit && c.cache.max_bytes <= CacheLimits::kMaxBytesLimit);
  FUZZ_CHECK(c.block_ttl <= 0x7fffffffu && c.override_ttl <= 0x7fffffffu);
  if (c.query_log) FUZZ_CHECK(!c.query_log_path.empty());
  for (const DomainListConfig* list : {&c.block, &c.allow}) {
    for (const InlineRule& rule : list->rules) must_name(rule.name);
    for (const ListFile& file : list->files) FUZZ_CHECK(!file.path.empty() && file.line > 0);
  }
  std::set<std::string> hosts;
  for (const OverrideHost& host : c.overrides) {
    must_name(host.name);
    FUZZ_CHECK(!host.addresses.empty());
    FUZZ_CHECK(hosts.insert(host.name).second);
  }
  std::set<std::string> routed;
  size_t defaults = 0;
  for (const UpstreamConfig& u : c.upstreams) {
    FUZZ_CHECK(!u.set.servers.empty());
    for (const Upstream& server : u.set.servers) FUZZ_CHECK(server.endpoint.port != 0);
    FUZZ_CHECK(u.set.timeout_ms >= 1 && u.set.timeout_ms <= 60'000);
    FUZZ_CHECK(u.set.retries <= 10);
    defaults += u.domains.empty();
    for (const std::string& domain : u.domains) {
      must_name(domain);
      FUZZ_CHECK(routed.insert(domain).second);
    }
  }
  FUZZ_CHECK(defaults <= 1);
}

void check_policy(const DnsConfig& c) {
  DnsConfig inline_only = c;
  inline_only.block.files.clear();
  inline_only.allow.files.clear();
  const IpAddress tunnel_dns[] = {*IpAddress::parse("10.64.0.1")};
  auto built = build_dns_policy(inline_only, "fuzz.conf", tunnel_dns);
  if (auto* error = std::get_if<ConfigError>(&built)) {
    // Without list files, the only way to fail is an inline list above its MaxDomains.
    FUZZ_CHECK(error->message.find("MaxDomains") != std::string::npos);
    FUZZ_CHECK(c.block.rules.size() > c.block.max_domains || c.allow.rules.size() > c.allow.max_domains);
    return;
  }
  const DnsPolicy& p = std::get<DnsPolicy>(built);
  FUZZ_CHECK(!p.intercept_addresses.empty());
  FUZZ_CHECK(!p.routes.set(SplitRoutes::kDefaultSet).servers.empty());

  std::set<std::string> overridden;
  for (const OverrideHost& host : c.overrides) {
    overridden.insert(host.name);
    const DnsDecision d = p.decide(must_name(host.name), kTypeA);
    FUZZ_CHECK(d.kind == DnsDecision::Kind::answer || d.kind == DnsDecision::Kind::nodata);
    FUZZ_CHECK(!d.blocked && d.ttl == c.override_ttl);
    for (const IpAddress& a : d.addresses) FUZZ_CHECK(a.family == IpFamily::v4);
  }
  for (const InlineRule& rule : c.block.rules) {
    if (overridden.count(rule.name)) continue;
    const CanonicalName name = must_name(rule.name);
    const DnsDecision d = p.decide(name, kTypeA);
    FUZZ_CHECK(d.blocked == !p.allowed.matches(name));
    if (d.blocked) FUZZ_CHECK(d.kind != DnsDecision::Kind::forward);
  }
  for (const InlineRule& rule : c.allow.rules) {
    if (overridden.count(rule.name)) continue;
    FUZZ_CHECK(!p.decide(must_name(rule.name), kTypeA).blocked);
  }
  for (const UpstreamConfig& u : c.upstreams) {
    for (const std::string& domain : u.domains) {
      const size_t set = p.routes.select(must_name(domain));
      FUZZ_CHECK(set != SplitRoutes::kDefaultSet && p.routes.set(set) == u.set);
    }
  }
}

void check_error(const ConfigError& error, std::string_view text) {
  unsigned lines = 0;
  sluice::text::LineCursor cursor(text);
  std::string_view line;
  while (cursor.next(line)) ++lines;
  FUZZ_CHECK(error.line <= lines);
  FUZZ_CHECK(!error.message.empty());
  FUZZ_CHECK(error.file == "fuzz.conf");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool init = [] {
    sluice::fuzz::init_deterministic_process();
    return true;
  }();
  (void)init;
  auto copy = sluice::fuzz::exact_copy({data, size});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());
  auto result = parse_dns_config(text, "fuzz.conf");
  if (auto* error = std::get_if<ConfigError>(&result)) {
    check_error(*error, text);
    return 0;
  }
  const DnsConfig& config = std::get<DnsConfig>(result);
  check_config(config);
  check_policy(config);
  return 0;
}
