#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "dns/message.h"
#include "wire_bytes.h"

using namespace sluice::dns;
using sluice::dns::test::error_of;
using sluice::dns::test::load32;
using sluice::dns::test::N;
using sluice::dns::test::parsed;
using sluice::dns::test::WireBytes;

// Counts heap allocations while `g_counting` is set, to check the paths that promise not to
// allocate. Replacing the global operators affects the whole dns_tests binary, harmlessly:
// outside a counted region they are plain malloc/free. Under AddressSanitizer they are left
// alone, so that its new/delete mismatch checks keep working; the counts are checked in the
// plain build only.
namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocations{0};
}  // namespace
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountsAllocations = false;
#else
constexpr bool kCountsAllocations = true;
// Not inlined: GCC would otherwise pair its built-in notion of operator new with the free()
// below and report a mismatch that is not there.
[[gnu::noinline]] void* operator new(std::size_t n) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif

// Checks that `g_allocations` stayed 0, where it is counted.
#define CHECK_NO_ALLOCATIONS()                  \
  do {                                          \
    if (kCountsAllocations) CHECK(g_allocations == 0); \
  } while (0)

namespace {

std::vector<uint8_t> build(const Message& m, size_t capacity = kMaxMessageLength) {
  std::vector<uint8_t> out(capacity);
  auto r = write_message(m, out);
  if (auto* e = std::get_if<WireError>(&r)) FAIL("write_message: " << describe(*e));
  out.resize(std::get<size_t>(r));
  return out;
}

Message every_type() {
  Message m;
  m.header.id = 0x1234;
  m.header.qr = true;
  m.header.aa = true;
  m.header.rd = true;
  m.header.ra = true;
  m.header.ad = true;
  m.questions.push_back({N("example.com"), RecordType::ANY, RecordClass::IN});
  Name apex = N("example.com");
  m.answers.push_back(make_record(apex, 300, AData{{192, 0, 2, 1}}));
  m.answers.push_back(make_record(apex, 301, AaaaData{{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}));
  m.answers.push_back(make_record(N("www.example.com"), 60, CnameData{apex}));
  m.answers.push_back(make_record(apex, 3600, NsData{N("ns1.example.com")}));
  m.answers.push_back(make_record(N("1.2.0.192.in-addr.arpa"), 61, PtrData{N("host.Example.com")}));
  m.answers.push_back(make_record(apex, 302, MxData{10, N("mail.example.com")}));
  m.answers.push_back(make_record(
      apex, 303, TxtData{{"v=spf1 -all", "", std::string(255, 'z'), std::string("\0\xff", 2)}}));
  m.answers.push_back(make_record(N("_sip._udp.example.com"), 304, SrvData{10, 20, 5060, N("sip.example.com")}));
  m.answers.push_back(
      make_record(apex, 305, OpaqueData{{0, 1, 0, 0, 1, 0, 3, 2, 'h', '2'}}, RecordType::HTTPS));
  ResourceRecord chaos_txt = make_record(N("version.bind"), 0, TxtData{{"sluice"}});
  chaos_txt.record_class = RecordClass::CH;
  m.answers.push_back(chaos_txt);
  // A in class CH is a Chaosnet address, not 4 bytes: carried opaquely.
  ResourceRecord chaos_a = make_record(N("host.ch"), 0, OpaqueData{{4, 'h', 'o', 's', 't', 0, 1, 2}}, RecordType::A);
  chaos_a.record_class = RecordClass::CH;
  m.answers.push_back(chaos_a);
  m.authorities.push_back(make_record(
      apex, 3600, SoaData{N("ns1.example.com"), N("hostmaster.example.com"), 2024010101, 7200, 3600, 1209600, 300}));
  m.additionals.push_back(make_record(N("ns1.example.com"), 306, AData{{192, 0, 2, 53}}));
  m.additionals.push_back(make_record(N("svc.example.com"), 307, OpaqueData{}, RecordType::SVCB));
  Edns edns;
  edns.udp_payload_size = 1232;
  edns.dnssec_ok = true;
  edns.options = {0x00, 0x0a, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8};  // a client cookie
  m.edns = edns;
  return m;
}

// A one-question query, as a stub resolver sends it.
std::vector<uint8_t> query_bytes(std::string_view name, RecordType type, std::optional<Edns> edns = {},
                                 uint16_t id = 0xbeef) {
  QuerySpec spec;
  spec.id = id;
  spec.question = {N(name), type, RecordClass::IN};
  spec.edns = std::move(edns);
  std::vector<uint8_t> out(512);
  auto r = write_query(spec, out);
  REQUIRE(error_of(r) == WireError::None);
  out.resize(std::get<size_t>(r));
  return out;
}

QueryQuestion fast(std::span<const uint8_t> bytes) {
  auto r = parse_query_question(bytes);
  if (auto* e = std::get_if<WireError>(&r)) FAIL("parse_query_question: " << describe(*e));
  return std::get<QueryQuestion>(r);
}

// A response to "a.example A" with one answer whose type, class and RDATA are given raw.
std::vector<uint8_t> answer_with(uint16_t type, std::initializer_list<uint8_t> rdata, uint16_t rclass = 1) {
  WireBytes w;
  w.header(1, 0x8180, 1, 1, 0, 0).name("a.example").u16(1).u16(1);
  w.pointer(12).fixed(type, rclass, 60, static_cast<uint16_t>(rdata.size())).raw(rdata);
  return w.b;
}

}  // namespace

TEST_CASE("Header flags round-trip every bit", "[dns][message]") {
  for (uint32_t flags = 0; flags <= 0xffff; flags += 1) {
    Header h = Header::from_flags(7, static_cast<uint16_t>(flags));
    REQUIRE(h.flags() == flags);
  }
  Header h = Header::from_flags(0x7fda, 0x8180);
  CHECK(h.qr);
  CHECK(h.opcode == Opcode::Query);
  CHECK(h.rd);
  CHECK(h.ra);
  CHECK_FALSE(h.aa);
  CHECK_FALSE(h.tc);
  CHECK(h.rcode == 0);
  Header u = Header::from_flags(1, 0x2800 | 0x0200 | 0x0040 | 0x0010 | 0x0003);
  CHECK(u.opcode == Opcode::Update);
  CHECK(u.tc);
  CHECK(u.z);
  CHECK(u.cd);
  CHECK(u.rcode == 3);
}

TEST_CASE("Every record type round-trips through the builder and the parser", "[dns][message]") {
  Message m = every_type();
  std::vector<uint8_t> bytes = build(m);
  Message back = parsed(bytes);
  CHECK(back == m);
  CHECK(back.trailing_bytes == 0);
  REQUIRE(back.answers.size() == 11);
  CHECK(back.rcode() == Rcode::NoError);

  // Typed where the type and class say so, opaque otherwise.
  CHECK(std::get<AData>(back.answers[0].data).address == std::array<uint8_t, 4>{192, 0, 2, 1});
  // Compression matches suffixes case-insensitively, so "Example.com" became a pointer to the
  // question's "example.com" and reads back in that case (equal as a name either way).
  CHECK(std::get<PtrData>(back.answers[4].data).target.to_text() == "host.example.com");
  CHECK(std::get<TxtData>(back.answers[6].data).strings.size() == 4);
  CHECK(std::get<TxtData>(back.answers[6].data).strings[3] == std::string("\0\xff", 2));
  CHECK(std::get<SrvData>(back.answers[7].data).port == 5060);
  CHECK(back.answers[8].type == RecordType::HTTPS);
  CHECK(std::holds_alternative<OpaqueData>(back.answers[8].data));
  CHECK(std::holds_alternative<TxtData>(back.answers[9].data));
  CHECK(back.answers[10].type == RecordType::A);
  CHECK(std::holds_alternative<OpaqueData>(back.answers[10].data));
  CHECK(std::get<SoaData>(back.authorities[0].data).minimum == 300);
  REQUIRE(back.edns.has_value());
  CHECK(back.edns->dnssec_ok);
  CHECK(back.edns->options.size() == 12);

  // Every parsed record knows where its TTL is.
  for (Section s : {Section::Answer, Section::Authority, Section::Additional})
    for (const ResourceRecord& r : back.section(s)) CHECK(load32(bytes, r.ttl_offset) == r.ttl);

  // Writing the parsed message again gives the same bytes.
  CHECK(build(back) == bytes);
}

TEST_CASE("RDATA is written in each type's wire format", "[dns][message]") {
  auto rdata_of = [](const ResourceRecord& r) {
    Message m;
    m.answers.push_back(r);
    std::vector<uint8_t> bytes = build(m);
    // Header, then the owner (uncompressed: it is the first name), type, class, TTL, RDLENGTH.
    size_t at = 12 + r.name.wire_length() + 10;
    REQUIRE(bytes.size() >= at);
    size_t length = size_t{bytes[at - 2]} << 8 | bytes[at - 1];
    REQUIRE(bytes.size() == at + length);
    return std::vector<uint8_t>(bytes.begin() + static_cast<ptrdiff_t>(at), bytes.end());
  };
  Name x = N("x");
  CHECK(rdata_of(make_record(x, 1, AData{{1, 2, 3, 4}})) == std::vector<uint8_t>{1, 2, 3, 4});
  CHECK(rdata_of(make_record(x, 1, MxData{0x0102, N("m")})) == std::vector<uint8_t>{1, 2, 1, 'm', 0});
  CHECK(rdata_of(make_record(x, 1, TxtData{{"ab", ""}})) == std::vector<uint8_t>{2, 'a', 'b', 0});
  CHECK(rdata_of(make_record(x, 1, TxtData{})).empty());
  CHECK(rdata_of(make_record(x, 1, SrvData{1, 2, 3, N("t")})) == std::vector<uint8_t>{0, 1, 0, 2, 0, 3, 1, 't', 0});
  CHECK(rdata_of(make_record(x, 1, SoaData{N("."), N("."), 1, 2, 3, 4, 5})) ==
        std::vector<uint8_t>{0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5});
  // A name in RDATA that repeats the owner is one pointer to it.
  CHECK(rdata_of(make_record(x, 1, CnameData{N("X")})) == std::vector<uint8_t>{0xc0, 12});
}

TEST_CASE("Names are compressed on write, except SRV targets", "[dns][message]") {
  Message m;
  m.header.qr = true;
  m.questions.push_back({N("time.apple.com"), RecordType::A, RecordClass::IN});
  m.answers.push_back(make_record(N("time.apple.com"), 1, CnameData{N("time.g.aaplimg.com")}));
  m.answers.push_back(make_record(N("time.g.aaplimg.com"), 1, AData{{1, 1, 1, 1}}));
  m.answers.push_back(make_record(N("time.apple.com"), 1, SrvData{0, 0, 123, N("time.apple.com")}));
  std::vector<uint8_t> bytes = build(m);
  // Question 16 + 4; CNAME: 2 + 10 + ("time", "g", "aaplimg", pointer: 17); A: 2 + 10 + 4;
  // SRV: 2 + 10 + 6 + the full 16-byte target.
  CHECK(bytes.size() == 12 + 20 + 29 + 16 + 34);
  CHECK(bytes[32] == 0xc0);
  CHECK(bytes[33] == 12);
  CHECK(std::vector<uint8_t>(bytes.end() - 16, bytes.end()) ==
        std::vector<uint8_t>{4, 't', 'i', 'm', 'e', 5, 'a', 'p', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0});
  CHECK(parsed(bytes) == m);
}

TEST_CASE("Malformed messages give the error that names the problem", "[dns][message]") {
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    WireError expected;
  };
  std::vector<Case> cases;
  auto add = [&](const char* what, std::vector<uint8_t> b, WireError e) { cases.push_back({what, std::move(b), e}); };
  WireBytes question;  // a valid response header and question, records to follow
  question.header(1, 0x8180, 1, 1, 0, 0).name("a.example").u16(1).u16(1);

  add("zero-length message", {}, WireError::TruncatedHeader);
  add("11 bytes", std::vector<uint8_t>(11, 0), WireError::TruncatedHeader);
  {
    WireBytes w;
    w.header(1, 0, 1, 0, 0, 0);
    add("question count with no question", w.b, WireError::CountsExceedData);
  }
  {
    WireBytes w;
    w.header(1, 0x8180, 0, 0xffff, 0, 0).name("a").fixed(1, 1, 0, 4).raw({1, 2, 3, 4});
    add("65535 answers in 30 bytes", w.b, WireError::CountsExceedData);
  }
  {
    WireBytes w = question;
    w.set16(6, 2);
    w.pointer(12).fixed(99, 1, 60, 20);
    for (int i = 0; i < 20; ++i) w.u8(0);
    add("answer count one more than the answers", w.b, WireError::CountsExceedData);
  }
  {
    WireBytes w;
    w.header(1, 0, 1, 0, 0, 0).name("a.example").u16(1);
    add("question without its class", w.b, WireError::TruncatedQuestion);
  }
  {
    WireBytes w = question;
    w.pointer(12).u16(1).u16(1).u16(0);
    add("record cut in its TTL", w.b, WireError::TruncatedRecord);
  }
  {
    WireBytes w = question;
    w.pointer(12).fixed(1, 1, 60, 10).raw({1, 2, 3, 4});
    add("RDLENGTH past the end", w.b, WireError::TruncatedRdata);
  }
  {
    WireBytes w = question;
    w.pointer(static_cast<uint16_t>(w.size() + 12)).fixed(5, 1, 60, 3).name("b");
    add("forward pointer in an owner", w.b, WireError::ForwardPointer);
  }
  {
    WireBytes w = question;
    w.pointer(static_cast<uint16_t>(w.size())).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("owner pointing at itself", w.b, WireError::PointerLoop);
  }
  {
    // The second owner points into the first record's opaque RDATA, at a 5-byte label that
    // would run on into the pointer and past the end of that record (found by
    // fuzz_dns_message: accepting it made truncated messages unreadable).
    WireBytes w = question;
    w.set16(6, 2);
    w.pointer(12).fixed(99, 1, 60, 3).raw({5, 'b', 'c'});
    w.pointer(39).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("owner pointing into opaque RDATA", w.b, WireError::BadPointerTarget);
  }
  {
    // A pointer to the question's type and class: bytes that are not a name.
    WireBytes w = question;
    w.pointer(23).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("owner pointing at the question type", w.b, WireError::BadPointerTarget);
    WireBytes v = question;
    v.pointer(15).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("owner pointing into the middle of a label", v.b, WireError::BadPointerTarget);
    WireBytes r = question;
    r.pointer(22).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("owner pointing at the question's root byte", r.b, WireError::BadPointerTarget);
  }
  {
    // A pointer to the TTL of an earlier record: a cache ageing that TTL would change the name.
    WireBytes w = question;
    w.set16(6, 2);
    w.pointer(12).fixed(1, 1, 0x01610000, 4).raw({1, 2, 3, 4});  // TTL bytes 01 'a' 00 00
    w.pointer(33).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("owner pointing at a TTL", w.b, WireError::BadPointerTarget);
  }
  {
    WireBytes w = question;
    w.pointer(0x3000).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("pointer past the end", w.b, WireError::PointerOutOfRange);
  }
  {
    WireBytes w = question;
    w.pointer(2).fixed(1, 1, 60, 4).raw({1, 2, 3, 4});
    add("pointer into the header", w.b, WireError::PointerOutOfRange);
  }
  {
    WireBytes w;
    w.header(1, 0, 1, 0, 0, 0).u8(64);
    for (int i = 0; i < 64; ++i) w.u8('a');
    w.u8(0).u16(1).u16(1);
    add("64-byte label", w.b, WireError::LabelTooLong);
  }
  {
    WireBytes w;
    w.header(1, 0, 1, 0, 0, 0).raw({0x41, 0x00}).u16(1).u16(1);
    add("extended label type 0x41", w.b, WireError::LabelTooLong);
    WireBytes v;
    v.header(1, 0, 1, 0, 0, 0).raw({0x80, 0x00}).u16(1).u16(1);
    add("label type 0x80", v.b, WireError::BadLabelType);
  }
  {
    WireBytes w;
    w.header(1, 0, 1, 0, 0, 0);
    for (int l = 0; l < 4; ++l) {
      w.u8(63);
      for (int i = 0; i < 63; ++i) w.u8('a');
    }
    w.u8(0).u16(1).u16(1);
    add("257-byte question name", w.b, WireError::NameTooLong);
  }
  {
    WireBytes w = question;
    w.u8(0).fixed(41, 512, 0, 0);
    add("OPT in the answer section", w.b, WireError::BadOpt);
  }
  {
    WireBytes w = question;
    w.set16(6, 0);
    w.set16(10, 1);
    w.pointer(12).fixed(41, 512, 0, 0);
    add("OPT owned by a name", w.b, WireError::BadOpt);
  }
  {
    WireBytes w = question;
    w.set16(6, 0);
    w.set16(10, 2);
    w.u8(0).fixed(41, 512, 0, 0).u8(0).fixed(41, 1232, 0, 0);
    add("two OPT records", w.b, WireError::DuplicateOpt);
  }
  {
    WireBytes w = question;
    w.pointer(12).fixed(99, 1, 60, 0xffff);
    w.b.resize(65536);
    add("65536 bytes", w.b, WireError::MessageTooLarge);
  }
  // RDATA that contradicts its type.
  add("A with 3 bytes", answer_with(1, {1, 2, 3}), WireError::BadRdata);
  add("A with 5 bytes", answer_with(1, {1, 2, 3, 4, 5}), WireError::BadRdata);
  add("AAAA with 4 bytes", answer_with(28, {1, 2, 3, 4}), WireError::BadRdata);
  add("CNAME with a byte after the name", answer_with(5, {1, 'b', 0, 7}), WireError::BadRdata);
  add("NS name running past RDLENGTH", answer_with(2, {3, 'a', 'b'}), WireError::TruncatedName);
  add("PTR pointing past the end", answer_with(12, {0xc0, 0x40}), WireError::PointerOutOfRange);
  add("PTR pointing at the question type", answer_with(12, {0xc0, 23}), WireError::BadPointerTarget);
  add("MX with only a preference", answer_with(15, {0, 10}), WireError::BadRdata);
  add("TXT string past RDLENGTH", answer_with(16, {3, 'a', 'b'}), WireError::BadRdata);
  add("SRV without a target", answer_with(33, {0, 1, 0, 2, 0, 3}), WireError::BadRdata);
  add("SOA missing MINIMUM", answer_with(6, {0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4}),
      WireError::BadRdata);
  add("SOA with an extra byte",
      answer_with(6, {0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 9}), WireError::BadRdata);

  // Every reader gives the same error, and the one that changes its input in place does not.
  for (const Case& c : cases) {
    INFO(c.what);
    // Exact-size copies, so AddressSanitizer sees any read past the end.
    std::vector<uint8_t> bytes = c.bytes;
    CHECK(error_of(parse_message(bytes)) == c.expected);
    std::array<uint16_t, 64> offsets;
    CHECK(error_of(find_ttl_fields(bytes, offsets)) == c.expected);
    std::vector<uint8_t> copy = c.bytes;
    WireError cut_error = error_of(truncate_message(copy, 0));
    if (!c.bytes.empty()) CHECK(cut_error == c.expected);  // an empty message already fits
    CHECK(copy == c.bytes);
    if (c.bytes.size() >= kHeaderLength) {
      // As a query with one question, the fast path agrees too.
      std::vector<uint8_t> query = c.bytes;
      query[2] &= 0x7f;
      if (c.bytes[4] == 0 && c.bytes[5] == 1) CHECK(error_of(parse_query_question(query)) == c.expected);
    }
  }

  // The same RDATA in a class other than IN is opaque, so A with 5 bytes is fine there.
  CHECK(error_of(parse_message(answer_with(1, {1, 2, 3, 4, 5}, 3))) == WireError::None);
}

TEST_CASE("Trailing bytes after the last record are tolerated and counted", "[dns][message]") {
  std::vector<uint8_t> q = query_bytes("example.com", RecordType::A);
  q.insert(q.end(), {0, 0, 0});
  Message m = parsed(q);
  CHECK(m.trailing_bytes == 3);
  CHECK(m.questions.size() == 1);
  CHECK(fast(q).question.name.to_text() == "example.com");
  // Rebuilt without them.
  CHECK(build(m).size() == q.size() - 3);
}

TEST_CASE("parse_query_question reads the question and the OPT without allocating", "[dns][message]") {
  Edns edns;
  edns.udp_payload_size = 4096;
  edns.dnssec_ok = true;
  edns.options = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint8_t> with = query_bytes("WwW.Example.COM", RecordType::AAAA, edns, 0x1234);
  std::vector<uint8_t> without = query_bytes("example.org", RecordType::HTTPS);

  g_allocations = 0;
  g_counting = true;
  auto a = parse_query_question(with);
  auto b = parse_query_question(without);
  g_counting = false;
  CHECK_NO_ALLOCATIONS();

  REQUIRE(error_of(a) == WireError::None);
  const QueryQuestion& q = std::get<QueryQuestion>(a);
  CHECK(q.header.id == 0x1234);
  CHECK(q.header.rd);
  CHECK_FALSE(q.header.qr);
  CHECK(q.question.name.to_text() == "WwW.Example.COM");
  CHECK(q.lowercase_name.to_text() == "www.example.com");
  CHECK(std::equal(q.lowercase_name.wire().begin(), q.lowercase_name.wire().end(), N("www.example.com").wire().begin()));
  CHECK(q.question.type == RecordType::AAAA);
  CHECK(q.question.record_class == RecordClass::IN);
  REQUIRE(q.edns.has_value());
  CHECK(q.edns->udp_payload_size == 4096);
  CHECK(q.edns->dnssec_ok);
  CHECK(q.edns->version == 0);

  REQUIRE(error_of(b) == WireError::None);
  CHECK_FALSE(std::get<QueryQuestion>(b).edns.has_value());
  CHECK(std::get<QueryQuestion>(b).question.type == RecordType::HTTPS);

  SECTION("responses and other question counts are refused") {
    std::vector<uint8_t> response = with;
    response[2] |= 0x80;
    CHECK(error_of(parse_query_question(response)) == WireError::NotAQuery);
    WireBytes none;
    none.header(1, 0x0100, 0, 0, 0, 0);
    CHECK(error_of(parse_query_question(none.b)) == WireError::NotOneQuestion);
    WireBytes two;
    two.header(1, 0x0100, 2, 0, 0, 0).name("a").u16(1).u16(1).name("b").u16(1).u16(1);
    CHECK(error_of(parse_query_question(two.b)) == WireError::NotOneQuestion);
    CHECK(error_of(parse_message(two.b)) == WireError::None);
  }
  SECTION("framing errors are the parser's") {
    WireBytes w;
    w.header(1, 0x0100, 1, 0, 0, 1).name("a").u16(1).u16(1).name("x").fixed(41, 512, 0, 0);
    CHECK(error_of(parse_query_question(w.b)) == WireError::BadOpt);
    std::vector<uint8_t> cut(with.begin(), with.end() - 1);
    CHECK(error_of(parse_query_question(cut)) == WireError::TruncatedRdata);
    CHECK(error_of(parse_query_question(std::vector<uint8_t>{})) == WireError::TruncatedHeader);
  }
}

TEST_CASE("Responses built from a query", "[dns][message]") {
  Edns edns;
  edns.udp_payload_size = 4096;
  edns.dnssec_ok = true;
  std::vector<uint8_t> query = query_bytes("Time.Apple.COM", RecordType::A, edns, 0x7fda);
  query[3] |= 0x10;  // CD
  QueryQuestion q = fast(query);

  std::vector<uint8_t> out(512);
  MessageWriter w(out);
  MessageWriter::ResponseOptions options;
  options.edns_payload_size = 1232;
  REQUIRE(w.begin_response(q, options) == WireError::None);
  ResourceRecord a = make_record(q.question.name, 60, AData{{17, 253, 116, 253}});
  REQUIRE(w.add_record(Section::Answer, a) == WireError::None);
  auto length = w.finish();
  REQUIRE(error_of(length) == WireError::None);
  out.resize(std::get<size_t>(length));

  CHECK(out[0] == 0x7f);
  CHECK(out[1] == 0xda);
  CHECK(out[2] == 0x81);  // QR, opcode 0, RD echoed
  CHECK(out[3] == 0x90);  // RA, CD echoed, NOERROR
  // The question as sent, then the answer's owner as a pointer to it.
  CHECK(std::equal(out.begin() + 12, out.begin() + 12 + 20, query.begin() + 12));
  CHECK(out[32] == 0xc0);
  CHECK(out[33] == 12);
  Message m = parsed(out);
  CHECK(m.header.qr);
  CHECK(m.header.rd);
  CHECK(m.header.ra);
  CHECK(m.header.cd);
  CHECK_FALSE(m.header.aa);
  REQUIRE(m.answers.size() == 1);
  CHECK(m.answers[0] == a);
  REQUIRE(m.edns.has_value());
  CHECK(m.edns->udp_payload_size == 1232);
  CHECK(m.edns->dnssec_ok);  // RFC 3225: DO copied

  SECTION("authoritative, no recursion") {
    std::vector<uint8_t> o(512);
    MessageWriter aw(o);
    options.authoritative = true;
    options.recursion_available = false;
    REQUIRE(aw.begin_response(q, options) == WireError::None);
    REQUIRE(error_of(aw.finish()) == WireError::None);
    Header h = Header::from_flags(0, static_cast<uint16_t>(o[2] << 8 | o[3]));
    CHECK(h.aa);
    CHECK_FALSE(h.ra);
  }
}

TEST_CASE("Error responses: NXDOMAIN, REFUSED, SERVFAIL, FORMERR, BADVERS", "[dns][message]") {
  Edns edns;
  std::vector<uint8_t> with_edns = query_bytes("blocked.example", RecordType::A, edns, 0x0102);
  std::vector<uint8_t> plain = query_bytes("blocked.example", RecordType::AAAA, {}, 0x0304);

  for (Rcode rcode : {Rcode::NXDomain, Rcode::Refused, Rcode::ServFail, Rcode::FormErr}) {
    for (const auto* query : {&with_edns, &plain}) {
      QueryQuestion q = fast(*query);
      std::vector<uint8_t> out(512);
      auto r = write_error_response(q, rcode, out, 1400);
      REQUIRE(error_of(r) == WireError::None);
      out.resize(std::get<size_t>(r));
      Message m = parsed(out);
      CHECK(m.header.id == q.header.id);
      CHECK(m.header.qr);
      CHECK(m.header.rd);
      CHECK(m.rcode() == rcode);
      REQUIRE(m.questions.size() == 1);
      CHECK(m.questions[0] == q.question);
      CHECK(m.answers.empty());
      CHECK(m.authorities.empty());
      CHECK(m.additionals.empty());
      // An OPT only when the query had one (RFC 6891 §7).
      CHECK(m.edns.has_value() == q.edns.has_value());
      if (m.edns) CHECK(m.edns->udp_payload_size == 1400);
    }
  }

  // BADVERS needs the OPT's extended rcode bits.
  std::vector<uint8_t> out(512);
  auto r = write_error_response(fast(with_edns), Rcode::BadVers, out);
  REQUIRE(error_of(r) == WireError::None);
  out.resize(std::get<size_t>(r));
  Message m = parsed(out);
  CHECK(m.header.rcode == 0);
  CHECK(m.edns->extended_rcode == 1);
  CHECK(m.rcode() == Rcode::BadVers);
  std::vector<uint8_t> out2(512);
  CHECK(error_of(write_error_response(fast(plain), Rcode::BadVers, out2)) == WireError::BadRcode);

  // Too small a buffer.
  std::vector<uint8_t> tiny(20);
  CHECK(error_of(write_error_response(fast(plain), Rcode::Refused, tiny)) == WireError::NoSpace);
}

TEST_CASE("FORMERR for bytes that do not parse", "[dns][message]") {
  std::vector<uint8_t> garbage = {0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff};
  REQUIRE(error_of(parse_message(garbage)) != WireError::None);
  std::vector<uint8_t> out(512);
  auto r = write_format_error(garbage, out);
  REQUIRE(error_of(r) == WireError::None);
  out.resize(std::get<size_t>(r));
  CHECK(out.size() == 12);
  Message m = parsed(out);
  CHECK(m.header.id == 0xabcd);
  CHECK(m.header.qr);
  CHECK(m.header.rd);
  CHECK(m.rcode() == Rcode::FormErr);
  CHECK(m.questions.empty());

  std::vector<uint8_t> short_query(11, 0);
  CHECK(error_of(write_format_error(short_query, out)) == WireError::TruncatedHeader);
}

TEST_CASE("Queries for upstream forwarding", "[dns][message]") {
  QuerySpec spec;
  spec.id = 42;
  spec.question = {N("Example.NET"), RecordType::MX, RecordClass::IN};
  spec.recursion_desired = false;
  spec.checking_disabled = true;
  Edns edns;
  edns.udp_payload_size = 1232;
  edns.dnssec_ok = true;
  spec.edns = edns;
  std::vector<uint8_t> out(512);
  auto r = write_query(spec, out);
  REQUIRE(error_of(r) == WireError::None);
  out.resize(std::get<size_t>(r));
  CHECK(out.size() == 12 + 13 + 4 + 11);
  Message m = parsed(out);
  CHECK(m.header.id == 42);
  CHECK_FALSE(m.header.qr);
  CHECK_FALSE(m.header.rd);
  CHECK(m.header.cd);
  REQUIRE(m.questions.size() == 1);
  CHECK(m.questions[0].name.to_text() == "Example.NET");
  CHECK(m.questions[0].type == RecordType::MX);
  CHECK(m.edns == edns);
}

TEST_CASE("MessageWriter refuses what does not fit and stays valid", "[dns][message]") {
  Edns edns;
  edns.udp_payload_size = 512;
  edns.options = {0, 12, 0, 4, 0, 0, 0, 0};  // padding option: 8 bytes, OPT 19 bytes in all
  Header h;
  h.id = 9;
  h.qr = true;
  const size_t capacity = 12 + 15 + 19 + 5 * 16 + 7;  // room for five A records, not six
  std::vector<uint8_t> out(capacity);
  MessageWriter w(out);
  REQUIRE(w.begin(h, &edns) == WireError::None);
  REQUIRE(w.add_question({N("a.example"), RecordType::A, RecordClass::IN}) == WireError::None);
  int added = 0;
  for (int i = 0; i < 10; ++i) {
    size_t before = w.size();
    WireError e = w.add_record(Section::Answer, make_record(N("a.example"), 60, AData{{10, 0, 0, uint8_t(i)}}));
    if (e == WireError::NoSpace) {
      CHECK(w.size() == before);
      w.set_truncated();
      break;
    }
    REQUIRE(e == WireError::None);
    ++added;
  }
  CHECK(added == 5);
  auto length = w.finish();
  REQUIRE(error_of(length) == WireError::None);
  CHECK(std::get<size_t>(length) == capacity - 7);
  out.resize(std::get<size_t>(length));
  Message m = parsed(out);
  CHECK(m.header.tc);
  CHECK(m.answers.size() == 5);
  REQUIRE(m.edns.has_value());
  CHECK(m.edns->options == edns.options);

  SECTION("a failed record leaves the compression dictionary as it was") {
    std::vector<uint8_t> buffer(12 + 15 + 20);
    MessageWriter v(buffer);
    REQUIRE(v.begin(h) == WireError::None);
    REQUIRE(v.add_question({N("a.example"), RecordType::A, RecordClass::IN}) == WireError::None);
    // The owner "b.a.example" is written (and remembered) before the RDATA is found not to
    // fit. If it stayed remembered, the next "b.a.example" would become a pointer to itself.
    CHECK(v.add_record(Section::Answer, make_record(N("b.a.example"), 1, TxtData{{std::string(20, 't')}})) ==
          WireError::NoSpace);
    REQUIRE(v.add_record(Section::Answer, make_record(N("b.a.example"), 1, AData{})) == WireError::None);
    auto n = v.finish();
    REQUIRE(error_of(n) == WireError::None);
    buffer.resize(std::get<size_t>(n));
    Message p = parsed(buffer);
    REQUIRE(p.answers.size() == 1);
    CHECK(p.answers[0].name.to_text() == "b.a.example");
  }
}

TEST_CASE("MessageWriter enforces order and record consistency", "[dns][message]") {
  std::vector<uint8_t> out(512);
  MessageWriter w(out);
  ResourceRecord a = make_record(N("a"), 1, AData{});
  CHECK(w.add_record(Section::Answer, a) == WireError::SectionOrder);
  CHECK(error_of(w.finish()) == WireError::SectionOrder);
  REQUIRE(w.begin(Header{}) == WireError::None);
  REQUIRE(w.add_record(Section::Authority, a) == WireError::None);
  CHECK(w.add_question({N("a"), RecordType::A, RecordClass::IN}) == WireError::SectionOrder);
  CHECK(w.add_record(Section::Answer, a) == WireError::SectionOrder);
  REQUIRE(w.add_record(Section::Additional, a) == WireError::None);
  CHECK(w.add_record(Section::Authority, a) == WireError::SectionOrder);

  size_t before = w.size();
  ResourceRecord wrong = a;
  wrong.data = AaaaData{};
  CHECK(w.add_record(Section::Additional, wrong) == WireError::RdataMismatch);
  ResourceRecord opaque_a = make_record(N("a"), 1, OpaqueData{{1, 2, 3, 4}}, RecordType::A);
  CHECK(w.add_record(Section::Additional, opaque_a) == WireError::RdataMismatch);
  ResourceRecord opt = make_record(N("."), 0, OpaqueData{}, RecordType::OPT);
  CHECK(w.add_record(Section::Additional, opt) == WireError::BadOpt);
  CHECK(w.add_record(Section::Additional, make_record(N("a"), 1, TxtData{{std::string(256, 'x')}})) ==
        WireError::RdataTooLong);
  CHECK(w.size() == before);

  REQUIRE(error_of(w.finish()) == WireError::None);
  CHECK(error_of(w.finish()) == WireError::SectionOrder);
  CHECK(w.add_record(Section::Additional, a) == WireError::SectionOrder);

  Header bad;
  bad.rcode = 16;
  CHECK(w.begin(bad) == WireError::BadRcode);
  std::vector<uint8_t> tiny(11);
  MessageWriter t(tiny);
  CHECK(t.begin(Header{}) == WireError::NoSpace);
  std::vector<uint8_t> no_room_for_opt(12 + 10);
  MessageWriter o(no_room_for_opt);
  Edns edns;
  CHECK(o.begin(Header{}, &edns) == WireError::NoSpace);
}

namespace {

// A response with `answers` A records, two additional A records and an OPT, in that order
// unless `opt_first` puts the OPT before the additional records.
std::vector<uint8_t> long_response(int answers, bool opt_first = false) {
  WireBytes w;
  w.header(7, 0x8180, 1, static_cast<uint16_t>(answers), 1, 3).name("a.example").u16(1).u16(1);
  for (int i = 0; i < answers; ++i) w.pointer(12).fixed(1, 1, 60, 4).raw({10, 0, 0, uint8_t(i)});
  w.pointer(12).fixed(6, 1, 60, 22).raw({0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5});
  auto opt = [&] { w.u8(0).fixed(41, 1232, 0x00008000, 4).raw({0, 12, 0, 0}); };
  if (opt_first) opt();
  w.name("ns.example").fixed(1, 1, 60, 4).raw({192, 0, 2, 1});
  w.name("ns2.example").fixed(1, 1, 60, 4).raw({192, 0, 2, 2});
  if (!opt_first) opt();
  return w.b;
}

}  // namespace

TEST_CASE("truncate_message cuts at a record boundary and keeps the OPT", "[dns][message]") {
  std::vector<uint8_t> original = long_response(40);
  Message full = parsed(original);
  REQUIRE(full.answers.size() == 40);

  SECTION("fits already: untouched") {
    std::vector<uint8_t> m = original;
    CHECK(std::get<size_t>(truncate_message(m, original.size())) == original.size());
    CHECK(m == original);
  }
  SECTION("cut inside the answers sets TC") {
    std::vector<uint8_t> m = original;
    auto r = truncate_message(m, 512);
    REQUIRE(error_of(r) == WireError::None);
    size_t length = std::get<size_t>(r);
    CHECK(length <= 512);
    m.resize(length);
    Message cut = parsed(m);
    CHECK(cut.header.tc);
    // Question 15, then 16-byte records, then the 15-byte OPT.
    CHECK(cut.answers.size() == (512 - 12 - 15 - 15) / 16);
    CHECK(std::equal(cut.answers.begin(), cut.answers.end(), full.answers.begin()));
    CHECK(cut.authorities.empty());
    CHECK(cut.additionals.empty());
    CHECK(cut.edns == full.edns);
    CHECK(length == 12 + 15 + cut.answers.size() * 16 + 15);
  }
  SECTION("dropping only additional records leaves TC clear") {
    std::vector<uint8_t> m = original;
    size_t limit = original.size() - 1;  // the last A record (owner ns2.example) must go
    auto r = truncate_message(m, limit);
    REQUIRE(error_of(r) == WireError::None);
    m.resize(std::get<size_t>(r));
    Message cut = parsed(m);
    CHECK_FALSE(cut.header.tc);
    CHECK(cut.answers.size() == 40);
    CHECK(cut.authorities.size() == 1);
    CHECK(cut.additionals.size() == 1);
    CHECK(cut.edns == full.edns);
  }
  SECTION("an OPT before the cut stays where it is") {
    std::vector<uint8_t> opt_first = long_response(3, true);
    Message before = parsed(opt_first);
    std::vector<uint8_t> m = opt_first;
    auto r = truncate_message(m, opt_first.size() - 1);
    REQUIRE(error_of(r) == WireError::None);
    m.resize(std::get<size_t>(r));
    Message cut = parsed(m);
    CHECK(cut.additionals.size() == 1);
    CHECK(cut.edns == before.edns);
    CHECK(std::equal(m.begin() + 12, m.end(), opt_first.begin() + 12));
  }
  SECTION("too small even for the question and the OPT") {
    std::vector<uint8_t> m = original;
    CHECK(error_of(truncate_message(m, 12 + 15 + 14)) == WireError::NoSpace);
    CHECK(m == original);
    CHECK(error_of(truncate_message(m, 12 + 15 + 15)) == WireError::None);
  }
  SECTION("no allocation") {
    std::vector<uint8_t> m = original;
    g_allocations = 0;
    g_counting = true;
    auto r = truncate_message(m, 512);
    g_counting = false;
    CHECK_NO_ALLOCATIONS();
    CHECK(error_of(r) == WireError::None);
  }
}

TEST_CASE("TTL fields, minimum TTL and negative answers", "[dns][message]") {
  std::array<uint16_t, 16> offsets;

  SECTION("positive answer") {
    Message m;
    m.header.qr = true;
    m.questions.push_back({N("a.example"), RecordType::A, RecordClass::IN});
    m.answers.push_back(make_record(N("a.example"), 300, CnameData{N("b.example")}));
    m.answers.push_back(make_record(N("b.example"), 120, AData{{1, 2, 3, 4}}));
    m.additionals.push_back(make_record(N("c.example"), 0x80000001u, AData{}));  // top bit: reads as 0
    m.edns = Edns{};
    std::vector<uint8_t> bytes = build(m);
    Message p = parsed(bytes);

    g_allocations = 0;
    g_counting = true;
    auto r = find_ttl_fields(bytes, offsets);
    g_counting = false;
    CHECK_NO_ALLOCATIONS();
    REQUIRE(error_of(r) == WireError::None);
    TtlFields t = std::get<TtlFields>(r);
    REQUIRE(t.count == 3);  // not the OPT
    CHECK(offsets[0] == p.answers[0].ttl_offset);
    CHECK(offsets[1] == p.answers[1].ttl_offset);
    CHECK(offsets[2] == p.additionals[0].ttl_offset);
    CHECK(t.min_ttl == uint32_t{0});
    CHECK(t.kind == AnswerKind::Positive);
    CHECK_FALSE(t.negative.has_value());

    std::array<uint16_t, 2> small;
    CHECK(error_of(find_ttl_fields(bytes, small)) == WireError::NoSpace);

    // Ageing by 100 s: 300 -> 200, 120 -> 20, the top-bit TTL -> 0; the OPT is untouched.
    std::vector<uint8_t> aged = bytes;
    REQUIRE(age_ttls(aged, std::span(offsets).first(t.count), 100));
    Message a = parsed(aged);
    CHECK(a.answers[0].ttl == 200);
    CHECK(a.answers[1].ttl == 20);
    CHECK(a.additionals[0].ttl == 0);
    CHECK(a.edns == p.edns);
    REQUIRE(age_ttls(aged, std::span(offsets).first(t.count), 1000));
    CHECK(parsed(aged).answers[0].ttl == 0);

    // An offset out of range changes nothing.
    std::vector<uint8_t> copy = bytes;
    std::array<uint16_t, 2> bad = {offsets[0], static_cast<uint16_t>(bytes.size() - 3)};
    CHECK_FALSE(age_ttls(copy, bad, 1));
    CHECK(copy == bytes);
  }

  auto negative = [&](uint8_t rcode, bool with_soa, std::vector<ResourceRecord> answers) {
    Message m;
    m.header.qr = true;
    m.header.rcode = rcode;
    m.questions.push_back({N("x.example"), RecordType::AAAA, RecordClass::IN});
    m.answers = std::move(answers);
    if (with_soa)
      m.authorities.push_back(
          make_record(N("example"), 900, SoaData{N("ns.example"), N("host.example"), 1, 2, 3, 4, 60}));
    std::vector<uint8_t> bytes = build(m);
    auto r = find_ttl_fields(bytes, offsets);
    REQUIRE(error_of(r) == WireError::None);
    return std::get<TtlFields>(r);
  };

  SECTION("NXDOMAIN with an SOA: min(SOA TTL, MINIMUM)") {
    TtlFields t = negative(3, true, {});
    CHECK(t.kind == AnswerKind::NxDomain);
    REQUIRE(t.negative.has_value());
    CHECK(t.negative->soa_ttl == 900);
    CHECK(t.negative->soa_minimum == 60);
    CHECK(t.negative->ttl() == 60);
    CHECK(t.count == 1);
    CHECK(t.negative->soa_ttl_offset == offsets[0]);
  }
  SECTION("NODATA: NOERROR, a CNAME but no record of the asked type") {
    TtlFields t = negative(0, true, {make_record(N("x.example"), 30, CnameData{N("y.example")})});
    CHECK(t.kind == AnswerKind::NoData);
    REQUIRE(t.negative.has_value());
    CHECK(t.negative->ttl() == 60);
    CHECK(t.min_ttl == uint32_t{30});
  }
  SECTION("NODATA without an SOA has no negative TTL") {
    TtlFields t = negative(0, false, {});
    CHECK(t.kind == AnswerKind::NoData);
    CHECK_FALSE(t.negative.has_value());
    CHECK_FALSE(t.min_ttl.has_value());
    CHECK(t.count == 0);
  }
  SECTION("SERVFAIL is an error, not a negative answer") {
    TtlFields t = negative(2, true, {});
    CHECK(t.kind == AnswerKind::Error);
    CHECK_FALSE(t.negative.has_value());
  }
  SECTION("an SOA TTL below MINIMUM wins") {
    Message m;
    m.header.qr = true;
    m.header.rcode = 3;
    m.questions.push_back({N("x.example"), RecordType::A, RecordClass::IN});
    m.authorities.push_back(make_record(N("example"), 10, SoaData{N("a"), N("b"), 1, 2, 3, 4, 3600}));
    std::vector<uint8_t> bytes = build(m);
    TtlFields t = std::get<TtlFields>(find_ttl_fields(bytes, offsets));
    CHECK(t.negative->ttl() == 10);
  }
  SECTION("a malformed SOA is reported") {
    WireBytes w;
    w.header(1, 0x8183, 1, 0, 1, 0).name("x").u16(1).u16(1).pointer(12).fixed(6, 1, 60, 3).raw({0, 0, 0});
    CHECK(error_of(find_ttl_fields(w.b, offsets)) == WireError::BadRdata);
  }
}

TEST_CASE("Building a reply allocates nothing", "[dns][message]") {
  std::vector<uint8_t> query = query_bytes("a.example", RecordType::A, Edns{});
  std::vector<uint8_t> out(1232);
  ResourceRecord a = make_record(N("a.example"), 60, AData{{10, 0, 0, 1}});
  g_allocations = 0;
  g_counting = true;
  auto q = parse_query_question(query);
  MessageWriter w(out);
  WireError e = w.begin_response(std::get<QueryQuestion>(q), {});
  if (e == WireError::None) e = w.add_record(Section::Answer, a);
  auto length = w.finish();
  auto refused = write_error_response(std::get<QueryQuestion>(q), Rcode::Refused, out);
  g_counting = false;
  CHECK_NO_ALLOCATIONS();
  CHECK(e == WireError::None);
  CHECK(error_of(length) == WireError::None);
  CHECK(error_of(refused) == WireError::None);
}
