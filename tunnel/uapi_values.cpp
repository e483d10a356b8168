#include "tunnel/uapi_values.h"

#include "tunnel/key_value.h"

namespace sluice::uapi {

namespace {

// IpAddress::parse goes through inet_pton, which stops at a NUL; the check keeps
// "1.2.3.4\0junk" from being read as 1.2.3.4.
std::optional<IpAddress> parse_address(std::string_view text) {
  if (text::has_control_char(text)) return std::nullopt;
  return IpAddress::parse(text);
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  // As netip.ParseAddrPort: the port follows the last ':'; brackets mean IPv6 and IPv6 needs them.
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = text.substr(0, colon);
  auto port = text::parse_decimal(text.substr(colon + 1), 65535);
  if (!port) return std::nullopt;
  bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  auto address = parse_address(host);
  if (!address || bracketed != (address->family == IpFamily::v6)) return std::nullopt;
  return Endpoint{*address, static_cast<uint16_t>(*port)};
}

std::optional<IpPrefix> parse_prefix(std::string_view text) {
  auto slash = text.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto address = parse_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  // Digits only: Go 1.22 also refuses a sign, and no version allows spaces.
  auto length = text::parse_decimal(text.substr(slash + 1), address->max_prefix());
  if (!length) return std::nullopt;
  return IpPrefix{*address, static_cast<uint8_t>(*length)}.masked();
}

}  // namespace sluice::uapi
