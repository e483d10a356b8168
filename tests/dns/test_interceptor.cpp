// The DNS interceptor (dns/interceptor.h) driven with real packets: the captured query and
// reply of /work/shared/vectors, queries built here, and an upstream simulated by answering the
// packets the interceptor sends into the tunnel. Every packet that comes out is checked with
// tests/tunnel/packet_builder.h's naive checksum code, which shares nothing with the code under
// test.
#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "captured_vectors.h"
#include "dns/interceptor.h"
#include "tunnel/packet_builder.h"
#include "wire_bytes.h"

using namespace sluice;
using namespace sluice::dns;
using sluice::dns::test::N;
using sluice::dns::test::WireBytes;

using sluice::dns::test::from_hex;
using sluice::dns::test::kQueryHex;
using sluice::dns::test::kReplyHex;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

constexpr const char* kClient4 = "10.88.0.2";
constexpr const char* kClient6 = "fd88::2";
constexpr const char* kResolver4 = "10.64.0.1";

// The policy used unless a test says otherwise, with the given block action.
std::string policy_text(const char* block_action = "nxdomain", const char* extra = "") {
  return std::string(R"(
[Intercept]
Address = 10.64.0.1, fd00::1

[Block]
Action = )") + block_action + R"(
TTL = 120
Domain = *.ads.example, tracker.example

[Allow]
Domain = ok.ads.example

[Override]
TTL = 600
Host = printer.lan 192.168.1.20, fd00::20

[Upstream]
Server = 10.64.0.1
Server = 10.64.0.2
Timeout = 500ms
Retries = 2

[Upstream]
Domain = corp.example
Server = 10.10.0.53

[Upstream]
Domain = lan.example
Server = 192.168.1.1:5300 direct

[Upstream]
Domain = six.example
Server = [fd00::53]:53
)" + extra;
}

std::shared_ptr<const DnsPolicy> make_policy(const std::string& text) {
  auto config = parse_dns_config(text, "test.conf");
  if (auto* e = std::get_if<ConfigError>(&config)) FAIL(e->to_string());
  const std::vector<IpAddress> tunnel_dns{ip(kResolver4)};
  auto policy = build_dns_policy(std::get<DnsConfig>(config), "/nonexistent/test.conf", tunnel_dns);
  if (auto* e = std::get_if<ConfigError>(&policy)) FAIL(e->to_string());
  return std::make_shared<const DnsPolicy>(std::move(std::get<DnsPolicy>(policy)));
}

struct QueryOptions {
  uint16_t id = 0x4242;
  RecordType type = RecordType::A;
  std::optional<uint16_t> edns;  // payload size
  bool dnssec_ok = false;
};

std::vector<uint8_t> dns_query(const char* name, const QueryOptions& o = {}) {
  QuerySpec spec;
  spec.id = o.id;
  spec.question = Question{N(name), o.type, RecordClass::IN};
  if (o.edns) {
    Edns e;
    e.udp_payload_size = *o.edns;
    e.dnssec_ok = o.dnssec_ok;
    spec.edns = e;
  }
  std::vector<uint8_t> out(600);
  auto r = write_query(spec, out);
  REQUIRE(std::holds_alternative<size_t>(r));
  out.resize(std::get<size_t>(r));
  return out;
}

std::vector<uint8_t> udp_packet(const std::string& from, const std::string& to, uint16_t sport, uint16_t dport,
                                std::vector<uint8_t> payload) {
  sluice::test::PacketSpec s;
  s.v6 = from.find(':') != std::string::npos;
  s.protocol = 17;
  s.source = from;
  s.destination = to;
  s.source_port = sport;
  s.destination_port = dport;
  s.payload = std::move(payload);
  return sluice::test::build_packet(s);
}

struct Reply {
  TransportView view;
  Message message;
};

struct Fixture {
  BufferPool pool{256, 2048};
  std::unique_ptr<DnsInterceptor> dns;
  InterceptorOutput out;
  Now now{seconds(1000), seconds(1'700'000'000)};

  explicit Fixture(const std::string& text = policy_text(), InterceptorOptions options = defaults()) {
    dns = std::make_unique<DnsInterceptor>(std::move(options), make_policy(text), pool);
  }
  ~Fixture() { release_output(); }

  static InterceptorOptions defaults() {
    InterceptorOptions o;
    o.tunnel_addresses = {ip(kClient4), ip(kClient6)};
    o.mtu = 1420;
    return o;
  }

  PacketBuffer* buffer(const std::vector<uint8_t>& bytes) {
    PacketBuffer* b = pool.acquire();
    REQUIRE(b != nullptr);
    b->reset_for_inner();
    REQUIRE(b->room() >= bytes.size());
    std::copy(bytes.begin(), bytes.end(), b->data());
    b->set_size(bytes.size());
    return b;
  }

  // Sends packets as read from the TUN; returns how many stayed in the batch (released here).
  size_t outbound(const std::vector<std::vector<uint8_t>>& packets) {
    std::vector<PacketBuffer*> batch;
    for (const auto& p : packets) batch.push_back(buffer(p));
    dns->handle_outbound(batch, now, out);
    for (PacketBuffer* b : batch) pool.release(b);
    return batch.size();
  }
  size_t outbound(const std::vector<uint8_t>& packet) { return outbound(std::vector<std::vector<uint8_t>>{packet}); }
  size_t query(const char* name, const QueryOptions& o = {}, const std::string& from = kClient4,
               const std::string& to = kResolver4) {
    return outbound(udp_packet(from, to, 40000, 53, dns_query(name, o)));
  }
  size_t inbound(const std::vector<uint8_t>& packet) {
    std::vector<PacketBuffer*> batch{buffer(packet)};
    dns->handle_inbound(batch, now, out);
    for (PacketBuffer* b : batch) pool.release(b);
    return batch.size();
  }
  void timers(int64_t advance_ns) {
    now.mono_ns += advance_ns;
    now.wall_ns += advance_ns;
    dns->handle_timers(now, out);
  }

  // The one answer written to the TUN, checked as a packet and parsed; taken out of `out`.
  Reply answer() {
    REQUIRE(out.to_tun.size() == 1);
    PacketBuffer* b = out.to_tun.front();
    out.to_tun.clear();
    std::vector<uint8_t> bytes(b->data(), b->data() + b->size());
    pool.release(b);
    INFO("answer packet: " << sluice::test::check_packet(bytes));
    REQUIRE(sluice::test::check_packet(bytes) == "");
    Reply r{read_transport(bytes), {}};
    REQUIRE(r.view.kind == TransportView::Kind::udp);
    r.message = sluice::dns::test::parsed(r.view.payload);
    last_answer = std::move(bytes);
    r.view = read_transport(last_answer);
    return r;
  }

  // The one query sent into the tunnel, as a packet; taken out of `out`.
  std::vector<uint8_t> upstream_packet() {
    REQUIRE(out.to_tunnel.size() == 1);
    PacketBuffer* b = out.to_tunnel.front();
    out.to_tunnel.clear();
    std::vector<uint8_t> bytes(b->data(), b->data() + b->size());
    pool.release(b);
    REQUIRE(sluice::test::check_packet(bytes) == "");
    return bytes;
  }

  // Answers an upstream query packet: `edit` fills the reply (a copy of the query with QR).
  std::vector<uint8_t> reply_to(const std::vector<uint8_t>& query_packet, const std::function<void(Message&)>& edit) {
    const TransportView v = read_transport(query_packet);
    REQUIRE(v.kind == TransportView::Kind::udp);
    Message m = sluice::dns::test::parsed(v.payload);
    m.header.qr = true;
    m.header.ra = true;
    edit(m);
    std::vector<uint8_t> bytes(65535);
    auto n = write_message(m, bytes);
    REQUIRE(std::holds_alternative<size_t>(n));
    bytes.resize(std::get<size_t>(n));
    const UdpFlow back = v.flow.reversed();
    return udp_packet(back.source.to_string(), back.destination.to_string(), back.source_port,
                      back.destination_port, bytes);
  }

  void release_output() {
    for (PacketBuffer* b : out.to_tun) pool.release(b);
    for (PacketBuffer* b : out.to_tunnel) pool.release(b);
    for (PacketBuffer* b : out.to_stack) pool.release(b);
    for (const DirectQuery& d : out.direct) pool.release(d.message);
    for (const TcpQuery& t : out.tcp_queries) pool.release(t.message);
    out.clear();
  }
  void check_pool() {
    release_output();
    CHECK(pool.available() == pool.count());
  }

  std::vector<uint8_t> last_answer;
};

ResourceRecord a_record(const char* owner, uint32_t ttl, std::array<uint8_t, 4> address) {
  return make_record(N(owner), ttl, AData{address});
}

ResourceRecord soa_record(const char* owner, uint32_t ttl, uint32_t minimum) {
  return make_record(N(owner), ttl, SoaData{N("ns.example"), N("admin.example"), 1, 3600, 600, 86400, minimum});
}

ResourceRecord txt_record(const char* owner, uint32_t ttl, size_t bytes) {
  return make_record(N(owner), ttl, TxtData{{std::string(bytes, 'x')}});
}

}  // namespace

// --- The captured packets -----------------------------------------------------------------------

TEST_CASE("The captured query answered from an override is a byte-valid reply", "[dns][interceptor][vectors]") {
  Fixture f(R"(
[Intercept]
Address = 8.8.8.8
[Override]
TTL = 772
Host = time.apple.com 17.253.116.253, 17.253.116.125, 17.253.84.251
)");
  const auto query = from_hex(kQueryHex);
  CHECK(f.outbound(query) == 0);
  Reply r = f.answer();
  // Addresses and ports swapped, the right family, DF like the captured reply.
  CHECK(r.view.ip.family == IpFamily::v4);
  CHECK(r.view.flow.source == ip("8.8.8.8"));
  CHECK(r.view.flow.source_port == 53);
  CHECK(r.view.flow.destination == ip("192.168.0.100"));
  CHECK(r.view.flow.destination_port == 60782);
  CHECK((f.last_answer[6] & 0x40) != 0);
  // Id and question echoed.
  CHECK(r.message.header.id == 0x7fda);
  CHECK(r.message.header.qr);
  CHECK(r.message.header.rd);
  CHECK(r.message.header.ra);
  CHECK(r.message.rcode() == Rcode::NoError);
  REQUIRE(r.message.questions.size() == 1);
  CHECK(r.message.questions[0] == Question{N("time.apple.com"), RecordType::A, RecordClass::IN});
  REQUIRE(r.message.answers.size() == 3);
  CHECK(std::get<AData>(r.message.answers[0].data).address == std::array<uint8_t, 4>{17, 253, 116, 253});
  CHECK(r.message.answers[0].ttl == 772);
  CHECK_FALSE(r.message.edns);
  CHECK(f.dns->counters().overridden == 1);
  CHECK(f.out.to_tunnel.empty());
  f.check_pool();
}

TEST_CASE("The captured query forwarded and answered with the captured reply comes back as the captured reply",
          "[dns][interceptor][vectors]") {
  Fixture f(R"(
[Intercept]
Address = 8.8.8.8
)");
  const auto query = from_hex(kQueryHex);
  const auto reply = from_hex(kReplyHex);
  CHECK(f.outbound(query) == 0);
  CHECK(f.out.to_tun.empty());
  const auto sent = f.upstream_packet();
  const TransportView up = read_transport(sent);
  CHECK(up.flow.source == ip(kClient4));  // from the tunnel's own address
  CHECK(f.dns->is_source_port(up.flow.source_port));
  CHECK(up.flow.destination == ip(kResolver4));  // the tunnel's DNS= server, default upstream
  CHECK(up.flow.destination_port == 53);
  Message upstream_query = sluice::dns::test::parsed(up.payload);
  REQUIRE(upstream_query.edns);
  CHECK(upstream_query.edns->udp_payload_size == 1392);  // 1420 - 28
  CHECK(upstream_query.questions[0].name.to_text() == "time.apple.com");
  CHECK(upstream_query.header.rd);

  // The resolver answers with the captured reply's DNS message under our id.
  const TransportView captured = read_transport(reply);
  std::vector<uint8_t> payload(captured.payload.begin(), captured.payload.end());
  payload[0] = static_cast<uint8_t>(upstream_query.header.id >> 8);
  payload[1] = static_cast<uint8_t>(upstream_query.header.id);
  const UdpFlow back = up.flow.reversed();
  CHECK(f.inbound(udp_packet(kResolver4, kClient4, 53, back.destination_port, payload)) == 0);
  Reply r = f.answer();
  // The whole packet is the captured reply but for the IPv4 identification and header checksum.
  REQUIRE(f.last_answer.size() == reply.size());
  for (size_t i = 0; i < reply.size(); ++i) {
    if (i == 4 || i == 5 || i == 10 || i == 11) continue;
    INFO("byte " << i);
    CHECK(f.last_answer[i] == reply[i]);
  }
  CHECK(f.dns->counters().forwarded == 1);
  CHECK(f.dns->in_flight() == 0);

  SECTION("and the same query again is a cache hit with TTLs aged") {
    f.now.mono_ns += seconds(100);
    CHECK(f.outbound(query) == 0);
    CHECK(f.out.to_tunnel.empty());
    Reply hit = f.answer();
    CHECK(hit.message.header.id == 0x7fda);
    REQUIRE(hit.message.answers.size() == 4);
    CHECK(hit.message.answers[0].ttl == 3323 - 100);
    CHECK(hit.message.answers[1].ttl == 772 - 100);
    CHECK(f.dns->counters().cache_hits == 1);
  }
  f.check_pool();
}

// --- Policy ------------------------------------------------------------------------------------

TEST_CASE("Block actions", "[dns][interceptor]") {
  SECTION("nxdomain, with an SOA carrying the block TTL") {
    Fixture f;
    CHECK(f.query("x.ads.example") == 0);
    Reply r = f.answer();
    CHECK(r.message.rcode() == Rcode::NXDomain);
    CHECK(r.message.header.id == 0x4242);
    CHECK(r.message.answers.empty());
    REQUIRE(r.message.authorities.size() == 1);
    CHECK(r.message.authorities[0].ttl == 120);
    CHECK(std::get<SoaData>(r.message.authorities[0].data).minimum == 120);
    CHECK(f.out.to_tunnel.empty());
    CHECK(f.dns->counters().blocked == 1);
    f.check_pool();
  }
  SECTION("refused") {
    Fixture f(policy_text("refused"));
    CHECK(f.query("tracker.example") == 0);
    Reply r = f.answer();
    CHECK(r.message.rcode() == Rcode::Refused);
    CHECK(r.message.questions.size() == 1);
    CHECK(f.out.to_tunnel.empty());
    f.check_pool();
  }
  SECTION("null: 0.0.0.0 for A, :: for AAAA, NODATA for other types") {
    Fixture f(policy_text("null"));
    CHECK(f.query("a.b.ads.example") == 0);
    Reply a = f.answer();
    CHECK(a.message.rcode() == Rcode::NoError);
    REQUIRE(a.message.answers.size() == 1);
    CHECK(std::get<AData>(a.message.answers[0].data).address == std::array<uint8_t, 4>{0, 0, 0, 0});
    CHECK(a.message.answers[0].ttl == 120);
    QueryOptions o;
    o.type = RecordType::AAAA;
    CHECK(f.query("ads.example", o) == 0);
    Reply aaaa = f.answer();
    REQUIRE(aaaa.message.answers.size() == 1);
    CHECK(std::get<AaaaData>(aaaa.message.answers[0].data).address == std::array<uint8_t, 16>{});
    o.type = RecordType::TXT;
    CHECK(f.query("ads.example", o) == 0);
    Reply txt = f.answer();
    CHECK(txt.message.rcode() == Rcode::NoError);
    CHECK(txt.message.answers.empty());
    CHECK(txt.message.authorities.size() == 1);
    CHECK(f.dns->counters().blocked == 3);
    CHECK(f.out.to_tunnel.empty());
    f.check_pool();
  }
  SECTION("the allow list wins") {
    Fixture f;
    CHECK(f.query("ok.ads.example") == 0);
    CHECK(f.out.to_tun.empty());
    const auto sent = f.upstream_packet();
    CHECK(read_transport(sent).flow.destination == ip(kResolver4));
    CHECK(f.dns->counters().blocked == 0);
    CHECK(f.dns->counters().forwarded == 1);
    f.check_pool();
  }
}

TEST_CASE("Overrides answer locally", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("PRINTER.lan") == 0);
  Reply a = f.answer();
  CHECK(a.message.questions[0].name.to_text() == "PRINTER.lan");  // the client's case
  REQUIRE(a.message.answers.size() == 1);
  CHECK(std::get<AData>(a.message.answers[0].data).address == std::array<uint8_t, 4>{192, 168, 1, 20});
  CHECK(a.message.answers[0].ttl == 600);
  QueryOptions o;
  o.type = RecordType::AAAA;
  CHECK(f.query("printer.lan", o, kClient6, "fd00::1") == 0);
  Reply aaaa = f.answer();
  CHECK(aaaa.view.ip.family == IpFamily::v6);
  CHECK(aaaa.view.flow.source == ip("fd00::1"));
  CHECK(aaaa.view.flow.destination == ip(kClient6));
  REQUIRE(aaaa.message.answers.size() == 1);
  CHECK(aaaa.message.answers[0].type == RecordType::AAAA);
  o.type = RecordType::MX;
  CHECK(f.query("printer.lan", o) == 0);
  Reply mx = f.answer();
  CHECK(mx.message.rcode() == Rcode::NoError);
  CHECK(mx.message.answers.empty());
  CHECK(f.dns->counters().overridden == 3);
  CHECK(f.out.to_tunnel.empty());
  f.check_pool();
}

TEST_CASE("Split routes pick the upstream by the longest suffix", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("db.corp.example") == 0);
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.10.0.53"));
  CHECK(f.query("www.example") == 0);
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip(kResolver4));
  SECTION("a direct server goes to the caller's socket, not into the tunnel") {
    CHECK(f.query("nas.lan.example") == 0);
    CHECK(f.out.to_tunnel.empty());
    REQUIRE(f.out.direct.size() == 1);
    CHECK(f.out.direct[0].server == *Endpoint::parse("192.168.1.1:5300"));
    const std::vector<uint8_t> q(f.out.direct[0].message->data(),
                                 f.out.direct[0].message->data() + f.out.direct[0].message->size());
    Message m = sluice::dns::test::parsed(q);
    REQUIRE(m.edns);
    CHECK(m.edns->udp_payload_size == kDirectUdpPayload);
    m.header.qr = true;
    m.answers.push_back(a_record("nas.lan.example", 60, {192, 168, 1, 5}));
    std::vector<uint8_t> reply(512);
    reply.resize(std::get<size_t>(write_message(m, reply)));
    // From another address: not the server asked, ignored.
    f.dns->handle_direct_reply(*Endpoint::parse("192.168.1.2:5300"), reply, f.now, f.out);
    CHECK(f.out.to_tun.empty());
    CHECK(f.dns->counters().upstream_unmatched == 1);
    f.dns->handle_direct_reply(*Endpoint::parse("192.168.1.1:5300"), reply, f.now, f.out);
    Reply r = f.answer();
    REQUIRE(r.message.answers.size() == 1);
    CHECK(r.message.header.id == 0x4242);
  }
  SECTION("an IPv6 server through the tunnel is queried from the tunnel's IPv6 address") {
    CHECK(f.query("x.six.example") == 0);
    const auto sent = f.upstream_packet();
    const TransportView v = read_transport(sent);
    CHECK(v.flow.source == ip(kClient6));
    CHECK(v.flow.destination == ip("fd00::53"));
    CHECK(Message(sluice::dns::test::parsed(v.payload)).edns->udp_payload_size == 1372);
  }
  f.check_pool();
}

TEST_CASE("Forwarded answers are cached with aged TTLs, negative ones per RFC 2308", "[dns][interceptor]") {
  Fixture f(policy_text("nxdomain", "\n[Cache]\nMaxNegativeTTL = 3600\n"));
  CHECK(f.query("www.example") == 0);
  f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.answers.push_back(a_record("www.example", 300, {192, 0, 2, 7})); }));
  CHECK(f.answer().message.answers.at(0).ttl == 300);

  f.now.mono_ns += seconds(120);
  QueryOptions o;
  o.id = 0x1111;
  CHECK(f.query("WWW.Example", o) == 0);
  CHECK(f.out.to_tunnel.empty());
  Reply hit = f.answer();
  CHECK(hit.message.header.id == 0x1111);
  CHECK(hit.message.questions[0].name.to_text() == "WWW.Example");
  CHECK(hit.message.answers.at(0).ttl == 180);
  CHECK(f.dns->counters().cache_hits == 1);

  f.now.mono_ns += seconds(181);  // expired
  CHECK(f.query("www.example") == 0);
  CHECK(f.out.to_tun.empty());
  f.upstream_packet();

  SECTION("NXDOMAIN with an SOA: cached for min(SOA TTL, MINIMUM)") {
    CHECK(f.query("gone.example") == 0);
    f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) {
      m.header.rcode = 3;
      m.authorities.push_back(soa_record("example", 90, 30));
    }));
    CHECK(f.answer().message.rcode() == Rcode::NXDomain);
    f.now.mono_ns += seconds(10);
    CHECK(f.query("gone.example") == 0);
    Reply hit2 = f.answer();
    CHECK(hit2.message.rcode() == Rcode::NXDomain);
    CHECK(hit2.message.authorities.at(0).ttl == 80);
    f.now.mono_ns += seconds(21);
    CHECK(f.query("gone.example") == 0);
    CHECK(f.out.to_tun.empty());
    f.upstream_packet();
  }
  SECTION("NXDOMAIN without an SOA is not cached") {
    CHECK(f.query("gone2.example") == 0);
    f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.header.rcode = 3; }));
    CHECK(f.answer().message.rcode() == Rcode::NXDomain);
    CHECK(f.query("gone2.example") == 0);
    CHECK(f.out.to_tun.empty());
    f.upstream_packet();
  }
  f.check_pool();
}

// --- Upstream failures -------------------------------------------------------------------------

TEST_CASE("Timeouts retry across servers, then SERVFAIL within the configured time", "[dns][interceptor]") {
  Fixture f;  // default set: 10.64.0.1, 10.64.0.2; 500 ms; 2 retries
  const int64_t start = f.now.mono_ns;
  CHECK(f.query("slow.example") == 0);
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.64.0.1"));
  CHECK(f.dns->next_deadline() == start + millis(500));
  f.timers(millis(499));
  CHECK(f.out.empty());
  f.timers(millis(1));
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.64.0.2"));
  f.timers(millis(500));
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.64.0.1"));
  CHECK(f.out.to_tun.empty());
  f.timers(millis(500));
  Reply r = f.answer();
  CHECK(r.message.rcode() == Rcode::ServFail);
  CHECK(r.message.header.id == 0x4242);
  CHECK(r.message.questions.size() == 1);
  CHECK(f.now.mono_ns - start == millis(1500));
  CHECK(f.dns->counters().upstream_timeouts == 3);
  CHECK(f.dns->counters().upstream_failures == 1);
  CHECK(f.dns->counters().servfail == 1);
  CHECK(f.dns->in_flight() == 0);
  CHECK(f.dns->next_deadline() == INT64_MAX);
  f.check_pool();
}

TEST_CASE("A server error moves on to the next server; the last one's error is relayed", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("err.example") == 0);
  f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.header.rcode = 2; }));
  CHECK(f.out.to_tun.empty());
  auto second = f.upstream_packet();
  CHECK(read_transport(second).flow.destination == ip("10.64.0.2"));
  f.inbound(f.reply_to(second, [](Message& m) { m.header.rcode = 5; }));
  f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.header.rcode = 2; }));
  Reply r = f.answer();
  CHECK(r.message.rcode() == Rcode::ServFail);
  CHECK(f.dns->counters().upstream_errors == 3);
  f.check_pool();
}

TEST_CASE("Replies that match no query are dropped and counted", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("www.example") == 0);
  const auto sent = f.upstream_packet();
  const TransportView v = read_transport(sent);
  auto good = f.reply_to(sent, [](Message& m) { m.answers.push_back(a_record("www.example", 60, {1, 2, 3, 4})); });
  // The same reply from another source, and to another of our ports: taken, ignored.
  const UdpFlow back = v.flow.reversed();
  const TransportView g = read_transport(good);
  std::vector<uint8_t> payload(g.payload.begin(), g.payload.end());
  CHECK(f.inbound(udp_packet("10.64.0.9", kClient4, 53, back.destination_port, payload)) == 0);
  const uint16_t other_port = back.destination_port == 61000 ? 61001 : 61000;
  CHECK(f.inbound(udp_packet(kResolver4, kClient4, 53, other_port, payload)) == 0);
  // A wrong question with the right id: ignored, the query still waits.
  auto wrong = f.reply_to(sent, [](Message& m) { m.questions[0].name = N("other.example"); });
  CHECK(f.inbound(wrong) == 0);
  CHECK(f.out.to_tun.empty());
  CHECK(f.dns->counters().upstream_unmatched == 3);
  // Traffic to the tunnel address that is not ours stays in the batch.
  CHECK(f.inbound(udp_packet(kResolver4, kClient4, 53, 40000, payload)) == 1);
  CHECK(f.inbound(good) == 0);
  CHECK(f.answer().message.answers.size() == 1);
  f.check_pool();
}

TEST_CASE("A truncated reply is retried over TCP; UDP clients get it cut to their size", "[dns][interceptor]") {
  Fixture f;
  QueryOptions o;
  o.type = RecordType::TXT;
  CHECK(f.query("big.example", o) == 0);
  const auto sent = f.upstream_packet();
  f.inbound(f.reply_to(sent, [](Message& m) { m.header.tc = true; }));
  CHECK(f.out.to_tun.empty());
  REQUIRE(f.out.tcp_queries.size() == 1);
  const TcpQuery tcp = f.out.tcp_queries[0];
  f.out.tcp_queries.clear();
  CHECK(tcp.server == *Endpoint::parse("10.64.0.1:53"));
  CHECK_FALSE(tcp.direct);
  CHECK(tcp.timeout_ns == millis(500));
  Message m = sluice::dns::test::parsed(std::span<const uint8_t>(tcp.message->data(), tcp.message->size()));
  f.pool.release(tcp.message);
  CHECK(m.questions[0].name.to_text() == "big.example");
  CHECK(f.dns->counters().tcp_fallbacks == 1);

  m.header.qr = true;
  for (int i = 0; i < 8; ++i) m.answers.push_back(txt_record("big.example", 300, 200));
  std::vector<uint8_t> full(65535);
  full.resize(std::get<size_t>(write_message(m, full)));
  REQUIRE(full.size() > 1400);

  SECTION("stale tokens are ignored") {
    f.dns->handle_tcp_reply(tcp.token + 1, true, full, f.now, f.out);
    CHECK(f.out.to_tun.empty());
    CHECK(f.dns->in_flight() == 1);
  }
  f.dns->handle_tcp_reply(tcp.token, true, full, f.now, f.out);
  Reply r = f.answer();
  CHECK(r.message.header.tc);  // the client asked without EDNS: 512 bytes at most
  CHECK(r.view.payload.size() <= 512);
  CHECK(r.message.answers.size() == 2);
  CHECK(f.dns->in_flight() == 0);

  SECTION("the client's retry over TCP gets the whole answer from the cache") {
    auto q = dns_query("big.example", o);
    f.dns->handle_stream_query(77, q, f.now, f.out);
    REQUIRE(f.out.stream_answers.size() == 1);
    CHECK(f.out.stream_answers[0].connection == 77);
    Message whole = sluice::dns::test::parsed(f.out.bytes_of(f.out.stream_answers[0]));
    CHECK_FALSE(whole.header.tc);
    CHECK(whole.answers.size() == 8);
    CHECK(f.dns->counters().cache_hits == 1);
    CHECK(f.dns->counters().queries_tcp == 1);
  }
  SECTION("an EDNS client gets as much as one tunnel packet holds") {
    QueryOptions big = o;
    big.edns = 4096;
    CHECK(f.query("big.example", big) == 0);
    Reply r2 = f.answer();
    CHECK(r2.message.header.tc);
    CHECK(r2.view.payload.size() <= 1392);
    CHECK(r2.view.payload.size() > 1000);
    REQUIRE(r2.message.edns);
    CHECK(r2.message.edns->udp_payload_size == 1392);
  }
  f.check_pool();
}

TEST_CASE("A failed TCP attempt moves on to the next server", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("big.example") == 0);
  f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.header.tc = true; }));
  REQUIRE(f.out.tcp_queries.size() == 1);
  const uint64_t token = f.out.tcp_queries[0].token;
  f.release_output();
  f.dns->handle_tcp_reply(token, false, {}, f.now, f.out);
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.64.0.2"));
  CHECK(f.dns->counters().tcp_failures == 1);
  f.check_pool();
}

TEST_CASE("A TCP attempt that never ends times out like a UDP one", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("big.example") == 0);
  f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.header.tc = true; }));
  REQUIRE(f.out.tcp_queries.size() == 1);
  const uint64_t token = f.out.tcp_queries[0].token;
  f.release_output();
  f.timers(millis(500));
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.64.0.2"));
  f.dns->handle_tcp_reply(token, false, {}, f.now, f.out);  // late: ignored
  CHECK(f.out.empty());
  CHECK(f.dns->counters().tcp_failures == 1);
  f.check_pool();
}

// --- What is not ours --------------------------------------------------------------------------

TEST_CASE("mDNS, .local names and other traffic pass through untouched", "[dns][interceptor]") {
  Fixture f;
  const auto mdns4 = udp_packet(kClient4, "224.0.0.251", 5353, 5353, dns_query("printer.local"));
  const auto mdns6 = udp_packet(kClient6, "ff02::fb", 5353, 5353, dns_query("printer.local"));
  const auto local = udp_packet(kClient4, kResolver4, 40000, 53, dns_query("printer.local"));
  const auto local_upper = udp_packet(kClient4, kResolver4, 40000, 53, dns_query("Printer.LOCAL"));
  const auto other_port = udp_packet(kClient4, kResolver4, 40000, 54, dns_query("www.example"));
  const auto other_host = udp_packet(kClient4, "10.64.0.9", 40000, 53, dns_query("www.example"));
  const auto multicast53 = udp_packet(kClient4, "224.0.0.251", 40000, 53, dns_query("www.example"));
  sluice::test::PacketSpec ping;
  ping.protocol = 17;
  ping.source = kClient4;
  ping.destination = kResolver4;
  auto icmp = sluice::test::build_packet(ping);
  icmp[9] = 1;
  const std::vector<std::vector<uint8_t>> batch{mdns4, mdns6, local, local_upper, other_port, other_host, multicast53, icmp};
  std::vector<PacketBuffer*> buffers;
  for (const auto& p : batch) buffers.push_back(f.buffer(p));
  const std::vector<PacketBuffer*> before = buffers;
  f.dns->handle_outbound(buffers, f.now, f.out);
  CHECK(buffers == before);  // all kept, in order, unchanged
  for (size_t i = 0; i < batch.size(); ++i)
    CHECK(std::vector<uint8_t>(buffers[i]->data(), buffers[i]->data() + buffers[i]->size()) == batch[i]);
  for (PacketBuffer* b : buffers) f.pool.release(b);
  CHECK(f.out.empty());
  CHECK(f.dns->counters().passed_through == 2);
  CHECK(f.dns->counters().queries_udp == 0);
  f.check_pool();
}

TEST_CASE("TCP to an intercepted address:53 goes to the stack; the rest of the batch keeps its order",
          "[dns][interceptor]") {
  Fixture f;
  sluice::test::PacketSpec tcp;
  tcp.source = kClient4;
  tcp.destination = kResolver4;
  tcp.destination_port = 53;
  tcp.flags = sluice::test::kSyn;
  const auto syn = sluice::test::build_packet(tcp);
  tcp.destination = "10.64.0.9";
  const auto elsewhere = sluice::test::build_packet(tcp);
  const auto q = udp_packet(kClient4, kResolver4, 40000, 53, dns_query("x.ads.example"));
  std::vector<PacketBuffer*> batch{f.buffer(elsewhere), f.buffer(syn), f.buffer(q), f.buffer(elsewhere)};
  PacketBuffer* syn_buffer = batch[1];
  f.dns->handle_outbound(batch, f.now, f.out);
  CHECK(batch.size() == 2);
  REQUIRE(f.out.to_stack.size() == 1);
  CHECK(f.out.to_stack[0] == syn_buffer);
  CHECK(f.out.to_tun.size() == 1);
  for (PacketBuffer* b : batch) f.pool.release(b);

  SECTION("without a stack, TCP passes through") {
    InterceptorOptions o = Fixture::defaults();
    o.tcp_to_stack = false;
    Fixture g(policy_text(), o);
    CHECK(g.outbound(syn) == 1);
    CHECK(g.out.to_stack.empty());
  }
  f.check_pool();
}

// --- Malformed queries -------------------------------------------------------------------------

TEST_CASE("Malformed queries get FORMERR when the header is readable, else are dropped", "[dns][interceptor]") {
  Fixture f;
  auto send = [&](const std::vector<uint8_t>& dns) {
    return f.outbound(udp_packet(kClient4, kResolver4, 40000, 53, dns));
  };
  auto expect_formerr = [&](uint16_t id) {
    Reply r = f.answer();
    CHECK(r.message.rcode() == Rcode::FormErr);
    CHECK(r.message.header.id == id);
    CHECK(r.message.header.qr);
    CHECK(r.message.questions.empty());
  };
  WireBytes forward_pointer;
  forward_pointer.header(1, 0x0100, 1, 0, 0, 0).pointer(14).u16(1).u16(1).name("x");
  CHECK(send(forward_pointer.b) == 0);
  expect_formerr(1);

  WireBytes loop;
  loop.header(2, 0x0100, 1, 0, 0, 0).raw({1, 'a'}).pointer(12).u16(1).u16(1);
  CHECK(send(loop.b) == 0);
  expect_formerr(2);

  WireBytes truncated_record;
  truncated_record.header(3, 0x0100, 1, 0, 0, 1).name("x.example").u16(1).u16(1).u8(0).u16(41).u16(512);
  CHECK(send(truncated_record.b) == 0);
  expect_formerr(3);

  WireBytes wrong_counts;
  wrong_counts.header(4, 0x0100, 1, 2, 0, 0).name("x.example").u16(1).u16(1);
  CHECK(send(wrong_counts.b) == 0);
  expect_formerr(4);

  WireBytes two_questions;
  two_questions.header(5, 0x0100, 2, 0, 0, 0).name("x.example").u16(1).u16(1).name("y.example").u16(1).u16(1);
  CHECK(send(two_questions.b) == 0);
  expect_formerr(5);

  WireBytes label_too_long;
  label_too_long.header(6, 0x0100, 1, 0, 0, 0).u8(64);
  label_too_long.b.insert(label_too_long.b.end(), 64, 'a');
  label_too_long.u8(0).u16(1).u16(1);
  CHECK(send(label_too_long.b) == 0);
  expect_formerr(6);

  // Unreadable header, a response instead of a query, a broken UDP header: dropped.
  CHECK(send({0x12, 0x34, 0x01}) == 0);
  CHECK(send(std::vector<uint8_t>{}) == 0);
  WireBytes response;
  response.header(7, 0x8180, 1, 0, 0, 0).name("x.example").u16(1).u16(1);
  CHECK(send(response.b) == 0);
  auto bad_udp = udp_packet(kClient4, kResolver4, 40000, 53, dns_query("x.example"));
  bad_udp[25] = static_cast<uint8_t>(bad_udp[25] + 1);  // UDP length one too long
  CHECK(f.outbound(bad_udp) == 0);
  CHECK(f.out.to_tun.empty());
  CHECK(f.dns->counters().malformed_dropped == 4);
  CHECK(f.dns->counters().formerr == 6);
  CHECK(f.out.to_tunnel.empty());

  SECTION("an unknown opcode gets NOTIMP, an EDNS version above 0 BADVERS") {
    auto q = dns_query("x.example");
    q[2] = static_cast<uint8_t>(q[2] | (2 << 3));  // opcode STATUS
    CHECK(send(q) == 0);
    CHECK(f.answer().message.rcode() == Rcode::NotImp);
    QueryOptions o;
    o.edns = 1232;
    auto v1 = dns_query("x.example", o);
    v1[v1.size() - 5] = 1;  // OPT TTL: version
    CHECK(send(v1) == 0);
    Reply r = f.answer();
    CHECK(r.message.rcode() == Rcode::BadVers);
    REQUIRE(r.message.edns);
  }
  SECTION("over TCP too") {
    f.dns->handle_stream_query(5, loop.b, f.now, f.out);
    REQUIRE(f.out.stream_answers.size() == 1);
    CHECK(sluice::dns::test::parsed(f.out.bytes_of(f.out.stream_answers[0])).rcode() == Rcode::FormErr);
    f.dns->handle_stream_query(5, std::vector<uint8_t>{1, 2}, f.now, f.out);
    CHECK(f.out.stream_answers.size() == 1);
  }
  f.check_pool();
}

// --- Bounds, logging, reload ---------------------------------------------------------------

TEST_CASE("The in-flight table is bounded: the oldest query gets SERVFAIL", "[dns][interceptor]") {
  InterceptorOptions o = Fixture::defaults();
  o.max_in_flight = 2;
  Fixture f(policy_text(), o);
  QueryOptions q;
  q.id = 1;
  CHECK(f.query("one.example", q) == 0);
  q.id = 2;
  CHECK(f.query("two.example", q) == 0);
  CHECK(f.out.to_tun.empty());
  q.id = 3;
  CHECK(f.query("three.example", q) == 0);
  Reply r = f.answer();
  CHECK(r.message.header.id == 1);
  CHECK(r.message.rcode() == Rcode::ServFail);
  CHECK(f.dns->in_flight() == 2);
  CHECK(f.dns->counters().inflight_evicted == 1);
  f.check_pool();
}

TEST_CASE("An exhausted pool drops answers and counts them, and leaks nothing", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("www.example") == 0);
  const auto sent = f.upstream_packet();
  const auto reply = f.reply_to(sent, [](Message& m) { m.answers.push_back(a_record("www.example", 60, {1, 2, 3, 4})); });
  PacketBuffer* reply_buffer = f.buffer(reply);
  std::vector<PacketBuffer*> held;
  while (PacketBuffer* b = f.pool.acquire()) held.push_back(b);
  // The reply's own buffer is still the interceptor's while it answers: no buffer is left for
  // the answer packet.
  std::vector<PacketBuffer*> batch{reply_buffer};
  f.dns->handle_inbound(batch, f.now, f.out);
  CHECK(batch.empty());
  CHECK(f.out.to_tun.empty());
  CHECK(f.dns->counters().no_buffer_dropped == 1);
  CHECK(f.dns->in_flight() == 0);
  CHECK(f.pool.available() == 1);  // the reply's buffer came back
  // A query arriving now is answered in its own buffer (the cache has the answer).
  f.pool.release(held.back());
  held.pop_back();
  CHECK(f.outbound(udp_packet(kClient4, kResolver4, 40000, 53, dns_query("www.example"))) == 0);
  CHECK(f.answer().message.answers.size() == 1);
  for (PacketBuffer* b : held) f.pool.release(b);
  f.check_pool();
}

TEST_CASE("Query log records, only when enabled", "[dns][interceptor]") {
  Fixture quiet;
  CHECK(quiet.query("x.ads.example") == 0);
  CHECK(quiet.out.log.empty());

  Fixture f(policy_text("nxdomain", "\n[QueryLog]\nEnabled = yes\nPath = /dev/null\n"));
  CHECK(f.query("x.ads.example") == 0);
  f.now.mono_ns += millis(3);
  CHECK(f.query("www.example") == 0);
  f.now.mono_ns += millis(7);
  f.inbound(f.reply_to(f.upstream_packet(), [](Message& m) { m.answers.push_back(a_record("www.example", 60, {1, 2, 3, 4})); }));
  REQUIRE(f.out.log.size() == 2);
  CHECK(f.out.log[0].action == QueryAction::blocked);
  CHECK(f.out.log[0].rcode == 3);
  CHECK(f.out.log[1].action == QueryAction::forwarded);
  CHECK(f.out.log[1].latency_ns == millis(7));
  CHECK(f.out.log[1].client.source == ip(kClient4));
  std::string line;
  format_query_log_line(f.out.log[1], line);
  CHECK(line == "2023-11-14T22:13:20.000Z 10.88.0.2:40000 udp www.example A forwarded NOERROR 7.000ms\n");
  f.check_pool();
}

TEST_CASE("A new policy applies to new queries; queries in flight finish with theirs", "[dns][interceptor]") {
  Fixture f;
  CHECK(f.query("www.example") == 0);
  const auto sent = f.upstream_packet();
  CHECK(f.query("tracker.example") == 0);
  CHECK(f.answer().message.rcode() == Rcode::NXDomain);
  f.dns->set_policy(make_policy(R"(
[Intercept]
Address = 10.64.0.1
[Block]
Domain = www.example
[Upstream]
Server = 10.64.0.7
)"));
  CHECK(f.query("tracker.example") == 0);
  CHECK(read_transport(f.upstream_packet()).flow.destination == ip("10.64.0.7"));
  f.inbound(f.reply_to(sent, [](Message& m) { m.answers.push_back(a_record("www.example", 60, {1, 2, 3, 4})); }));
  CHECK(f.answer().message.answers.size() == 1);
  CHECK(f.query("www.example") == 0);
  CHECK(f.answer().message.rcode() == Rcode::NXDomain);
  CHECK_FALSE(f.dns->policy().intercepts(ip("fd00::1"), 53));
  f.check_pool();
}
