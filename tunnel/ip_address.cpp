#include "tunnel/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace sluice {

IpAddress IpAddress::v4(const uint8_t* four_bytes) {
  IpAddress a;
  a.family = IpFamily::v4;
  std::memcpy(a.bytes.data(), four_bytes, 4);
  return a;
}

IpAddress IpAddress::v6(const uint8_t* sixteen_bytes) {
  IpAddress a;
  a.family = IpFamily::v6;
  std::memcpy(a.bytes.data(), sixteen_bytes, 16);
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; longer text than an IPv6 literal is invalid anyway.
  char buf[INET6_ADDRSTRLEN + 1];
  // inet_pton would stop at an embedded NUL and accept "1.2.3.4\0junk".
  if (text.empty() || text.size() >= sizeof(buf) || text.find('\0') != std::string_view::npos)
    return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t raw[16];
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, raw) == 1) return v4(raw);
  } else if (inet_pton(AF_INET6, buf, raw) == 1) {
    return v6(raw);
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == IpFamily::v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  unsigned length = addr->max_prefix();
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    if (length > addr->max_prefix()) return std::nullopt;
  }
  return IpPrefix{*addr, static_cast<uint8_t>(length)}.masked();
}

IpPrefix IpPrefix::masked() const {
  IpPrefix p = *this;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bit = i * 8;
    if (bit >= length) {
      p.address.bytes[i] = 0;
    } else if (bit + 8 > length) {
      p.address.bytes[i] &= static_cast<uint8_t>(0xff00u >> (length - bit));
    }
  }
  return p;
}

bool IpPrefix::contains(const IpAddress& a) const {
  if (a.family != address.family) return false;
  return IpPrefix{a, length}.masked().address == address;
}

std::string IpPrefix::to_string() const {
  return address.to_string() + "/" + std::to_string(length);
}

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto addr = IpAddress::parse(host);
    if (!addr || addr->family != IpFamily::v6) return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // v6 needs brackets
  }
  auto addr = IpAddress::parse(host);
  if (!addr || port.empty() || port.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535) return std::nullopt;
  return Endpoint{*addr, static_cast<uint16_t>(value)};
}

std::string Endpoint::to_string() const {
  if (address.family == IpFamily::v6) return "[" + address.to_string() + "]:" + std::to_string(port);
  return address.to_string() + ":" + std::to_string(port);
}

}  // namespace sluice
