// Upstream forwarding pieces (dns/upstream.h): server rotation, payload sizes, judging and
// reshaping replies, and the bounded table of pending queries.
#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "dns/upstream.h"
#include "wire_bytes.h"

using namespace sluice;
using namespace sluice::dns;
using sluice::dns::test::N;
using sluice::dns::test::WireBytes;

namespace {

Upstream server(const char* text, bool direct = false) { return Upstream{*Endpoint::parse(text), direct}; }

QueryQuestion query_for(const char* name, RecordType type, std::optional<QueryEdns> edns = std::nullopt,
                        uint16_t id = 0x1234) {
  QueryQuestion q;
  q.header.id = id;
  q.header.rd = true;
  q.question = Question{N(name), type, RecordClass::IN};
  q.lowercase_name = q.question.name.lowercased();
  q.edns = edns;
  return q;
}

// A reply to `name` A with one A record, optionally with an OPT, as an upstream sends it.
std::vector<uint8_t> reply_bytes(const char* name, uint16_t id, uint16_t flags, bool opt, uint16_t qd = 1) {
  WireBytes w;
  w.header(id, flags, qd, 1, 0, opt ? 1 : 0);
  if (qd == 1) w.name(name).u16(1).u16(1);
  w.pointer(12).fixed(1, 1, 300, 4).raw({192, 0, 2, 1});
  if (opt) w.u8(0).fixed(41, 4096, 0x00008000, 0);
  return w.b;
}

}  // namespace

TEST_CASE("Attempts rotate through the set's servers", "[dns][upstream]") {
  UpstreamSet set;
  set.servers = {server("10.0.0.1:53"), server("10.0.0.2:53")};
  set.retries = 2;
  CHECK(attempts_of(set) == 3);
  CHECK(server_for_attempt(set, 0) == set.servers[0]);
  CHECK(server_for_attempt(set, 1) == set.servers[1]);
  CHECK(server_for_attempt(set, 2) == set.servers[0]);
  set.retries = 0;
  CHECK(attempts_of(set) == 1);
}

TEST_CASE("Advertised payload sizes fit the tunnel MTU", "[dns][upstream]") {
  CHECK(upstream_udp_payload(server("10.0.0.1:53"), 1420) == 1420 - 28);
  CHECK(upstream_udp_payload(server("[fd00::1]:53"), 1420) == 1420 - 48);
  CHECK(upstream_udp_payload(server("10.0.0.1:53", true), 1420) == kDirectUdpPayload);
  CHECK(upstream_udp_payload(server("10.0.0.1:53"), 300) == 512);

  CHECK(client_udp_limit(query_for("a.example", RecordType::A), IpFamily::v4, 1420) == 512);
  CHECK(client_udp_limit(query_for("a.example", RecordType::A, QueryEdns{4096, 0, false}), IpFamily::v4, 1420) ==
        1392);
  CHECK(client_udp_limit(query_for("a.example", RecordType::A, QueryEdns{4096, 0, false}), IpFamily::v6, 1420) ==
        1372);
  CHECK(client_udp_limit(query_for("a.example", RecordType::A, QueryEdns{100, 0, false}), IpFamily::v4, 1420) == 512);
  CHECK(client_udp_limit(query_for("a.example", RecordType::A, QueryEdns{1000, 0, false}), IpFamily::v4, 1420) ==
        1000);
}

TEST_CASE("judge_reply", "[dns][upstream]") {
  const Question q{N("time.apple.com"), RecordType::A, RecordClass::IN};
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8180, false), q) == ReplyVerdict::answer);
  CHECK(judge_reply(reply_bytes("TIME.Apple.COM", 1, 0x8180, false), q) == ReplyVerdict::answer);
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8183, false), q) == ReplyVerdict::answer);  // NXDOMAIN
  CHECK(judge_reply(reply_bytes("time.apple.org", 1, 0x8180, false), q) == ReplyVerdict::mismatch);
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x0180, false), q) == ReplyVerdict::malformed);  // QR clear
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8380, false), q) == ReplyVerdict::truncated);
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8182, false), q) == ReplyVerdict::server_error);
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8185, false), q) == ReplyVerdict::server_error);
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8181, false, 0), q) == ReplyVerdict::server_error);
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8180, false, 0), q) == ReplyVerdict::mismatch);
  CHECK(judge_reply(std::vector<uint8_t>(11, 0x80), q) == ReplyVerdict::malformed);
  const Question aaaa{N("time.apple.com"), RecordType::AAAA, RecordClass::IN};
  CHECK(judge_reply(reply_bytes("time.apple.com", 1, 0x8180, false), aaaa) == ReplyVerdict::mismatch);

  SECTION("a question name that loops or points forward is malformed") {
    WireBytes loop;
    loop.header(1, 0x8180, 1, 0, 0, 0).pointer(12).u16(1).u16(1);
    CHECK(judge_reply(loop.b, q) == ReplyVerdict::malformed);
    WireBytes cut;
    cut.header(1, 0x8180, 1, 0, 0, 0).name("time.apple.com").u16(1);
    CHECK(judge_reply(cut.b, q) == ReplyVerdict::malformed);
  }
}

TEST_CASE("shape_reply: id, question case and the OPT as the client asked", "[dns][upstream]") {
  SECTION("no OPT asked, none sent: id and case only") {
    auto r = reply_bytes("time.apple.com", 0x9999, 0x8180, false);
    const auto q = query_for("TIME.apple.Com", RecordType::A, std::nullopt, 0x7fda);
    std::vector<uint8_t> buffer(r.size() + 16);
    std::copy(r.begin(), r.end(), buffer.begin());
    auto n = shape_reply(buffer, r.size(), q, 1392);
    REQUIRE(n);
    CHECK(*n == r.size());
    buffer.resize(*n);
    Message m = test::parsed(buffer);
    CHECK(m.header.id == 0x7fda);
    CHECK(m.questions[0].name.to_text() == "TIME.apple.Com");
    CHECK_FALSE(m.edns);
    CHECK(m.answers.size() == 1);
  }
  SECTION("OPT sent but not asked for: removed (RFC 6891 section 7)") {
    auto r = reply_bytes("time.apple.com", 0x9999, 0x8180, true);
    const auto q = query_for("time.apple.com", RecordType::A);
    std::vector<uint8_t> buffer(r.size() + 16);
    std::copy(r.begin(), r.end(), buffer.begin());
    auto n = shape_reply(buffer, r.size(), q, 1392);
    REQUIRE(n);
    CHECK(*n == r.size() - 11);
    buffer.resize(*n);
    Message m = test::parsed(buffer);
    CHECK_FALSE(m.edns);
    CHECK(m.additionals.empty());
    CHECK(m.answers.size() == 1);
  }
  SECTION("OPT asked for: the upstream's is rewritten to our size and the client's DO") {
    auto r = reply_bytes("time.apple.com", 0x9999, 0x8180, true);
    const auto q = query_for("time.apple.com", RecordType::A, QueryEdns{4096, 0, false});
    std::vector<uint8_t> buffer(r.begin(), r.end());
    auto n = shape_reply(buffer, r.size(), q, 1392);
    REQUIRE(n);
    Message m = test::parsed(std::span<const uint8_t>(buffer).first(*n));
    REQUIRE(m.edns);
    CHECK(m.edns->udp_payload_size == 1392);
    CHECK_FALSE(m.edns->dnssec_ok);
  }
  SECTION("OPT asked for but the upstream sent none: one is added") {
    auto r = reply_bytes("time.apple.com", 0x9999, 0x8180, false);
    const auto q = query_for("time.apple.com", RecordType::A, QueryEdns{1232, 0, true});
    std::vector<uint8_t> buffer(r.size() + 11);
    std::copy(r.begin(), r.end(), buffer.begin());
    auto n = shape_reply(buffer, r.size(), q, 1392);
    REQUIRE(n);
    CHECK(*n == r.size() + 11);
    Message m = test::parsed(buffer);
    REQUIRE(m.edns);
    CHECK(m.edns->udp_payload_size == 1392);
    CHECK(m.edns->dnssec_ok);
    // ... but not without room for it.
    std::vector<uint8_t> tight(r.begin(), r.end());
    CHECK_FALSE(shape_reply(tight, r.size(), q, 1392));
    CHECK(tight == r);
  }
  SECTION("unwalkable replies are refused unchanged") {
    const auto q = query_for("time.apple.com", RecordType::A);
    auto r = reply_bytes("time.apple.com", 0x9999, 0x8180, false);
    r[7] = 3;  // ANCOUNT 3, one record present
    auto copy = r;
    CHECK_FALSE(shape_reply(copy, copy.size(), q, 1392));
    CHECK(copy == r);
    std::vector<uint8_t> header_only(11, 0);
    CHECK_FALSE(shape_reply(header_only, header_only.size(), q, 1392));
    auto two_opts = reply_bytes("time.apple.com", 1, 0x8180, true);
    WireBytes w{two_opts};
    w.u8(0).fixed(41, 512, 0, 0);
    w.set16(10, 2);
    CHECK_FALSE(shape_reply(w.b, w.b.size(), q, 1392));
  }
}

TEST_CASE("PendingQueries: bounded slots, unique ids, tokens", "[dns][upstream]") {
  PendingQueries table(3);
  CHECK(table.capacity() == 3);
  PendingQuery* a = table.allocate();
  PendingQuery* b = table.allocate();
  PendingQuery* c = table.allocate();
  REQUIRE((a && b && c));
  CHECK(table.allocate() == nullptr);
  CHECK(table.size() == 3);
  CHECK(table.oldest() == a);

  table.assign_id(*a);
  table.assign_id(*b);
  table.assign_id(*c);
  CHECK(std::set<uint16_t>{a->upstream_id, b->upstream_id, c->upstream_id}.size() == 3);
  CHECK(table.find_by_id(a->upstream_id) == a);
  CHECK(table.find_by_id(c->upstream_id) == c);

  const uint16_t old_id = a->upstream_id;
  table.assign_id(*a);
  if (a->upstream_id != old_id) CHECK(table.find_by_id(old_id) == nullptr);
  CHECK(table.find_by_id(a->upstream_id) == a);

  const uint64_t token = table.assign_token(*b);
  CHECK(token != 0);
  CHECK(table.find_by_token(token) == b);
  const uint64_t token2 = table.assign_token(*b);
  CHECK(token2 != token);
  CHECK(table.find_by_token(token) == nullptr);
  CHECK(table.find_by_token(0) == nullptr);
  CHECK(table.find_by_token(~uint64_t{0}) == nullptr);

  const uint16_t b_id = b->upstream_id;
  table.release(*b);
  CHECK(table.size() == 2);
  CHECK(table.find_by_id(b_id) == nullptr);
  CHECK(table.find_by_token(token2) == nullptr);
  CHECK(table.oldest() == a);
  table.release(*a);
  CHECK(table.oldest() == c);
  PendingQuery* d = table.allocate();
  REQUIRE(d);
  CHECK(d->sequence > c->sequence);
  CHECK(d->upstream_id == 0);

  SECTION("ids stay unique when most of the table is in use") {
    PendingQueries big(4000);
    std::set<uint16_t> ids;
    for (size_t i = 0; i < 4000; ++i) {
      PendingQuery* q = big.allocate();
      REQUIRE(q);
      big.assign_id(*q);
      ids.insert(q->upstream_id);
      CHECK(big.find_by_id(q->upstream_id) == q);
    }
    CHECK(ids.size() == 4000);
  }
}
