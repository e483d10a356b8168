#include "dns/block_list_loader.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "tunnel/ip_address.h"
#include "tunnel/key_value.h"

namespace sluice::dns {

namespace {

// What hosts files shipped by distributions and by list maintainers map to loopback or
// multicast addresses for their own sake (Debian's /etc/hosts, StevenBlack's header).
constexpr std::string_view kBoilerplate[] = {
    "localhost",     "localhost.localdomain", "local",          "broadcasthost",
    "ip6-localhost", "ip6-loopback",          "ip6-localnet",   "ip6-mcastprefix",
    "ip6-allnodes",  "ip6-allrouters",        "ip6-allhosts",
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Splits on spaces and tabs; at most `max` words, the count of all words is returned.
size_t split_words(std::string_view line, std::string_view* words, size_t max) {
  size_t count = 0;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > start) {
      if (count < max) words[count] = line.substr(start, i - start);
      ++count;
    }
  }
  return count;
}

}  // namespace

std::optional<DomainRule> parse_domain_rule(std::string_view word) {
  DomainRule rule;
  if (word.substr(0, 2) == "*.") {
    word.remove_prefix(2);
    rule.match = DomainMatch::suffix;
  } else if (word.substr(0, 1) == ".") {
    word.remove_prefix(1);
    rule.match = DomainMatch::suffix;
  }
  auto name = CanonicalName::from_text(word);
  if (!name) return std::nullopt;
  rule.name = *name;
  return rule;
}

bool is_hosts_boilerplate(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  for (std::string_view b : kBoilerplate) {
    if (text::iequals(b, name)) return true;
  }
  return false;
}

ParsedLine parse_block_list_line(std::string_view line, std::vector<DomainRule>& rules) {
  rules.clear();
  line = text::trim(line.substr(0, line.find('#')));
  if (line.empty()) return {LineKind::blank, {}};
  if (text::has_control_char(line)) return {LineKind::invalid, "control character in line"};

  // Only the first word decides the format; 2 are enough to tell one word from several.
  std::string_view first[2];
  const size_t words = split_words(line, first, 2);
  if (IpAddress::parse(first[0])) {
    if (words == 1) return {LineKind::invalid, "address " + text::quoted(first[0]) + " without host names"};
    // Hosts format: every further word is a host name.
    bool boilerplate_only = true;
    std::string_view rest = line.substr(first[0].size());
    std::string_view word;
    while (true) {
      rest = text::trim(rest);
      if (rest.empty()) break;
      size_t end = 0;
      while (end < rest.size() && !is_blank(rest[end])) ++end;
      word = rest.substr(0, end);
      rest = rest.substr(end);
      if (is_hosts_boilerplate(word) || IpAddress::parse(word)) continue;
      boilerplate_only = false;
      auto name = CanonicalName::from_text(word);
      if (!name) {
        rules.clear();
        return {LineKind::invalid, "invalid host name " + text::quoted(word)};
      }
      rules.push_back(DomainRule{*name, DomainMatch::exact});
    }
    return {boilerplate_only ? LineKind::ignored : LineKind::rules, {}};
  }
  if (words != 1) {
    return {LineKind::invalid, "expected one domain, or an address followed by host names; got " +
                                   text::quoted(line)};
  }
  if (is_hosts_boilerplate(first[0])) return {LineKind::ignored, {}};
  auto rule = parse_domain_rule(first[0]);
  if (!rule) return {LineKind::invalid, "invalid domain " + text::quoted(first[0])};
  rules.push_back(*rule);
  return {LineKind::rules, {}};
}

BlockListParser::BlockListParser(DomainSetBuilder& out) : out_(out) {
  rules_.reserve(16);
}

void BlockListParser::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    auto newline = chunk.find('\n');
    if (discarding_) {
      if (newline == std::string_view::npos) return;
      discarding_ = false;
      chunk.remove_prefix(newline + 1);
      continue;
    }
    if (newline == std::string_view::npos) {
      if (partial_.size() + chunk.size() > kMaxBlockListLineBytes) {
        partial_.clear();
        handle_overlong_line();
        discarding_ = true;
      } else {
        partial_.append(chunk);
      }
      return;
    }
    std::string_view line = chunk.substr(0, newline);
    chunk.remove_prefix(newline + 1);
    if (partial_.size() + line.size() > kMaxBlockListLineBytes) {
      partial_.clear();
      handle_overlong_line();
    } else if (!partial_.empty()) {
      partial_.append(line);
      handle_line(partial_);
      partial_.clear();
    } else {
      handle_line(line);
    }
  }
}

void BlockListParser::finish() {
  if (!discarding_ && !partial_.empty()) handle_line(partial_);
  partial_.clear();
  discarding_ = false;
}

void BlockListParser::handle_overlong_line() {
  ++stats_.lines;
  ++stats_.invalid;
  if (stats_.first_invalid.size() < kReportedInvalidLines) {
    stats_.first_invalid.push_back(
        {stats_.lines, "line longer than " + std::to_string(kMaxBlockListLineBytes) + " bytes"});
  }
}

void BlockListParser::handle_line(std::string_view line) {
  ++stats_.lines;
  // Editors on Windows like to start files with a UTF-8 byte order mark.
  if (stats_.lines == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  ParsedLine parsed = parse_block_list_line(line, rules_);
  switch (parsed.kind) {
    case LineKind::blank:
      return;
    case LineKind::ignored:
      ++stats_.ignored;
      return;
    case LineKind::invalid:
      ++stats_.invalid;
      if (stats_.first_invalid.size() < kReportedInvalidLines) {
        stats_.first_invalid.push_back({stats_.lines, std::move(parsed.reason)});
      }
      return;
    case LineKind::rules:
      for (const DomainRule& rule : rules_) {
        if (out_.add(rule.name, rule.match)) {
          ++stats_.rules;
        } else {
          ++stats_.over_limit;
        }
      }
      return;
  }
}

std::variant<BlockListStats, std::string> load_block_list_file(const std::string& path, DomainSetBuilder& out) {
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
  if (!file) return "cannot open " + path + ": " + std::strerror(errno);

  BlockListParser parser(out);
  // Fixed-size reads: memory does not grow with the file.
  std::vector<char> buffer(256 * 1024);
  while (true) {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n > 0) parser.feed(std::string_view(buffer.data(), n));
    if (n < buffer.size()) {
      if (std::ferror(file.get())) return "cannot read " + path + ": " + std::strerror(errno);
      break;
    }
  }
  parser.finish();
  return parser.stats();
}

}  // namespace sluice::dns
