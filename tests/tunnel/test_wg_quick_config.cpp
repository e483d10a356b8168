#include <catch2/catch.hpp>

#include <string>

#include "crypto/keys.h"
#include "tunnel/uapi.h"
#include "tunnel/wg_quick_config.h"

using namespace sluice;

namespace {

// The keys of the example in wg(8).
constexpr const char* kPrivate = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
constexpr const char* kPeer1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
constexpr const char* kPeer2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
constexpr const char* kPeer3 = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
constexpr const char* kPsk = "oaIVfQ39hCKx2X1xs6ts5Ak4QUZ3ay1gPYGeDIRYu9k=";

Key b64(const char* text) {
  auto key = crypto::key_from_base64(text);
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

WgQuickConfig parse_ok(const std::string& text) {
  auto result = parse_wg_quick_config(text, "wg0.conf");
  if (auto* e = std::get_if<ConfigError>(&result)) FAIL(e->to_string());
  return std::get<WgQuickConfig>(std::move(result));
}

ConfigError parse_error(const std::string& text) {
  auto result = parse_wg_quick_config(text, "wg0.conf");
  REQUIRE(std::holds_alternative<ConfigError>(result));
  return std::get<ConfigError>(std::move(result));
}

std::string interface_section() { return std::string("[Interface]\nPrivateKey = ") + kPrivate + "\n"; }

std::string with_peer(const std::string& peer_lines) {
  return interface_section() + "[Peer]\nPublicKey = " + kPeer1 + "\n" + peer_lines;
}

// The error for one bad line placed in [Interface] (line 3) or in a [Peer] (line 5).
ConfigError interface_error(const std::string& line) { return parse_error(interface_section() + line + "\n"); }
ConfigError peer_error(const std::string& line) { return parse_error(with_peer(line + "\n")); }

}  // namespace

TEST_CASE("wg-quick: the example config of wg(8)", "[wg_quick_config]") {
  auto config = parse_ok(std::string(R"([Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 51820

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
Endpoint = 192.95.5.67:1234
AllowedIPs = 10.192.122.3/32, 10.192.124.1/24

[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
Endpoint = [2607:5300:60:6b0::c05f:543]:2468
AllowedIPs = 10.192.122.4/32, 192.168.0.0/16

[Peer]
PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
Endpoint = test.wireguard.com:18981
AllowedIPs = 10.10.10.230/32
)"));
  CHECK(config.private_key == b64(kPrivate));
  CHECK(config.listen_port == 51820);
  CHECK_FALSE(config.fwmark);
  CHECK_FALSE(config.mtu);
  CHECK(config.addresses.empty());
  REQUIRE(config.peers.size() == 3);

  const auto& p1 = config.peers[0];
  CHECK(p1.line == 5);
  CHECK(p1.change.public_key == b64(kPeer1));
  CHECK(p1.change.endpoint == Endpoint{ip("192.95.5.67"), 1234});
  CHECK_FALSE(p1.endpoint_host);
  CHECK(p1.endpoint_port == 1234);
  // Host bits are cleared in AllowedIPs, as the kernel and wireguard-go do.
  CHECK(p1.change.allowed_ips == std::vector<IpPrefix>{prefix("10.192.122.3/32"), prefix("10.192.124.0/24")});
  CHECK_FALSE(p1.change.preshared_key);
  CHECK_FALSE(p1.change.persistent_keepalive_interval);

  const auto& p2 = config.peers[1];
  CHECK(p2.line == 10);
  CHECK(p2.change.endpoint == Endpoint{ip("2607:5300:60:6b0::c05f:543"), 2468});
  CHECK(p2.change.allowed_ips.size() == 2);

  const auto& p3 = config.peers[2];
  CHECK(p3.line == 15);
  CHECK_FALSE(p3.change.endpoint);
  CHECK(p3.endpoint_host == "test.wireguard.com");
  CHECK(p3.endpoint_port == 18981);
}

TEST_CASE("wg-quick: every supported key", "[wg_quick_config]") {
  auto config = parse_ok(std::string(R"(
# A client config using everything `sluice up` understands.
[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
ListenPort = 0
FwMark = 0x1234
Address = 10.0.0.2/24, fd00::2/64
Address = 192.168.7.7
DNS = 1.1.1.1, 2606:4700:4700::1111, corp.example, lan
DNS = 9.9.9.9
MTU = 1420

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
PresharedKey = oaIVfQ39hCKx2X1xs6ts5Ak4QUZ3ay1gPYGeDIRYu9k=
AllowedIPs = 0.0.0.0/0
AllowedIPs = ::/0
Endpoint = vpn.example.com:51820
PersistentKeepalive = 25
)"));
  CHECK(config.listen_port == 0);
  CHECK(config.fwmark == 0x1234);
  REQUIRE(config.addresses.size() == 3);
  CHECK(config.addresses[0] == InterfaceAddress{ip("10.0.0.2"), 24});
  CHECK(config.addresses[1] == InterfaceAddress{ip("fd00::2"), 64});
  CHECK(config.addresses[2] == InterfaceAddress{ip("192.168.7.7"), 32});
  CHECK(config.addresses[0].to_string() == "10.0.0.2/24");
  CHECK(config.dns_servers == std::vector<IpAddress>{ip("1.1.1.1"), ip("2606:4700:4700::1111"), ip("9.9.9.9")});
  CHECK(config.dns_search == std::vector<std::string>{"corp.example", "lan"});
  CHECK(config.mtu == 1420);
  REQUIRE(config.peers.size() == 1);
  const auto& peer = config.peers[0];
  CHECK(peer.change.preshared_key == b64(kPsk));
  CHECK(peer.change.allowed_ips == std::vector<IpPrefix>{prefix("0.0.0.0/0"), prefix("::/0")});
  CHECK(peer.endpoint_host == "vpn.example.com");
  CHECK(peer.endpoint_port == 51820);
  CHECK(peer.change.persistent_keepalive_interval == 25);
}

TEST_CASE("wg-quick: sections and keys are case-insensitive", "[wg_quick_config]") {
  auto config = parse_ok(std::string("[interface]\nprivatekey=") + kPrivate +
                         "\nLISTENPORT=1\nfwMark=off\naddress=10.1.1.1/16\nmtu=1280\ndns=10.1.1.53\n"
                         "[PEER]\npublickey=" + kPeer1 +
                         "\nALLOWEDIPS=10.1.0.0/16\nendpoint=1.2.3.4:5\npersistentkeepalive=OFF\n"
                         "presharedkey=" + kPsk + "\n");
  CHECK(config.listen_port == 1);
  CHECK(config.fwmark == 0);
  CHECK(config.mtu == 1280);
  CHECK(config.addresses.size() == 1);
  CHECK(config.dns_servers.size() == 1);
  REQUIRE(config.peers.size() == 1);
  CHECK(config.peers[0].change.persistent_keepalive_interval == 0);
  CHECK(config.peers[0].change.preshared_key);
}

TEST_CASE("wg-quick: comments, blank lines, whitespace, CRLF and a BOM", "[wg_quick_config]") {
  std::string text = std::string("\xEF\xBB\xBF# leading comment\r\n\r\n") +
                     "  [ Interface ]   # the interface\r\n" +
                     "\tPrivateKey\t=\t" + kPrivate + "   # secret!\r\n" +
                     "ListenPort=51820#no space before the comment\r\n" +
                     "   # indented comment\r\n" +
                     "Address =  10.0.0.1/24 ,fd00::1/64  ,  10.0.1.1/24\r\n" +
                     "[Peer]\r\n" +
                     "PublicKey = " + kPeer1 + "\r\n" +
                     "AllowedIPs = 10.0.0.0/24 ,   fd00::/64,10.9.0.0/16\r\n" +
                     "Endpoint = [::1]:51820";  // no newline at the end
  auto config = parse_ok(text);
  CHECK(config.private_key == b64(kPrivate));
  CHECK(config.listen_port == 51820);
  CHECK(config.addresses.size() == 3);
  REQUIRE(config.peers.size() == 1);
  CHECK(config.peers[0].line == 8);
  CHECK(config.peers[0].change.allowed_ips.size() == 3);
  CHECK(config.peers[0].change.endpoint == Endpoint{ip("::1"), 51820});
}

TEST_CASE("wg-quick: Address and DNS split on commas and whitespace as wg-quick does", "[wg_quick_config]") {
  auto config = parse_ok(interface_section() + "Address = 10.0.0.1/8 10.0.0.2/8,,10.0.0.3\nAddress =\n"
                         "DNS = 1.1.1.1 8.8.8.8,search.example.\nDNS =\n");
  CHECK(config.addresses.size() == 3);
  CHECK(config.addresses[2].prefix_length == 32);
  CHECK(config.dns_servers.size() == 2);
  CHECK(config.dns_search == std::vector<std::string>{"search.example."});
}

TEST_CASE("wg-quick: Address keeps host bits and defaults to a host prefix", "[wg_quick_config]") {
  auto config = parse_ok(interface_section() + "Address = 10.0.0.77/24, 2001:db8::77/48, 2001:db8::1\n");
  REQUIRE(config.addresses.size() == 3);
  CHECK(config.addresses[0].address == ip("10.0.0.77"));
  CHECK(config.addresses[0].prefix_length == 24);
  CHECK(config.addresses[1].address == ip("2001:db8::77"));
  CHECK(config.addresses[1].prefix_length == 48);
  CHECK(config.addresses[2].prefix_length == 128);
}

TEST_CASE("wg-quick: FwMark forms of wg(8)", "[wg_quick_config]") {
  auto fwmark = [](const std::string& value) { return parse_ok(interface_section() + "FwMark = " + value + "\n").fwmark; };
  CHECK(fwmark("off") == 0u);
  CHECK(fwmark("Off") == 0u);
  CHECK(fwmark("0") == 0u);
  CHECK(fwmark("51820") == 51820u);
  CHECK(fwmark("0x1f") == 0x1fu);
  CHECK(fwmark("0xCAFE") == 0xcafeu);
  CHECK(fwmark("4294967295") == 4294967295u);
  CHECK(fwmark("0xffffffff") == 0xffffffffu);
  for (const char* bad : {"4294967296", "0x100000000", "0x", "0X1f", "-1", "+1", "1f", "on", "0x-1", "1 2"}) {
    INFO(bad);
    auto e = interface_error(std::string("FwMark = ") + bad);
    CHECK(e.line == 3);
    CHECK(e.key == "FwMark");
    CHECK_THAT(e.message, Catch::Contains("invalid fwmark"));
  }
}

TEST_CASE("wg-quick: PersistentKeepalive", "[wg_quick_config]") {
  auto keepalive = [](const std::string& value) {
    return parse_ok(with_peer("PersistentKeepalive = " + value + "\n")).peers[0].change.persistent_keepalive_interval;
  };
  CHECK(keepalive("off") == 0);
  CHECK(keepalive("0") == 0);
  CHECK(keepalive("25") == 25);
  CHECK(keepalive("65535") == 65535);
  for (const char* bad : {"65536", "-1", "25s", "0x19", "never"}) {
    INFO(bad);
    auto e = peer_error(std::string("PersistentKeepalive = ") + bad);
    CHECK(e.line == 5);
    CHECK(e.key == "PersistentKeepalive");
    CHECK_THAT(e.message, Catch::Contains("expected \"off\" or 0-65535"));
  }
}

TEST_CASE("wg-quick: MTU bounds", "[wg_quick_config]") {
  CHECK(parse_ok(interface_section() + "MTU = 576\n").mtu == 576u);
  CHECK(parse_ok(interface_section() + "MTU = 65535\n").mtu == 65535u);
  CHECK_FALSE(parse_ok(interface_section() + "MTU =\n").mtu);  // wg-quick: automatic
  for (const char* bad : {"575", "65536", "0", "1420.5", "auto", "99999999999999999999999"}) {
    INFO(bad);
    auto e = interface_error(std::string("MTU = ") + bad);
    CHECK(e.key == "MTU");
    CHECK_THAT(e.message, Catch::Contains("expected 576-65535"));
  }
}

TEST_CASE("wg-quick: ListenPort", "[wg_quick_config]") {
  CHECK(parse_ok(interface_section() + "ListenPort = 65535\n").listen_port == 65535);
  for (const char* bad : {"65536", "-1", "wireguard", "0x10", "5182O"}) {
    INFO(bad);
    auto e = interface_error(std::string("ListenPort = ") + bad);
    CHECK(e.line == 3);
    CHECK(e.key == "ListenPort");
    CHECK(e.message == "invalid port \"" + std::string(bad) + "\"; expected 0-65535");
  }
}

TEST_CASE("wg-quick: DNS sorts addresses from search domains as wg-quick does", "[wg_quick_config]") {
  auto config = parse_ok(interface_section() + "DNS = 10.0.0.53, fd00::53, ::ffff:1.2.3.4, a-b_c.example, x\n");
  CHECK(config.dns_servers.size() == 3);
  CHECK(config.dns_search == std::vector<std::string>{"a-b_c.example", "x"});
  // wg-quick calls anything of digits and dots, or with a colon, an address.
  for (const char* bad : {"1.2.3.256", "1.2.3", "fe80::1%eth0", "::g"}) {
    INFO(bad);
    auto e = interface_error(std::string("DNS = ") + bad);
    CHECK(e.key == "DNS");
    CHECK(e.message == "invalid DNS server address \"" + std::string(bad) + "\"");
  }
  for (const char* bad : {"exa..mple", ".example", "ex!ample", "-\xc3\xa9t\xc3\xa9"}) {
    INFO(bad);
    auto e = interface_error(std::string("DNS = ") + bad);
    CHECK_THAT(e.message, Catch::StartsWith("invalid DNS search domain"));
  }
  auto e = interface_error("DNS = " + std::string(64, 'a') + ".example");
  CHECK_THAT(e.message, Catch::StartsWith("invalid DNS search domain"));  // label over 63
}

TEST_CASE("wg-quick: Endpoint forms", "[wg_quick_config]") {
  auto peer = [](const std::string& value) { return parse_ok(with_peer("Endpoint = " + value + "\n")).peers[0]; };
  CHECK(peer("192.0.2.1:51820").change.endpoint == Endpoint{ip("192.0.2.1"), 51820});
  CHECK(peer("[2001:db8::1]:1").change.endpoint == Endpoint{ip("2001:db8::1"), 1});
  CHECK(peer("[::ffff:192.0.2.1]:65535").change.endpoint == Endpoint{ip("::ffff:192.0.2.1"), 65535});
  auto named = peer("vpn-1.example.org.:443");
  CHECK_FALSE(named.change.endpoint);
  CHECK(named.endpoint_host == "vpn-1.example.org.");
  CHECK(named.endpoint_port == 443);
  CHECK(peer("localhost:1").endpoint_host == "localhost");

  struct Bad {
    const char* value;
    const char* message;
  };
  for (const auto& bad : std::initializer_list<Bad>{
           {"192.0.2.1", "invalid endpoint \"192.0.2.1\"; expected HOST:PORT"},
           {"192.0.2.1:", "invalid endpoint port \"\"; expected 1-65535"},
           {"192.0.2.1:0", "invalid endpoint port \"0\"; expected 1-65535"},
           {"192.0.2.1:65536", "invalid endpoint port \"65536\"; expected 1-65535"},
           {"192.0.2.1:http", "invalid endpoint port \"http\"; expected 1-65535"},
           {"2001:db8::1:51820", "invalid endpoint \"2001:db8::1:51820\"; an IPv6 address needs brackets, as in [2001:db8::1]:51820"},
           {"[2001:db8::1]", "invalid endpoint \"[2001:db8::1]\"; expected :port after ']'"},
           {"[2001:db8::1]51820", "invalid endpoint \"[2001:db8::1]51820\"; expected :port after ']'"},
           {"[2001:db8::1:51820", "invalid endpoint \"[2001:db8::1:51820\"; missing ']'"},
           {"[192.0.2.1]:1", "invalid endpoint \"[192.0.2.1]:1\"; brackets must hold an IPv6 address"},
           {"[fe80::1%eth0]:1", "invalid endpoint \"[fe80::1%eth0]:1\"; brackets must hold an IPv6 address"},
           {"[vpn.example]:1", "invalid endpoint \"[vpn.example]:1\"; brackets must hold an IPv6 address"},
           {"192.0.2.256:1", "invalid endpoint address \"192.0.2.256\""},
           {":1", "invalid endpoint address \"\""},
           {"vpn..example:1", "invalid endpoint host name \"vpn..example\""},
           {"vpn example:1", "invalid endpoint host name \"vpn example\""},
           {"vpn/example:1", "invalid endpoint host name \"vpn/example\""},
       }) {
    INFO(bad.value);
    auto e = peer_error(std::string("Endpoint = ") + bad.value);
    CHECK(e.line == 5);
    CHECK(e.key == "Endpoint");
    CHECK(e.message == bad.message);
  }
}

TEST_CASE("wg-quick: AllowedIPs lists accumulate", "[wg_quick_config]") {
  auto config = parse_ok(with_peer("AllowedIPs = 10.0.0.0/8,fd00::/8\nAllowedIPs = 192.168.1.1, 2001:db8::1\n"
                                   "AllowedIPs = 172.16.99.99/12\n"));
  CHECK(config.peers[0].change.allowed_ips ==
        std::vector<IpPrefix>{prefix("10.0.0.0/8"), prefix("fd00::/8"), prefix("192.168.1.1/32"),
                              prefix("2001:db8::1/128"), prefix("172.16.0.0/12")});
  for (const char* bad : {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/8,",
                          ",10.0.0.0/8", "10.0.0.0/8,,fd00::/8", "10.0.0.0/8 fd00::/8", "+10.0.0.0/8", "host/8",
                          "fe80::%eth0/64"}) {
    INFO(bad);
    auto e = peer_error(std::string("AllowedIPs = ") + bad);
    CHECK(e.line == 5);
    CHECK(e.key == "AllowedIPs");
    CHECK_THAT(e.message, Catch::StartsWith("invalid AllowedIPs entry \""));
    CHECK_THAT(e.message, Catch::EndsWith("; expected an IP address with an optional /prefix-length"));
  }
  CHECK(peer_error("AllowedIPs = 10.0.0.0/8, bogus").message ==
        "invalid AllowedIPs entry \"bogus\"; expected an IP address with an optional /prefix-length");
}

TEST_CASE("wg-quick: keys must be valid base64 and are never echoed", "[wg_quick_config]") {
  std::string almost = kPrivate;
  almost.back() = 'A';  // 44 characters, but no padding
  for (const std::string& bad : {std::string("c809f3e5317e9575c9b5ed78b638b7ce530dabe85ddab614220241801ddf0669"),
                                 std::string(kPrivate).substr(1), almost, std::string(43, 'A') + "*",
                                 std::string(kPrivate) + "="}) {
    INFO(bad);
    auto e = parse_error("[Interface]\nPrivateKey = " + bad + "\n");
    CHECK(e.line == 2);
    CHECK(e.key == "PrivateKey");
    CHECK_THAT(e.message, Catch::StartsWith("invalid key (" + std::to_string(bad.size()) + " characters)"));
    CHECK(e.message.find(bad) == std::string::npos);
    CHECK(e.to_string().find(bad) == std::string::npos);
  }
  auto e = peer_error("PresharedKey = abc");
  CHECK(e.key == "PresharedKey");
  CHECK_THAT(e.message, Catch::StartsWith("invalid key (3 characters)"));
  // Nor is a key pasted without its "PrivateKey =".
  e = parse_error("[Interface]\n" + std::string(kPrivate) + "\n");
  CHECK(e.key.empty());
  CHECK(e.to_string().find(std::string(kPrivate).substr(0, 8)) == std::string::npos);
  // The key's own '=' makes this "unknown key `PrivateKey yAnz...Bmk`"; none of it is shown.
  e = parse_error("[Interface]\nPrivateKey " + std::string(kPrivate) + "\n");
  CHECK(e.key.empty());
  CHECK(e.message == "unknown key in [Interface] section");
  CHECK(e.to_string().find(std::string(kPrivate).substr(0, 8)) == std::string::npos);
  e = parse_error("[Interface]\nPrivateKey = " + std::string(kPrivate).substr(0, 20) + "\n");
  CHECK(e.to_string().find(std::string(kPrivate).substr(0, 20)) == std::string::npos);
  e = parse_error(interface_section() + "[Peer]\nPublicKey = nope\n");
  CHECK(e.line == 4);
  CHECK(e.key == "PublicKey");
}

TEST_CASE("wg-quick: structural errors name file, line and key", "[wg_quick_config]") {
  struct Case {
    std::string text;
    unsigned line;
    std::string key;
    std::string message;
  };
  const std::string iface = interface_section();
  const std::string peer1 = std::string("[Peer]\nPublicKey = ") + kPeer1 + "\n";
  for (const auto& c : std::vector<Case>{
           {"PrivateKey = " + std::string(kPrivate) + "\n" + iface, 1, "PrivateKey",
            "key outside of any section; put it under [Interface] or [Peer]"},
           {"# comment\n\nListenPort = 1\n", 3, "ListenPort",
            "key outside of any section; put it under [Interface] or [Peer]"},
           {iface + "Foo = bar\n", 3, "Foo", "unknown key in [Interface] section"},
           {iface + peer1 + "Address = 10.0.0.1/24\n", 5, "Address",
            "belongs in the [Interface] section, not in [Peer]"},
           {iface + "PublicKey = " + kPeer1 + "\n", 3, "PublicKey", "belongs in a [Peer] section, not in [Interface]"},
           {iface + peer1 + "Persistent Keepalive = 25\n", 5, "Persistent Keepalive", "unknown key in [Peer] section"},
           {iface + "[Peers]\n", 3, "[Peers]", "unknown section; expected [Interface] or [Peer]"},
           {iface + "[]\n", 3, "[]", "unknown section; expected [Interface] or [Peer]"},
           {iface + "[Peer\n", 3, "[Peer", "malformed section header; expected [Interface] or [Peer]"},
           {iface + "[Peer] x\n", 3, "[Peer] x", "malformed section header; expected [Interface] or [Peer]"},
           {iface + "ListenPort 51820\n", 3, "ListenPort", "missing '='; expected `Key = Value` or a section header"},
           {iface + "listenport\t51820\n", 3, "listenport", "missing '='; expected `Key = Value` or a section header"},
           {iface + "PrivateKey\n", 3, "PrivateKey", "missing '='; expected `Key = Value` or a section header"},
           {iface + "Nonsense here\n", 3, "", "missing '='; expected `Key = Value` or a section header"},
           {iface + "= 51820\n", 3, "", "missing key name before '='"},
           {iface + "ListenPort =\n", 3, "ListenPort", "missing value after '='"},
           {iface + peer1 + "AllowedIPs =\n", 5, "AllowedIPs", "missing value after '='"},
           {iface + "ListenPort = 1\nlistenport = 2\n", 4, "listenport", "duplicate key; already set on line 3"},
           {iface + "PrivateKey = " + kPrivate + "\n", 3, "PrivateKey", "duplicate key; already set on line 2"},
           {iface + "MTU = 1400\n\nMTU = 1400\n", 5, "MTU", "duplicate key; already set on line 3"},
           {iface + "FwMark = 1\nFwMark = 1\n", 4, "FwMark", "duplicate key; already set on line 3"},
           {iface + peer1 + "Endpoint = 1.2.3.4:1\nEndpoint = 1.2.3.4:2\n", 6, "Endpoint",
            "duplicate key; already set on line 5"},
           {iface + peer1 + "PublicKey = " + kPeer2 + "\n", 5, "PublicKey", "duplicate key; already set on line 4"},
           {iface + peer1 + "PresharedKey = " + kPsk + "\nPresharedKey = " + kPsk + "\n", 6, "PresharedKey",
            "duplicate key; already set on line 5"},
           {iface + peer1 + "PersistentKeepalive = 1\nPersistentKeepalive = 1\n", 6, "PersistentKeepalive",
            "duplicate key; already set on line 5"},
           {iface + peer1 + peer1, 6, "PublicKey", "duplicate peer; this PublicKey is already used on line 4"},
           {iface + "[Peer]\nAllowedIPs = 10.0.0.0/8\n" + peer1, 3, "PublicKey", "the [Peer] section has no PublicKey"},
           {iface + peer1 + "[Peer]\n# nothing\n", 5, "PublicKey", "the [Peer] section has no PublicKey"},
           {iface + "[Peer]\n[Interface]\n", 3, "PublicKey", "the [Peer] section has no PublicKey"},
           {iface + peer1 + "[Interface]\n", 5, "[Interface]", "more than one [Interface] section; the first is on line 1"},
           {"[Interface]\nListenPort = 1\n" + peer1, 1, "PrivateKey", "the [Interface] section has no PrivateKey"},
           {peer1, 0, "", "no [Interface] section"},
           {"", 0, "", "no [Interface] section"},
           {"# only a comment\n", 0, "", "no [Interface] section"},
           {iface + std::string("ListenPort = 1\0" "2\n", 17), 3, "", "line contains a control character"},
           {iface + "Address = 10.0.0.1/24\x01\n", 3, "", "line contains a control character"},
       }) {
    INFO(c.text);
    auto e = parse_error(c.text);
    CHECK(e.file == "wg0.conf");
    CHECK(e.line == c.line);
    CHECK(e.key == c.key);
    CHECK(e.message == c.message);
  }
}

TEST_CASE("wg-quick: the first error in file order wins", "[wg_quick_config]") {
  auto e = parse_error("[Interface]\nFoo = 1\nBar = 2\n");
  CHECK(e.line == 2);
  CHECK(e.key == "Foo");
}

TEST_CASE("wg-quick: wg-quick-only keys are refused with a pointer to wg-quick", "[wg_quick_config]") {
  for (const char* key : {"Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig", "table", "POSTUP"}) {
    INFO(key);
    auto e = interface_error(std::string(key) + " = off");
    CHECK(e.line == 3);
    CHECK(e.key == key);
    CHECK(e.message ==
          "not supported by `sluice up`; use wg-quick with WG_QUICK_USERSPACE_IMPLEMENTATION=sluice");
    CHECK(e.to_string() == "wg0.conf:3: " + std::string(key) +
                               ": not supported by `sluice up`; use wg-quick with "
                               "WG_QUICK_USERSPACE_IMPLEMENTATION=sluice");
  }
  // Scripts hold '=' and '#' of their own; the error still names the key.
  auto e = interface_error("PostUp = iptables -A FORWARD -i %i -j ACCEPT; echo a=b");
  CHECK(e.key == "PostUp");
  // In a [Peer] they are simply unknown, as in wg-quick (it only looks for them in [Interface]).
  e = peer_error("Table = off");
  CHECK(e.message == "unknown key in [Peer] section");
}

TEST_CASE("wg-quick: ConfigError::to_string", "[wg_quick_config]") {
  CHECK(ConfigError{"wg0.conf", 7, "Endpoint", "bad"}.to_string() == "wg0.conf:7: Endpoint: bad");
  CHECK(ConfigError{"wg0.conf", 7, "", "bad"}.to_string() == "wg0.conf:7: bad");
  CHECK(ConfigError{"wg0.conf", 0, "", "no [Interface] section"}.to_string() == "wg0.conf: no [Interface] section");
  auto e = parse_error("[Interface]\n\nListenPort = x\n");
  CHECK(e.to_string() == "wg0.conf:3: ListenPort: invalid port \"x\"; expected 0-65535");
}

TEST_CASE("wg-quick: input and line size bounds", "[wg_quick_config]") {
  std::string huge = interface_section() + std::string(kMaxWgQuickConfigBytes, '#');
  auto e = parse_error(huge);
  CHECK(e.line == 0);
  CHECK_THAT(e.message, Catch::Contains("the limit is 1048576"));

  std::string long_line = interface_section() + "# " + std::string(kMaxWgQuickConfigLineBytes, 'x') + "\n";
  e = parse_error(long_line);
  CHECK(e.line == 3);
  CHECK_THAT(e.message, Catch::StartsWith("line is longer than 65536 bytes"));

  // A long but legal AllowedIPs line (about 3600 prefixes) is fine.
  std::string list;
  for (int a = 0; a < 15; ++a) {
    for (int b = 0; b < 240; ++b) list += (list.empty() ? "" : ",") + std::to_string(a + 1) + "." + std::to_string(b) + ".0.0/16";
  }
  REQUIRE(list.size() < kMaxWgQuickConfigLineBytes);
  auto config = parse_ok(with_peer("AllowedIPs = " + list + "\n"));
  CHECK(config.peers[0].change.allowed_ips.size() == 15 * 240);

  // Over-long keys are not repeated in the error, so messages stay small.
  e = interface_error(std::string(5000, 'K') + " = 1");
  CHECK(e.key.empty());
  CHECK(e.message == "unknown key in [Interface] section");
}

TEST_CASE("wg-quick: to_device_change is what `wg setconf` applies", "[wg_quick_config]") {
  auto config = parse_ok(std::string("[Interface]\nPrivateKey = ") + kPrivate +
                         "\nAddress = 10.0.0.2/24\n"
                         "[Peer]\nPublicKey = " + kPeer1 +
                         "\nPresharedKey = " + kPsk +
                         "\nEndpoint = [2001:db8::1]:51820\nAllowedIPs = 10.0.0.0/24, fd00::/64\n"
                         "PersistentKeepalive = 25\n"
                         "[Peer]\nPublicKey = " + kPeer2 + "\nEndpoint = vpn.example:1\n"
                         "[Peer]\nPublicKey = " + kPeer3 + "\n");
  auto change = to_device_change(config);
  CHECK(change.replace_peers);
  CHECK(change.private_key == b64(kPrivate));
  CHECK(change.listen_port == 0);  // setconf always sets these; 0 = random port / no mark
  CHECK(change.fwmark == 0u);
  REQUIRE(change.peers.size() == 3);
  CHECK(change.peers[0].replace_allowed_ips);
  CHECK(change.peers[1].replace_allowed_ips);
  CHECK_FALSE(change.peers[1].endpoint);  // a host name: the caller resolves it
  CHECK(config.peers[1].endpoint_host == "vpn.example");

  // The same request as wg(8) sends for `wg setconf` of this file (ipc-uapi.h's order).
  std::string expected = std::string("private_key=") + crypto::key_to_hex(b64(kPrivate)) +
                         "\nlisten_port=0\nfwmark=0\nreplace_peers=true\n"
                         "public_key=" + crypto::key_to_hex(b64(kPeer1)) +
                         "\npreshared_key=" + crypto::key_to_hex(b64(kPsk)) +
                         "\nendpoint=[2001:db8::1]:51820\npersistent_keepalive_interval=25\n"
                         "replace_allowed_ips=true\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n"
                         "public_key=" + crypto::key_to_hex(b64(kPeer2)) +
                         "\nreplace_allowed_ips=true\n"
                         "public_key=" + crypto::key_to_hex(b64(kPeer3)) +
                         "\nreplace_allowed_ips=true\n";
  CHECK(format_uapi_set(change) == expected);
}

TEST_CASE("wg-quick: explicit ListenPort and FwMark carry over", "[wg_quick_config]") {
  auto change = to_device_change(parse_ok(interface_section() + "ListenPort = 51820\nFwMark = 0x10\n"));
  CHECK(change.listen_port == 51820);
  CHECK(change.fwmark == 16u);
  CHECK(change.peers.empty());
}
