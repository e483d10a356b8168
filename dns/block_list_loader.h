// Block and allow list files, in the two formats public lists are published in, detected per
// line so that mixed files work:
//   hosts format       "0.0.0.0 ads.example.com", "127.0.0.1 a.example b.example"
//                      every name is an exact rule; the address is ignored
//   domain per line    "ads.example.com"            an exact rule
//                      "*.example.com", ".example.com"  a suffix rule: example.com and below
// '#' starts a comment anywhere on a line. The hosts-file boilerplate ("127.0.0.1 localhost",
// "::1 ip6-localhost", "255.255.255.255 broadcasthost", ...) is ignored, not blocked. A bad line
// is counted and the first few are kept with their line numbers for the log; it never stops
// the load. Files are read in fixed-size chunks, so a list of hundreds of MB costs its rules'
// memory (8 bytes each), not its size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dns/domain_set.h"

namespace sluice::dns {

// Longer lines are counted as invalid without being buffered. A hosts line naming a few
// hundred hosts still fits.
inline constexpr size_t kMaxBlockListLineBytes = 16 * 1024;
inline constexpr size_t kReportedInvalidLines = 5;

struct DomainRule {
  CanonicalName name;
  DomainMatch match = DomainMatch::exact;
};

// One rule as an allow/block entry is written in a config file or a domain-per-line list:
// "name", "*.name" or ".name". nullopt if it is not a valid rule.
std::optional<DomainRule> parse_domain_rule(std::string_view word);

// True for the names hosts files map to themselves ("localhost", "ip6-allnodes", ...), which a
// block list must not block.
bool is_hosts_boilerplate(std::string_view name);

struct InvalidLine {
  uint64_t line = 0;    // 1-based
  std::string reason;   // what was wrong, with the offending text quoted and truncated
};

struct BlockListStats {
  uint64_t lines = 0;         // every line, blank and comment lines included
  uint64_t rules = 0;         // rules handed to the builder (duplicates included)
  uint64_t ignored = 0;       // lines that only held hosts-file boilerplate
  uint64_t invalid = 0;       // lines that were neither blank, comment, ignored nor valid
  uint64_t over_limit = 0;    // valid rules refused because the builder was full
  std::vector<InvalidLine> first_invalid;  // at most kReportedInvalidLines
};

// What one line (without its '\n') holds. Returned in `rules` are all the rules of the line, or
// none: a line with one bad name adds nothing, so a half-understood line cannot half-apply.
enum class LineKind : uint8_t { blank, ignored, rules, invalid };
struct ParsedLine {
  LineKind kind = LineKind::blank;
  std::string reason;  // for invalid lines
};
// `rules` is cleared first; its capacity is reused across calls.
ParsedLine parse_block_list_line(std::string_view line, std::vector<DomainRule>& rules);

// Streams a list: feed() it the bytes in chunks of any size (lines may span chunks), then
// finish(). Rules go into `out`, which must outlive the parser.
class BlockListParser {
 public:
  explicit BlockListParser(DomainSetBuilder& out);

  void feed(std::string_view chunk);
  // Parses a last line that has no '\n'. Call once, after the last feed().
  void finish();
  const BlockListStats& stats() const { return stats_; }

 private:
  void handle_line(std::string_view line);
  void handle_overlong_line();

  DomainSetBuilder& out_;
  BlockListStats stats_;
  std::string partial_;           // the start of a line whose end is in a later chunk
  bool discarding_ = false;       // inside a line longer than kMaxBlockListLineBytes
  bool at_start_ = true;          // a UTF-8 byte order mark is only skipped at the very start
  std::vector<DomainRule> rules_;  // reused for every line
};

// Reads the file at `path` through a BlockListParser into `out`. An error (the file cannot be
// opened or read) is a message naming the path and the errno text; invalid lines are not
// errors, they are in the stats.
std::variant<BlockListStats, std::string> load_block_list_file(const std::string& path, DomainSetBuilder& out);

}  // namespace sluice::dns
