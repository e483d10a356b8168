// The set=1 request: parsing (what wg(8) sends us) and formatting (for clients and tests).
#include <cerrno>
#include <string>

#include "crypto/keys.h"
#include "tunnel/key_value.h"
#include "tunnel/uapi.h"
#include "tunnel/uapi_values.h"

namespace sluice {

namespace {

using text::quoted;
using MaybeError = std::optional<UapiError>;

UapiError invalid(std::string message) { return UapiError{EINVAL, std::move(message)}; }

constexpr std::string_view kDeviceKeys[] = {"private_key", "listen_port", "fwmark", "replace_peers"};
constexpr std::string_view kPeerKeys[] = {
    "update_only", "remove",         "preshared_key", "endpoint", "persistent_keepalive_interval",
    "replace_allowed_ips", "allowed_ip", "protocol_version"};

template <size_t N>
bool is_one_of(std::string_view key, const std::string_view (&keys)[N]) {
  for (auto k : keys) {
    if (k == key) return true;
  }
  return false;
}

// wireguard-go accepts exactly "true" for the flag keys; "false" is an error, not a no-op.
MaybeError parse_true(std::string_view key, std::string_view value, bool& flag) {
  if (value != "true") {
    return invalid("invalid " + std::string(key) + " " + quoted(value) +
                   ": the only accepted value is \"true\"");
  }
  flag = true;
  return std::nullopt;
}

MaybeError parse_key(std::string_view key, std::string_view value, Key& out) {
  auto parsed = crypto::key_from_hex(value);
  if (parsed) {
    out = *parsed;
    return std::nullopt;
  }
  // Private and pre-shared keys are secrets, and this message goes to the log: the value is
  // only echoed for public keys.
  std::string got = key == "public_key" ? quoted(value)
                                        : "a value of " + std::to_string(value.size()) + " characters";
  return invalid("invalid " + std::string(key) + ": expected 64 hex digits, got " + got);
}

template <typename T>
MaybeError parse_number(std::string_view key, std::string_view value, uint64_t max, T& out) {
  auto n = text::parse_decimal(value, max);
  if (!n) {
    return invalid("invalid " + std::string(key) + " " + quoted(value) + ": expected an integer 0-" +
                   std::to_string(max));
  }
  out = static_cast<T>(*n);
  return std::nullopt;
}

// Echoing the line could put a key in the log ("private_key<64 hex digits>"), so only a
// line that looks like a bare key name (lowercase letters and '_') is shown.
UapiError no_equals_sign(unsigned number, std::string_view line) {
  bool key_like = !line.empty() && line.size() <= 64;
  for (char c : line) key_like = key_like && ((c >= 'a' && c <= 'z') || c == '_');
  std::string shown = key_like ? " " + quoted(line) : "";
  return UapiError{EPROTO, "failed to parse line " + std::to_string(number) + shown + ": expected key=value"};
}

class SetParser {
 public:
  std::variant<DeviceChange, UapiError> parse(std::string_view body) {
    if (body.size() > kMaxUapiRequestBytes) {
      return UapiError{EMSGSIZE, "set request of " + std::to_string(body.size()) +
                                     " bytes; the limit is " + std::to_string(kMaxUapiRequestBytes)};
    }
    text::LineCursor lines(body);
    std::string_view line;
    while (lines.next(line)) {
      // Go's bufio.Scanner, which wireguard-go reads requests with, drops one '\r' before '\n'.
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) {
        if (!lines.rest().empty()) {
          return UapiError{EPROTO, "unexpected data after the blank line that ends a set request"};
        }
        break;
      }
      auto eq = line.find('=');
      if (eq == std::string_view::npos) return no_equals_sign(lines.number(), line);
      auto key = line.substr(0, eq);
      auto value = line.substr(eq + 1);
      MaybeError e;
      if (key == "public_key") {
        e = start_peer(value);
      } else if (change_.peers.empty()) {
        e = device_line(key, value);
      } else {
        e = peer_line(change_.peers.back(), key, value);
      }
      if (e) return *e;
    }
    return std::move(change_);
  }

 private:
  MaybeError start_peer(std::string_view value) {
    PeerChange peer;
    if (auto e = parse_key("public_key", value, peer.public_key)) return e;
    change_.peers.push_back(std::move(peer));
    return std::nullopt;
  }

  MaybeError device_line(std::string_view key, std::string_view value) {
    if (key == "private_key") {
      Key k;
      if (auto e = parse_key(key, value, k)) return e;
      change_.private_key = k;  // all zeros is accepted: it removes the key
      return std::nullopt;
    }
    if (key == "listen_port") return parse_number(key, value, 65535, change_.listen_port.emplace());
    if (key == "fwmark") return parse_number(key, value, UINT32_MAX, change_.fwmark.emplace());
    if (key == "replace_peers") return parse_true(key, value, change_.replace_peers);
    std::string message = "invalid UAPI device key: " + quoted(key);
    if (is_one_of(key, kPeerKeys)) message += "; peer keys must follow a public_key line";
    return invalid(std::move(message));
  }

  MaybeError peer_line(PeerChange& peer, std::string_view key, std::string_view value) {
    if (key == "update_only") return parse_true(key, value, peer.update_only);
    if (key == "remove") return parse_true(key, value, peer.remove);
    if (key == "preshared_key") {
      Key k;
      if (auto e = parse_key(key, value, k)) return e;
      peer.preshared_key = k;
      return std::nullopt;
    }
    if (key == "endpoint") {
      auto endpoint = uapi::parse_endpoint(value);
      if (!endpoint) {
        return invalid("invalid endpoint " + quoted(value) +
                       ": expected IPv4:port or [IPv6]:port with a literal address");
      }
      peer.endpoint = *endpoint;
      return std::nullopt;
    }
    if (key == "persistent_keepalive_interval") {
      return parse_number(key, value, 65535, peer.persistent_keepalive_interval.emplace());
    }
    if (key == "replace_allowed_ips") {
      // Applied in order by wireguard-go, so it also drops this section's earlier allowed_ip lines.
      peer.allowed_ips.clear();
      return parse_true(key, value, peer.replace_allowed_ips);
    }
    if (key == "allowed_ip") {
      auto prefix = uapi::parse_prefix(value);
      if (!prefix) return invalid("invalid allowed_ip " + quoted(value) + ": expected address/length");
      peer.allowed_ips.push_back(*prefix);
      return std::nullopt;
    }
    if (key == "protocol_version") {
      // wireguard-go answers EINVAL here (IpcErrorInvalid in handlePeerLine), not EPROTO.
      if (value != "1") return invalid("unsupported protocol_version " + quoted(value) + ": only 1 is known");
      return std::nullopt;
    }
    std::string message = "invalid UAPI peer key: " + quoted(key);
    if (is_one_of(key, kDeviceKeys)) message += "; device keys must come before the first public_key";
    return invalid(std::move(message));
  }

  DeviceChange change_;
};

}  // namespace

std::variant<DeviceChange, UapiError> parse_uapi_set(std::string_view body) {
  return SetParser().parse(body);
}

std::string format_uapi_set(const DeviceChange& change) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out.append(key).append("=").append(value).append("\n");
  };
  if (change.private_key) line("private_key", crypto::key_to_hex(*change.private_key));
  if (change.listen_port) line("listen_port", std::to_string(*change.listen_port));
  if (change.fwmark) line("fwmark", std::to_string(*change.fwmark));
  if (change.replace_peers) line("replace_peers", "true");
  for (const auto& peer : change.peers) {
    line("public_key", crypto::key_to_hex(peer.public_key));
    if (peer.update_only) line("update_only", "true");
    if (peer.remove) line("remove", "true");
    if (peer.preshared_key) line("preshared_key", crypto::key_to_hex(*peer.preshared_key));
    if (peer.endpoint) line("endpoint", peer.endpoint->to_string());
    if (peer.persistent_keepalive_interval) {
      line("persistent_keepalive_interval", std::to_string(*peer.persistent_keepalive_interval));
    }
    if (peer.replace_allowed_ips) line("replace_allowed_ips", "true");
    for (const auto& prefix : peer.allowed_ips) line("allowed_ip", prefix.to_string());
  }
  return out;
}

}  // namespace sluice
