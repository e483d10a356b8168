#include "tunnel/wg_quick_config.h"

#include <algorithm>
#include <array>
#include <map>

#include "crypto/keys.h"
#include "tunnel/key_value.h"

namespace sluice {

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line != 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

std::string InterfaceAddress::to_string() const {
  return address.to_string() + "/" + std::to_string(prefix_length);
}

namespace {

using text::quoted;

// wg-quick runs these as shell snippets or uses them to program routing tables and to write
// the config back; `sluice up` does neither, and ignoring them silently would leave a tunnel
// that looks configured but lacks its firewall rules or routes.
constexpr std::string_view kWgQuickOnlyMessage =
    "not supported by `sluice up`; use wg-quick with WG_QUICK_USERSPACE_IMPLEMENTATION=sluice";

enum class Section { none, interface, peer };

enum class KeyId {
  private_key,
  listen_port,
  fwmark,
  address,
  dns,
  mtu,
  wg_quick_only,
  public_key,
  preshared_key,
  allowed_ips,
  endpoint,
  persistent_keepalive,
  count
};

struct KeySpec {
  std::string_view name;
  KeyId id;
  Section section;
  bool repeatable;  // lists that accumulate over several lines, as in wg / wg-quick
};

constexpr KeySpec kKeys[] = {
    {"PrivateKey", KeyId::private_key, Section::interface, false},
    {"ListenPort", KeyId::listen_port, Section::interface, false},
    {"FwMark", KeyId::fwmark, Section::interface, false},
    {"Address", KeyId::address, Section::interface, true},
    {"DNS", KeyId::dns, Section::interface, true},
    {"MTU", KeyId::mtu, Section::interface, false},
    {"Table", KeyId::wg_quick_only, Section::interface, true},
    {"PreUp", KeyId::wg_quick_only, Section::interface, true},
    {"PostUp", KeyId::wg_quick_only, Section::interface, true},
    {"PreDown", KeyId::wg_quick_only, Section::interface, true},
    {"PostDown", KeyId::wg_quick_only, Section::interface, true},
    {"SaveConfig", KeyId::wg_quick_only, Section::interface, true},
    {"PublicKey", KeyId::public_key, Section::peer, false},
    {"PresharedKey", KeyId::preshared_key, Section::peer, false},
    {"AllowedIPs", KeyId::allowed_ips, Section::peer, true},
    {"Endpoint", KeyId::endpoint, Section::peer, false},
    {"PersistentKeepalive", KeyId::persistent_keepalive, Section::peer, false},
};

const KeySpec* find_key(std::string_view name) {
  for (const auto& spec : kKeys) {
    if (text::iequals(spec.name, name)) return &spec;
  }
  return nullptr;
}

std::string_view section_name(Section s) { return s == Section::interface ? "[Interface]" : "[Peer]"; }

// 576 is the datagram size every IPv4 host must accept (RFC 791), so no sane tunnel MTU is
// smaller; 65535 is the largest IP packet a TUN device can carry. IPv6 needs 1280, but an
// IPv4-only tunnel may legitimately go below that, so it is not enforced here.
constexpr uint32_t kMinMtu = 576;
constexpr uint32_t kMaxMtu = 65535;

// A DNS name as resolvers and resolv.conf accept it: dot-separated labels of 1-63 letters,
// digits, '-' or '_', at most 253 characters, with an optional root dot at the end.
bool is_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || text::is_digit(c) || c == '-' ||
              c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

// wg-quick's own test for "this DNS entry is an address": digits and dots, or any colon.
bool looks_like_ip(std::string_view s) {
  if (s.find(':') != std::string_view::npos) return true;
  for (char c : s) {
    if (!text::is_digit(c) && c != '.') return false;
  }
  return true;
}

std::optional<InterfaceAddress> parse_interface_address(std::string_view s) {
  auto slash = s.find('/');
  auto address = IpAddress::parse(s.substr(0, slash));
  if (!address) return std::nullopt;
  uint64_t length = address->max_prefix();
  if (slash != std::string_view::npos) {
    auto digits = text::parse_decimal(s.substr(slash + 1), address->max_prefix());
    if (!digits) return std::nullopt;
    length = *digits;
  }
  return InterfaceAddress{*address, static_cast<uint8_t>(length)};
}

// Address and DNS are split the way wg-quick splits them: on commas and on whitespace.
template <typename F>
void for_each_word(std::string_view value, F&& f) {
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ',' || text::is_space(value[i]))) ++i;
    size_t start = i;
    while (i < value.size() && value[i] != ',' && !text::is_space(value[i])) ++i;
    if (i > start) f(value.substr(start, i - start));
  }
}

class ConfigParser {
 public:
  explicit ConfigParser(std::string_view file_name) : file_(file_name) {}

  std::variant<WgQuickConfig, ConfigError> parse(std::string_view text) {
    if (text.size() > kMaxWgQuickConfigBytes) {
      return error_at(0, "", "file is " + std::to_string(text.size()) + " bytes; the limit is " +
                                 std::to_string(kMaxWgQuickConfigBytes));
    }
    // Editors on Windows like to start files with a UTF-8 byte order mark.
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);

    text::LineCursor lines(text);
    std::string_view raw;
    while (lines.next(raw)) {
      line_ = lines.number();
      if (auto e = handle_line(raw)) return *e;
    }
    if (auto e = close_section()) return *e;
    if (interface_line_ == 0) return error_at(0, "", "no [Interface] section");
    if (!config_.private_key) {
      return error_at(interface_line_, "PrivateKey", "the [Interface] section has no PrivateKey");
    }
    return std::move(config_);
  }

 private:
  using MaybeError = std::optional<ConfigError>;

  ConfigError error_at(unsigned line, std::string_view key, std::string message) const {
    return ConfigError{std::string(file_), line, std::string(shown_name(key)), std::move(message)};
  }

  // The key or header as written, if it looks like a name. A line such as
  // "PrivateKey yAnz...Bmk=" splits at the key's own '=', and messages end up in logs, so
  // anything with digits or base64 punctuation, or longer than any name, is not repeated.
  static std::string_view shown_name(std::string_view key) {
    if (key.size() > 32) return {};
    for (char c : key) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ' ' || c == '\t' || c == '[' ||
                c == ']';
      if (!ok) return {};
    }
    return key;
  }
  ConfigError error(std::string_view key, std::string message) const {
    return error_at(line_, key, std::move(message));
  }

  MaybeError handle_line(std::string_view raw) {
    if (raw.size() > kMaxWgQuickConfigLineBytes) {
      return error("", "line is longer than " + std::to_string(kMaxWgQuickConfigLineBytes) +
                           " bytes; split long AllowedIPs lists over several AllowedIPs lines");
    }
    auto line = text::trim(raw.substr(0, raw.find('#')));
    if (line.empty()) return std::nullopt;
    if (text::has_control_char(line)) return error("", "line contains a control character");
    if (line.front() == '[') return handle_section_header(line);

    auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      // The line is not echoed: it may be a key pasted on its own. Its first word is named
      // only when it is one of our key names.
      auto word = line.substr(0, std::min(line.find(' '), line.find('\t')));
      return error(find_key(word) ? word : "", "missing '='; expected `Key = Value` or a section header");
    }
    auto key = text::trim(line.substr(0, eq));
    auto value = text::trim(line.substr(eq + 1));
    if (key.empty()) return error("", "missing key name before '='");
    if (section_ == Section::none) {
      return error(key, "key outside of any section; put it under [Interface] or [Peer]");
    }
    const KeySpec* spec = find_key(key);
    // wg-quick only looks for its script and table keys in [Interface]; elsewhere wg(8) sees
    // them and calls them unknown.
    if (spec != nullptr && spec->id == KeyId::wg_quick_only && section_ != Section::interface) {
      spec = nullptr;
    }
    if (spec == nullptr) {
      return error(key, "unknown key in " + std::string(section_name(section_)) + " section");
    }
    if (spec->section != section_) {
      std::string_view where = spec->section == Section::interface ? "the [Interface] section" : "a [Peer] section";
      return error(key, "belongs in " + std::string(where) + ", not in " + std::string(section_name(section_)));
    }
    if (spec->id == KeyId::wg_quick_only) return error(key, std::string(kWgQuickOnlyMessage));
    auto& seen = seen_on_line_[static_cast<size_t>(spec->id)];
    if (!spec->repeatable && seen != 0) {
      return error(key, "duplicate key; already set on line " + std::to_string(seen));
    }
    seen = line_;
    // wg rejects every empty value; wg-quick's own list keys and MTU treat one as "none".
    bool empty_allowed = spec->id == KeyId::address || spec->id == KeyId::dns || spec->id == KeyId::mtu;
    if (value.empty() && !empty_allowed) return error(key, "missing value after '='");
    return handle_value(spec->id, key, value);
  }

  MaybeError handle_section_header(std::string_view line) {
    if (line.back() != ']') {
      return error(line, "malformed section header; expected [Interface] or [Peer]");
    }
    auto name = text::trim(line.substr(1, line.size() - 2));
    if (auto e = close_section()) return e;
    if (text::iequals(name, "Interface")) {
      if (interface_line_ != 0) {
        return error(line, "more than one [Interface] section; the first is on line " +
                               std::to_string(interface_line_));
      }
      interface_line_ = line_;
      open_section(Section::interface);
      return std::nullopt;
    }
    if (text::iequals(name, "Peer")) {
      config_.peers.emplace_back();
      config_.peers.back().line = line_;
      open_section(Section::peer);
      return std::nullopt;
    }
    return error(line, "unknown section; expected [Interface] or [Peer]");
  }

  void open_section(Section s) {
    section_ = s;
    seen_on_line_.fill(0);
  }

  MaybeError close_section() {
    if (section_ == Section::peer && seen_on_line_[static_cast<size_t>(KeyId::public_key)] == 0) {
      return error_at(config_.peers.back().line, "PublicKey", "the [Peer] section has no PublicKey");
    }
    section_ = Section::none;
    return std::nullopt;
  }

  MaybeError parse_key(std::string_view key, std::string_view value, std::optional<Key>& out) {
    auto parsed = crypto::key_from_base64(value);
    if (!parsed) {
      // The value is never echoed: it may be a private key, and messages end up in logs.
      return error(key, "invalid key (" + std::to_string(value.size()) +
                            " characters); expected 44 characters of base64, as printed by "
                            "`wg genkey`, `wg pubkey` or `wg genpsk`");
    }
    out = *parsed;
    return std::nullopt;
  }

  MaybeError handle_value(KeyId id, std::string_view key, std::string_view value) {
    switch (id) {
      case KeyId::private_key:
        return parse_key(key, value, config_.private_key);
      case KeyId::listen_port: {
        auto port = text::parse_decimal(value, 65535);
        if (!port) return error(key, "invalid port " + quoted(value) + "; expected 0-65535");
        config_.listen_port = static_cast<uint16_t>(*port);
        return std::nullopt;
      }
      case KeyId::fwmark:
        return handle_fwmark(key, value);
      case KeyId::address:
        return handle_address(key, value);
      case KeyId::dns:
        return handle_dns(key, value);
      case KeyId::mtu:
        return handle_mtu(key, value);
      case KeyId::public_key:
        return handle_public_key(key, value);
      case KeyId::preshared_key: {
        std::optional<Key> psk;
        if (auto e = parse_key(key, value, psk)) return e;
        peer().change.preshared_key = psk;
        return std::nullopt;
      }
      case KeyId::allowed_ips:
        return handle_allowed_ips(key, value);
      case KeyId::endpoint:
        return handle_endpoint(key, value);
      case KeyId::persistent_keepalive:
        return handle_keepalive(key, value);
      case KeyId::wg_quick_only:
      case KeyId::count:
        break;
    }
    return error(key, "internal error: unhandled key");
  }

  // As wg(8): "off", decimal, or hexadecimal after a lowercase "0x".
  MaybeError handle_fwmark(std::string_view key, std::string_view value) {
    std::optional<uint64_t> mark;
    if (text::iequals(value, "off")) {
      mark = 0;
    } else if (value.size() > 2 && value.substr(0, 2) == "0x") {
      mark = text::parse_hex(value.substr(2), UINT32_MAX);
    } else {
      mark = text::parse_decimal(value, UINT32_MAX);
    }
    if (!mark) {
      return error(key, "invalid fwmark " + quoted(value) +
                            "; expected \"off\" or 0-4294967295 (decimal, or hex after 0x)");
    }
    config_.fwmark = static_cast<uint32_t>(*mark);
    return std::nullopt;
  }

  MaybeError handle_address(std::string_view key, std::string_view value) {
    MaybeError result;
    for_each_word(value, [&](std::string_view word) {
      if (result) return;
      auto address = parse_interface_address(word);
      if (!address) {
        result = error(key, "invalid address " + quoted(word) +
                                "; expected an IP address with an optional /prefix-length");
        return;
      }
      config_.addresses.push_back(*address);
    });
    return result;
  }

  MaybeError handle_dns(std::string_view key, std::string_view value) {
    MaybeError result;
    for_each_word(value, [&](std::string_view word) {
      if (result) return;
      if (auto address = IpAddress::parse(word)) {
        config_.dns_servers.push_back(*address);
      } else if (looks_like_ip(word)) {
        result = error(key, "invalid DNS server address " + quoted(word));
      } else if (!is_dns_name(word)) {
        result = error(key, "invalid DNS search domain " + quoted(word));
      } else {
        config_.dns_search.emplace_back(word);
      }
    });
    return result;
  }

  MaybeError handle_mtu(std::string_view key, std::string_view value) {
    if (value.empty()) return std::nullopt;  // wg-quick: empty means "choose automatically"
    auto mtu = text::parse_decimal(value, UINT32_MAX);
    if (!mtu || *mtu < kMinMtu || *mtu > kMaxMtu) {
      return error(key, "invalid MTU " + quoted(value) + "; expected " + std::to_string(kMinMtu) +
                            "-" + std::to_string(kMaxMtu));
    }
    config_.mtu = static_cast<uint32_t>(*mtu);
    return std::nullopt;
  }

  ConfigPeer& peer() { return config_.peers.back(); }

  MaybeError handle_public_key(std::string_view key, std::string_view value) {
    std::optional<Key> public_key;
    if (auto e = parse_key(key, value, public_key)) return e;
    auto [it, inserted] = public_key_lines_.emplace(*public_key, line_);
    if (!inserted) {
      return error(key, "duplicate peer; this PublicKey is already used on line " +
                            std::to_string(it->second));
    }
    peer().change.public_key = *public_key;
    return std::nullopt;
  }

  // As wg(8): a comma-separated list; an entry without "/N" is a host route; host bits are
  // cleared. Unlike wg, whitespace inside an entry is an error rather than silently dropped.
  MaybeError handle_allowed_ips(std::string_view key, std::string_view value) {
    while (true) {
      auto comma = value.find(',');
      auto entry = text::trim(value.substr(0, comma));
      auto prefix = IpPrefix::parse(entry);
      if (!prefix) {
        return error(key, "invalid AllowedIPs entry " + quoted(entry) +
                              "; expected an IP address with an optional /prefix-length");
      }
      peer().change.allowed_ips.push_back(*prefix);
      if (comma == std::string_view::npos) return std::nullopt;
      value = value.substr(comma + 1);
    }
  }

  // "1.2.3.4:51820", "[2001:db8::1]:51820" or "host.example:51820".
  MaybeError handle_endpoint(std::string_view key, std::string_view value) {
    std::string_view host, port_text;
    bool bracketed = value.front() == '[';
    if (bracketed) {
      auto close = value.find(']');
      if (close == std::string_view::npos) {
        return error(key, "invalid endpoint " + quoted(value) + "; missing ']'");
      }
      host = value.substr(1, close - 1);
      auto after = value.substr(close + 1);
      if (after.empty() || after.front() != ':') {
        return error(key, "invalid endpoint " + quoted(value) + "; expected :port after ']'");
      }
      port_text = after.substr(1);
    } else {
      auto colon = value.rfind(':');
      if (colon == std::string_view::npos) {
        return error(key, "invalid endpoint " + quoted(value) + "; expected HOST:PORT");
      }
      host = value.substr(0, colon);
      port_text = value.substr(colon + 1);
      if (host.find(':') != std::string_view::npos) {
        return error(key, "invalid endpoint " + quoted(value) +
                              "; an IPv6 address needs brackets, as in [2001:db8::1]:51820");
      }
    }
    auto port = text::parse_decimal(port_text, 65535);
    if (!port || *port == 0) {
      return error(key, "invalid endpoint port " + quoted(port_text) + "; expected 1-65535");
    }
    auto address = IpAddress::parse(host);
    if (bracketed && (!address || address->family != IpFamily::v6)) {
      return error(key, "invalid endpoint " + quoted(value) +
                            "; brackets must hold an IPv6 address");
    }
    if (!address && looks_like_ip(host)) {
      return error(key, "invalid endpoint address " + quoted(host));
    }
    if (!address && !is_dns_name(host)) {
      return error(key, "invalid endpoint host name " + quoted(host));
    }
    auto& p = peer();
    p.endpoint_port = static_cast<uint16_t>(*port);
    if (address) {
      p.change.endpoint = Endpoint{*address, p.endpoint_port};
    } else {
      p.endpoint_host = std::string(host);
    }
    return std::nullopt;
  }

  MaybeError handle_keepalive(std::string_view key, std::string_view value) {
    std::optional<uint64_t> seconds =
        text::iequals(value, "off") ? std::optional<uint64_t>(0) : text::parse_decimal(value, 65535);
    if (!seconds) {
      return error(key, "invalid PersistentKeepalive " + quoted(value) +
                            "; expected \"off\" or 0-65535 seconds");
    }
    peer().change.persistent_keepalive_interval = static_cast<uint16_t>(*seconds);
    return std::nullopt;
  }

  std::string_view file_;
  unsigned line_ = 0;
  Section section_ = Section::none;
  unsigned interface_line_ = 0;
  // Line on which each key was set in the current section; 0 = not yet.
  std::array<unsigned, static_cast<size_t>(KeyId::count)> seen_on_line_{};
  std::map<Key, unsigned> public_key_lines_;
  WgQuickConfig config_;
};

}  // namespace

std::variant<WgQuickConfig, ConfigError> parse_wg_quick_config(std::string_view text,
                                                               std::string_view file_name) {
  return ConfigParser(file_name).parse(text);
}

DeviceChange to_device_change(const WgQuickConfig& config) {
  DeviceChange change;
  change.private_key = config.private_key;
  change.listen_port = config.listen_port.value_or(0);
  change.fwmark = config.fwmark.value_or(0);
  change.replace_peers = true;
  change.peers.reserve(config.peers.size());
  for (const auto& peer : config.peers) {
    change.peers.push_back(peer.change);
    change.peers.back().replace_allowed_ips = true;
  }
  return change;
}

}  // namespace sluice
