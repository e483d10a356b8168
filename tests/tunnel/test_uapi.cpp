#include <catch2/catch.hpp>

#include <cctype>
#include <cerrno>
#include <climits>
#include <string>

#include "crypto/keys.h"
#include "tunnel/key_value.h"
#include "tunnel/uapi.h"
#include "tunnel/uapi_framer.h"
#include "tunnel/uapi_values.h"

using namespace sluice;

namespace {

constexpr const char* kPrivateHex = "c809f3e5317e9575c9b5ed78b638b7ce530dabe85ddab614220241801ddf0669";
constexpr const char* kPeer1Hex = "c53201039adba14be71f886da1d8dbe9eebded08cb111b75340078999aa9f038";
constexpr const char* kPeer2Hex = "4eb32f4a83f88d842563a448cc181bb2c42a637bf12363e2fb2ef594e5965d7d";
constexpr const char* kPskHex = "a1a2157d0dfd8422b1d97d71b3ab6ce409384146776b2d603d819e0c8458bbd9";
const std::string kZeroHex(64, '0');

Key hex(const std::string& text) {
  auto key = crypto::key_from_hex(text);
  REQUIRE(key);
  return *key;
}

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

IpPrefix prefix(const char* text) {
  auto p = IpPrefix::parse(text);
  REQUIRE(p);
  return *p;
}

DeviceChange set_ok(const std::string& body) {
  auto result = parse_uapi_set(body);
  if (auto* e = std::get_if<UapiError>(&result)) FAIL("errno " << e->errno_value << ": " << e->message);
  return std::get<DeviceChange>(std::move(result));
}

UapiError set_error(const std::string& body) {
  auto result = parse_uapi_set(body);
  REQUIRE(std::holds_alternative<UapiError>(result));
  return std::get<UapiError>(std::move(result));
}

std::string peer(const char* public_key_hex, const std::string& lines = "") {
  return std::string("public_key=") + public_key_hex + "\n" + lines;
}

}  // namespace

TEST_CASE("uapi set: a full request as wg(8) sends it", "[uapi]") {
  auto change = set_ok(std::string("private_key=") + kPrivateHex +
                       "\nlisten_port=51820\nfwmark=4294967295\nreplace_peers=true\n" +
                       peer(kPeer1Hex, "update_only=true\n") +
                       peer(kPeer2Hex, std::string("preshared_key=") + kPskHex +
                                           "\nendpoint=[2001:db8::1]:51820\npersistent_keepalive_interval=25\n"
                                           "replace_allowed_ips=true\nallowed_ip=10.0.0.77/24\nallowed_ip=fd00::/64\n"
                                           "allowed_ip=::ffff:10.1.2.3/128\nallowed_ip=0.0.0.0/0\nprotocol_version=1\n") +
                       peer(kZeroHex.c_str(), "remove=true\n"));
  CHECK(change.private_key == hex(kPrivateHex));
  CHECK(change.listen_port == 51820);
  CHECK(change.fwmark == 4294967295u);
  CHECK(change.replace_peers);
  REQUIRE(change.peers.size() == 3);

  const auto& p1 = change.peers[0];
  CHECK(p1.public_key == hex(kPeer1Hex));
  CHECK(p1.update_only);
  CHECK_FALSE(p1.remove);
  CHECK_FALSE(p1.preshared_key);
  CHECK_FALSE(p1.endpoint);
  CHECK_FALSE(p1.persistent_keepalive_interval);
  CHECK(p1.allowed_ips.empty());

  const auto& p2 = change.peers[1];
  CHECK(p2.preshared_key == hex(kPskHex));
  CHECK(p2.endpoint == Endpoint{ip("2001:db8::1"), 51820});
  CHECK(p2.persistent_keepalive_interval == 25);
  CHECK(p2.replace_allowed_ips);
  CHECK(p2.allowed_ips == std::vector<IpPrefix>{prefix("10.0.0.0/24"), prefix("fd00::/64"),
                                                prefix("::ffff:10.1.2.3/128"), prefix("0.0.0.0/0")});

  const auto& p3 = change.peers[2];
  CHECK(p3.public_key == Key{});
  CHECK(p3.remove);
}

TEST_CASE("uapi set: an empty request changes nothing", "[uapi]") {
  for (const char* body : {"", "\n", "\r\n"}) {
    auto change = set_ok(body);
    CHECK_FALSE(change.private_key);
    CHECK_FALSE(change.listen_port);
    CHECK_FALSE(change.fwmark);
    CHECK_FALSE(change.replace_peers);
    CHECK(change.peers.empty());
  }
}

TEST_CASE("uapi set: values at their bounds", "[uapi]") {
  auto change = set_ok("private_key=" + kZeroHex + "\nlisten_port=0\nfwmark=0\n" +
                       peer(kPeer1Hex, "preshared_key=" + kZeroHex +
                                           "\npersistent_keepalive_interval=0\nendpoint=0.0.0.0:0\n"));
  CHECK(change.private_key == Key{});  // all zeros: remove the private key
  CHECK(change.listen_port == 0);
  CHECK(change.fwmark == 0u);
  CHECK(change.peers[0].preshared_key == Key{});
  CHECK(change.peers[0].persistent_keepalive_interval == 0);

  change = set_ok("listen_port=65535\nfwmark=4294967295\n" +
                  peer(kPeer1Hex, "persistent_keepalive_interval=65535\nendpoint=255.255.255.255:65535\n"));
  CHECK(change.listen_port == 65535);
  CHECK(change.peers[0].persistent_keepalive_interval == 65535);

  // Go's strconv.ParseUint takes leading zeros, and so does wireguard-go.
  change = set_ok("listen_port=0051820\n" + peer(kPeer1Hex, "endpoint=1.2.3.4:00051820\n"));
  CHECK(change.listen_port == 51820);
  CHECK(change.peers[0].endpoint->port == 51820);
}

TEST_CASE("uapi set: hex keys in either case", "[uapi]") {
  std::string upper = kPeer1Hex;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto change = set_ok(peer(upper.c_str()));
  CHECK(change.peers[0].public_key == hex(kPeer1Hex));
}

TEST_CASE("uapi set: CRLF line endings, as Go's bufio.Scanner allows", "[uapi]") {
  auto change = set_ok(std::string("listen_port=1\r\n") + "public_key=" + kPeer1Hex + "\r\nallowed_ip=10.0.0.0/8\r\n\r\n");
  CHECK(change.listen_port == 1);
  REQUIRE(change.peers.size() == 1);
  CHECK(change.peers[0].allowed_ips.size() == 1);
  // Only one '\r' is dropped.
  CHECK(set_error("listen_port=1\r\r\n").errno_value == EINVAL);
}

TEST_CASE("uapi set: order matters as wireguard-go applies line by line", "[uapi]") {
  SECTION("replace_allowed_ips drops the section's earlier allowed_ip lines") {
    auto change = set_ok(peer(kPeer1Hex, "allowed_ip=10.0.0.0/8\nreplace_allowed_ips=true\nallowed_ip=10.1.0.0/16\n"));
    CHECK(change.peers[0].replace_allowed_ips);
    CHECK(change.peers[0].allowed_ips == std::vector<IpPrefix>{prefix("10.1.0.0/16")});
  }
  SECTION("the same peer in two sections stays two changes, in order") {
    auto change = set_ok(peer(kPeer1Hex, "allowed_ip=10.0.0.0/8\n") + peer(kPeer2Hex) +
                         peer(kPeer1Hex, "remove=true\n"));
    REQUIRE(change.peers.size() == 3);
    CHECK(change.peers[0].public_key == change.peers[2].public_key);
    CHECK_FALSE(change.peers[0].remove);
    CHECK(change.peers[2].remove);
  }
  SECTION("repeated keys: the last wins") {
    auto change = set_ok("listen_port=1\nlisten_port=2\n" +
                         peer(kPeer1Hex, "endpoint=1.1.1.1:1\nendpoint=2.2.2.2:2\npersistent_keepalive_interval=5\n"
                                         "persistent_keepalive_interval=6\n"));
    CHECK(change.listen_port == 2);
    CHECK(change.peers[0].endpoint == Endpoint{ip("2.2.2.2"), 2});
    CHECK(change.peers[0].persistent_keepalive_interval == 6);
  }
  SECTION("lines after remove=true are still validated") {
    auto e = set_error(peer(kPeer1Hex, "remove=true\nallowed_ip=bogus\n"));
    CHECK(e.errno_value == EINVAL);
  }
}

TEST_CASE("uapi set: malformed requests give wireguard-go's errno and a specific message", "[uapi]") {
  struct Case {
    std::string body;
    int errno_value;
    std::string message;
  };
  const std::string p1 = peer(kPeer1Hex);
  for (const auto& c : std::vector<Case>{
           // Lines without '=' are protocol errors (IpcErrorProtocol).
           {"listen_port\n", EPROTO, "failed to parse line 1 \"listen_port\": expected key=value"},
           {p1 + "remove\n", EPROTO, "failed to parse line 2 \"remove\": expected key=value"},
           {"private_key" + std::string(kPrivateHex) + "\n", EPROTO, "failed to parse line 1: expected key=value"},
           {"listen_port 1\n", EPROTO, "failed to parse line 1: expected key=value"},
           {"listen_port=1\n\nfwmark=1\n", EPROTO, "unexpected data after the blank line that ends a set request"},
           // Unknown keys, and keys in the wrong part of the request.
           {"foo=bar\n", EINVAL, "invalid UAPI device key: \"foo\""},
           {"=1\n", EINVAL, "invalid UAPI device key: \"\""},
           {"Listen_Port=1\n", EINVAL, "invalid UAPI device key: \"Listen_Port\""},
           {"listen_port =1\n", EINVAL, "invalid UAPI device key: \"listen_port \""},
           {"allowed_ip=10.0.0.0/8\n", EINVAL,
            "invalid UAPI device key: \"allowed_ip\"; peer keys must follow a public_key line"},
           {"remove=true\n", EINVAL, "invalid UAPI device key: \"remove\"; peer keys must follow a public_key line"},
           {p1 + "listen_port=1\n", EINVAL,
            "invalid UAPI peer key: \"listen_port\"; device keys must come before the first public_key"},
           {p1 + "replace_peers=true\n", EINVAL,
            "invalid UAPI peer key: \"replace_peers\"; device keys must come before the first public_key"},
           {p1 + "last_handshake_time_sec=0\n", EINVAL, "invalid UAPI peer key: \"last_handshake_time_sec\""},
           {p1 + "bad\x01key=1\n", EINVAL, "invalid UAPI peer key: \"bad\\x01key\""},
           // Device values.
           {"private_key=00\n", EINVAL, "invalid private_key: expected 64 hex digits, got a value of 2 characters"},
           {"private_key=" + std::string(64, 'g') + "\n", EINVAL,
            "invalid private_key: expected 64 hex digits, got a value of 64 characters"},
           {"private_key=\n", EINVAL, "invalid private_key: expected 64 hex digits, got a value of 0 characters"},
           {"listen_port=65536\n", EINVAL, "invalid listen_port \"65536\": expected an integer 0-65535"},
           {"listen_port=-1\n", EINVAL, "invalid listen_port \"-1\": expected an integer 0-65535"},
           {"listen_port=+1\n", EINVAL, "invalid listen_port \"+1\": expected an integer 0-65535"},
           {"listen_port= 1\n", EINVAL, "invalid listen_port \" 1\": expected an integer 0-65535"},
           {"listen_port=\n", EINVAL, "invalid listen_port \"\": expected an integer 0-65535"},
           {"fwmark=0x10\n", EINVAL, "invalid fwmark \"0x10\": expected an integer 0-4294967295"},
           {"fwmark=4294967296\n", EINVAL, "invalid fwmark \"4294967296\": expected an integer 0-4294967295"},
           {"fwmark=off\n", EINVAL, "invalid fwmark \"off\": expected an integer 0-4294967295"},
           {"replace_peers=false\n", EINVAL, "invalid replace_peers \"false\": the only accepted value is \"true\""},
           {"replace_peers=TRUE\n", EINVAL, "invalid replace_peers \"TRUE\": the only accepted value is \"true\""},
           // Peer values.
           {"public_key=abc\n", EINVAL, "invalid public_key: expected 64 hex digits, got \"abc\""},
           {"public_key=" + std::string(kPeer1Hex) + "0\n", EINVAL,
            "invalid public_key: expected 64 hex digits, got \"" + std::string(kPeer1Hex).substr(0, 64) + "...\""},
           {p1 + "preshared_key=xyz\n", EINVAL,
            "invalid preshared_key: expected 64 hex digits, got a value of 3 characters"},
           {p1 + "update_only=false\n", EINVAL, "invalid update_only \"false\": the only accepted value is \"true\""},
           {p1 + "remove=1\n", EINVAL, "invalid remove \"1\": the only accepted value is \"true\""},
           {p1 + "replace_allowed_ips=yes\n", EINVAL,
            "invalid replace_allowed_ips \"yes\": the only accepted value is \"true\""},
           {p1 + "persistent_keepalive_interval=65536\n", EINVAL,
            "invalid persistent_keepalive_interval \"65536\": expected an integer 0-65535"},
           {p1 + "protocol_version=2\n", EINVAL, "unsupported protocol_version \"2\": only 1 is known"},
           {p1 + "protocol_version=\n", EINVAL, "unsupported protocol_version \"\": only 1 is known"},
       }) {
    INFO(c.body);
    auto e = set_error(c.body);
    CHECK(e.errno_value == c.errno_value);
    CHECK(e.message == c.message);
  }
}

TEST_CASE("uapi set: endpoints are literal addresses, as netip.ParseAddrPort reads them", "[uapi]") {
  for (const char* bad : {"example.com:51820", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "[1.2.3.4]:1",
                          "::1:51820", "[::1]", "[::1]:", "[fe80::1%eth0]:1", "1.2.3.256:1", " 1.2.3.4:1",
                          "1.2.3.4:1 ", "[::1]:1x", "01.2.3.4:1"}) {
    INFO(bad);
    auto e = set_error(peer(kPeer1Hex, std::string("endpoint=") + bad + "\n"));
    CHECK(e.errno_value == EINVAL);
    CHECK(e.message == "invalid endpoint " + text::quoted(bad) +
                           ": expected IPv4:port or [IPv6]:port with a literal address");
  }
  // An embedded NUL must not let inet_pton accept the text before it.
  const char with_nul[] = "endpoint=1.2.3.4\0:1\n";
  auto e = set_error(peer(kPeer1Hex, std::string(with_nul, sizeof(with_nul) - 1)));
  CHECK(e.message == "invalid endpoint \"1.2.3.4\\x00:1\": expected IPv4:port or [IPv6]:port with a literal address");
  CHECK(uapi::parse_endpoint("[::ffff:1.2.3.4]:1") == Endpoint{ip("::ffff:1.2.3.4"), 1});
}

TEST_CASE("uapi set: allowed_ip needs a prefix length, as netip.ParsePrefix", "[uapi]") {
  for (const char* bad : {"10.0.0.1", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/+8", "10.0.0.0/-0",
                          "10.0.0.0/ 8", "10.0.0.0 /8", "fe80::%eth0/64", "/8", "bogus/8", "10.0.0.0/8/8"}) {
    INFO(bad);
    auto e = set_error(peer(kPeer1Hex, std::string("allowed_ip=") + bad + "\n"));
    CHECK(e.errno_value == EINVAL);
    CHECK(e.message == "invalid allowed_ip " + text::quoted(bad) + ": expected address/length");
  }
  CHECK(uapi::parse_prefix(std::string_view("10.0.0.0\0/8", 11)) == std::nullopt);
  // Host bits are dropped, as wireguard-go's trie does on insert; leading zeros are fine.
  CHECK(uapi::parse_prefix("10.9.8.7/08") == prefix("10.0.0.0/8"));
  CHECK(uapi::parse_prefix("2001:db8::1/32") == prefix("2001:db8::/32"));
  CHECK(uapi::parse_prefix("0.0.0.0/0") == prefix("0.0.0.0/0"));
}

TEST_CASE("uapi set: the size bound", "[uapi]") {
  std::string body;
  while (body.size() <= kMaxUapiRequestBytes) body += "listen_port=1\n";
  auto e = set_error(body);
  CHECK(e.errno_value == EMSGSIZE);
  CHECK_THAT(e.message, Catch::EndsWith("the limit is 1048576"));
}

TEST_CASE("uapi set: format_uapi_set round trips", "[uapi]") {
  const std::string body = std::string("private_key=") + kPrivateHex +
                           "\nlisten_port=51820\nfwmark=7\nreplace_peers=true\n"
                           "public_key=" + kPeer1Hex + "\nupdate_only=true\n"
                           "preshared_key=" + kPskHex + "\nendpoint=1.2.3.4:5\npersistent_keepalive_interval=0\n"
                           "replace_allowed_ips=true\nallowed_ip=10.0.0.0/8\nallowed_ip=fd00::/8\n"
                           "public_key=" + kPeer2Hex + "\nremove=true\n"
                           "public_key=" + kZeroHex + "\nendpoint=[2001:db8::1]:51820\n";
  auto change = set_ok(body);
  CHECK(format_uapi_set(change) == body);
  CHECK(format_uapi_set(set_ok(format_uapi_set(change))) == body);

  CHECK(format_uapi_set(DeviceChange{}).empty());
  // Non-canonical input comes back canonical.
  CHECK(format_uapi_set(set_ok("listen_port=007\r\n" + peer(kPeer1Hex, "allowed_ip=10.1.2.3/8\n"))) ==
        std::string("listen_port=7\npublic_key=") + kPeer1Hex + "\nallowed_ip=10.0.0.0/8\n");
}

TEST_CASE("uapi get: the exact text wireguard-go writes", "[uapi]") {
  // Captured from wireguard-go 0.0.20220316 after the set request of the first test case.
  const std::string wireguard_go =
      std::string("private_key=") + kPrivateHex +
      "\nlisten_port=51820\nfwmark=4294967295\n"
      "public_key=" + kPeer2Hex + "\npreshared_key=" + kPskHex +
      "\nprotocol_version=1\nendpoint=[2001:db8::1]:51820\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
      "tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n"
      "allowed_ip=::ffff:10.1.2.3/128\nallowed_ip=0.0.0.0/0\n";

  DeviceStatus status;
  status.private_key = hex(kPrivateHex);
  status.listen_port = 51820;
  status.fwmark = 4294967295u;
  PeerStatus p;
  p.public_key = hex(kPeer2Hex);
  p.preshared_key = hex(kPskHex);
  p.endpoint = Endpoint{ip("2001:db8::1"), 51820};
  p.persistent_keepalive_interval = 25;
  p.allowed_ips = {prefix("10.0.0.0/24"), prefix("fd00::/64"), prefix("::ffff:10.1.2.3/128"), prefix("0.0.0.0/0")};
  status.peers.push_back(p);
  CHECK(format_uapi_get(status) == wireguard_go);

  auto parsed = parse_uapi_get(wireguard_go + format_uapi_errno(0));
  REQUIRE(std::holds_alternative<DeviceStatus>(parsed));
  CHECK(format_uapi_get(std::get<DeviceStatus>(parsed)) == wireguard_go);
}

TEST_CASE("uapi get: what is left out, and peers without extras", "[uapi]") {
  DeviceStatus status;
  CHECK(format_uapi_get(status).empty());
  status.private_key = Key{};  // zero: wireguard-go does not print it
  CHECK(format_uapi_get(status).empty());

  PeerStatus p;
  p.public_key = hex(kPeer1Hex);
  p.last_handshake_time_sec = 1700000000;
  p.last_handshake_time_nsec = 999999999;
  p.tx_bytes = UINT64_MAX;
  p.rx_bytes = 1;
  p.endpoint = Endpoint{ip("192.0.2.1"), 1};
  status.peers.push_back(p);
  status.peers.push_back(PeerStatus{});
  CHECK(format_uapi_get(status) ==
        std::string("public_key=") + kPeer1Hex + "\npreshared_key=" + kZeroHex +
            "\nprotocol_version=1\nendpoint=192.0.2.1:1\nlast_handshake_time_sec=1700000000\n"
            "last_handshake_time_nsec=999999999\ntx_bytes=18446744073709551615\nrx_bytes=1\n"
            "persistent_keepalive_interval=0\n"
            "public_key=" + kZeroHex + "\npreshared_key=" + kZeroHex +
            "\nprotocol_version=1\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
            "persistent_keepalive_interval=0\n");

  auto parsed = parse_uapi_get(format_uapi_get(status));
  REQUIRE(std::holds_alternative<DeviceStatus>(parsed));
  const auto& back = std::get<DeviceStatus>(parsed);
  CHECK_FALSE(back.private_key);
  REQUIRE(back.peers.size() == 2);
  CHECK(back.peers[0].tx_bytes == UINT64_MAX);
  CHECK(back.peers[0].last_handshake_time_sec == 1700000000);
  CHECK(back.peers[0].endpoint == p.endpoint);
}

TEST_CASE("uapi get: reading answers", "[uapi]") {
  SECTION("a nonzero errno becomes the error") {
    auto r = parse_uapi_get("errno=-22\n\n");
    REQUIRE(std::holds_alternative<UapiError>(r));
    CHECK(std::get<UapiError>(r).errno_value == EINVAL);
    CHECK(std::get<UapiError>(r).message == "the device answered errno=-22");
    r = parse_uapi_get("errno=71\n");
    CHECK(std::get<UapiError>(r).errno_value == EPROTO);
  }
  SECTION("unknown keys are skipped, as wg(8) does") {
    auto r = parse_uapi_get("listen_port=1\njc=4\n" + peer(kPeer1Hex, "h1=5\nfuture_thing=x\nrx_bytes=3\n") + "errno=0\n\n");
    REQUIRE(std::holds_alternative<DeviceStatus>(r));
    CHECK(std::get<DeviceStatus>(r).listen_port == 1);
    CHECK(std::get<DeviceStatus>(r).peers.at(0).rx_bytes == 3);
  }
  SECTION("malformed answers are EPROTO") {
    for (const std::string& bad :
         {std::string("listen_port\n"), std::string("listen_port=x\n"), std::string("private_key=00\n"),
          std::string("listen_port=1\n\nmore\n"), peer(kPeer1Hex, "tx_bytes=-1\n"), peer(kPeer1Hex, "allowed_ip=10.0.0.0\n"),
          peer(kPeer1Hex, "endpoint=host:1\n"), peer(kPeer1Hex, "protocol_version=2\n"),
          peer(kPeer1Hex, "last_handshake_time_sec=9223372036854775808\n"), std::string("errno=x\n"),
          std::string("public_key=zz\n")}) {
      INFO(bad);
      auto r = parse_uapi_get(bad);
      REQUIRE(std::holds_alternative<UapiError>(r));
      CHECK(std::get<UapiError>(r).errno_value == EPROTO);
    }
  }
}

TEST_CASE("uapi errno trailer: negative, as wireguard-go writes and wg(8) reads", "[uapi]") {
  CHECK(format_uapi_errno(0) == "errno=0\n\n");
  CHECK(format_uapi_errno(EINVAL) == "errno=-22\n\n");
  CHECK(format_uapi_errno(EPROTO) == "errno=-71\n\n");
  CHECK(format_uapi_errno(EADDRINUSE) == "errno=-98\n\n");
  CHECK(format_uapi_errno(-EINVAL) == "errno=-22\n\n");
  CHECK(format_uapi_errno(INT_MIN) == "errno=-2147483648\n\n");
  CHECK(format_uapi_errno(INT_MAX) == "errno=-2147483647\n\n");
}

namespace {

std::vector<UapiRequest> drain(UapiFramer& framer) {
  std::vector<UapiRequest> out;
  while (auto r = framer.next()) out.push_back(std::move(*r));
  return out;
}

std::string set_body(const UapiRequest& r) {
  REQUIRE(std::holds_alternative<UapiSetRequest>(r));
  return std::get<UapiSetRequest>(r).body;
}

// Feeds `stream` whole, or one byte per call.
void feed(UapiFramer& framer, std::string_view stream, bool bytewise) {
  if (!bytewise) return framer.feed(stream);
  for (char c : stream) framer.feed(std::string_view(&c, 1));
}

}  // namespace

TEST_CASE("uapi framer: Sluice's stats request, byte by byte too", "[uapi][framer]") {
  for (const bool bytewise : {false, true}) {
    UapiFramer framer;
    const std::string stream = "stats=1\n\nset=1\n\nstats=1\nx";
    feed(framer, stream, bytewise);
    auto requests = drain(framer);
    REQUIRE(requests.size() == 3);
    CHECK(std::holds_alternative<UapiStatsRequest>(requests[0]));
    CHECK(set_body(requests[1]).empty());
    REQUIRE(std::holds_alternative<UapiError>(requests[2]));
    CHECK(std::get<UapiError>(requests[2]).errno_value == EINVAL);
    CHECK_FALSE(framer.broken());
  }
  UapiFramer framer;
  framer.feed("stat=1\n\n");
  CHECK(framer.broken());
}

TEST_CASE("uapi framer: Sluice's capture request carries a body like set", "[uapi][framer]") {
  for (const bool bytewise : {false, true}) {
    UapiFramer framer;
    const std::string stream = "capture=1\npath=/tmp/x.pcap\nmax_bytes=100\n\ncapture=1\n\nset=1\n\n";
    feed(framer, stream, bytewise);
    auto requests = drain(framer);
    REQUIRE(requests.size() == 3);
    REQUIRE(std::holds_alternative<UapiCaptureRequest>(requests[0]));
    CHECK(std::get<UapiCaptureRequest>(requests[0]).body == "path=/tmp/x.pcap\nmax_bytes=100\n");
    REQUIRE(std::holds_alternative<UapiCaptureRequest>(requests[1]));
    CHECK(std::get<UapiCaptureRequest>(requests[1]).body.empty());
    CHECK(set_body(requests[2]).empty());
  }
  UapiFramer framer;
  framer.feed("capturex=1\n\n");
  CHECK(framer.broken());
}

TEST_CASE("uapi framer: get and set requests", "[uapi][framer]") {
  UapiFramer framer;
  framer.feed("get=1\n\nset=1\nlisten_port=1\npublic_key=" + std::string(kPeer1Hex) + "\n\nget=1\n\n");
  auto requests = drain(framer);
  REQUIRE(requests.size() == 3);
  CHECK(std::holds_alternative<UapiGetRequest>(requests[0]));
  CHECK(set_body(requests[1]) == "listen_port=1\npublic_key=" + std::string(kPeer1Hex) + "\n");
  CHECK(std::holds_alternative<UapiGetRequest>(requests[2]));
  CHECK_FALSE(framer.broken());

  // An empty set is a request too; the body then is empty.
  framer.feed("set=1\n\n");
  requests = drain(framer);
  REQUIRE(requests.size() == 1);
  CHECK(set_body(requests[0]).empty());
  CHECK(std::holds_alternative<DeviceChange>(parse_uapi_set("")));
}

TEST_CASE("uapi framer: requests split at every byte", "[uapi][framer]") {
  const std::string stream = "set=1\r\nlisten_port=1\r\n\r\n";  // "set=1\r\n" is not an operation
  const std::string good = "set=1\nlisten_port=1\r\nfwmark=2\n\r\nget=1\n\nset=1\nreplace_peers=true\n\n";
  UapiFramer framer;
  std::vector<UapiRequest> requests;
  for (char c : good) {
    framer.feed(std::string_view(&c, 1));
    for (auto& r : drain(framer)) requests.push_back(std::move(r));
  }
  REQUIRE(requests.size() == 3);
  CHECK(set_body(requests[0]) == "listen_port=1\r\nfwmark=2\n");
  CHECK(std::holds_alternative<UapiGetRequest>(requests[1]));
  CHECK(set_body(requests[2]) == "replace_peers=true\n");
  auto change = std::get<DeviceChange>(parse_uapi_set(set_body(requests[0])));
  CHECK(change.fwmark == 2u);

  UapiFramer crlf;
  crlf.feed(stream);
  CHECK(drain(crlf).empty());
  CHECK(crlf.broken());
}

TEST_CASE("uapi framer: an unknown operation breaks the stream without an answer", "[uapi][framer]") {
  for (const char* bad : {"get=2\n\n", "GET=1\n\n", "hello", "\n", "set=2\n", "get=1 \n"}) {
    INFO(bad);
    UapiFramer framer;
    framer.feed(bad);
    CHECK(drain(framer).empty());
    CHECK(framer.broken());
    CHECK_THAT(framer.broken_reason(), Catch::StartsWith("invalid UAPI operation"));
    framer.feed("get=1\n\n");  // ignored from now on
    CHECK(drain(framer).empty());
  }
  // Refused at the first wrong byte, without waiting for a newline.
  UapiFramer framer;
  framer.feed("ge");
  CHECK_FALSE(framer.broken());
  framer.feed("x");
  CHECK(framer.broken());
  // Requests before the bad one are still delivered.
  UapiFramer mixed;
  mixed.feed("get=1\n\nbogus\n");
  CHECK(drain(mixed).size() == 1);
  CHECK(mixed.broken());
}

TEST_CASE("uapi framer: a stray byte after get=1 is refused with EINVAL, then framing goes on", "[uapi][framer]") {
  UapiFramer framer;
  framer.feed("get=1\nXget=1\n\n");
  auto requests = drain(framer);
  REQUIRE(requests.size() == 2);
  REQUIRE(std::holds_alternative<UapiError>(requests[0]));
  CHECK(std::get<UapiError>(requests[0]).errno_value == EINVAL);
  CHECK(std::get<UapiError>(requests[0]).message == "trailing character in UAPI get: \"X\"");
  CHECK(std::holds_alternative<UapiGetRequest>(requests[1]));
  CHECK_FALSE(framer.broken());
}

TEST_CASE("uapi framer: requests are bounded", "[uapi][framer]") {
  SECTION("an incomplete request that grows too large") {
    UapiFramer framer;
    framer.feed("get=1\n\nset=1\n");
    const std::string chunk(64 * 1024, 'a');
    for (size_t fed = 0; fed <= kMaxUapiRequestBytes; fed += chunk.size()) framer.feed(chunk);
    auto requests = drain(framer);
    REQUIRE(requests.size() == 2);
    CHECK(std::holds_alternative<UapiGetRequest>(requests[0]));
    REQUIRE(std::holds_alternative<UapiError>(requests[1]));
    CHECK(std::get<UapiError>(requests[1]).errno_value == EMSGSIZE);
    CHECK(framer.broken());
    CHECK(framer.broken_reason() == "request larger than 1048576 bytes");
  }
  SECTION("a complete request that is too large, fed at once") {
    std::string big = "set=1\n";
    while (big.size() <= kMaxUapiRequestBytes) big += "listen_port=1\n";
    UapiFramer framer;
    framer.feed(big + "\nget=1\n\n");
    auto requests = drain(framer);
    REQUIRE(requests.size() == 2);
    CHECK(std::get<UapiError>(requests[0]).errno_value == EMSGSIZE);
    CHECK(std::holds_alternative<UapiGetRequest>(requests[1]));
    CHECK_FALSE(framer.broken());
  }
  SECTION("a request just under the bound") {
    std::string body;
    while (body.size() + 100 < kMaxUapiRequestBytes) body += "listen_port=1\n";
    UapiFramer framer;
    framer.feed("set=1\n" + body + "\n");
    auto requests = drain(framer);
    REQUIRE(requests.size() == 1);
    CHECK(set_body(requests[0]) == body);
    CHECK(std::holds_alternative<DeviceChange>(parse_uapi_set(body)));
  }
}

TEST_CASE("text primitives", "[uapi][text]") {
  CHECK(text::parse_decimal("0", 0) == 0u);
  CHECK(text::parse_decimal("1", 0) == std::nullopt);
  CHECK(text::parse_decimal("18446744073709551615", UINT64_MAX) == UINT64_MAX);
  CHECK(text::parse_decimal("18446744073709551616", UINT64_MAX) == std::nullopt);
  CHECK(text::parse_decimal("99999999999999999999999", UINT64_MAX) == std::nullopt);
  CHECK(text::parse_decimal("000000000000000000000000042", 42) == 42u);
  CHECK(text::parse_decimal("43", 42) == std::nullopt);
  CHECK(text::parse_decimal("", 42) == std::nullopt);
  CHECK(text::parse_hex("ffffffff", UINT32_MAX) == 0xffffffffu);
  CHECK(text::parse_hex("100000000", UINT32_MAX) == std::nullopt);
  CHECK(text::parse_hex("fg", UINT32_MAX) == std::nullopt);
  CHECK(text::quoted("a\"b\\c\n\xff") == "\"a\\\"b\\\\c\\x0a\\xff\"");
  CHECK(text::quoted(std::string(100, 'x'), 4) == "\"xxxx...\"");
  CHECK(text::trim(" \t\r\n\v\fa b\r\n") == "a b");
  CHECK(text::iequals("AllowedIPs", "allowedips"));
  CHECK_FALSE(text::iequals("AllowedIP", "allowedips"));

  text::LineCursor lines("a\n\nb\r\nc");
  std::string_view line;
  std::vector<std::string> seen;
  while (lines.next(line)) seen.emplace_back(line);
  CHECK(seen == std::vector<std::string>{"a", "", "b\r", "c"});
  CHECK(lines.number() == 4);
}
