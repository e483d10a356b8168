#include <catch2/catch.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "dns/block_list_loader.h"

using namespace sluice::dns;

namespace {

constexpr DomainSetBuilder::HashKey kKey = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};

CanonicalName name(const std::string& text) {
  auto n = CanonicalName::from_text(text);
  if (!n) FAIL("not a name: " << text);
  return *n;
}

struct Loaded {
  DomainSet set;
  BlockListStats stats;
};

Loaded load(const std::string& text, size_t chunk = std::string::npos, size_t max_rules = 1000) {
  DomainSetBuilder builder(max_rules, kKey);
  BlockListParser parser(builder);
  for (size_t at = 0; at < text.size(); at += chunk) parser.feed(std::string_view(text).substr(at, chunk));
  parser.finish();
  return {builder.build(), parser.stats()};
}

std::vector<std::string> rule_texts(const std::string& line, LineKind expected_kind) {
  std::vector<DomainRule> rules;
  ParsedLine parsed = parse_block_list_line(line, rules);
  CHECK(parsed.kind == expected_kind);
  std::vector<std::string> out;
  for (const DomainRule& r : rules) out.push_back((r.match == DomainMatch::suffix ? "*." : "") + r.name.to_text());
  return out;
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& content) {
    char tmpl[] = "/tmp/sluice-blocklist-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    path = tmpl;
    REQUIRE(write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    close(fd);
  }
  ~TempFile() { unlink(path.c_str()); }
};

}  // namespace

TEST_CASE("Block list lines: hosts format, one domain per line, comments") {
  using V = std::vector<std::string>;
  CHECK(rule_texts("0.0.0.0 ads.example.com", LineKind::rules) == V{"ads.example.com"});
  CHECK(rule_texts("127.0.0.1\tA.example  b.example. # trailing", LineKind::rules) == V{"a.example", "b.example"});
  CHECK(rule_texts(":: ads.example.net", LineKind::rules) == V{"ads.example.net"});
  CHECK(rule_texts("ads.example.com\r", LineKind::rules) == V{"ads.example.com"});
  CHECK(rule_texts("  *.tracker.example  ", LineKind::rules) == V{"*.tracker.example"});
  CHECK(rule_texts(".tracker.example", LineKind::rules) == V{"*.tracker.example"});
  CHECK(rule_texts("", LineKind::blank).empty());
  CHECK(rule_texts("   # 0.0.0.0 commented.example", LineKind::blank).empty());
  CHECK(rule_texts("#", LineKind::blank).empty());
}

TEST_CASE("Block list lines: hosts-file boilerplate is ignored, not blocked") {
  using V = std::vector<std::string>;
  CHECK(rule_texts("127.0.0.1 localhost", LineKind::ignored).empty());
  CHECK(rule_texts("::1 localhost ip6-localhost ip6-loopback", LineKind::ignored).empty());
  CHECK(rule_texts("255.255.255.255 broadcasthost", LineKind::ignored).empty());
  CHECK(rule_texts("0.0.0.0 0.0.0.0", LineKind::ignored).empty());
  CHECK(rule_texts("ff02::1 ip6-allnodes", LineKind::ignored).empty());
  CHECK(rule_texts("localhost", LineKind::ignored).empty());
  CHECK(rule_texts("127.0.0.1 LocalHost. ads.example", LineKind::rules) == V{"ads.example"});
  CHECK(is_hosts_boilerplate("localhost.localdomain"));
  CHECK_FALSE(is_hosts_boilerplate("localhost.example"));
}

TEST_CASE("Block list lines: invalid lines add nothing and say why") {
  std::vector<DomainRule> rules;
  auto reason = [&](const std::string& line) {
    ParsedLine parsed = parse_block_list_line(line, rules);
    CHECK(parsed.kind == LineKind::invalid);
    CHECK(rules.empty());
    return parsed.reason;
  };
  CHECK(reason("0.0.0.0") == "address \"0.0.0.0\" without host names");
  CHECK(reason("0.0.0.0 good.example bad_name!") == "invalid host name \"bad_name!\"");
  CHECK(reason("two words") == "expected one domain, or an address followed by host names; got \"two words\"");
  CHECK(reason("||ads.example^") == "invalid domain \"||ads.example^\"");
  CHECK(reason("a..b") == "invalid domain \"a..b\"");
  CHECK(reason("0.0.0.0 *.wild.example") == "invalid host name \"*.wild.example\"");
  CHECK(reason("ads\x01.example") == "control character in line");
  CHECK(reason("300.1.1.1 x.example") == "expected one domain, or an address followed by host names; got \"300.1.1.1 x.example\"");
}

TEST_CASE("parse_domain_rule") {
  auto r = parse_domain_rule("*.Example.com.");
  REQUIRE(r);
  CHECK(r->match == DomainMatch::suffix);
  CHECK(r->name.to_text() == "example.com");
  CHECK(parse_domain_rule("example.com")->match == DomainMatch::exact);
  CHECK(parse_domain_rule(".example.com")->match == DomainMatch::suffix);
  CHECK_FALSE(parse_domain_rule("*"));
  CHECK_FALSE(parse_domain_rule("*."));
  CHECK_FALSE(parse_domain_rule("."));
  CHECK_FALSE(parse_domain_rule("*.*.example"));
  CHECK_FALSE(parse_domain_rule("..example"));
}

TEST_CASE("BlockListParser: counts, line numbers of the first invalid lines, matching") {
  const std::string list =
      "\xEF\xBB\xBF# StevenBlack-style header\n"  // 1
      "127.0.0.1 localhost\n"                       // 2
      "0.0.0.0 ads.example.com\n"                   // 3
      "bad line here\n"                             // 4
      "\n"                                          // 5
      "*.tracker.example\r\n"                       // 6
      "0.0.0.0\n"                                   // 7
      "x..y\n"                                      // 8
      "!adblock comment\n"                          // 9
      "[Adblock Plus 2.0]\n"                        // 10
      "bad again\n"                                 // 11
      "exact.example";                              // 12, no final newline
  Loaded loaded = load(list);
  const BlockListStats& s = loaded.stats;
  CHECK(s.lines == 12);
  CHECK(s.rules == 3);
  CHECK(s.ignored == 1);
  CHECK(s.invalid == 6);
  REQUIRE(s.first_invalid.size() == kReportedInvalidLines);
  std::vector<uint64_t> lines;
  for (const auto& bad : s.first_invalid) lines.push_back(bad.line);
  CHECK(lines == std::vector<uint64_t>{4, 7, 8, 9, 10});

  CHECK(loaded.set.matches(name("ads.example.com")));
  CHECK_FALSE(loaded.set.matches(name("sub.ads.example.com")));
  CHECK(loaded.set.matches(name("tracker.example")));
  CHECK(loaded.set.matches(name("a.b.tracker.example")));
  CHECK(loaded.set.matches(name("exact.example")));
  CHECK_FALSE(loaded.set.matches(name("localhost")));
}

TEST_CASE("BlockListParser: the result does not depend on how the bytes are chunked") {
  std::string list;
  for (int i = 0; i < 200; ++i) {
    list += (i % 3 == 0 ? "0.0.0.0 host" : i % 3 == 1 ? "*.zone" : "bad word ") + std::to_string(i) + ".example\n";
  }
  list += std::string(kMaxBlockListLineBytes + 10, 'a') + "\n";
  list += "after.long.example\n";
  Loaded whole = load(list);
  for (size_t chunk : {1, 2, 7, 100, 4096}) {
    INFO("chunk " << chunk);
    Loaded split = load(list, chunk);
    CHECK(split.stats.lines == whole.stats.lines);
    CHECK(split.stats.rules == whole.stats.rules);
    CHECK(split.stats.invalid == whole.stats.invalid);
    CHECK(split.set.size() == whole.set.size());
    CHECK(split.set.matches(name("after.long.example")));
  }
  CHECK(whole.stats.lines == 202);
  CHECK(whole.stats.invalid == 67);  // the "bad word" lines and the overlong one
  CHECK(whole.set.matches(name("host0.example")));
  CHECK(whole.set.matches(name("x.zone1.example")));
}

TEST_CASE("BlockListParser: an overlong line is invalid and is not buffered") {
  const std::string list = "a.example\n" + std::string(kMaxBlockListLineBytes + 1, 'x') + "\nb.example\n" +
                           std::string(kMaxBlockListLineBytes, 'y') + "\n";
  Loaded loaded = load(list, 1000);
  CHECK(loaded.stats.lines == 4);
  CHECK(loaded.stats.rules == 2);
  REQUIRE(loaded.stats.invalid == 2);  // the second is exactly at the limit but not a valid name
  CHECK(loaded.stats.first_invalid[0].line == 2);
  CHECK(loaded.stats.first_invalid[0].reason == "line longer than 16384 bytes");
  CHECK(loaded.stats.first_invalid[1].line == 4);
  CHECK(loaded.stats.first_invalid[1].reason.rfind("invalid domain", 0) == 0);
}

TEST_CASE("BlockListParser: rules beyond the builder's limit are counted, not added") {
  Loaded loaded = load("a.example\nb.example\n0.0.0.0 c.example d.example\n", std::string::npos, 3);
  CHECK(loaded.stats.rules == 3);
  CHECK(loaded.stats.over_limit == 1);
  CHECK(loaded.set.size() == 3);
}

TEST_CASE("load_block_list_file streams a file; a missing file is an error") {
  std::string content;
  for (int i = 0; i < 50'000; ++i) content += "0.0.0.0 host" + std::to_string(i) + ".example.org\n";
  content += "broken line\n";
  TempFile file(content);
  DomainSetBuilder builder(1'000'000, kKey);
  auto result = load_block_list_file(file.path, builder);
  REQUIRE(std::holds_alternative<BlockListStats>(result));
  const auto& stats = std::get<BlockListStats>(result);
  CHECK(stats.lines == 50'001);
  CHECK(stats.rules == 50'000);
  CHECK(stats.invalid == 1);
  CHECK(stats.first_invalid.at(0).line == 50'001);
  DomainSet set = builder.build();
  CHECK(set.matches(name("host49999.example.org")));
  CHECK(set.matches(name("host0.example.org")));

  auto missing = load_block_list_file("/nonexistent/sluice-list.txt", builder);
  REQUIRE(std::holds_alternative<std::string>(missing));
  CHECK(std::get<std::string>(missing) == "cannot open /nonexistent/sluice-list.txt: No such file or directory");

  auto directory = load_block_list_file("/tmp", builder);
  REQUIRE(std::holds_alternative<std::string>(directory));
  CHECK(std::get<std::string>(directory) == "cannot read /tmp: Is a directory");
}
