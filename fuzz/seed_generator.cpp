// Writes the seed corpora: fuzz_seed_generator CORPUS_DIR [VECTORS_DIR]. fuzz/make_seeds.sh
// runs it; the output is checked in under fuzz/corpus/<target>/. Everything is deterministic,
// so running it again rewrites the same bytes. VECTORS_DIR holds real packets as hex text
// (/work/shared/vectors/*.hex); they seed the IP parser and the send path.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "crypto/transport.h"
#include "crypto_fixture.h"
#include "device_fixture.h"
#include "tunnel/uapi.h"

using namespace sluice;
using namespace sluice::fuzz;
namespace fs = std::filesystem;

namespace {

fs::path root;

void write(const std::string& target, const std::string& name, std::span<const uint8_t> bytes) {
  fs::create_directories(root / target);
  std::ofstream f(root / target / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
void write(const std::string& target, const std::string& name, std::string_view text) {
  write(target, name, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::vector<uint8_t> from_hex(const std::string& text) {
  std::vector<uint8_t> out;
  int high = -1;
  for (char c : text) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
    if (v < 0) continue;  // line breaks are not part of the data
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

std::vector<uint8_t> packet(bool v6, size_t payload) {
  std::vector<uint8_t> p(64 + payload);
  p.resize(build_inner_packet(p.data(), v6, payload, /*from_b=*/true));
  return p;
}

// --- per target ---

void ip_packet_seeds(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& vectors) {
  for (const auto& [name, bytes] : vectors) write("fuzz_ip_packet", name, bytes);
  write("fuzz_ip_packet", "ipv4-udp", packet(false, 4));
  write("fuzz_ip_packet", "ipv6-udp", packet(true, 4));
  auto padded = packet(false, 3);
  padded.resize(padded.size() + 13, 0);  // WireGuard padding after the packet
  write("fuzz_ip_packet", "ipv4-padded", padded);
  std::vector<uint8_t> options = {0x46, 0, 0, 28, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
                                  1, 1, 1, 0, 0, 0, 0, 0};  // IHL 6: one word of options
  write("fuzz_ip_packet", "ipv4-options", options);
}

void uapi_seeds() {
  const Identities& ids = identities();
  const std::string a = crypto::key_to_hex(ids.a.private_key);
  const std::string b = crypto::key_to_hex(ids.b.public_key);
  const std::string c = crypto::key_to_hex(ids.c.public_key);
  const std::string psk = crypto::key_to_hex(ids.psk);
  const std::string full = "private_key=" + a + "\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key=" + b +
                           "\npreshared_key=" + psk +
                           "\nendpoint=192.0.2.2:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
                           "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\n";
  write("fuzz_uapi_set", "set-body", full + "\n");
  write("fuzz_uapi_set", "framed-set-then-get", "set=1\n" + full + "\nget=1\n\n");
  write("fuzz_uapi_set", "update-remove",
        "public_key=" + b + "\nupdate_only=true\nendpoint=[2001:db8::2]:51820\r\nallowed_ip=::/0\npublic_key=" + c +
            "\nremove=true\n");
  write("fuzz_uapi_set", "framed-get-error", "get=1\nxset=1\nlisten_port=1\n\n");
  write("fuzz_uapi_set", "bad-key", "listen_port=65536\nendpoint=1.2.3.4:5\n");

  DeviceStatus status;
  status.private_key = ids.a.private_key;
  status.listen_port = 51820;
  status.fwmark = 0x1234;
  PeerStatus p;
  p.public_key = ids.b.public_key;
  p.preshared_key = ids.psk;
  p.endpoint = source_endpoint(2);
  p.last_handshake_time_sec = 1700000000;
  p.last_handshake_time_nsec = 123456789;
  p.tx_bytes = 1 << 20;
  p.rx_bytes = 4242;
  p.persistent_keepalive_interval = 25;
  p.allowed_ips = {IpPrefix{ip("10.0.0.0"), 24}, IpPrefix{ip("fd00::"), 64}};
  status.peers = {p};
  write("fuzz_uapi_get", "answer", format_uapi_get(status) + format_uapi_errno(0));
  write("fuzz_uapi_get", "errno", std::string_view("errno=-22\n\n"));
  write("fuzz_uapi_get", "unknown-keys", "listen_port=1\njc=4\npublic_key=" + b + "\nendpoint=1.2.3.4:5\nh1=9\n");
}

void wg_quick_seeds() {
  const Identities& ids = identities();
  const std::string a = crypto::key_to_base64(ids.a.private_key);
  const std::string b = crypto::key_to_base64(ids.b.public_key);
  const std::string c = crypto::key_to_base64(ids.c.public_key);
  const std::string psk = crypto::key_to_base64(ids.psk);
  write("fuzz_wg_quick_config", "basic",
        "[Interface]\nPrivateKey = " + a + "\nAddress = 10.0.0.1/24\n\n[Peer]\nPublicKey = " + b +
            "\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 192.0.2.2:51820\n");
  write("fuzz_wg_quick_config", "full",
        "\xEF\xBB\xBF# a comment\r\n[Interface]\r\nPrivateKey = " + a +
            "\r\nListenPort = 51820\r\nFwMark = 0x1234\r\nAddress = 10.0.0.1/24, fd00::1/64\r\n"
            "DNS = 10.0.0.53, fd00::53, corp.example\r\nMTU = 1380\r\n\r\n[Peer] # B\r\nPublicKey = " +
            b + "\r\nPresharedKey = " + psk +
            "\r\nAllowedIPs = 10.0.0.0/24\r\nAllowedIPs = fd00::/64\r\nEndpoint = [2001:db8::2]:51820\r\n"
            "PersistentKeepalive = 25\r\n\r\n[peer]\r\npublickey = " +
            c + "\r\nallowedips = 192.168.0.0/16\r\nendpoint = vpn.example.com:51820\r\npersistentkeepalive = off\r\n");
  write("fuzz_wg_quick_config", "errors",
        "[Interface]\nPrivateKey = " + a + "\nFwMark = off\nTable = off\n[Peer]\nPublicKey = " + b + "\n");
  write("fuzz_wg_quick_config", "bad-private-key",
        "[Interface]\nPrivateKey = " + a.substr(0, 40) + "AAA=\n");
}

void device_outer_seeds(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& vectors) {
  const std::string t = "fuzz_device_outer";
  auto transport = [](Writer& w, std::span<const uint8_t> plaintext, unsigned source = 0) {
    w.u8(outer_op(OuterOp::Transport, source, kOpFixIp)).u16(static_cast<uint16_t>(plaintext.size()));
    w.bytes(plaintext).u8(0);  // no mutations
  };
  const auto from_b = packet(false, 16);
  const auto from_b6 = packet(true, 16);

  {  // Random bytes and a bare transport header.
    Writer w;
    w.u8(kEndpoint);
    const uint8_t junk[] = {4, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9,
                            9, 9, 9, 9, 9, 9, 9, 9};
    w.u8(outer_op(OuterOp::Raw)).u16(sizeof junk).bytes(junk);
    write(t, "raw", w.out);
  }
  {  // B initiates, A answers; B sends data (IPv4, IPv6, a DNS packet) and a replay.
    Writer w;
    w.u8(kEndpoint);
    w.u8(outer_op(OuterOp::Initiation)).u8(1).u8(0);
    w.u8(outer_op(OuterOp::Flush));
    transport(w, from_b);
    transport(w, from_b6);
    if (!vectors.empty()) transport(w, vectors.front().second);
    w.u8(outer_op(OuterOp::Transport, 0, kOpExplicitCounter | kOpFixIp)).u64(0).u16(static_cast<uint16_t>(from_b.size()));
    w.bytes(from_b).u8(0);  // counter 0 again: a replay
    w.u8(outer_op(OuterOp::Time, 2)).u8(11);  // 11 s: A owes a keepalive
    write(t, "b-initiates", w.out);
  }
  {  // A session from setup; data from a roaming source; timers through rekey and zeroing.
    Writer w;
    w.u8(kEstablishSession | kKeepalive);
    transport(w, from_b, 2);
    w.u8(outer_op(OuterOp::Inner)).u8(8);
    w.u8(outer_op(OuterOp::Time, 3)).u8(100);  // 1000 s: rekey, expiry, zeroing
    transport(w, from_b);
    write(t, "session-timers", w.out);
  }
  {  // A initiates (it has data for B); B answers; data both ways.
    Writer w;
    w.u8(kEndpoint | kPresharedKey);
    w.u8(outer_op(OuterOp::Inner)).u8(20);
    w.u8(outer_op(OuterOp::Response)).u8(2).u8(0);
    w.u8(outer_op(OuterOp::Flush));
    transport(w, from_b);
    w.u8(outer_op(OuterOp::Inner, 1)).u8(4);
    write(t, "a-initiates", w.out);
  }
  {  // Under load: A demands a cookie; B retries with mac2 from the same source.
    Writer w;
    w.u8(1 /* always under load */);
    w.u8(outer_op(OuterOp::Initiation, 1)).u8(3).u8(0);
    w.u8(outer_op(OuterOp::Flush));
    w.u8(outer_op(OuterOp::Time)).u8(30);
    w.u8(outer_op(OuterOp::Initiation, 1)).u8(4).u8(0);
    w.u8(outer_op(OuterOp::Flush));
    transport(w, from_b, 1);
    write(t, "under-load-cookie", w.out);
  }
  {  // A's initiation answered by a cookie reply; A's retransmit then carries mac2.
    Writer w;
    w.u8(kEndpoint | 2 /* load 1 */);
    w.u8(outer_op(OuterOp::Inner)).u8(0);
    w.u8(outer_op(OuterOp::CookieReply)).u8(0);
    w.u8(outer_op(OuterOp::Time, 2)).u8(6);
    w.u8(outer_op(OuterOp::Response)).u8(5).u8(1).u8(60).u8(0x80);  // one mutated byte, macs fixed
    w.u8(outer_op(OuterOp::Initiation, 0, kOpOldTimestamp)).u8(6).u8(0);
    write(t, "cookie-reply", w.out);
  }
}

void device_inner_seeds(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& vectors) {
  const std::string t = "fuzz_device_inner";
  auto add = [](Writer& w, std::span<const uint8_t> p, unsigned fix) {
    w.u8(static_cast<uint8_t>(fix)).u16(static_cast<uint16_t>(p.size())).bytes(p);
  };
  std::vector<uint8_t> to_b = packet(false, 16);  // from_b=true swaps addresses; fix-up 1 sets 10.0.0.2
  std::vector<uint8_t> to_b6 = packet(true, 100);
  {
    Writer w;
    w.u8(kEstablishSession);
    add(w, to_b, 1);
    add(w, to_b6, 2);
    for (const auto& [name, bytes] : vectors) add(w, bytes, 1);  // DNS packets re-addressed to B
    w.u8(0x80 | 110);                                             // 11 s: keepalive and more
    add(w, to_b, 1);
    write(t, "session", w.out);
  }
  {
    Writer w;
    w.u8(kEndpoint | kSmallMtu);
    for (const auto& [name, bytes] : vectors) add(w, bytes, 0);  // to 8.8.8.8 / 192.168.0.100: peer C
    add(w, to_b, 1);
    w.u8(0x80 | 60);  // 6 s: retransmit
    write(t, "staged", w.out);
  }
  {
    Writer w;
    w.u8(kEstablishSession | kSmallMtu | kKeepalive);
    std::vector<uint8_t> big(1400, 0x42);
    add(w, big, 1);
    add(w, to_b, 3);
    w.u8(0x80 | 127);
    write(t, "big-and-c", w.out);
  }
}

void replay_window_seeds() {
  const std::string t = "fuzz_replay_window";
  write(t, "in-order", std::vector<uint8_t>{0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1, 3});
  write(t, "window-edge", std::vector<uint8_t>{3, 0xc0, 0x1f, 2, 128, 2, 127, 2, 129, 6, 1, 128, 1, 5});
  write(t, "ceiling", std::vector<uint8_t>{5, 0, 5, 1, 0x85, 0, 7, 4, 1, 2, 3, 4, 5, 6, 7, 8});
}

void crypto_seeds() {
  const std::string t = "fuzz_crypto_messages";
  CryptoFixture f = make_crypto_fixture();
  auto with_op = [](CryptoOp op, std::span<const uint8_t> msg) {
    std::vector<uint8_t> v{static_cast<uint8_t>(op)};
    v.insert(v.end(), msg.begin(), msg.end());
    return v;
  };
  write(t, "classify-initiation", with_op(CryptoOp::Classify, f.initiation));
  write(t, "initiation", with_op(CryptoOp::Initiation, f.initiation));
  write(t, "checker-initiation", with_op(CryptoOp::CookieChecker, std::vector<uint8_t>{0}));

  // The responder's answer to the fixture's initiation: authenticates in consume_response.
  auto st = crypto::decrypt_initiation_static(f.responder, f.initiation);
  if (!st || !crypto::decrypt_initiation_timestamp(*st, f.static_static, f.initiation)) __builtin_trap();
  std::array<uint8_t, crypto::kHandshakeResponseSize> response{};
  if (!crypto::create_response(*st, f.preshared_key, 0x0a0b0c0d, response)) __builtin_trap();
  write(t, "response", with_op(CryptoOp::Response, response));

  // A cookie reply bound to the initiation's mac1.
  crypto::CookieChecker checker;
  checker.init(f.responder.public_key);
  const uint8_t source[6] = {192, 0, 2, 2, 0xca, 0x6c};
  std::array<uint8_t, crypto::kCookieReplySize> reply{};
  checker.create_reply(f.initiation, CryptoFixture::kInitiatorIndex, source, 0, reply);
  write(t, "cookie-reply", with_op(CryptoOp::CookieReply, reply));

  std::vector<uint8_t> sealed(256);
  auto p = packet(false, 8);
  std::copy(p.begin(), p.end(), sealed.begin() + crypto::kTransportHeaderSize);
  sealed.resize(crypto::seal_transport(f.transport_key, 7, 42, sealed.data(), p.size()));
  write(t, "transport", with_op(CryptoOp::Transport, sealed));

  std::vector<uint8_t> checker_msg{1};  // IPv6 source
  checker_msg.insert(checker_msg.end(), response.begin(), response.end());
  write(t, "checker-response", with_op(CryptoOp::CookieChecker, checker_msg));
}

void endpoint_seeds() {
  const std::string t = "fuzz_endpoint";
  write(t, "v4", std::string_view("192.0.2.1"));
  write(t, "v4-prefix", std::string_view("10.1.2.3/8"));
  write(t, "v6-prefix", std::string_view("fd00::1/64"));
  write(t, "v4-endpoint", std::string_view("198.51.100.7:51820"));
  write(t, "v6-endpoint", std::string_view("[2001:db8::1]:51820"));
  write(t, "mapped", std::string_view("::ffff:192.0.2.1"));
  std::vector<uint8_t> binary{0xff, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 48, 0x6c, 0xca};
  write(t, "binary-v6", binary);
}

void keys_seeds() {
  const Identities& ids = identities();
  write("fuzz_keys", "base64", crypto::key_to_base64(ids.b.public_key));
  std::string hex = crypto::key_to_hex(ids.b.public_key);
  write("fuzz_keys", "hex", hex);
  std::transform(hex.begin(), hex.end(), hex.begin(), [](char c) { return c >= 'a' && c <= 'f' ? c - 32 : c; });
  write("fuzz_keys", "hex-upper", hex);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [VECTORS_DIR]\n", argv[0]);
    return 2;
  }
  init_deterministic_process();
  reseed_random(kRandomSeed);
  root = argv[1];

  std::vector<std::pair<std::string, std::vector<uint8_t>>> vectors;
  if (argc > 2 && fs::is_directory(argv[2])) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(argv[2]))
      if (e.path().extension() == ".hex") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::ifstream in(path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      vectors.emplace_back(path.stem().string(), from_hex(text));
    }
  }

  ip_packet_seeds(vectors);
  uapi_seeds();
  wg_quick_seeds();
  device_outer_seeds(vectors);
  device_inner_seeds(vectors);
  replay_window_seeds();
  crypto_seeds();
  endpoint_seeds();
  keys_seeds();
  return 0;
}
