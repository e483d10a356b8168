// BlockListParser and parse_block_list_line (dns/block_list_loader.h): the block and allow
// list files, which come from third parties. The first input byte picks a chunk size; the rest
// is the list. Checks:
//  - the result does not depend on how the bytes are chunked (one feed vs many small ones);
//  - the line count is the number of lines in the input, invalid lines are reported in order
//    with line numbers that exist, and every line is exactly one of blank, ignored, rules or
//    invalid;
//  - every rule a line yields is in the built set (a suffix rule also for a name below it),
//    and its name survives to_text() -> from_text() unchanged.
#include <string>
#include <string_view>
#include <vector>

#include "dns/block_list_loader.h"
#include "dns/domain_set.h"
#include "fuzz_support.h"

using namespace sluice::dns;

namespace {

constexpr DomainSetBuilder::HashKey kKey = {0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
// Keeps the set small enough that the rule limit is also reached now and then.
constexpr size_t kMaxRules = 64;

struct Result {
  DomainSet set;
  BlockListStats stats;
};

Result parse(std::string_view text, size_t chunk) {
  DomainSetBuilder builder(kMaxRules, kKey);
  BlockListParser parser(builder);
  for (size_t at = 0; at < text.size(); at += chunk) parser.feed(text.substr(at, chunk));
  parser.finish();
  return {builder.build(), parser.stats()};
}

void check_same(const BlockListStats& a, const BlockListStats& b) {
  FUZZ_CHECK(a.lines == b.lines && a.rules == b.rules && a.ignored == b.ignored && a.invalid == b.invalid &&
             a.over_limit == b.over_limit && a.first_invalid.size() == b.first_invalid.size());
  for (size_t i = 0; i < a.first_invalid.size(); ++i) {
    FUZZ_CHECK(a.first_invalid[i].line == b.first_invalid[i].line);
    FUZZ_CHECK(a.first_invalid[i].reason == b.first_invalid[i].reason);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  auto copy = sluice::fuzz::exact_copy({data + 1, size - 1});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());

  const Result whole = parse(text, text.size() + 1);
  const Result split = parse(text, chunk);
  check_same(whole.stats, split.stats);
  FUZZ_CHECK(whole.set.size() == split.set.size());

  const BlockListStats& s = whole.stats;
  uint64_t lines = 0;
  for (char c : text) lines += c == '\n';
  if (!text.empty() && text.back() != '\n') ++lines;
  FUZZ_CHECK(s.lines == lines);
  FUZZ_CHECK(s.first_invalid.size() == std::min<uint64_t>(s.invalid, kReportedInvalidLines));
  for (size_t i = 0; i < s.first_invalid.size(); ++i) {
    FUZZ_CHECK(s.first_invalid[i].line >= 1 && s.first_invalid[i].line <= lines);
    FUZZ_CHECK(!s.first_invalid[i].reason.empty());
    if (i > 0) FUZZ_CHECK(s.first_invalid[i].line > s.first_invalid[i - 1].line);
  }
  FUZZ_CHECK(whole.set.size() <= s.rules && s.rules <= kMaxRules);

  // Line by line, as the parser sees them.
  std::vector<DomainRule> rules;
  uint64_t blank = 0, ignored = 0, invalid = 0, with_rules = 0, rule_count = 0;
  std::string_view rest = text;
  bool first = true;
  while (!rest.empty()) {
    auto newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    if (line.size() > kMaxBlockListLineBytes) {
      ++invalid;
      first = false;
      continue;
    }
    if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    first = false;
    const ParsedLine parsed = parse_block_list_line(line, rules);
    switch (parsed.kind) {
      case LineKind::blank: FUZZ_CHECK(rules.empty()); ++blank; break;
      case LineKind::ignored: FUZZ_CHECK(rules.empty()); ++ignored; break;
      case LineKind::invalid: FUZZ_CHECK(rules.empty() && !parsed.reason.empty()); ++invalid; break;
      case LineKind::rules: FUZZ_CHECK(!rules.empty()); ++with_rules; break;
    }
    for (const DomainRule& rule : rules) {
      auto again = CanonicalName::from_text(rule.name.to_text());
      FUZZ_CHECK(again.has_value() && *again == rule.name);
      // Rules past the limit were counted, not added; only check the ones that fit.
      if (rule_count++ >= kMaxRules) continue;
      FUZZ_CHECK(whole.set.matches(rule.name));
      if (rule.match == DomainMatch::suffix) {
        auto child = CanonicalName::from_text("x." + rule.name.to_text());
        if (child) FUZZ_CHECK(whole.set.matches(*child));
      }
    }
  }
  FUZZ_CHECK(blank + ignored + invalid + with_rules == lines);
  FUZZ_CHECK(ignored == s.ignored && invalid == s.invalid);
  FUZZ_CHECK(rule_count == s.rules + s.over_limit);
  return 0;
}
