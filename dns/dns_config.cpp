#include "dns/dns_config.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include "tunnel/key_value.h"

namespace sluice::dns {

namespace {

using text::quoted;

enum class ConfigSection : uint8_t { none, intercept, block, allow, override_, upstream, cache, query_log, count };

constexpr std::string_view kSectionNames[] = {"", "Intercept", "Block", "Allow", "Override", "Upstream", "Cache", "QueryLog"};

enum class KeyId : uint8_t {
  mode,
  address,
  action,
  ttl,
  list,
  domain,
  max_domains,
  host,
  server,
  timeout,
  retries,
  entries,
  size,
  min_ttl,
  max_ttl,
  max_negative_ttl,
  enabled,
  path,
  count
};

struct KeySpec {
  std::string_view name;
  KeyId id;
  ConfigSection section;
  bool repeatable;  // lists that accumulate over several lines
};

constexpr KeySpec kKeys[] = {
    {"Mode", KeyId::mode, ConfigSection::intercept, false},
    {"Address", KeyId::address, ConfigSection::intercept, true},
    {"Action", KeyId::action, ConfigSection::block, false},
    {"TTL", KeyId::ttl, ConfigSection::block, false},
    {"List", KeyId::list, ConfigSection::block, true},
    {"Domain", KeyId::domain, ConfigSection::block, true},
    {"MaxDomains", KeyId::max_domains, ConfigSection::block, false},
    {"List", KeyId::list, ConfigSection::allow, true},
    {"Domain", KeyId::domain, ConfigSection::allow, true},
    {"MaxDomains", KeyId::max_domains, ConfigSection::allow, false},
    {"TTL", KeyId::ttl, ConfigSection::override_, false},
    {"Host", KeyId::host, ConfigSection::override_, true},
    {"Server", KeyId::server, ConfigSection::upstream, true},
    {"Domain", KeyId::domain, ConfigSection::upstream, true},
    {"Timeout", KeyId::timeout, ConfigSection::upstream, false},
    {"Retries", KeyId::retries, ConfigSection::upstream, false},
    {"Entries", KeyId::entries, ConfigSection::cache, false},
    {"Size", KeyId::size, ConfigSection::cache, false},
    {"MinTTL", KeyId::min_ttl, ConfigSection::cache, false},
    {"MaxTTL", KeyId::max_ttl, ConfigSection::cache, false},
    {"MaxNegativeTTL", KeyId::max_negative_ttl, ConfigSection::cache, false},
    {"Enabled", KeyId::enabled, ConfigSection::query_log, false},
    {"Path", KeyId::path, ConfigSection::query_log, false},
};

const KeySpec* find_key(ConfigSection section, std::string_view name) {
  for (const auto& spec : kKeys) {
    if (spec.section == section && text::iequals(spec.name, name)) return &spec;
  }
  return nullptr;
}

bool is_key_anywhere(std::string_view name) {
  for (const auto& spec : kKeys) {
    if (text::iequals(spec.name, name)) return true;
  }
  return false;
}

std::string section_header(ConfigSection s) { return "[" + std::string(kSectionNames[static_cast<size_t>(s)]) + "]"; }

// RFC 2181 section 8: a TTL is at most 2^31 - 1.
constexpr uint64_t kMaxTtl = 0x7fffffff;
constexpr uint64_t kMaxRetries = 10;
constexpr uint64_t kMaxTimeoutMs = 60'000;
constexpr uint64_t kMaxListDomains = uint64_t{1} << 28;  // 2 GiB of hashes; a sanity bound, not a budget

// Lists are split on commas and on whitespace, as wg-quick splits Address and DNS.
template <typename F>
void for_each_word(std::string_view value, F&& f) {
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ',' || text::is_space(value[i]))) ++i;
    size_t start = i;
    while (i < value.size() && value[i] != ',' && !text::is_space(value[i])) ++i;
    if (i > start && !f(value.substr(start, i - start))) return;
  }
}

// Comma-separated items, each trimmed (a Server item may contain a space before "direct").
template <typename F>
void for_each_item(std::string_view value, F&& f) {
  while (true) {
    auto comma = value.find(',');
    auto item = text::trim(value.substr(0, comma));
    if (!item.empty() && !f(item)) return;
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

std::optional<bool> parse_bool(std::string_view v) {
  for (std::string_view yes : {"yes", "true", "on"}) {
    if (text::iequals(v, yes)) return true;
  }
  for (std::string_view no : {"no", "false", "off"}) {
    if (text::iequals(v, no)) return false;
  }
  return std::nullopt;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && text::iequals(s.substr(s.size() - suffix.size()), suffix);
}

// "2s" or "1500ms".
std::optional<uint64_t> parse_duration_ms(std::string_view v) {
  if (ends_with_ci(v, "ms")) return text::parse_decimal(v.substr(0, v.size() - 2), kMaxTimeoutMs);
  if (ends_with_ci(v, "s")) {
    auto s = text::parse_decimal(v.substr(0, v.size() - 1), kMaxTimeoutMs / 1000);
    if (s) return *s * 1000;
  }
  return std::nullopt;
}

// Bytes, with an optional K, M or G suffix (powers of 1024).
std::optional<uint64_t> parse_size(std::string_view v, uint64_t max) {
  uint64_t unit = 1;
  if (!v.empty()) {
    switch (v.back()) {
      case 'k': case 'K': unit = uint64_t{1} << 10; break;
      case 'm': case 'M': unit = uint64_t{1} << 20; break;
      case 'g': case 'G': unit = uint64_t{1} << 30; break;
      default: break;
    }
  }
  if (unit != 1) v.remove_suffix(1);
  auto n = text::parse_decimal(v, max / unit);
  if (!n) return std::nullopt;
  return *n * unit;
}

// "9.9.9.9", "9.9.9.9:53", "2620:fe::fe", "[2620:fe::fe]:53"; the port defaults to 53.
std::optional<Endpoint> parse_server_address(std::string_view s) {
  if (auto address = IpAddress::parse(s)) return Endpoint{*address, 53};
  return Endpoint::parse(s);
}

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view file_name) : file_(file_name) {}

  std::variant<DnsConfig, ConfigError> parse(std::string_view text) {
    if (text.size() > kMaxDnsConfigBytes) {
      return error_at(0, "", "file is " + std::to_string(text.size()) + " bytes; the limit is " +
                                 std::to_string(kMaxDnsConfigBytes) + "; put long domain lists in List files");
    }
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    text::LineCursor lines(text);
    std::string_view raw;
    while (lines.next(raw)) {
      line_ = lines.number();
      if (auto e = handle_line(raw)) return *e;
    }
    if (auto e = close_section()) return *e;
    return std::move(config_);
  }

 private:
  using MaybeError = std::optional<ConfigError>;

  ConfigError error_at(unsigned line, std::string_view key, std::string message) const {
    return ConfigError{std::string(file_), line, std::string(shown_name(key)), std::move(message)};
  }
  ConfigError error(std::string_view key, std::string message) const { return error_at(line_, key, std::move(message)); }

  // The key or header as written, when it looks like a name: messages go to logs and the
  // terminal, so arbitrary bytes from the file are only ever shown quoted.
  static std::string_view shown_name(std::string_view key) {
    if (key.size() > 32) return {};
    for (char c : key) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '[' || c == ']' || c == ' ';
      if (!ok) return {};
    }
    return key;
  }

  MaybeError handle_line(std::string_view raw) {
    if (raw.size() > kMaxDnsConfigLineBytes) {
      return error("", "line is longer than " + std::to_string(kMaxDnsConfigLineBytes) +
                           " bytes; split the list over several lines, or use a List file");
    }
    auto line = text::trim(raw.substr(0, raw.find('#')));
    if (line.empty()) return std::nullopt;
    if (text::has_control_char(line)) return error("", "line contains a control character");
    if (line.front() == '[') return handle_section_header(line);

    auto eq = line.find('=');
    if (eq == std::string_view::npos) return error("", "missing '='; expected `Key = Value` or a section header");
    auto key = text::trim(line.substr(0, eq));
    auto value = text::trim(line.substr(eq + 1));
    if (key.empty()) return error("", "missing key name before '='");
    if (section_ == ConfigSection::none) {
      return error(key, "key outside of any section; the sections are [Intercept], [Block], [Allow], "
                        "[Override], [Upstream], [Cache] and [QueryLog]");
    }
    const KeySpec* spec = find_key(section_, key);
    if (spec == nullptr) {
      return error(is_key_anywhere(key) ? key : std::string_view(),
                   "unknown key " + quoted(key, 32) + " in " + section_header(section_) + " section");
    }
    auto& seen = seen_on_line_[static_cast<size_t>(spec->id)];
    if (!spec->repeatable && seen != 0) {
      return error(key, "duplicate key; already set on line " + std::to_string(seen));
    }
    seen = line_;
    if (value.empty()) return error(key, "missing value after '='");
    return handle_value(spec->id, key, value);
  }

  MaybeError handle_section_header(std::string_view line) {
    if (line.back() != ']') return error("", "malformed section header " + quoted(line));
    auto name = text::trim(line.substr(1, line.size() - 2));
    if (auto e = close_section()) return e;
    ConfigSection found = ConfigSection::none;
    for (size_t i = 1; i < static_cast<size_t>(ConfigSection::count); ++i) {
      if (text::iequals(kSectionNames[i], name)) found = static_cast<ConfigSection>(i);
    }
    if (found == ConfigSection::none) {
      return error("", "unknown section " + quoted(line) +
                           "; expected [Intercept], [Block], [Allow], [Override], [Upstream], [Cache] or [QueryLog]");
    }
    auto& first = section_line_[static_cast<size_t>(found)];
    if (found != ConfigSection::upstream && first != 0) {
      return error(section_header(found), "section repeated; it first appears on line " + std::to_string(first));
    }
    if (first == 0) first = line_;
    section_ = found;
    section_start_ = line_;
    seen_on_line_.fill(0);
    if (found == ConfigSection::upstream) {
      config_.upstreams.emplace_back();
      config_.upstreams.back().line = line_;
    }
    return std::nullopt;
  }

  MaybeError close_section() {
    const ConfigSection closing = section_;
    section_ = ConfigSection::none;
    if (closing == ConfigSection::upstream) {
      const UpstreamConfig& u = config_.upstreams.back();
      if (u.set.servers.empty()) {
        return error_at(u.line, "[Upstream]", "the [Upstream] section has no Server");
      }
      if (u.domains.empty()) {
        if (default_upstream_line_ != 0) {
          return error_at(u.line, "[Upstream]",
                          "a second default [Upstream] section (without Domain); the first is on line " +
                              std::to_string(default_upstream_line_));
        }
        default_upstream_line_ = u.line;
      }
    }
    if (closing == ConfigSection::query_log && config_.query_log && config_.query_log_path.empty()) {
      return error_at(section_start_, "[QueryLog]", "Enabled = yes needs a Path");
    }
    if (closing == ConfigSection::cache && config_.cache.min_ttl > config_.cache.max_ttl) {
      return error_at(section_start_, "[Cache]", "MinTTL is above MaxTTL");
    }
    return std::nullopt;
  }

  MaybeError handle_value(KeyId id, std::string_view key, std::string_view value) {
    switch (id) {
      case KeyId::mode:
        if (text::iequals(value, "dns-servers")) {
          config_.intercept_mode = InterceptMode::dns_servers;
        } else if (text::iequals(value, "all-port-53")) {
          config_.intercept_mode = InterceptMode::all_port_53;
        } else {
          return error(key, "invalid mode " + quoted(value) + "; expected dns-servers or all-port-53");
        }
        return std::nullopt;
      case KeyId::address:
        return handle_addresses(key, value);
      case KeyId::action:
        if (text::iequals(value, "nxdomain")) {
          config_.block_action = BlockAction::nxdomain;
        } else if (text::iequals(value, "refused")) {
          config_.block_action = BlockAction::refused;
        } else if (text::iequals(value, "null")) {
          config_.block_action = BlockAction::null_answer;
        } else {
          return error(key, "invalid action " + quoted(value) + "; expected nxdomain, refused or null");
        }
        return std::nullopt;
      case KeyId::ttl: {
        auto ttl = parse_seconds(key, value);
        if (!ttl) return ttl.error;
        (section_ == ConfigSection::block ? config_.block_ttl : config_.override_ttl) = ttl.value;
        return std::nullopt;
      }
      case KeyId::list:
        current_list().files.push_back(ListFile{std::string(value), line_});
        return std::nullopt;
      case KeyId::domain:
        return section_ == ConfigSection::upstream ? handle_route_domains(key, value) : handle_rules(key, value);
      case KeyId::max_domains: {
        auto n = text::parse_decimal(value, kMaxListDomains);
        if (!n) return error(key, "invalid count " + quoted(value) + "; expected 0-" + std::to_string(kMaxListDomains));
        current_list().max_domains = *n;
        return std::nullopt;
      }
      case KeyId::host:
        return handle_host(key, value);
      case KeyId::server:
        return handle_servers(key, value);
      case KeyId::timeout: {
        auto ms = parse_duration_ms(value);
        if (!ms || *ms == 0) {
          return error(key, "invalid timeout " + quoted(value) + "; expected 1ms-60s, written as 1500ms or 2s");
        }
        config_.upstreams.back().set.timeout_ms = static_cast<uint32_t>(*ms);
        return std::nullopt;
      }
      case KeyId::retries: {
        auto n = text::parse_decimal(value, kMaxRetries);
        if (!n) return error(key, "invalid retry count " + quoted(value) + "; expected 0-" + std::to_string(kMaxRetries));
        config_.upstreams.back().set.retries = static_cast<uint32_t>(*n);
        return std::nullopt;
      }
      case KeyId::entries: {
        auto n = text::parse_decimal(value, CacheLimits::kMaxEntriesLimit);
        if (!n) {
          return error(key, "invalid entry count " + quoted(value) + "; expected 0-" +
                                std::to_string(CacheLimits::kMaxEntriesLimit) + " (0 disables the cache)");
        }
        config_.cache.max_entries = *n;
        return std::nullopt;
      }
      case KeyId::size: {
        auto n = parse_size(value, CacheLimits::kMaxBytesLimit);
        if (!n) return error(key, "invalid size " + quoted(value) + "; expected bytes with an optional K, M or G, at most 4G");
        config_.cache.max_bytes = *n;
        return std::nullopt;
      }
      case KeyId::min_ttl:
      case KeyId::max_ttl:
      case KeyId::max_negative_ttl: {
        auto ttl = parse_seconds(key, value);
        if (!ttl) return ttl.error;
        (id == KeyId::min_ttl ? config_.cache.min_ttl
                              : id == KeyId::max_ttl ? config_.cache.max_ttl : config_.cache.max_negative_ttl) = ttl.value;
        return std::nullopt;
      }
      case KeyId::enabled: {
        auto b = parse_bool(value);
        if (!b) return error(key, "invalid value " + quoted(value) + "; expected yes or no");
        config_.query_log = *b;
        return std::nullopt;
      }
      case KeyId::path:
        config_.query_log_path = std::string(value);
        return std::nullopt;
      case KeyId::count:
        break;
    }
    return error(key, "internal error: unhandled key");
  }

  struct Seconds {
    uint32_t value = 0;
    MaybeError error;
    explicit operator bool() const { return !error; }
  };
  Seconds parse_seconds(std::string_view key, std::string_view value) const {
    auto n = text::parse_decimal(value, kMaxTtl);
    if (!n) return {0, error(key, "invalid TTL " + quoted(value) + "; expected 0-" + std::to_string(kMaxTtl) + " seconds")};
    return {static_cast<uint32_t>(*n), std::nullopt};
  }

  DomainListConfig& current_list() { return section_ == ConfigSection::block ? config_.block : config_.allow; }

  MaybeError handle_addresses(std::string_view key, std::string_view value) {
    MaybeError result;
    for_each_word(value, [&](std::string_view word) {
      auto address = IpAddress::parse(word);
      if (!address) {
        result = error(key, "invalid address " + quoted(word));
        return false;
      }
      if (std::find(config_.intercept_addresses.begin(), config_.intercept_addresses.end(), *address) ==
          config_.intercept_addresses.end()) {
        config_.intercept_addresses.push_back(*address);
      }
      return true;
    });
    return result;
  }

  MaybeError handle_rules(std::string_view key, std::string_view value) {
    MaybeError result;
    auto& rules = current_list().rules;
    for_each_word(value, [&](std::string_view word) {
      auto rule = parse_domain_rule(word);
      if (!rule) {
        result = error(key, "invalid domain " + quoted(word) + "; expected a name, *.name or .name");
        return false;
      }
      rules.push_back(InlineRule{rule->name.to_text(), rule->match});
      return true;
    });
    return result;
  }

  // A route domain covers the name and everything below it; "*." and "." say the same thing.
  MaybeError handle_route_domains(std::string_view key, std::string_view value) {
    MaybeError result;
    for_each_word(value, [&](std::string_view word) {
      auto rule = parse_domain_rule(word);
      if (!rule) {
        result = error(key, "invalid domain " + quoted(word));
        return false;
      }
      auto name = rule->name.to_text();
      auto [it, inserted] = route_lines_.emplace(name, line_);
      if (!inserted) {
        result = error(key, "domain " + quoted(name) + " is already routed on line " + std::to_string(it->second));
        return false;
      }
      config_.upstreams.back().domains.push_back(std::move(name));
      return true;
    });
    return result;
  }

  // "NAME ADDRESS [ADDRESS...]", addresses separated by commas or whitespace.
  MaybeError handle_host(std::string_view key, std::string_view value) {
    size_t end = 0;
    while (end < value.size() && !text::is_space(value[end]) && value[end] != ',') ++end;
    auto name = CanonicalName::from_text(value.substr(0, end));
    if (!name) {
      return error(key, "invalid host name " + quoted(value.substr(0, end)) + "; expected `Host = NAME ADDRESS...`");
    }
    OverrideHost host;
    host.name = name->to_text();
    host.line = line_;
    MaybeError result;
    for_each_word(value.substr(end), [&](std::string_view word) {
      auto address = IpAddress::parse(word);
      if (!address) {
        result = error(key, "invalid address " + quoted(word) + " for " + quoted(host.name));
        return false;
      }
      host.addresses.push_back(*address);
      return true;
    });
    if (result) return result;
    if (host.addresses.empty()) return error(key, "no address for " + quoted(host.name) + "; expected `Host = NAME ADDRESS...`");
    auto [it, inserted] = host_lines_.emplace(host.name, line_);
    if (!inserted) {
      return error(key, quoted(host.name) + " is already overridden on line " + std::to_string(it->second) +
                            "; list all its addresses on one Host line");
    }
    config_.overrides.push_back(std::move(host));
    return std::nullopt;
  }

  // Comma-separated "ADDRESS[:PORT] [direct|tunnel]".
  MaybeError handle_servers(std::string_view key, std::string_view value) {
    MaybeError result;
    for_each_item(value, [&](std::string_view item) {
      std::string_view words[3];
      size_t count = 0;
      for_each_word(item, [&](std::string_view w) {
        if (count < 3) words[count] = w;
        ++count;
        return true;
      });
      auto endpoint = count >= 1 ? parse_server_address(words[0]) : std::nullopt;
      if (!endpoint || endpoint->port == 0) {
        result = error(key, "invalid server " + quoted(item) +
                                "; expected ADDRESS, ADDRESS:PORT or [IPV6]:PORT, optionally followed by direct");
        return false;
      }
      bool direct = false;
      if (count == 2 && text::iequals(words[1], "direct")) {
        direct = true;
      } else if (count != 1 && !(count == 2 && text::iequals(words[1], "tunnel"))) {
        result = error(key, "invalid server " + quoted(item) + "; only `direct` or `tunnel` may follow the address");
        return false;
      }
      config_.upstreams.back().set.servers.push_back(Upstream{*endpoint, direct});
      return true;
    });
    return result;
  }

  std::string_view file_;
  unsigned line_ = 0;
  ConfigSection section_ = ConfigSection::none;
  unsigned section_start_ = 0;
  unsigned default_upstream_line_ = 0;
  std::array<unsigned, static_cast<size_t>(ConfigSection::count)> section_line_{};
  // Line on which each key was set in the current section; 0 = not yet.
  std::array<unsigned, static_cast<size_t>(KeyId::count)> seen_on_line_{};
  std::map<std::string, unsigned> route_lines_;
  std::map<std::string, unsigned> host_lines_;
  DnsConfig config_;
};

}  // namespace

std::variant<DnsConfig, ConfigError> parse_dns_config(std::string_view text, std::string_view file_name) {
  return ConfigParser(file_name).parse(text);
}

}  // namespace sluice::dns

namespace sluice::dns {

namespace {

constexpr uint16_t kTypeA = 1;      // RFC 1035
constexpr uint16_t kTypeAaaa = 28;  // RFC 3596
constexpr uint16_t kDnsPort = 53;

// The null answers of BlockAction::null_answer.
const IpAddress kUnspecifiedV4[1] = {IpAddress{IpFamily::v4, {}}};
const IpAddress kUnspecifiedV6[1] = {IpAddress{IpFamily::v6, {}}};

std::string resolve_list_path(std::string_view config_path, const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  auto slash = config_path.rfind('/');
  if (slash == std::string_view::npos) return path;
  return std::string(config_path.substr(0, slash + 1)) + path;
}

}  // namespace

bool DnsPolicy::intercepts(const IpAddress& destination, uint16_t port) const {
  if (port != kDnsPort) return false;
  if (intercept_mode == InterceptMode::all_port_53) return true;
  return std::find(intercept_addresses.begin(), intercept_addresses.end(), destination) != intercept_addresses.end();
}

DnsDecision DnsPolicy::decide(const CanonicalName& qname, uint16_t qtype) const {
  DnsDecision d;
  const OverrideAnswer local = overrides.answer(qname, qtype);
  if (local.kind != OverrideAnswer::Kind::none) {
    d.kind = local.kind == OverrideAnswer::Kind::addresses ? DnsDecision::Kind::answer : DnsDecision::Kind::nodata;
    d.addresses = local.addresses;
    d.ttl = local.ttl;
    return d;
  }
  if (blocked.matches(qname) && !allowed.matches(qname)) {
    d.blocked = true;
    d.ttl = block_ttl;
    switch (block_action) {
      case BlockAction::nxdomain:
        d.kind = DnsDecision::Kind::nxdomain;
        break;
      case BlockAction::refused:
        d.kind = DnsDecision::Kind::refused;
        d.ttl = 0;
        break;
      case BlockAction::null_answer:
        if (qtype == kTypeA) {
          d.kind = DnsDecision::Kind::answer;
          d.addresses = kUnspecifiedV4;
        } else if (qtype == kTypeAaaa) {
          d.kind = DnsDecision::Kind::answer;
          d.addresses = kUnspecifiedV6;
        } else {
          d.kind = DnsDecision::Kind::nodata;
        }
        break;
    }
    return d;
  }
  d.kind = DnsDecision::Kind::forward;
  d.upstream_set = routes.select(qname);
  return d;
}

std::variant<DnsPolicy, ConfigError> build_dns_policy(const DnsConfig& config, std::string_view config_path,
                                                      std::span<const IpAddress> tunnel_dns) {
  auto fail = [&](unsigned line, std::string_view key, std::string message) {
    return ConfigError{std::string(config_path), line, std::string(key), std::move(message)};
  };
  DnsPolicy policy;

  policy.intercept_mode = config.intercept_mode;
  if (!config.intercept_addresses.empty()) {
    policy.intercept_addresses = config.intercept_addresses;
  } else {
    policy.intercept_addresses.assign(tunnel_dns.begin(), tunnel_dns.end());
  }
  if (policy.intercept_mode == InterceptMode::dns_servers && policy.intercept_addresses.empty()) {
    return fail(0, "", "nothing to intercept: the tunnel has no DNS= servers and [Intercept] names no Address");
  }

  policy.block_action = config.block_action;
  policy.block_ttl = config.block_ttl;
  for (bool allow : {false, true}) {
    const DomainListConfig& list = allow ? config.allow : config.block;
    const char* section = allow ? "[Allow]" : "[Block]";
    const std::string too_many = std::string(section) + " holds more than MaxDomains = " +
                                 std::to_string(list.max_domains) + " domains";
    DomainSetBuilder builder(list.max_domains);
    for (const InlineRule& rule : list.rules) {
      auto name = CanonicalName::from_text(rule.name);
      if (!name) return fail(0, section, "invalid domain " + text::quoted(rule.name));
      if (!builder.add(*name, rule.match)) return fail(0, section, too_many);
    }
    for (const ListFile& file : list.files) {
      const std::string path = resolve_list_path(config_path, file.path);
      auto loaded = load_block_list_file(path, builder);
      if (auto* message = std::get_if<std::string>(&loaded)) return fail(file.line, "List", *message);
      auto& stats = std::get<BlockListStats>(loaded);
      if (stats.over_limit != 0) return fail(file.line, "List", path + ": " + too_many);
      policy.lists.push_back(ListReport{path, allow, std::move(stats)});
    }
    (allow ? policy.allowed : policy.blocked) = builder.build();
  }

  policy.overrides.set_ttl(config.override_ttl);
  for (const OverrideHost& host : config.overrides) {
    auto name = CanonicalName::from_text(host.name);
    if (!name || !policy.overrides.add(*name, host.addresses)) {
      return fail(host.line, "Host", "cannot override " + text::quoted(host.name) + " (invalid or repeated)");
    }
  }

  auto default_section = std::find_if(config.upstreams.begin(), config.upstreams.end(),
                                      [](const UpstreamConfig& u) { return u.domains.empty(); });
  UpstreamSet default_set;
  if (default_section != config.upstreams.end()) {
    default_set = default_section->set;
  } else {
    for (const IpAddress& server : tunnel_dns) default_set.servers.push_back(Upstream{Endpoint{server, kDnsPort}, false});
  }
  if (default_set.servers.empty()) {
    return fail(0, "", "no upstream for forwarded queries: the tunnel has no DNS= servers and there is no "
                       "[Upstream] section without Domain");
  }
  policy.routes = SplitRoutes(std::move(default_set));
  for (const UpstreamConfig& upstream : config.upstreams) {
    if (upstream.domains.empty()) continue;
    if (upstream.set.servers.empty()) return fail(upstream.line, "[Upstream]", "the [Upstream] section has no Server");
    const size_t index = policy.routes.add_set(upstream.set);
    for (const std::string& domain : upstream.domains) {
      auto name = CanonicalName::from_text(domain);
      if (!name || !policy.routes.add_route(*name, index)) {
        return fail(upstream.line, "Domain", "cannot route " + text::quoted(domain) + " (invalid or repeated)");
      }
    }
  }

  policy.cache = config.cache;
  policy.query_log = config.query_log;
  policy.query_log_path = config.query_log_path;
  return policy;
}

std::variant<DnsPolicy, ConfigError> load_dns_policy(const std::string& config_path,
                                                     std::span<const IpAddress> tunnel_dns) {
  auto fail = [&](std::string message) { return ConfigError{config_path, 0, "", std::move(message)}; };
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(config_path.c_str(), "rb"));
  if (!file) return fail(std::string("cannot open: ") + std::strerror(errno));
  // One byte more than the limit, so that an oversized file is recognised as such.
  std::string text(kMaxDnsConfigBytes + 1, '\0');
  size_t n = std::fread(text.data(), 1, text.size(), file.get());
  if (std::ferror(file.get())) return fail(std::string("cannot read: ") + std::strerror(errno));
  text.resize(n);
  auto parsed = parse_dns_config(text, config_path);
  if (auto* error = std::get_if<ConfigError>(&parsed)) return std::move(*error);
  return build_dns_policy(std::get<DnsConfig>(parsed), config_path, tunnel_dns);
}

}  // namespace sluice::dns
