// The get=1 answer and the errno trailer that ends every answer.
#include <cerrno>
#include <cstdint>
#include <string>

#include "crypto/keys.h"
#include "tunnel/key_value.h"
#include "tunnel/uapi.h"
#include "tunnel/uapi_values.h"

namespace sluice {

namespace {

bool is_zero(const Key& key) {
  uint8_t acc = 0;
  for (uint8_t b : key) acc |= b;
  return acc == 0;
}

UapiError malformed(std::string message) { return UapiError{EPROTO, std::move(message)}; }

}  // namespace

std::string format_uapi_get(const DeviceStatus& status) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out.append(key).append("=").append(value).append("\n");
  };
  if (status.private_key && !is_zero(*status.private_key)) {
    line("private_key", crypto::key_to_hex(*status.private_key));
  }
  if (status.listen_port != 0) line("listen_port", std::to_string(status.listen_port));
  if (status.fwmark != 0) line("fwmark", std::to_string(status.fwmark));
  for (const auto& peer : status.peers) {
    line("public_key", crypto::key_to_hex(peer.public_key));
    line("preshared_key", crypto::key_to_hex(peer.preshared_key));
    line("protocol_version", "1");
    if (peer.endpoint) line("endpoint", peer.endpoint->to_string());
    line("last_handshake_time_sec", std::to_string(peer.last_handshake_time_sec));
    line("last_handshake_time_nsec", std::to_string(peer.last_handshake_time_nsec));
    line("tx_bytes", std::to_string(peer.tx_bytes));
    line("rx_bytes", std::to_string(peer.rx_bytes));
    line("persistent_keepalive_interval", std::to_string(peer.persistent_keepalive_interval));
    for (const auto& prefix : peer.allowed_ips) line("allowed_ip", prefix.to_string());
  }
  return out;
}

namespace {

class GetParser {
 public:
  std::variant<DeviceStatus, UapiError> parse(std::string_view answer) {
    if (answer.size() > kMaxUapiRequestBytes) {
      return malformed("get answer of " + std::to_string(answer.size()) + " bytes; the limit is " +
                       std::to_string(kMaxUapiRequestBytes));
    }
    text::LineCursor lines(answer);
    std::string_view line;
    while (lines.next(line)) {
      if (line.empty()) {
        if (!lines.rest().empty()) return malformed("unexpected data after the blank line");
        break;
      }
      auto eq = line.find('=');
      if (eq == std::string_view::npos) {
        return malformed("failed to parse line " + text::quoted(line) + ": expected key=value");
      }
      if (auto e = handle(line.substr(0, eq), line.substr(eq + 1))) return *e;
    }
    return std::move(status_);
  }

 private:
  using MaybeError = std::optional<UapiError>;

  MaybeError bad_value(std::string_view key, std::string_view value) {
    return malformed("invalid " + std::string(key) + " " + text::quoted(value));
  }

  template <typename T>
  MaybeError number(std::string_view key, std::string_view value, uint64_t max, T& out) {
    auto n = text::parse_decimal(value, max);
    if (!n) return bad_value(key, value);
    out = static_cast<T>(*n);
    return std::nullopt;
  }

  MaybeError key(std::string_view key, std::string_view value, Key& out) {
    auto k = crypto::key_from_hex(value);
    if (!k) return malformed("invalid " + std::string(key) + ": expected 64 hex digits");
    out = *k;
    return std::nullopt;
  }

  MaybeError handle(std::string_view k, std::string_view value) {
    if (k == "errno") return handle_errno(value);
    if (k == "public_key") {
      status_.peers.emplace_back();
      return key(k, value, status_.peers.back().public_key);
    }
    if (status_.peers.empty()) {
      if (k == "private_key") return key(k, value, status_.private_key.emplace());
      if (k == "listen_port") return number(k, value, 65535, status_.listen_port);
      if (k == "fwmark") return number(k, value, UINT32_MAX, status_.fwmark);
      return std::nullopt;
    }
    auto& peer = status_.peers.back();
    if (k == "preshared_key") return key(k, value, peer.preshared_key);
    if (k == "protocol_version") return value == "1" ? MaybeError{} : bad_value(k, value);
    if (k == "endpoint") {
      auto endpoint = uapi::parse_endpoint(value);
      if (!endpoint) return bad_value(k, value);
      peer.endpoint = *endpoint;
      return std::nullopt;
    }
    if (k == "last_handshake_time_sec") return number(k, value, INT64_MAX, peer.last_handshake_time_sec);
    if (k == "last_handshake_time_nsec") return number(k, value, INT64_MAX, peer.last_handshake_time_nsec);
    if (k == "tx_bytes") return number(k, value, UINT64_MAX, peer.tx_bytes);
    if (k == "rx_bytes") return number(k, value, UINT64_MAX, peer.rx_bytes);
    if (k == "persistent_keepalive_interval") {
      return number(k, value, 65535, peer.persistent_keepalive_interval);
    }
    if (k == "allowed_ip") {
      auto prefix = uapi::parse_prefix(value);
      if (!prefix) return bad_value(k, value);
      peer.allowed_ips.push_back(*prefix);
      return std::nullopt;
    }
    // Like wg(8), skip what we do not know: forks (e.g. AmneziaWG's jc=) add keys.
    return std::nullopt;
  }

  // wireguard-go sends "errno=-22"; a positive value is accepted too.
  MaybeError handle_errno(std::string_view value) {
    auto digits = value;
    if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
    auto n = text::parse_decimal(digits, INT32_MAX);
    if (!n) return bad_value("errno", value);
    if (*n == 0) return std::nullopt;
    return UapiError{static_cast<int>(*n), "the device answered errno=" + std::string(value)};
  }

  DeviceStatus status_;
};

}  // namespace

std::variant<DeviceStatus, UapiError> parse_uapi_get(std::string_view answer) {
  return GetParser().parse(answer);
}

std::string format_uapi_errno(int errno_value) {
  // Widened first: negating INT_MIN in int would overflow.
  int64_t magnitude = errno_value < 0 ? -static_cast<int64_t>(errno_value) : errno_value;
  return "errno=" + std::to_string(-magnitude) + "\n\n";
}

}  // namespace sluice
