// Small ASCII text primitives shared by the two line-oriented `key=value` formats of the
// tunnel layer: the wg-quick config file and the UAPI protocol. Both parsers are fuzzed, so
// every function here takes a string_view, never reads past it, and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::text {

// The whitespace set of wireguard-tools' ctype.h (space, \t, \n, \v, \f, \r). Locale
// independent on purpose: isspace() would change with the embedding app's locale.
bool is_space(char c);
bool is_digit(char c);
std::string_view trim(std::string_view s);

// ASCII case-insensitive equality; config keys and section names are matched this way.
bool iequals(std::string_view a, std::string_view b);

// True if `s` holds a byte that has no business in either format (NUL and the other C0
// controls except tab, and DEL). Rejecting these up front matters because IpAddress::parse
// hands the text to inet_pton, which would stop at an embedded NUL and accept the prefix.
bool has_control_char(std::string_view s);

// Decimal digits only: no sign, no spaces, no "0x"; leading zeros are accepted, as Go's
// strconv.ParseUint does. Empty text or a value above `max` gives nullopt.
std::optional<uint64_t> parse_decimal(std::string_view digits, uint64_t max);

// Hex digits (either case) only, without a "0x" prefix.
std::optional<uint64_t> parse_hex(std::string_view digits, uint64_t max);

// Renders untrusted text for an error message: printable ASCII as is, anything else as \xNN,
// wrapped in double quotes and cut after `max_chars` input bytes (marked with "...") so a
// hostile request cannot flood a log line.
std::string quoted(std::string_view s, size_t max_chars = 64);

// Walks a text one line at a time. A line ends at '\n' (not included); the last line may
// lack one. `number` is 1-based and counts every line, blank or not.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : rest_(text) {}
  bool next(std::string_view& line);
  unsigned number() const { return number_; }
  // What follows the line returned last.
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
  unsigned number_ = 0;
};

}  // namespace sluice::text
