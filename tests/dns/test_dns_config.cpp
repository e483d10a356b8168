#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dns/dns_config.h"

using namespace sluice;
using namespace sluice::dns;

namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint16_t kTypeMx = 15;

CanonicalName name(const std::string& text) {
  auto n = CanonicalName::from_text(text);
  if (!n) FAIL("not a name: " << text);
  return *n;
}

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

DnsConfig parse_ok(const std::string& text) {
  auto result = parse_dns_config(text, "dns.conf");
  if (auto* e = std::get_if<ConfigError>(&result)) FAIL(e->to_string());
  return std::get<DnsConfig>(std::move(result));
}

std::string parse_error(const std::string& text) {
  auto result = parse_dns_config(text, "dns.conf");
  REQUIRE(std::holds_alternative<ConfigError>(result));
  return std::get<ConfigError>(result).to_string();
}

DnsPolicy build_ok(const DnsConfig& config, const std::string& path = "/etc/sluice/dns.conf",
                   std::vector<IpAddress> tunnel_dns = {ip("10.64.0.1")}) {
  auto result = build_dns_policy(config, path, tunnel_dns);
  if (auto* e = std::get_if<ConfigError>(&result)) FAIL(e->to_string());
  return std::get<DnsPolicy>(std::move(result));
}

std::string addresses(const DnsDecision& d) {
  std::string out;
  for (const IpAddress& a : d.addresses) out += (out.empty() ? "" : " ") + a.to_string();
  return out;
}

// A scratch directory with files, removed afterwards.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sluice-dnsconf-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  std::string write(const std::string& file, const std::string& content) {
    std::string p = path + "/" + file;
    std::ofstream(p) << content;
    files.push_back(p);
    return p;
  }
  ~TempDir() {
    for (const auto& f : files) unlink(f.c_str());
    rmdir(path.c_str());
  }
  std::vector<std::string> files;
};

}  // namespace

TEST_CASE("DNS config: an empty file is all defaults") {
  DnsConfig c = parse_ok("");
  CHECK(c.intercept_mode == InterceptMode::dns_servers);
  CHECK(c.intercept_addresses.empty());
  CHECK(c.block_action == BlockAction::nxdomain);
  CHECK(c.block_ttl == 60);
  CHECK(c.block.files.empty());
  CHECK(c.block.max_domains == DomainSetBuilder::kDefaultMaxRules);
  CHECK(c.override_ttl == 300);
  CHECK(c.upstreams.empty());
  CHECK(c.cache == CacheLimits{});
  CHECK_FALSE(c.query_log);
}

TEST_CASE("DNS config: every key") {
  DnsConfig c = parse_ok(
      "\xEF\xBB\xBF# policy\n"
      "[intercept]\n"
      "mode = ALL-PORT-53\n"
      "Address = 10.64.0.1, fd00::1\n"
      "Address = 10.64.0.1 10.64.0.2   # repeated addresses are kept once\n"
      "[Block]\n"
      "Action = null\n"
      "TTL = 120\n"
      "List = lists/a.txt\n"
      "List = /abs/b.txt\n"
      "Domain = *.doubleclick.net, Ads.Example.com.\n"
      "Domain = .tracker.example\n"
      "MaxDomains = 5000\n"
      "[Allow]\n"
      "Domain = good.ads.example.com\n"
      "List = allow.txt\n"
      "MaxDomains = 10\n"
      "[Override]\n"
      "TTL = 30\n"
      "Host = Printer.LAN 192.168.1.20, fd00::20\n"
      "Host = nas.lan 192.168.1.30\n"
      "[Upstream]\n"
      "Server = 9.9.9.9, [2620:fe::fe]:5353\n"
      "Server = 192.168.1.1:53 direct, 10.0.0.1 tunnel\n"
      "Timeout = 1500ms\n"
      "Retries = 0\n"
      "[Upstream]\n"
      "Domain = corp.example, *.internal\n"
      "Server = fd00::53\n"
      "Timeout = 3s\n"
      "[Cache]\n"
      "Entries = 0\n"
      "Size = 8M\n"
      "MinTTL = 10\n"
      "MaxTTL = 600\n"
      "MaxNegativeTTL = 60\n"
      "[QueryLog]\n"
      "Enabled = yes\n"
      "Path = /var/log/q.log\n");
  CHECK(c.intercept_mode == InterceptMode::all_port_53);
  CHECK(c.intercept_addresses == std::vector<IpAddress>{ip("10.64.0.1"), ip("fd00::1"), ip("10.64.0.2")});
  CHECK(c.block_action == BlockAction::null_answer);
  CHECK(c.block_ttl == 120);
  REQUIRE(c.block.files.size() == 2);
  CHECK(c.block.files[0].path == "lists/a.txt");
  CHECK(c.block.files[0].line == 9);
  CHECK(c.block.files[1].path == "/abs/b.txt");
  CHECK(c.block.rules == std::vector<InlineRule>{{"doubleclick.net", DomainMatch::suffix},
                                                  {"ads.example.com", DomainMatch::exact},
                                                  {"tracker.example", DomainMatch::suffix}});
  CHECK(c.block.max_domains == 5000);
  CHECK(c.allow.rules == std::vector<InlineRule>{{"good.ads.example.com", DomainMatch::exact}});
  CHECK(c.allow.files.at(0).path == "allow.txt");
  CHECK(c.allow.max_domains == 10);
  CHECK(c.override_ttl == 30);
  REQUIRE(c.overrides.size() == 2);
  CHECK(c.overrides[0].name == "printer.lan");
  CHECK(c.overrides[0].addresses == std::vector<IpAddress>{ip("192.168.1.20"), ip("fd00::20")});
  CHECK(c.overrides[1].line == 21);
  REQUIRE(c.upstreams.size() == 2);
  const UpstreamSet& d = c.upstreams[0].set;
  CHECK(c.upstreams[0].domains.empty());
  REQUIRE(d.servers.size() == 4);
  CHECK(d.servers[0].endpoint.to_string() == "9.9.9.9:53");
  CHECK(d.servers[1].endpoint.to_string() == "[2620:fe::fe]:5353");
  CHECK(d.servers[2].endpoint.to_string() == "192.168.1.1:53");
  CHECK(d.servers[2].direct);
  CHECK_FALSE(d.servers[3].direct);
  CHECK(d.timeout_ms == 1500);
  CHECK(d.retries == 0);
  CHECK(c.upstreams[1].domains == std::vector<std::string>{"corp.example", "internal"});
  CHECK(c.upstreams[1].set.timeout_ms == 3000);
  CHECK(c.upstreams[1].set.retries == UpstreamSet::kDefaultRetries);
  CHECK(c.upstreams[1].line == 27);
  CHECK(c.cache.max_entries == 0);
  CHECK(c.cache.max_bytes == 8 << 20);
  CHECK(c.cache.min_ttl == 10);
  CHECK(c.cache.max_ttl == 600);
  CHECK(c.cache.max_negative_ttl == 60);
  CHECK(c.query_log);
  CHECK(c.query_log_path == "/var/log/q.log");
}

TEST_CASE("DNS config errors name the file, the line and the key") {
  CHECK(parse_error("Action = null\n") ==
        "dns.conf:1: Action: key outside of any section; the sections are [Intercept], [Block], [Allow], "
        "[Override], [Upstream], [Cache] and [QueryLog]");
  CHECK(parse_error("[Block]\n[Blocks]\n") ==
        "dns.conf:2: unknown section \"[Blocks]\"; expected [Intercept], [Block], [Allow], [Override], [Upstream], "
        "[Cache] or [QueryLog]");
  CHECK(parse_error("[Block\n") == "dns.conf:1: malformed section header \"[Block\"");
  CHECK(parse_error("[Block]\n\n[block]\n") == "dns.conf:3: [Block]: section repeated; it first appears on line 1");
  CHECK(parse_error("[Block]\nAction = drop\n") ==
        "dns.conf:2: Action: invalid action \"drop\"; expected nxdomain, refused or null");
  CHECK(parse_error("[Block]\nAction = null\nAction = refused\n") ==
        "dns.conf:3: Action: duplicate key; already set on line 2");
  CHECK(parse_error("[Block]\nServer = 1.1.1.1\n") == "dns.conf:2: Server: unknown key \"Server\" in [Block] section");
  CHECK(parse_error("[Allow]\nAction = null\n") == "dns.conf:2: Action: unknown key \"Action\" in [Allow] section");
  CHECK(parse_error("[Block]\nColour = red\n") == "dns.conf:2: unknown key \"Colour\" in [Block] section");
  CHECK(parse_error("[Block]\nDomain\n") == "dns.conf:2: missing '='; expected `Key = Value` or a section header");
  CHECK(parse_error("[Block]\n = x\n") == "dns.conf:2: missing key name before '='");
  CHECK(parse_error("[Block]\nList =\n") == "dns.conf:2: List: missing value after '='");
  CHECK(parse_error("[Block]\nDomain = good.example, bad..example\n") ==
        "dns.conf:2: Domain: invalid domain \"bad..example\"; expected a name, *.name or .name");
  CHECK(parse_error("[Block]\nTTL = 2147483648\n") ==
        "dns.conf:2: TTL: invalid TTL \"2147483648\"; expected 0-2147483647 seconds");
  CHECK(parse_error("[Block]\nMaxDomains = -1\n").rfind("dns.conf:2: MaxDomains: invalid count \"-1\"", 0) == 0);
  CHECK(parse_error("[Intercept]\nMode = some\n") ==
        "dns.conf:2: Mode: invalid mode \"some\"; expected dns-servers or all-port-53");
  CHECK(parse_error("[Intercept]\nAddress = 10.0.0.1, 10.0.0.300\n") ==
        "dns.conf:2: Address: invalid address \"10.0.0.300\"");
  CHECK(parse_error("[Override]\nHost = printer.lan\n") ==
        "dns.conf:2: Host: no address for \"printer.lan\"; expected `Host = NAME ADDRESS...`");
  CHECK(parse_error("[Override]\nHost = *.lan 10.0.0.1\n") ==
        "dns.conf:2: Host: invalid host name \"*.lan\"; expected `Host = NAME ADDRESS...`");
  CHECK(parse_error("[Override]\nHost = a.lan 10.0.0.1 nas.lan\n") ==
        "dns.conf:2: Host: invalid address \"nas.lan\" for \"a.lan\"");
  CHECK(parse_error("[Override]\nHost = a.lan 10.0.0.1\nHost = A.LAN. 10.0.0.2\n") ==
        "dns.conf:3: Host: \"a.lan\" is already overridden on line 2; list all its addresses on one Host line");
  CHECK(parse_error("[Upstream]\nServer = 9.9.9.9:0\n").rfind("dns.conf:2: Server: invalid server \"9.9.9.9:0\"", 0) == 0);
  CHECK(parse_error("[Upstream]\nServer = resolver.example\n")
            .rfind("dns.conf:2: Server: invalid server \"resolver.example\"", 0) == 0);
  CHECK(parse_error("[Upstream]\nServer = 9.9.9.9 sideways\n") ==
        "dns.conf:2: Server: invalid server \"9.9.9.9 sideways\"; only `direct` or `tunnel` may follow the address");
  CHECK(parse_error("[Upstream]\nServer = 9.9.9.9\nTimeout = 2\n") ==
        "dns.conf:3: Timeout: invalid timeout \"2\"; expected 1ms-60s, written as 1500ms or 2s");
  CHECK(parse_error("[Upstream]\nServer = 9.9.9.9\nTimeout = 61s\n").rfind("dns.conf:3: Timeout:", 0) == 0);
  CHECK(parse_error("[Upstream]\nServer = 9.9.9.9\nTimeout = 0ms\n").rfind("dns.conf:3: Timeout:", 0) == 0);
  CHECK(parse_error("[Upstream]\nServer = 9.9.9.9\nRetries = 11\n") ==
        "dns.conf:3: Retries: invalid retry count \"11\"; expected 0-10");
  CHECK(parse_error("[Upstream]\nTimeout = 1s\n[Cache]\n") ==
        "dns.conf:1: [Upstream]: the [Upstream] section has no Server");
  CHECK(parse_error("[Upstream]\nServer = 1.1.1.1\n[Upstream]\nServer = 8.8.8.8\n") ==
        "dns.conf:3: [Upstream]: a second default [Upstream] section (without Domain); the first is on line 1");
  CHECK(parse_error("[Upstream]\nDomain = corp.example\nServer = 1.1.1.1\n[Upstream]\nDomain = CORP.example.\n"
                    "Server = 8.8.8.8\n") ==
        "dns.conf:5: Domain: domain \"corp.example\" is already routed on line 2");
  CHECK(parse_error("[Cache]\nSize = 5T\n") ==
        "dns.conf:2: Size: invalid size \"5T\"; expected bytes with an optional K, M or G, at most 4G");
  CHECK(parse_error("[Cache]\nSize = 5G\n").rfind("dns.conf:2: Size: invalid size", 0) == 0);
  CHECK(parse_error("[Cache]\nEntries = 16777217\n").rfind("dns.conf:2: Entries: invalid entry count", 0) == 0);
  CHECK(parse_error("[Cache]\nMinTTL = 100\nMaxTTL = 50\n") == "dns.conf:1: [Cache]: MinTTL is above MaxTTL");
  CHECK(parse_error("[QueryLog]\nEnabled = yes\n") == "dns.conf:1: [QueryLog]: Enabled = yes needs a Path");
  CHECK(parse_error("[QueryLog]\nEnabled = maybe\n") ==
        "dns.conf:2: Enabled: invalid value \"maybe\"; expected yes or no");
  CHECK(parse_error("[Block]\nList = a\x01" "b\n") == "dns.conf:2: line contains a control character");
  CHECK(parse_error("[Block]\nDomain = " + std::string(kMaxDnsConfigLineBytes, 'a') + "\n")
            .rfind("dns.conf:2: line is longer than 65536 bytes", 0) == 0);
  CHECK(parse_error(std::string(kMaxDnsConfigBytes + 1, '#')).rfind("dns.conf: file is 1048577 bytes", 0) == 0);
}

TEST_CASE("DNS config: values are case-insensitive where they are words") {
  DnsConfig c = parse_ok("[BLOCK]\nACTION = NXDOMAIN\n[querylog]\nenabled = Off\n[Cache]\nSize = 64k\n");
  CHECK(c.block_action == BlockAction::nxdomain);
  CHECK_FALSE(c.query_log);
  CHECK(c.cache.max_bytes == 64 * 1024);
  CHECK(parse_ok("[Block]\nAction = Refused\n").block_action == BlockAction::refused);
  CHECK(parse_ok("[Intercept]\nMode = Dns-Servers\n").intercept_mode == InterceptMode::dns_servers);
}

TEST_CASE("Overrides answer A and AAAA, and NODATA for the rest") {
  Overrides o;
  const IpAddress both[] = {ip("192.168.1.20"), ip("fd00::20"), ip("192.168.1.21"), ip("192.168.1.20")};
  REQUIRE(o.add(name("printer.lan"), both));
  const IpAddress v4[] = {ip("192.168.1.30")};
  REQUIRE(o.add(name("nas.lan"), v4));
  CHECK_FALSE(o.add(name("NAS.lan."), v4));
  CHECK_FALSE(o.add(name("empty.lan"), {}));
  o.set_ttl(42);
  CHECK(o.size() == 2);

  auto a = o.answer(name("Printer.Lan"), kTypeA);
  REQUIRE(a.kind == OverrideAnswer::Kind::addresses);
  REQUIRE(a.addresses.size() == 2);  // the repeated address is kept once
  CHECK(a.addresses[0] == ip("192.168.1.20"));
  CHECK(a.addresses[1] == ip("192.168.1.21"));
  CHECK(a.ttl == 42);
  auto aaaa = o.answer(name("printer.lan"), kTypeAaaa);
  REQUIRE(aaaa.kind == OverrideAnswer::Kind::addresses);
  CHECK(aaaa.addresses[0] == ip("fd00::20"));
  CHECK(o.answer(name("printer.lan"), kTypeMx).kind == OverrideAnswer::Kind::nodata);
  CHECK(o.answer(name("nas.lan"), kTypeAaaa).kind == OverrideAnswer::Kind::nodata);
  CHECK(o.answer(name("x.printer.lan"), kTypeA).kind == OverrideAnswer::Kind::none);
  CHECK(o.answer(name("lan"), kTypeA).kind == OverrideAnswer::Kind::none);
}

TEST_CASE("DnsPolicy: overrides, then allow over block, then the routes") {
  DnsConfig c = parse_ok(
      "[Block]\n"
      "Domain = *.example.com, exact.example.net, printer.lan\n"
      "[Allow]\n"
      "Domain = *.good.example.com\n"
      "[Override]\n"
      "Host = printer.lan 192.168.1.20\n"
      "[Upstream]\n"
      "Domain = corp.example.com\n"
      "Server = 192.168.1.1 direct\n");
  DnsPolicy p = build_ok(c);

  DnsDecision d = p.decide(name("printer.lan"), kTypeA);
  CHECK(d.kind == DnsDecision::Kind::answer);
  CHECK_FALSE(d.blocked);
  CHECK(addresses(d) == "192.168.1.20");
  CHECK(d.ttl == 300);
  CHECK(p.decide(name("printer.lan"), kTypeAaaa).kind == DnsDecision::Kind::nodata);

  d = p.decide(name("ads.example.com"), kTypeA);
  CHECK(d.kind == DnsDecision::Kind::nxdomain);
  CHECK(d.blocked);
  CHECK(d.ttl == 60);
  CHECK(p.decide(name("example.com"), kTypeA).blocked);
  CHECK(p.decide(name("exact.example.net"), kTypeA).blocked);
  CHECK_FALSE(p.decide(name("sub.exact.example.net"), kTypeA).blocked);

  // The allow list wins, even over the (more specific) corp route's block.
  d = p.decide(name("www.good.example.com"), kTypeA);
  CHECK(d.kind == DnsDecision::Kind::forward);
  CHECK_FALSE(d.blocked);
  CHECK(d.upstream_set == SplitRoutes::kDefaultSet);
  // corp.example.com is under the suffix block rule: blocked before any routing.
  CHECK(p.decide(name("host.corp.example.com"), kTypeA).blocked);

  d = p.decide(name("www.example.org"), kTypeA);
  CHECK(d.kind == DnsDecision::Kind::forward);
  CHECK(p.routes.set(d.upstream_set).servers.at(0).endpoint.to_string() == "10.64.0.1:53");
  CHECK_FALSE(p.routes.set(d.upstream_set).servers.at(0).direct);
}

TEST_CASE("DnsPolicy: block actions") {
  DnsPolicy null = build_ok(parse_ok("[Block]\nAction = null\nTTL = 5\nDomain = ads.example\n"));
  DnsDecision d = null.decide(name("ads.example"), kTypeA);
  CHECK(d.kind == DnsDecision::Kind::answer);
  CHECK(d.blocked);
  CHECK(addresses(d) == "0.0.0.0");
  CHECK(d.ttl == 5);
  CHECK(addresses(null.decide(name("ads.example"), kTypeAaaa)) == "::");
  CHECK(null.decide(name("ads.example"), kTypeMx).kind == DnsDecision::Kind::nodata);

  DnsPolicy refused = build_ok(parse_ok("[Block]\nAction = refused\nDomain = ads.example\n"));
  CHECK(refused.decide(name("ads.example"), kTypeAaaa).kind == DnsDecision::Kind::refused);
  CHECK(refused.decide(name("ads.example.org"), kTypeAaaa).kind == DnsDecision::Kind::forward);
}

TEST_CASE("DnsPolicy: intercept addresses and upstreams default to the tunnel's DNS servers") {
  DnsPolicy p = build_ok(parse_ok(""), "dns.conf", {ip("10.64.0.1"), ip("fd00::1")});
  CHECK(p.intercepts(ip("10.64.0.1"), 53));
  CHECK(p.intercepts(ip("fd00::1"), 53));
  CHECK_FALSE(p.intercepts(ip("10.64.0.1"), 5353));
  CHECK_FALSE(p.intercepts(ip("8.8.8.8"), 53));
  const UpstreamSet& up = p.routes.set(SplitRoutes::kDefaultSet);
  REQUIRE(up.servers.size() == 2);
  CHECK(up.servers[1].endpoint.to_string() == "[fd00::1]:53");

  DnsPolicy all = build_ok(parse_ok("[Intercept]\nMode = all-port-53\n"), "dns.conf", {ip("10.64.0.1")});
  CHECK(all.intercepts(ip("8.8.8.8"), 53));
  CHECK_FALSE(all.intercepts(ip("8.8.8.8"), 853));

  DnsPolicy own = build_ok(parse_ok("[Intercept]\nAddress = 100.100.100.100\n[Upstream]\nServer = 9.9.9.9\n"),
                           "dns.conf", {ip("10.64.0.1")});
  CHECK(own.intercepts(ip("100.100.100.100"), 53));
  CHECK_FALSE(own.intercepts(ip("10.64.0.1"), 53));
  CHECK(own.routes.set(0).servers.at(0).endpoint.to_string() == "9.9.9.9:53");

  auto none = build_dns_policy(parse_ok(""), "dns.conf", {});
  REQUIRE(std::holds_alternative<ConfigError>(none));
  CHECK(std::get<ConfigError>(none).to_string() ==
        "dns.conf: nothing to intercept: the tunnel has no DNS= servers and [Intercept] names no Address");
  auto no_upstream = build_dns_policy(parse_ok("[Intercept]\nAddress = 10.0.0.1\n"), "dns.conf", {});
  REQUIRE(std::holds_alternative<ConfigError>(no_upstream));
  CHECK(std::get<ConfigError>(no_upstream).to_string() ==
        "dns.conf: no upstream for forwarded queries: the tunnel has no DNS= servers and there is no "
        "[Upstream] section without Domain");
}

TEST_CASE("load_dns_policy reads lists relative to the config; any failure leaves nothing") {
  TempDir dir;
  dir.write("hosts.txt", "0.0.0.0 ads.example.com\n127.0.0.1 localhost\nnot a line\n*.tracker.example\n");
  dir.write("allow.txt", "ok.tracker.example\n");
  const std::string conf = dir.write("dns.conf",
                                     "[Block]\n"
                                     "List = hosts.txt\n"
                                     "[Allow]\n"
                                     "List = " + dir.path + "/allow.txt\n");
  auto loaded = load_dns_policy(conf, std::vector<IpAddress>{ip("10.64.0.1")});
  if (auto* e = std::get_if<ConfigError>(&loaded)) FAIL(e->to_string());
  const DnsPolicy& p = std::get<DnsPolicy>(loaded);
  CHECK(p.decide(name("ads.example.com"), kTypeA).blocked);
  CHECK(p.decide(name("x.tracker.example"), kTypeA).blocked);
  CHECK_FALSE(p.decide(name("ok.tracker.example"), kTypeA).blocked);
  REQUIRE(p.lists.size() == 2);
  CHECK(p.lists[0].path == dir.path + "/hosts.txt");
  CHECK_FALSE(p.lists[0].allow);
  CHECK(p.lists[0].stats.rules == 2);
  CHECK(p.lists[0].stats.ignored == 1);
  CHECK(p.lists[0].stats.invalid == 1);
  CHECK(p.lists[0].stats.first_invalid.at(0).line == 3);
  CHECK(p.lists[1].allow);

  // The second list is missing: the whole load fails, naming the List line.
  const std::string bad = dir.write("bad.conf", "[Block]\nList = hosts.txt\nList = missing.txt\n");
  auto failed = load_dns_policy(bad, std::vector<IpAddress>{ip("10.64.0.1")});
  REQUIRE(std::holds_alternative<ConfigError>(failed));
  CHECK(std::get<ConfigError>(failed).to_string() ==
        bad + ":3: List: cannot open " + dir.path + "/missing.txt: No such file or directory");

  // More rules than MaxDomains.
  const std::string small = dir.write("small.conf", "[Block]\nMaxDomains = 1\nList = hosts.txt\n");
  auto too_many = load_dns_policy(small, std::vector<IpAddress>{ip("10.64.0.1")});
  REQUIRE(std::holds_alternative<ConfigError>(too_many));
  CHECK(std::get<ConfigError>(too_many).to_string() ==
        small + ":3: List: " + dir.path + "/hosts.txt: [Block] holds more than MaxDomains = 1 domains");

  // A syntax error in the file itself.
  const std::string broken = dir.write("broken.conf", "[Block]\nAction = maybe\n");
  auto syntax = load_dns_policy(broken, std::vector<IpAddress>{ip("10.64.0.1")});
  REQUIRE(std::holds_alternative<ConfigError>(syntax));
  CHECK(std::get<ConfigError>(syntax).line == 2);

  auto missing = load_dns_policy(dir.path + "/none.conf", std::vector<IpAddress>{ip("10.64.0.1")});
  REQUIRE(std::holds_alternative<ConfigError>(missing));
  CHECK(std::get<ConfigError>(missing).to_string() == dir.path + "/none.conf: cannot open: No such file or directory");
}

// docs/DNS.md is the format's documentation: every ini example in it must parse.
TEST_CASE("DNS config: the examples in docs/DNS.md parse") {
  std::string source = __FILE__;
  std::string doc_path = source.substr(0, source.rfind("/tests/")) + "/docs/DNS.md";
  std::ifstream doc(doc_path);
  REQUIRE(doc.good());
  std::string line, block;
  bool in_ini = false;
  int examples = 0;
  while (std::getline(doc, line)) {
    if (!in_ini && line == "```ini") {
      in_ini = true;
      block.clear();
    } else if (in_ini && line == "```") {
      in_ini = false;
      ++examples;
      INFO(block);
      parse_ok(block);
    } else if (in_ini) {
      block += line + "\n";
    }
  }
  CHECK(examples >= 4);
}
