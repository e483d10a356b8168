// dns/message.h: every DNS message the interceptor sees goes through these readers, and the
// builder writes what it sends back. Beyond staying in bounds:
//  - the readers agree: the query fast path, the TTL walk and truncation accept exactly what
//    the full parser accepts, refuse the rest with the same error, and report the same fields;
//  - a parsed message rebuilds, the rebuild parses to an equal message, is no longer than the
//    message written without compression, and rebuilding that gives the same bytes again;
//  - every name's presentation form reads back as the same bytes;
//  - truncation keeps a prefix of whole records plus the OPT, within the limit, and sets TC
//    exactly when an answer or authority record was dropped;
//  - ageing TTLs changes exactly the TTL fields.
#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "dns/message.h"
#include "fuzz_support.h"

using namespace sluice::dns;

namespace {

template <class T>
const T* ok(const std::variant<T, WireError>& r) {
  return std::get_if<T>(&r);
}

uint32_t load32(std::span<const uint8_t> m, size_t at) {
  return uint32_t{m[at]} << 24 | uint32_t{m[at + 1]} << 16 | uint32_t{m[at + 2]} << 8 | m[at + 3];
}

size_t rdata_size(const RData& data) {
  return std::visit(
      [](const auto& d) -> size_t {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, AData> || std::is_same_v<T, AaaaData>) {
          return d.address.size();
        } else if constexpr (std::is_same_v<T, NsData>) {
          return d.host.wire_length();
        } else if constexpr (std::is_same_v<T, CnameData> || std::is_same_v<T, PtrData>) {
          return d.target.wire_length();
        } else if constexpr (std::is_same_v<T, MxData>) {
          return 2 + d.exchange.wire_length();
        } else if constexpr (std::is_same_v<T, TxtData>) {
          size_t n = 0;
          for (const auto& s : d.strings) n += 1 + s.size();
          return n;
        } else if constexpr (std::is_same_v<T, SrvData>) {
          return 6 + d.target.wire_length();
        } else if constexpr (std::is_same_v<T, SoaData>) {
          return d.mname.wire_length() + d.rname.wire_length() + 20;
        } else {
          return d.bytes.size();
        }
      },
      data);
}

// The size of `m` written with no compression at all: an upper bound for the builder.
size_t uncompressed_size(const Message& m) {
  size_t n = kHeaderLength;
  for (const Question& q : m.questions) n += q.name.wire_length() + 4;
  for (Section s : {Section::Answer, Section::Authority, Section::Additional})
    for (const ResourceRecord& r : m.section(s)) n += r.name.wire_length() + 10 + rdata_size(r.data);
  if (m.edns) n += 11 + m.edns->options.size();
  return n;
}

void check_text_round_trip(const Name& name) {
  auto back = Name::from_text(name.to_text());
  FUZZ_CHECK(std::holds_alternative<Name>(back));
  auto a = std::get<Name>(back).wire();
  auto b = name.wire();
  FUZZ_CHECK(a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()));
}

void check_names(const Message& m) {
  for (const Question& q : m.questions) check_text_round_trip(q.name);
  for (Section s : {Section::Answer, Section::Authority, Section::Additional}) {
    for (const ResourceRecord& r : m.section(s)) {
      check_text_round_trip(r.name);
      std::visit(
          [](const auto& d) {
            using T = std::decay_t<decltype(d)>;
            if constexpr (std::is_same_v<T, NsData>) check_text_round_trip(d.host);
            if constexpr (std::is_same_v<T, CnameData> || std::is_same_v<T, PtrData> || std::is_same_v<T, SrvData>)
              check_text_round_trip(d.target);
            if constexpr (std::is_same_v<T, MxData>) check_text_round_trip(d.exchange);
            if constexpr (std::is_same_v<T, SoaData>) {
              check_text_round_trip(d.mname);
              check_text_round_trip(d.rname);
            }
          },
          r.data);
    }
  }
}

bool is_prefix(const std::vector<ResourceRecord>& part, const std::vector<ResourceRecord>& whole) {
  return part.size() <= whole.size() && std::equal(part.begin(), part.end(), whole.begin());
}

void check_truncation(std::span<const uint8_t> bytes, const Message& m, size_t limit) {
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  auto r = truncate_message(copy, limit);
  size_t question_bytes = kHeaderLength;
  for (const Question& q : m.questions) question_bytes += q.name.wire_length() + 4;  // upper bound
  if (auto* e = std::get_if<WireError>(&r)) {
    FUZZ_CHECK(*e == WireError::NoSpace);
    FUZZ_CHECK(limit < bytes.size());
    FUZZ_CHECK(limit < question_bytes + (m.edns ? 11 + m.edns->options.size() : 0));
    FUZZ_CHECK(std::equal(copy.begin(), copy.end(), bytes.begin()));
    return;
  }
  size_t length = std::get<size_t>(r);
  if (bytes.size() <= limit) {
    FUZZ_CHECK(length == bytes.size());
    return;
  }
  FUZZ_CHECK(length <= limit);
  std::vector<uint8_t> cut(copy.begin(), copy.begin() + static_cast<ptrdiff_t>(length));
  auto again = parse_message(cut);
  FUZZ_CHECK(ok(again) != nullptr);
  const Message& c = *ok(again);
  FUZZ_CHECK(c.questions == m.questions);
  FUZZ_CHECK(c.edns == m.edns);
  FUZZ_CHECK(c.trailing_bytes == 0);
  FUZZ_CHECK(is_prefix(c.answers, m.answers));
  FUZZ_CHECK(is_prefix(c.authorities, m.authorities));
  FUZZ_CHECK(is_prefix(c.additionals, m.additionals));
  FUZZ_CHECK(c.authorities.empty() || c.answers.size() == m.answers.size());
  FUZZ_CHECK(c.additionals.empty() || c.authorities.size() == m.authorities.size());
  bool dropped = c.answers.size() < m.answers.size() || c.authorities.size() < m.authorities.size();
  FUZZ_CHECK(c.header.tc == (m.header.tc || dropped));
  Header h = c.header;
  h.tc = m.header.tc;
  FUZZ_CHECK(h == m.header);
}

void check_ageing(std::span<const uint8_t> bytes, const Message& m, std::span<const uint16_t> offsets, uint32_t seconds) {
  std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  FUZZ_CHECK(age_ttls(copy, offsets, seconds));
  // Only the TTL fields changed.
  std::vector<bool> is_ttl(copy.size(), false);
  for (uint16_t at : offsets)
    for (size_t k = 0; k < 4; ++k) is_ttl[at + k] = true;
  for (size_t i = 0; i < copy.size(); ++i)
    if (!is_ttl[i]) FUZZ_CHECK(copy[i] == bytes[i]);
  auto aged = parse_message(copy);
  FUZZ_CHECK(ok(aged) != nullptr);
  const Message& a = *ok(aged);
  for (Section s : {Section::Answer, Section::Authority, Section::Additional}) {
    for (size_t i = 0; i < m.section(s).size(); ++i) {
      uint32_t before = m.section(s)[i].ttl & 0x80000000u ? 0 : m.section(s)[i].ttl;
      FUZZ_CHECK(a.section(s)[i].ttl == (before > seconds ? before - seconds : 0));
      ResourceRecord x = a.section(s)[i];
      x.ttl = m.section(s)[i].ttl;
      FUZZ_CHECK(x == m.section(s)[i]);
    }
  }
  FUZZ_CHECK(a.edns == m.edns);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // libFuzzer's buffer is exactly `size` bytes on the heap, so ASan sees any read past it.
  std::span<const uint8_t> bytes(data, size);
  static std::array<uint16_t, kMaxRecordsPerMessage> offsets;
  static std::array<uint8_t, kMaxMessageLength> out;
  static std::array<uint8_t, kMaxMessageLength> out2;

  auto parsed = parse_message(bytes);
  auto ttl = find_ttl_fields(bytes, offsets);
  auto fast = parse_query_question(bytes);

  // FORMERR can be written for anything with a header.
  auto formerr = write_format_error(bytes, out);
  FUZZ_CHECK(ok(formerr) != nullptr || (size < kHeaderLength && *std::get_if<WireError>(&formerr) == WireError::TruncatedHeader));

  if (!ok(parsed)) {
    // Every reader refuses it, with the same error; truncation leaves it as it was.
    WireError e = std::get<WireError>(parsed);
    FUZZ_CHECK(e != WireError::None);
    FUZZ_CHECK(!ok(ttl) && std::get<WireError>(ttl) == e);
    FUZZ_CHECK(!ok(fast));
    WireError f = std::get<WireError>(fast);
    FUZZ_CHECK(f == e || f == WireError::NotAQuery || f == WireError::NotOneQuestion);
    std::vector<uint8_t> copy(bytes.begin(), bytes.end());
    auto cut = truncate_message(copy, 0);
    if (size > 0) FUZZ_CHECK(!ok(cut) && std::get<WireError>(cut) == e);
    FUZZ_CHECK(std::equal(copy.begin(), copy.end(), bytes.begin()));
    return 0;
  }
  const Message& m = *ok(parsed);
  FUZZ_CHECK(m.trailing_bytes <= size);

  // The TTL walk agrees with the parsed records.
  FUZZ_CHECK(ok(ttl) != nullptr);
  const TtlFields& t = *ok(ttl);
  size_t i = 0;
  std::optional<uint32_t> min_ttl;
  for (Section s : {Section::Answer, Section::Authority, Section::Additional}) {
    for (const ResourceRecord& r : m.section(s)) {
      FUZZ_CHECK(i < t.count && offsets[i] == r.ttl_offset);
      FUZZ_CHECK(size_t{r.ttl_offset} + 4 <= size && load32(bytes, r.ttl_offset) == r.ttl);
      uint32_t e = r.ttl & 0x80000000u ? 0 : r.ttl;
      min_ttl = min_ttl ? std::min(*min_ttl, e) : e;
      ++i;
    }
  }
  FUZZ_CHECK(i == t.count && t.min_ttl == min_ttl);
  FUZZ_CHECK((t.kind == AnswerKind::NxDomain) == (m.rcode() == Rcode::NXDomain));
  if (t.negative) FUZZ_CHECK(t.kind == AnswerKind::NxDomain || t.kind == AnswerKind::NoData);

  // The query fast path agrees wherever it applies.
  if (!m.header.qr && m.questions.size() == 1) {
    FUZZ_CHECK(ok(fast) != nullptr);
    const QueryQuestion& q = *ok(fast);
    FUZZ_CHECK(q.header == m.header);
    FUZZ_CHECK(q.question == m.questions[0]);
    FUZZ_CHECK(q.lowercase_name == q.question.name);
    for (uint8_t b : q.lowercase_name.wire()) FUZZ_CHECK(!(b >= 'A' && b <= 'Z'));
    FUZZ_CHECK(q.edns.has_value() == m.edns.has_value());
    if (q.edns) {
      FUZZ_CHECK(q.edns->udp_payload_size == m.edns->udp_payload_size);
      FUZZ_CHECK(q.edns->version == m.edns->version && q.edns->dnssec_ok == m.edns->dnssec_ok);
    }
    // And a reply to it can always be written and read back.
    auto refused = write_error_response(q, Rcode::Refused, out);
    FUZZ_CHECK(ok(refused) != nullptr);
    auto reply = parse_message(std::span<const uint8_t>(out.data(), *ok(refused)));
    FUZZ_CHECK(ok(reply) != nullptr);
    FUZZ_CHECK(ok(reply)->questions.size() == 1 && ok(reply)->questions[0] == q.question);
    FUZZ_CHECK(ok(reply)->rcode() == Rcode::Refused && ok(reply)->header.id == q.header.id);
  } else {
    FUZZ_CHECK(!ok(fast));
    WireError e = std::get<WireError>(fast);
    FUZZ_CHECK(e == (m.header.qr ? WireError::NotAQuery : WireError::NotOneQuestion));
  }

  check_names(m);

  // Rebuild, parse again, rebuild again.
  size_t bound = uncompressed_size(m);
  auto built = write_message(m, out);
  if (bound > kMaxMessageLength) {
    FUZZ_CHECK(ok(built) || std::get<WireError>(built) == WireError::NoSpace);
  } else {
    FUZZ_CHECK(ok(built) != nullptr);
  }
  if (ok(built)) {
    size_t n = *ok(built);
    FUZZ_CHECK(n <= bound);
    std::vector<uint8_t> rebuilt(out.begin(), out.begin() + static_cast<ptrdiff_t>(n));
    auto reparsed = parse_message(rebuilt);
    FUZZ_CHECK(ok(reparsed) != nullptr);
    FUZZ_CHECK(*ok(reparsed) == m);
    FUZZ_CHECK(ok(reparsed)->trailing_bytes == 0);
    auto built2 = write_message(*ok(reparsed), out2);
    FUZZ_CHECK(ok(built2) != nullptr && *ok(built2) == n);
    FUZZ_CHECK(std::memcmp(out.data(), out2.data(), n) == 0);
  }

  // Truncation at a few limits taken from the input.
  size_t limits[] = {size - 1, size / 2, size > 0 ? size_t{data[0]} * 2 : 0, 512};
  for (size_t limit : limits) check_truncation(bytes, m, limit);

  uint32_t seconds = size >= 4 ? load32(bytes, size - 4) >> (data[0] & 31) : 1;
  check_ageing(bytes, m, std::span<const uint16_t>(offsets.data(), t.count), seconds);
  return 0;
}
