// IP addresses, prefixes and UDP endpoints as plain values: the vocabulary shared by the
// AllowedIPs trie, the config and UAPI parsers, and the device. No sockets are touched here.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {

enum class IpFamily : uint8_t { v4 = 4, v6 = 6 };

struct IpAddress {
  IpFamily family = IpFamily::v4;
  // IPv4 uses the first 4 bytes; the rest stay zero so that comparisons are well defined.
  std::array<uint8_t, 16> bytes{};

  static IpAddress v4(const uint8_t* four_bytes);
  static IpAddress v6(const uint8_t* sixteen_bytes);
  // Accepts dotted quad or RFC 4291 text (no brackets, no zone).
  static std::optional<IpAddress> parse(std::string_view text);

  size_t size() const { return family == IpFamily::v4 ? 4 : 16; }
  unsigned max_prefix() const { return family == IpFamily::v4 ? 32 : 128; }
  std::string to_string() const;
  auto operator<=>(const IpAddress&) const = default;
};

struct IpPrefix {
  IpAddress address;  // host bits are cleared by parse() and masked()
  uint8_t length = 0;

  // "10.0.0.0/8", "fd00::/64"; a bare address means a host route (/32 or /128).
  static std::optional<IpPrefix> parse(std::string_view text);
  IpPrefix masked() const;
  bool contains(const IpAddress& a) const;
  std::string to_string() const;
  auto operator<=>(const IpPrefix&) const = default;
};

struct Endpoint {
  IpAddress address;
  uint16_t port = 0;

  // "1.2.3.4:51820" or "[2001:db8::1]:51820". Host names are resolved by platform/, not here.
  static std::optional<Endpoint> parse(std::string_view text);
  std::string to_string() const;  // same forms as parse(), as wireguard-go prints them
  auto operator<=>(const Endpoint&) const = default;
};

}  // namespace sluice
