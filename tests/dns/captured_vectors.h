// The two real packets in ../shared/vectors: a query for time.apple.com and the resolver's
// reply (a CNAME and three A records, compressed), captured by a packet-tunnel user. Kept here
// as hex so the unit tests do not depend on the file's location; test_vectors.cpp checks that
// they equal the files when those are present.
#pragma once

#include <catch2/catch.hpp>

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::dns::test {

inline constexpr const char* kQueryHex =
    "4500003c15c40000401193d1c0a80064"
    "08080808ed6e00350028e5c97fda0100"
    "00010000000000000474696d65056170"
    "706c6503636f6d0000010001";
inline constexpr const char* kReplyHex =
    "450000895e37400040110b1108080808"
    "c0a800640035ed6e007591e87fda8180"
    "00010004000000000474696d65056170"
    "706c6503636f6d0000010001c00c0005"
    "000100000cfb00110474696d65016707"
    "6161706c696d67c017c02c0001000100"
    "000304000411fd74fdc02c0001000100"
    "000304000411fd747dc02c0001000100"
    "000304000411fd54fb";

// Hex digits to bytes; anything else (spaces, newlines of a .hex file) is skipped.
inline std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::string digits;
  for (char c : hex)
    if (std::isxdigit(static_cast<unsigned char>(c))) digits += c;
  REQUIRE(digits.size() % 2 == 0);
  for (size_t i = 0; i < digits.size(); i += 2)
    out.push_back(static_cast<uint8_t>(nibble(digits[i]) << 4 | nibble(digits[i + 1])));
  return out;
}

}  // namespace sluice::dns::test
