// parse_uapi_get (tunnel/uapi.h): how `sluice` reads a device's get=1 answer, which may come
// from any implementation. A parsed status must print (format_uapi_get + the errno trailer, as
// the server writes it) and read back to the same status; a parsed errno must survive
// format_uapi_errno.
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

#include "fuzz_support.h"
#include "tunnel/uapi.h"

using namespace sluice;

namespace {

// The answer cannot tell "no private key" from an all-zero one: both are left out.
std::optional<Key> normal_private(const DeviceStatus& s) {
  if (s.private_key && *s.private_key != Key{}) return s.private_key;
  return std::nullopt;
}

bool same_status(const DeviceStatus& a, const DeviceStatus& b) {
  if (normal_private(a) != normal_private(b) || a.listen_port != b.listen_port || a.fwmark != b.fwmark ||
      a.peers.size() != b.peers.size())
    return false;
  for (size_t i = 0; i < a.peers.size(); ++i) {
    const PeerStatus& p = a.peers[i];
    const PeerStatus& q = b.peers[i];
    if (std::tie(p.public_key, p.preshared_key, p.endpoint, p.last_handshake_time_sec, p.last_handshake_time_nsec,
                 p.tx_bytes, p.rx_bytes, p.persistent_keepalive_interval, p.allowed_ips) !=
        std::tie(q.public_key, q.preshared_key, q.endpoint, q.last_handshake_time_sec, q.last_handshake_time_nsec,
                 q.tx_bytes, q.rx_bytes, q.persistent_keepalive_interval, q.allowed_ips))
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto copy = fuzz::exact_copy({data, size});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());
  auto result = parse_uapi_get(text);
  if (auto* error = std::get_if<UapiError>(&result)) {
    FUZZ_CHECK(error->errno_value > 0);
    // Whatever errno we hold, the trailer we would write for it reads back as that errno.
    auto again = parse_uapi_get(format_uapi_errno(error->errno_value));
    FUZZ_CHECK(std::holds_alternative<UapiError>(again));
    FUZZ_CHECK(std::get<UapiError>(again).errno_value == error->errno_value);
    return 0;
  }
  const DeviceStatus& status = std::get<DeviceStatus>(result);
  for (const PeerStatus& peer : status.peers)
    for (const IpPrefix& p : peer.allowed_ips) FUZZ_CHECK(p == p.masked());

  const std::string answer = format_uapi_get(status) + format_uapi_errno(0);
  auto again = parse_uapi_get(answer);
  FUZZ_CHECK(std::holds_alternative<DeviceStatus>(again));
  FUZZ_CHECK(same_status(status, std::get<DeviceStatus>(again)));
  return 0;
}
