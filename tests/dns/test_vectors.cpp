// The two captured packets of /work/shared/vectors (README.md there): a query for
// time.apple.com and its reply with a CNAME and three A records, compressed. The hex is
// embedded so the test does not depend on that directory; when it is present (or
// $SLUICE_VECTORS_DIR names another copy) the files are checked to be the same bytes.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "captured_vectors.h"
#include "dns/message.h"
#include "tunnel/ip_packet.h"
#include "wire_bytes.h"

using namespace sluice::dns;
using sluice::dns::test::error_of;
using sluice::dns::test::load32;
using sluice::dns::test::N;
using sluice::dns::test::parsed;

using sluice::dns::test::from_hex;
using sluice::dns::test::kQueryHex;
using sluice::dns::test::kReplyHex;

namespace {

// The UDP payload of an IPv4/UDP packet, found through the IP header's own length fields.
std::vector<uint8_t> udp_payload(const std::vector<uint8_t>& packet) {
  auto info = sluice::parse_ip_packet(packet);
  REQUIRE(info.has_value());
  REQUIRE(info->protocol == 17);
  size_t udp = info->header_length;
  REQUIRE(info->total_length >= udp + 8);
  size_t udp_length = size_t{packet[udp + 4]} << 8 | packet[udp + 5];
  REQUIRE(udp_length == info->total_length - udp);
  return {packet.begin() + static_cast<ptrdiff_t>(udp + 8), packet.begin() + static_cast<ptrdiff_t>(info->total_length)};
}

std::vector<uint8_t> query_payload() { return udp_payload(from_hex(kQueryHex)); }
std::vector<uint8_t> reply_payload() { return udp_payload(from_hex(kReplyHex)); }

}  // namespace

TEST_CASE("Vector files match the embedded copies", "[dns][vectors]") {
  const char* env = std::getenv("SLUICE_VECTORS_DIR");
  std::string dir = env ? env : "/work/shared/vectors";
  for (auto [file, hex] : {std::pair{"forum-dns-query.hex", kQueryHex}, std::pair{"forum-dns-reply.hex", kReplyHex}}) {
    std::ifstream in(dir + "/" + file);
    if (!in) {
      WARN("no " << dir << "/" << file << "; only the embedded copy is tested");
      continue;
    }
    std::stringstream text;
    text << in.rdbuf();
    CHECK(from_hex(text.str()) == from_hex(hex));
  }
  CHECK(from_hex(kQueryHex).size() == 60);
  CHECK(from_hex(kReplyHex).size() == 137);
}

TEST_CASE("The captured query for time.apple.com", "[dns][vectors]") {
  std::vector<uint8_t> q = query_payload();
  REQUIRE(q.size() == 32);

  Message m = parsed(q);
  CHECK(m.header.id == 0x7fda);
  CHECK(m.header.flags() == 0x0100);
  CHECK(m.header.rd);
  CHECK_FALSE(m.header.qr);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].name.to_text() == "time.apple.com");
  CHECK(m.questions[0].type == RecordType::A);
  CHECK(m.questions[0].record_class == RecordClass::IN);
  CHECK(m.answers.empty());
  CHECK_FALSE(m.edns.has_value());
  CHECK(m.trailing_bytes == 0);

  auto fast = parse_query_question(q);
  REQUIRE(error_of(fast) == WireError::None);
  const QueryQuestion& f = std::get<QueryQuestion>(fast);
  CHECK(f.header.id == 0x7fda);
  CHECK(f.lowercase_name == N("time.apple.com"));
  CHECK(f.question.type == RecordType::A);
  CHECK_FALSE(f.edns.has_value());

  // write_query() produces the same bytes as the stub resolver did.
  QuerySpec spec;
  spec.id = 0x7fda;
  spec.question = {N("time.apple.com"), RecordType::A, RecordClass::IN};
  std::vector<uint8_t> out(512);
  auto r = write_query(spec, out);
  REQUIRE(error_of(r) == WireError::None);
  out.resize(std::get<size_t>(r));
  CHECK(out == q);
}

TEST_CASE("The captured reply: CNAME and three A records through compression pointers", "[dns][vectors]") {
  std::vector<uint8_t> r = reply_payload();
  REQUIRE(r.size() == 109);

  Message m = parsed(r);
  CHECK(m.header.id == 0x7fda);
  CHECK(m.header.flags() == 0x8180);
  CHECK(m.header.qr);
  CHECK(m.header.rd);
  CHECK(m.header.ra);
  CHECK(m.rcode() == Rcode::NoError);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].name.to_text() == "time.apple.com");
  CHECK(m.questions[0].type == RecordType::A);
  REQUIRE(m.answers.size() == 4);
  CHECK(m.authorities.empty());
  CHECK(m.additionals.empty());
  CHECK_FALSE(m.edns.has_value());
  CHECK(m.trailing_bytes == 0);

  const ResourceRecord& cname = m.answers[0];
  CHECK(cname.name.to_text() == "time.apple.com");  // owner: pointer to the question (0xc00c)
  CHECK(cname.type == RecordType::CNAME);
  CHECK(cname.record_class == RecordClass::IN);
  CHECK(cname.ttl == 3323);
  // Target: "time", "g", "aaplimg" and a pointer to the question's "com" (0xc017).
  CHECK(std::get<CnameData>(cname.data).target.to_text() == "time.g.aaplimg.com");

  const std::array<std::array<uint8_t, 4>, 3> addresses = {{{17, 253, 116, 253}, {17, 253, 116, 125}, {17, 253, 84, 251}}};
  for (size_t i = 0; i < 3; ++i) {
    const ResourceRecord& a = m.answers[i + 1];
    INFO("A record " << i);
    CHECK(a.name.to_text() == "time.g.aaplimg.com");  // owner: pointer to the CNAME target (0xc02c)
    CHECK(a.type == RecordType::A);
    CHECK(a.ttl == 772);
    CHECK(std::get<AData>(a.data).address == addresses[i]);
  }

  // TTL fields for the cache, at the offsets counted by hand from the capture.
  CHECK(cname.ttl_offset == 38);
  CHECK(m.answers[1].ttl_offset == 67);
  CHECK(m.answers[2].ttl_offset == 83);
  CHECK(m.answers[3].ttl_offset == 99);
  std::array<uint16_t, 8> offsets;
  auto t = find_ttl_fields(r, offsets);
  REQUIRE(error_of(t) == WireError::None);
  const TtlFields& fields = std::get<TtlFields>(t);
  REQUIRE(fields.count == 4);
  CHECK(std::vector<uint16_t>(offsets.begin(), offsets.begin() + 4) == std::vector<uint16_t>{38, 67, 83, 99});
  CHECK(fields.min_ttl == uint32_t{772});
  CHECK(fields.kind == AnswerKind::Positive);
  CHECK_FALSE(fields.negative.has_value());
  CHECK(load32(r, 38) == 3323);

  // Our builder compresses exactly as the resolver did: the rebuild is byte for byte the same.
  std::vector<uint8_t> out(512);
  auto w = write_message(m, out);
  REQUIRE(error_of(w) == WireError::None);
  out.resize(std::get<size_t>(w));
  CHECK(out == r);

  // Aged by 300 s, as a cache would serve it.
  std::vector<uint8_t> aged = r;
  REQUIRE(age_ttls(aged, std::span(offsets).first(4), 300));
  Message a = parsed(aged);
  CHECK(a.answers[0].ttl == 3023);
  CHECK(a.answers[3].ttl == 472);

  // Cut to 61 bytes the CNAME (ending at 61) stays and the A records go; to 60, only the
  // question stays. TC is set either way.
  for (auto [limit, kept] : {std::pair<size_t, size_t>{61, 1}, std::pair<size_t, size_t>{60, 0}}) {
    std::vector<uint8_t> cut = r;
    auto n = truncate_message(cut, limit);
    REQUIRE(error_of(n) == WireError::None);
    CHECK(std::get<size_t>(n) == (kept ? 61u : 32u));
    cut.resize(std::get<size_t>(n));
    Message c = parsed(cut);
    CHECK(c.header.tc);
    REQUIRE(c.answers.size() == kept);
    if (kept) CHECK(c.answers[0] == cname);
  }
}

TEST_CASE("Every truncation of the captured reply is refused cleanly", "[dns][vectors]") {
  std::vector<uint8_t> r = reply_payload();
  for (size_t n = 0; n < r.size(); ++n) {
    std::vector<uint8_t> prefix(r.begin(), r.begin() + static_cast<ptrdiff_t>(n));  // exact size for ASan
    INFO("first " << n << " bytes");
    WireError e = error_of(parse_message(prefix));
    CHECK(e != WireError::None);
    if (n < 12) CHECK(e == WireError::TruncatedHeader);
    if (n == 32 || n == 61 || n == 77 || n == 93) CHECK(e == WireError::CountsExceedData);  // on a record boundary
  }
}
