// The UAPI set=1 parser (tunnel/uapi.h) and the framer that cuts a socket's byte stream into
// requests (tunnel/uapi_framer.h), on the same text:
//  - parse_uapi_set(input): on success the DeviceChange must be self-consistent and survive
//    format_uapi_set -> parse_uapi_set unchanged, as uapi.h promises;
//  - the framer is fed the input in chunks of pseudo-random sizes (derived from the input, so a
//    crash replays) and must produce exactly what feeding it all at once produces: a socket
//    may deliver a request in any number of reads. Each framed set body is parsed as above.
#include <string>
#include <string_view>
#include <tuple>
#include <variant>
#include <vector>

#include "fuzz_support.h"
#include "tunnel/uapi.h"
#include "tunnel/uapi_framer.h"

using namespace sluice;

namespace {

bool same_peer(const PeerChange& a, const PeerChange& b) {
  return std::tie(a.public_key, a.remove, a.update_only, a.replace_allowed_ips, a.preshared_key, a.endpoint,
                  a.persistent_keepalive_interval, a.allowed_ips) ==
         std::tie(b.public_key, b.remove, b.update_only, b.replace_allowed_ips, b.preshared_key, b.endpoint,
                  b.persistent_keepalive_interval, b.allowed_ips);
}

bool same_change(const DeviceChange& a, const DeviceChange& b) {
  if (std::tie(a.private_key, a.listen_port, a.fwmark, a.replace_peers) !=
          std::tie(b.private_key, b.listen_port, b.fwmark, b.replace_peers) ||
      a.peers.size() != b.peers.size())
    return false;
  for (size_t i = 0; i < a.peers.size(); ++i)
    if (!same_peer(a.peers[i], b.peers[i])) return false;
  return true;
}

void check_set_body(std::string_view body) {
  auto result = parse_uapi_set(body);
  if (auto* error = std::get_if<UapiError>(&result)) {
    FUZZ_CHECK(error->errno_value > 0);
    return;
  }
  const DeviceChange& change = std::get<DeviceChange>(result);
  for (const PeerChange& peer : change.peers) {
    for (const IpPrefix& p : peer.allowed_ips) {
      FUZZ_CHECK(p.length <= p.address.max_prefix());
      FUZZ_CHECK(p == p.masked());
    }
  }
  const std::string formatted = format_uapi_set(change);
  auto again = parse_uapi_set(formatted);
  FUZZ_CHECK(std::holds_alternative<DeviceChange>(again));
  FUZZ_CHECK(same_change(change, std::get<DeviceChange>(again)));
}

// A request as a comparable value: kind, set body, errno.
using Framed = std::tuple<int, std::string, int>;

Framed describe(const UapiRequest& r) {
  if (std::holds_alternative<UapiGetRequest>(r)) return {0, "", 0};
  if (auto* set = std::get_if<UapiSetRequest>(&r)) return {1, set->body, 0};
  if (std::holds_alternative<UapiStatsRequest>(r)) return {3, "", 0};
  if (auto* capture = std::get_if<UapiCaptureRequest>(&r)) return {4, capture->body, 0};
  return {2, "", std::get<UapiError>(r).errno_value};
}

std::vector<Framed> drain(UapiFramer& framer) {
  std::vector<Framed> out;
  while (auto r = framer.next()) out.push_back(describe(*r));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto copy = fuzz::exact_copy({data, size});
  const std::string_view text(reinterpret_cast<const char*>(copy.data()), copy.size());

  check_set_body(text);

  UapiFramer whole;
  whole.feed(text);
  const std::vector<Framed> expected = drain(whole);

  // Chunk sizes 1..64 from an FNV-1a hash of the input.
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : copy) h = (h ^ b) * 0x100000001b3ull;
  UapiFramer chunked;
  std::vector<Framed> got;
  for (size_t at = 0; at < text.size();) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    size_t n = std::min<size_t>(1 + (h >> 58), text.size() - at);
    chunked.feed(text.substr(at, n));
    at += n;
    // Drained as the socket code does, after every read.
    for (auto& f : drain(chunked)) got.push_back(std::move(f));
  }
  FUZZ_CHECK(got == expected);
  FUZZ_CHECK(chunked.broken() == whole.broken());

  for (const Framed& f : expected)
    if (std::get<0>(f) == 1) check_set_body(std::get<1>(f));
  return 0;
}
