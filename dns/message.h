// DNS messages (RFC 1035 §4.1) with EDNS0 (RFC 6891): the full parser, the allocation-free
// query fast path for the interceptor, the TTL map a cache rewrites in place (RFC 2181 §8,
// RFC 2308), in-place truncation, and the builder that writes into a caller's buffer.
//
// Parsing rules, the same for every reader here (they accept exactly the same messages, with
// the same error for each refusal):
//  - every name is read through read_name() (dns/name.h): pointers strictly backwards, bounded,
//    and only to where a label of an earlier name starts (a question, an owner, or a name in
//    the RDATA of NS, CNAME, PTR, MX, SRV or SOA; not inside opaque RDATA);
//  - RDATA of the types in record.h must match its format exactly;
//  - OPT may only appear once, in the additional section, owned by the root;
//  - bytes after the last record are tolerated and ignored (Message::trailing_bytes counts
//    them): some middleboxes pad datagrams, and a reply built from such a query is still right.
//    The builders never write any.
// No function keeps a reference to its input after it returns unless it says so.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "dns/name.h"
#include "dns/record.h"

namespace sluice::dns {

// Any 4-bit value is valid on the wire; these are the assigned ones.
enum class Opcode : uint8_t { Query = 0, IQuery = 1, Status = 2, Notify = 4, Update = 5 };

// The 12-bit extended rcode: header bits plus the OPT's upper 8 (RFC 6891 §6.1.3).
enum class Rcode : uint16_t {
  NoError = 0,
  FormErr = 1,
  ServFail = 2,
  NXDomain = 3,
  NotImp = 4,
  Refused = 5,
  YXDomain = 6,
  YXRRSet = 7,
  NXRRSet = 8,
  NotAuth = 9,
  NotZone = 10,
  BadVers = 16,
};

struct Header {
  uint16_t id = 0;
  bool qr = false;
  Opcode opcode = Opcode::Query;
  bool aa = false;
  bool tc = false;
  bool rd = false;
  bool ra = false;
  bool z = false;  // reserved; kept as received so a parsed message rebuilds identically
  bool ad = false;
  bool cd = false;
  uint8_t rcode = 0;  // the low 4 bits only; Edns::extended_rcode holds the rest

  // The 16-bit flags word of the wire header.
  uint16_t flags() const;
  static Header from_flags(uint16_t id, uint16_t flags);
  bool operator==(const Header&) const = default;
};

// The OPT pseudo-record's fields (RFC 6891 §6.1.2-6.1.3).
struct Edns {
  // The requestor's UDP payload size (OPT CLASS), as sent. RFC 6891 §6.2.5 says to read
  // values below 512 as 512; that is for the caller deciding a size, so it is kept raw here.
  uint16_t udp_payload_size = 1232;
  uint8_t extended_rcode = 0;  // upper 8 bits of the 12-bit rcode
  uint8_t version = 0;
  bool dnssec_ok = false;        // DO (RFC 3225)
  uint16_t z = 0;                // the other 15 flag bits, as received
  std::vector<uint8_t> options;  // RDATA: {code, length, data} options, carried opaquely
  bool operator==(const Edns&) const = default;
};

enum class Section : uint8_t { Answer, Authority, Additional };

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<ResourceRecord> answers;
  std::vector<ResourceRecord> authorities;
  std::vector<ResourceRecord> additionals;  // without the OPT, which is `edns`
  std::optional<Edns> edns;
  // Bytes after the last record of the parsed message; ignored, and not part of the value.
  size_t trailing_bytes = 0;

  Rcode rcode() const;  // the full 12-bit rcode
  const std::vector<ResourceRecord>& section(Section s) const;
  std::vector<ResourceRecord>& section(Section s);
  // Content equality: names compare case-insensitively; trailing_bytes and the records'
  // ttl_offset are not compared.
  bool operator==(const Message& other) const;
};

// Parses a whole message. `message` is borrowed for the call; the result owns copies of
// everything in it. Fails on the first malformed field with the error that names it.
std::variant<Message, WireError> parse_message(std::span<const uint8_t> message);

// Writes `message` (counts from its vectors, OPT last in the additional section) into `out`
// (caller-owned; only the returned number of bytes is meaningful) with name compression.
// parse_message() of the result equals `message`.
std::variant<size_t, WireError> write_message(const Message& message, std::span<uint8_t> out);

// --- The query fast path -------------------------------------------------------------------

struct QueryEdns {
  uint16_t udp_payload_size = 0;  // raw, as in Edns
  uint8_t version = 0;
  bool dnssec_ok = false;
  bool operator==(const QueryEdns&) const = default;
};

struct QueryQuestion {
  Header header;
  Question question;    // the name keeps the case it was sent in, to be echoed in the reply
  Name lowercase_name;  // the same name in lowercase: the key for policy and cache lookups
  std::optional<QueryEdns> edns;
};

// Reads what the interceptor needs from a query: header, its one question and the OPT's
// fields. Does not allocate (the result holds the names inline). Checks the whole message as
// parse_message() does, but keeps nothing else. Errors: NotAQuery if QR is set,
// NotOneQuestion unless QDCOUNT is 1 (both found from the header, before the rest is
// checked), else as parse_message(). `query` is borrowed for the call.
std::variant<QueryQuestion, WireError> parse_query_question(std::span<const uint8_t> query);

// --- Building ------------------------------------------------------------------------------

// Builds one message in place in a caller-owned buffer, section by section: begin(),
// add_question()..., add_record() in section order, finish(). Names are compressed. A record
// that does not fit is refused with NoSpace and leaves the message exactly as before it, so a
// caller truncates at a record boundary by stopping there (and calling set_truncated()).
// Never writes past out.size() or 65535 bytes, and never allocates.
class MessageWriter {
 public:
  // `out` is borrowed: the writer must not outlive it. Its first size() bytes are the message
  // so far; finish() makes them a complete one.
  explicit MessageWriter(std::span<uint8_t> out);

  // Starts a message with `header` (its counts come from what is added; its tc is kept). If
  // `edns` is given, room for its OPT is reserved now and the OPT is written by finish();
  // edns->options is borrowed until finish() returns. Restarts the writer if called again.
  WireError begin(const Header& header, const Edns* edns = nullptr);
  // begin() for a reply to `query`: its id, opcode, RD and CD; QR; AA and RA and the rcode
  // from `options`; then its question, as sent. An OPT only if the query had one
  // (RFC 6891 §7), with options.edns_payload_size, the query's DO echoed (RFC 3225 §3) and the
  // rcode's upper bits. An rcode over 15 without a query OPT is BadRcode.
  struct ResponseOptions {
    Rcode rcode = Rcode::NoError;
    bool authoritative = false;
    bool recursion_available = true;
    uint16_t edns_payload_size = 1232;
  };
  WireError begin_response(const QueryQuestion& query, const ResponseOptions& options);

  WireError add_question(const Question& question);
  // `record` is copied into the buffer. OPT is refused (BadOpt): EDNS goes through begin().
  WireError add_record(Section section, const ResourceRecord& record);
  void set_truncated();  // TC on; after begin()

  // Writes the counts and the OPT. Returns the message length; the writer is then done.
  std::variant<size_t, WireError> finish();
  size_t size() const { return offset_; }

 private:
  enum class Phase : uint8_t { Idle, Questions, Answer, Authority, Additional, Done };
  std::span<uint8_t> out_;
  size_t offset_ = 0;
  Phase phase_ = Phase::Idle;
  std::array<uint16_t, 4> counts_{};  // question, answer, authority, additional
  bool has_opt_ = false;
  size_t opt_length_ = 0;
  uint16_t opt_class_ = 0;
  uint32_t opt_ttl_ = 0;
  std::span<const uint8_t> opt_options_;
  NameCompressor names_;
};

// A whole reply to `query` with `rcode` and no records (REFUSED, SERVFAIL, NXDOMAIN without an
// SOA, FORMERR for a query that parsed but is unacceptable), as begin_response() describes it.
// Written into `out` (caller-owned); returns the length.
std::variant<size_t, WireError> write_error_response(const QueryQuestion& query, Rcode rcode,
                                                     std::span<uint8_t> out,
                                                     uint16_t edns_payload_size = 1232);

// FORMERR for bytes that did not parse: the query's id, opcode and RD, no sections (its
// question cannot be trusted). Needs the 12-byte header (else TruncatedHeader: drop it).
// Does not look at QR: never answer a message that was itself a response. `query` is
// borrowed for the call; `out` is caller-owned.
std::variant<size_t, WireError> write_format_error(std::span<const uint8_t> query, std::span<uint8_t> out);

// A query for forwarding upstream: opcode QUERY, one question, RD/CD as given, an OPT if
// `edns` is set. Written into `out` (caller-owned); returns the length.
struct QuerySpec {
  uint16_t id = 0;
  Question question;
  bool recursion_desired = true;
  bool checking_disabled = false;
  std::optional<Edns> edns;
};
std::variant<size_t, WireError> write_query(const QuerySpec& query, std::span<uint8_t> out);

// Cuts a message (e.g. an upstream reply) to at most `limit` bytes in place, at a record
// boundary: header and questions stay, then as many whole records as fit, in order; the OPT,
// if any, is kept (moved up behind the last kept record, owner written as the root byte) and
// its room is counted. Counts are fixed, and TC is set if an answer or authority record was
// dropped (RFC 2181 §9: dropping additional records alone does not set it). Names stay valid
// because a pointer may only lead to an earlier name. A message that already fits is returned
// untouched and unchecked. `message` is the caller's buffer, holding exactly the message.
// Returns the new length, NoSpace if even the header, questions and OPT do not fit, or the
// parse error.
std::variant<size_t, WireError> truncate_message(std::span<uint8_t> message, size_t limit);

// --- TTLs for the cache ----------------------------------------------------------------------

// How a reply answers its (first) question, for caching (RFC 2308 §2).
enum class AnswerKind : uint8_t {
  Positive,  // NOERROR and an answer record of the question's type (any type for ANY)
  NxDomain,  // rcode NXDOMAIN, whatever CNAMEs the answer section holds
  NoData,    // NOERROR without such a record (referrals land here too, without an SOA)
  Error,     // any other rcode
};

// RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA MINIMUM).
struct NegativeTtl {
  uint32_t soa_ttl = 0;      // already read as 0 if its top bit was set
  uint32_t soa_minimum = 0;
  uint16_t soa_ttl_offset = 0;
  uint32_t ttl() const { return soa_ttl < soa_minimum ? soa_ttl : soa_minimum; }
};

struct TtlFields {
  size_t count = 0;                 // TTL offsets written to the caller's span
  std::optional<uint32_t> min_ttl;  // smallest of those TTLs (top bit set reads as 0); none if no records
  AnswerKind kind = AnswerKind::Error;
  std::optional<NegativeTtl> negative;  // NxDomain/NoData with an SOA in the authority section
};

// Enough room for the TTL offsets of any message (every record at least 11 bytes).
inline constexpr size_t kMaxRecordsPerMessage = (kMaxMessageLength - kHeaderLength) / 11;

// Walks `message` (borrowed for the call) without allocating and writes into `offsets`
// (caller-owned) the offset of every TTL field in the answer, authority and additional
// sections except the OPT's, in message order. Checks the message as parse_message() does.
// NoSpace if `offsets` is too short.
std::variant<TtlFields, WireError> find_ttl_fields(std::span<const uint8_t> message,
                                                   std::span<uint16_t> offsets);

// Ages a cached message in place: every TTL at `offsets` (from find_ttl_fields on the same
// bytes) goes down by `seconds`, stopping at 0; TTLs with the top bit set become 0. Nothing
// else changes meaning, since no name can be made of TTL bytes (pointers only lead to earlier
// names). If any offset is out of range, returns false and changes nothing. `message` is
// caller-owned.
bool age_ttls(std::span<uint8_t> message, std::span<const uint16_t> offsets, uint32_t seconds);

}  // namespace sluice::dns
