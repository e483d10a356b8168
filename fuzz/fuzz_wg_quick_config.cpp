// parse_wg_quick_config (tunnel/wg_quick_config.h): the config file `sluice up` reads. Checks:
//  - a parsed config is self-consistent, and what `wg setconf` would apply (to_device_change)
//    goes through the UAPI text unchanged (format_uapi_set -> parse_uapi_set), because wg-quick
//    hands the same file to our UAPI socket;
//  - an error names a line that exists and never repeats the value of a PrivateKey or
//    PresharedKey line it complains about (errors are logged).
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

#include "fuzz_support.h"
#include "tunnel/key_value.h"
#include "tunnel/uapi.h"
#include "tunnel/wg_quick_config.h"

using namespace sluice;

namespace {

void check_config(const WgQuickConfig& config) {
  FUZZ_CHECK(config.private_key.has_value());
  if (config.mtu) FUZZ_CHECK(*config.mtu >= 576 && *config.mtu <= 65535);
  for (const InterfaceAddress& a : config.addresses) FUZZ_CHECK(a.prefix_length <= a.address.max_prefix());
  std::set<Key> public_keys;
  for (const ConfigPeer& peer : config.peers) {
    FUZZ_CHECK(public_keys.insert(peer.change.public_key).second);  // duplicates are an error
    FUZZ_CHECK(!(peer.endpoint_host && peer.change.endpoint));
    if (peer.change.endpoint) FUZZ_CHECK(peer.change.endpoint->port == peer.endpoint_port);
    if (peer.change.endpoint || peer.endpoint_host) FUZZ_CHECK(peer.endpoint_port != 0);
    for (const IpPrefix& p : peer.change.allowed_ips) FUZZ_CHECK(p == p.masked());
  }

  const DeviceChange change = to_device_change(config);
  FUZZ_CHECK(change.replace_peers && change.listen_port && change.fwmark);
  FUZZ_CHECK(change.peers.size() == config.peers.size());
  auto back = parse_uapi_set(format_uapi_set(change));
  FUZZ_CHECK(std::holds_alternative<DeviceChange>(back));
  const DeviceChange& c = std::get<DeviceChange>(back);
  FUZZ_CHECK(c.private_key == change.private_key && c.listen_port == change.listen_port &&
             c.fwmark == change.fwmark && c.peers.size() == change.peers.size());
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const PeerChange& a = c.peers[i];
    const PeerChange& b = change.peers[i];
    FUZZ_CHECK(std::tie(a.public_key, a.preshared_key, a.endpoint, a.persistent_keepalive_interval,
                        a.replace_allowed_ips, a.allowed_ips) ==
               std::tie(b.public_key, b.preshared_key, b.endpoint, b.persistent_keepalive_interval,
                        b.replace_allowed_ips, b.allowed_ips));
  }
}

void check_error(const ConfigError& error, std::string_view text) {
  const std::string message = error.to_string();
  unsigned lines = 0;
  text::LineCursor cursor(text.substr(0, 3) == "\xEF\xBB\xBF" ? text.substr(3) : text);
  std::string_view line;
  while (cursor.next(line)) {
    ++lines;
    if (cursor.number() != error.line) continue;
    // The secret on the line the error is about must not be in the message.
    auto content = line.substr(0, line.find('#'));
    auto eq = content.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = text::trim(content.substr(0, eq));
    auto value = text::trim(content.substr(eq + 1));
    // Long and without blanks, so it cannot occur in the message's own wording by chance.
    const bool secret_like = value.size() >= 20 && value.find_first_of(" \t") == std::string_view::npos;
    if ((text::iequals(key, "PrivateKey") || text::iequals(key, "PresharedKey")) && secret_like)
      FUZZ_CHECK(message.find(value) == std::string::npos);
  }
  FUZZ_CHECK(error.line <= lines);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto copy = fuzz::exact_copy({data, size});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());
  auto result = parse_wg_quick_config(text, "fuzz.conf");
  if (auto* error = std::get_if<ConfigError>(&result)) {
    check_error(*error, text);
  } else {
    check_config(std::get<WgQuickConfig>(result));
  }
  return 0;
}
