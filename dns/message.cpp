#include "dns/message.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sluice::dns {

namespace {

uint16_t load16(std::span<const uint8_t> m, size_t at) { return static_cast<uint16_t>(m[at] << 8 | m[at + 1]); }
uint32_t load32(std::span<const uint8_t> m, size_t at) {
  return uint32_t{load16(m, at)} << 16 | load16(m, at + 2);
}
void store16(std::span<uint8_t> m, size_t at, uint16_t v) {
  m[at] = static_cast<uint8_t>(v >> 8);
  m[at + 1] = static_cast<uint8_t>(v);
}
void store32(std::span<uint8_t> m, size_t at, uint32_t v) {
  store16(m, at, static_cast<uint16_t>(v >> 16));
  store16(m, at + 2, static_cast<uint16_t>(v));
}

constexpr size_t kMinQuestionLength = 5;  // root name, type, class
constexpr size_t kMinRecordLength = 11;   // root name, type, class, TTL, RDLENGTH
constexpr size_t kRecordFixedLength = 10;  // type, class, TTL, RDLENGTH
constexpr uint8_t kFlagTcByte = 0x02;      // TC in the first flags byte

// RFC 2181 §8: a TTL with the top bit set is to be read as zero.
uint32_t effective_ttl(uint32_t ttl) { return ttl & 0x80000000u ? 0 : ttl; }

struct RecordFrame {
  Section section = Section::Answer;
  Name owner;
  RecordType type = RecordType::A;
  RecordClass record_class = RecordClass::IN;
  uint32_t ttl = 0;
  size_t ttl_offset = 0;
  size_t rdata_offset = 0;
  size_t rdata_length = 0;
  size_t end = 0;
};

// Reads a message's header, questions and records in order, checking everything (RDATA
// through check_rdata()) without allocating. The one place that decides whether a message is
// well formed, so every reader in this file accepts and refuses the same messages with the
// same error.
class Walker {
 public:
  explicit Walker(std::span<const uint8_t> m) : m_(m) {}

  WireError header(Header& h) {
    if (m_.size() < kHeaderLength) return WireError::TruncatedHeader;
    if (m_.size() > kMaxMessageLength) return WireError::MessageTooLarge;
    h = Header::from_flags(load16(m_, 0), load16(m_, 2));
    for (size_t i = 0; i < 4; ++i) counts_[i] = load16(m_, 4 + 2 * i);
    // Refuses impossible counts before any work, which also bounds what the parser reserves.
    size_t least = counts_[0] * kMinQuestionLength + (size_t{counts_[1]} + counts_[2] + counts_[3]) * kMinRecordLength;
    if (least > m_.size() - kHeaderLength) return WireError::CountsExceedData;
    pos_ = kHeaderLength;
    return WireError::None;
  }

  uint16_t count(size_t i) const { return counts_[i]; }
  size_t pos() const { return pos_; }

  // Calls on_question(const Question&) -> WireError for each question.
  template <class F>
  WireError questions(F&& on_question) {
    Question q;
    for (size_t i = 0; i < counts_[0]; ++i) {
      WireError e = question(q);
      if (e == WireError::None) e = on_question(q);
      if (e != WireError::None) return e;
    }
    return WireError::None;
  }

  // Calls on_record(const RecordFrame&) -> WireError for each record of the three sections.
  template <class F>
  WireError records(F&& on_record) {
    RecordFrame f;
    for (size_t s = 0; s < 3; ++s) {
      for (size_t i = 0; i < counts_[s + 1]; ++i) {
        WireError e = record(static_cast<Section>(s), f);
        if (e == WireError::None) e = on_record(f);
        if (e != WireError::None) return e;
      }
    }
    return WireError::None;
  }

 private:
  WireError question(Question& q) {
    if (pos_ >= m_.size()) return WireError::CountsExceedData;
    size_t next = 0;
    WireError e = read_name(m_, pos_, m_.size(), q.name, next, &prior_);
    if (e != WireError::None) return e;
    if (m_.size() - next < 4) return WireError::TruncatedQuestion;
    q.type = static_cast<RecordType>(load16(m_, next));
    q.record_class = static_cast<RecordClass>(load16(m_, next + 2));
    pos_ = next + 4;
    return WireError::None;
  }

  WireError record(Section section, RecordFrame& f) {
    if (pos_ >= m_.size()) return WireError::CountsExceedData;
    size_t next = 0;
    WireError e = read_name(m_, pos_, m_.size(), f.owner, next, &prior_);
    if (e != WireError::None) return e;
    if (m_.size() - next < kRecordFixedLength) return WireError::TruncatedRecord;
    f.section = section;
    f.type = static_cast<RecordType>(load16(m_, next));
    f.record_class = static_cast<RecordClass>(load16(m_, next + 2));
    f.ttl_offset = next + 4;
    f.ttl = load32(m_, next + 4);
    f.rdata_length = load16(m_, next + 8);
    f.rdata_offset = next + kRecordFixedLength;
    if (m_.size() - f.rdata_offset < f.rdata_length) return WireError::TruncatedRdata;
    f.end = f.rdata_offset + f.rdata_length;
    if (f.type == RecordType::OPT) {
      if (section != Section::Additional || !f.owner.is_root()) return WireError::BadOpt;
      if (seen_opt_) return WireError::DuplicateOpt;
      seen_opt_ = true;
    }
    e = check_rdata(m_, f.rdata_offset, f.rdata_length, f.type, f.record_class, &prior_);
    if (e != WireError::None) return e;
    pos_ = f.end;
    return WireError::None;
  }

  std::span<const uint8_t> m_;
  std::array<uint16_t, 4> counts_{};
  size_t pos_ = 0;
  bool seen_opt_ = false;
  PriorLabels prior_;
};

Edns edns_of(const RecordFrame& f, std::span<const uint8_t> m) {
  Edns e;
  e.udp_payload_size = static_cast<uint16_t>(f.record_class);
  e.extended_rcode = static_cast<uint8_t>(f.ttl >> 24);
  e.version = static_cast<uint8_t>(f.ttl >> 16);
  e.dnssec_ok = (f.ttl & 0x8000u) != 0;
  e.z = static_cast<uint16_t>(f.ttl & 0x7fffu);
  auto rdata = m.subspan(f.rdata_offset, f.rdata_length);
  e.options.assign(rdata.begin(), rdata.end());
  return e;
}

uint32_t opt_ttl_of(uint8_t extended_rcode, uint8_t version, bool dnssec_ok, uint16_t z) {
  return uint32_t{extended_rcode} << 24 | uint32_t{version} << 16 | (dnssec_ok ? 0x8000u : 0u) | (z & 0x7fffu);
}

}  // namespace

uint16_t Header::flags() const {
  return static_cast<uint16_t>((qr ? 0x8000 : 0) | (static_cast<unsigned>(opcode) & 0xf) << 11 | (aa ? 0x0400 : 0) |
                               (tc ? 0x0200 : 0) | (rd ? 0x0100 : 0) | (ra ? 0x0080 : 0) | (z ? 0x0040 : 0) |
                               (ad ? 0x0020 : 0) | (cd ? 0x0010 : 0) | (rcode & 0xf));
}

Header Header::from_flags(uint16_t id, uint16_t flags) {
  Header h;
  h.id = id;
  h.qr = flags & 0x8000;
  h.opcode = static_cast<Opcode>(flags >> 11 & 0xf);
  h.aa = flags & 0x0400;
  h.tc = flags & 0x0200;
  h.rd = flags & 0x0100;
  h.ra = flags & 0x0080;
  h.z = flags & 0x0040;
  h.ad = flags & 0x0020;
  h.cd = flags & 0x0010;
  h.rcode = static_cast<uint8_t>(flags & 0xf);
  return h;
}

Rcode Message::rcode() const {
  unsigned high = edns ? edns->extended_rcode : 0;
  return static_cast<Rcode>(high << 4 | header.rcode);
}

const std::vector<ResourceRecord>& Message::section(Section s) const {
  switch (s) {
    case Section::Answer: return answers;
    case Section::Authority: return authorities;
    default: return additionals;
  }
}

std::vector<ResourceRecord>& Message::section(Section s) {
  return const_cast<std::vector<ResourceRecord>&>(std::as_const(*this).section(s));
}

bool Message::operator==(const Message& other) const {
  return header == other.header && questions == other.questions && answers == other.answers &&
         authorities == other.authorities && additionals == other.additionals && edns == other.edns;
}

std::variant<Message, WireError> parse_message(std::span<const uint8_t> m) {
  Walker w(m);
  Message msg;
  WireError e = w.header(msg.header);
  if (e != WireError::None) return e;
  msg.questions.reserve(w.count(0));
  msg.answers.reserve(w.count(1));
  msg.authorities.reserve(w.count(2));
  msg.additionals.reserve(w.count(3));
  e = w.questions([&](const Question& q) {
    msg.questions.push_back(q);
    return WireError::None;
  });
  if (e != WireError::None) return e;
  e = w.records([&](const RecordFrame& f) {
    if (f.type == RecordType::OPT) {
      msg.edns = edns_of(f, m);
      return WireError::None;
    }
    ResourceRecord& r = msg.section(f.section).emplace_back();
    r.name = f.owner;
    r.type = f.type;
    r.record_class = f.record_class;
    r.ttl = f.ttl;
    r.ttl_offset = static_cast<uint16_t>(f.ttl_offset);  // < 65535: the message is no longer
    // Already checked by the walker, pointer targets included; this only decodes.
    return read_rdata(m, f.rdata_offset, f.rdata_length, f.type, f.record_class, r.data);
  });
  if (e != WireError::None) return e;
  msg.trailing_bytes = m.size() - w.pos();
  return msg;
}

std::variant<QueryQuestion, WireError> parse_query_question(std::span<const uint8_t> query) {
  Walker w(query);
  QueryQuestion out;
  WireError e = w.header(out.header);
  if (e != WireError::None) return e;
  if (out.header.qr) return WireError::NotAQuery;
  if (w.count(0) != 1) return WireError::NotOneQuestion;
  e = w.questions([&](const Question& q) {
    out.question = q;
    return WireError::None;
  });
  if (e != WireError::None) return e;
  out.lowercase_name = out.question.name.lowercased();
  e = w.records([&](const RecordFrame& f) {
    if (f.type == RecordType::OPT) {
      out.edns = QueryEdns{static_cast<uint16_t>(f.record_class), static_cast<uint8_t>(f.ttl >> 16),
                           (f.ttl & 0x8000u) != 0};
    }
    return WireError::None;
  });
  if (e != WireError::None) return e;
  return out;
}

// --- MessageWriter -------------------------------------------------------------------------

MessageWriter::MessageWriter(std::span<uint8_t> out) : out_(out.first(std::min(out.size(), kMaxMessageLength))) {}

WireError MessageWriter::begin(const Header& header, const Edns* edns) {
  phase_ = Phase::Idle;
  offset_ = 0;
  counts_ = {};
  names_.clear();
  has_opt_ = false;
  opt_length_ = 0;
  opt_options_ = {};
  if (header.rcode > 0xf || static_cast<unsigned>(header.opcode) > 0xf) return WireError::BadRcode;
  size_t opt_length = 0;
  if (edns) {
    if (edns->options.size() > 0xffff) return WireError::RdataTooLong;
    opt_length = kMinRecordLength + edns->options.size();
  }
  if (out_.size() < kHeaderLength + opt_length) return WireError::NoSpace;
  if (edns) {
    has_opt_ = true;
    opt_length_ = opt_length;
    opt_class_ = edns->udp_payload_size;
    opt_ttl_ = opt_ttl_of(edns->extended_rcode, edns->version, edns->dnssec_ok, edns->z);
    opt_options_ = edns->options;
  }
  store16(out_, 0, header.id);
  store16(out_, 2, header.flags());
  std::fill(out_.begin() + 4, out_.begin() + kHeaderLength, uint8_t{0});
  offset_ = kHeaderLength;
  phase_ = Phase::Questions;
  return WireError::None;
}

WireError MessageWriter::begin_response(const QueryQuestion& query, const ResponseOptions& options) {
  auto rcode = static_cast<unsigned>(options.rcode);
  if (rcode > 0xfff || (rcode > 0xf && !query.edns)) {
    phase_ = Phase::Idle;
    return WireError::BadRcode;
  }
  Header h;
  h.id = query.header.id;
  h.qr = true;
  h.opcode = query.header.opcode;
  h.aa = options.authoritative;
  h.rd = query.header.rd;
  h.ra = options.recursion_available;
  h.cd = query.header.cd;
  h.rcode = static_cast<uint8_t>(rcode & 0xf);
  Edns edns;  // no options, so begin() borrows nothing from this local
  if (query.edns) {
    edns.udp_payload_size = options.edns_payload_size;
    edns.extended_rcode = static_cast<uint8_t>(rcode >> 4);
    edns.dnssec_ok = query.edns->dnssec_ok;
  }
  WireError e = begin(h, query.edns ? &edns : nullptr);
  if (e != WireError::None) return e;
  return add_question(query.question);
}

WireError MessageWriter::add_question(const Question& question) {
  if (phase_ != Phase::Questions) return WireError::SectionOrder;
  if (counts_[0] == 0xffff) return WireError::TooManyRecords;
  std::span<uint8_t> room = out_.first(out_.size() - opt_length_);
  size_t start = offset_;
  size_t mark = names_.mark();
  WireError e = names_.write(question.name, room, offset_, true);
  if (e == WireError::None && room.size() - offset_ < 4) e = WireError::NoSpace;
  if (e != WireError::None) {
    offset_ = start;
    names_.rollback(mark);
    return e;
  }
  store16(room, offset_, static_cast<uint16_t>(question.type));
  store16(room, offset_ + 2, static_cast<uint16_t>(question.record_class));
  offset_ += 4;
  ++counts_[0];
  return WireError::None;
}

WireError MessageWriter::add_record(Section section, const ResourceRecord& record) {
  auto target = static_cast<Phase>(static_cast<unsigned>(Phase::Answer) + static_cast<unsigned>(section));
  if (phase_ < Phase::Questions || phase_ == Phase::Done || phase_ > target) return WireError::SectionOrder;
  if (record.type == RecordType::OPT) return WireError::BadOpt;
  size_t index = 1 + static_cast<size_t>(section);
  size_t most = 0xffff - (section == Section::Additional && has_opt_ ? 1 : 0);
  if (counts_[index] >= most) return WireError::TooManyRecords;

  std::span<uint8_t> room = out_.first(out_.size() - opt_length_);
  size_t start = offset_;
  size_t mark = names_.mark();
  auto undo = [&](WireError e) {
    offset_ = start;
    names_.rollback(mark);
    return e;
  };
  WireError e = names_.write(record.name, room, offset_, true);
  if (e != WireError::None) return undo(e);
  if (room.size() - offset_ < kRecordFixedLength) return undo(WireError::NoSpace);
  store16(room, offset_, static_cast<uint16_t>(record.type));
  store16(room, offset_ + 2, static_cast<uint16_t>(record.record_class));
  store32(room, offset_ + 4, record.ttl);
  size_t rdlength_at = offset_ + 8;
  offset_ += kRecordFixedLength;
  e = write_rdata(record, room, offset_, names_);
  if (e != WireError::None) return undo(e);
  size_t rdlength = offset_ - (rdlength_at + 2);
  if (rdlength > 0xffff) return undo(WireError::RdataTooLong);
  store16(room, rdlength_at, static_cast<uint16_t>(rdlength));
  ++counts_[index];
  phase_ = target;
  return WireError::None;
}

void MessageWriter::set_truncated() {
  if (phase_ != Phase::Idle && phase_ != Phase::Done) out_[2] |= kFlagTcByte;
}

std::variant<size_t, WireError> MessageWriter::finish() {
  if (phase_ == Phase::Idle || phase_ == Phase::Done) return WireError::SectionOrder;
  store16(out_, 4, counts_[0]);
  store16(out_, 6, counts_[1]);
  store16(out_, 8, counts_[2]);
  store16(out_, 10, static_cast<uint16_t>(counts_[3] + (has_opt_ ? 1 : 0)));
  if (has_opt_) {  // room was reserved by begin()
    out_[offset_] = 0;
    store16(out_, offset_ + 1, static_cast<uint16_t>(RecordType::OPT));
    store16(out_, offset_ + 3, opt_class_);
    store32(out_, offset_ + 5, opt_ttl_);
    store16(out_, offset_ + 9, static_cast<uint16_t>(opt_options_.size()));
    std::copy(opt_options_.begin(), opt_options_.end(), out_.begin() + static_cast<ptrdiff_t>(offset_ + kMinRecordLength));
    offset_ += opt_length_;
    opt_options_ = {};
  }
  phase_ = Phase::Done;
  return offset_;
}

// --- Whole messages ------------------------------------------------------------------------

std::variant<size_t, WireError> write_message(const Message& message, std::span<uint8_t> out) {
  MessageWriter w(out);
  WireError e = w.begin(message.header, message.edns ? &*message.edns : nullptr);
  for (size_t i = 0; e == WireError::None && i < message.questions.size(); ++i) e = w.add_question(message.questions[i]);
  for (Section s : {Section::Answer, Section::Authority, Section::Additional})
    for (size_t i = 0; e == WireError::None && i < message.section(s).size(); ++i) e = w.add_record(s, message.section(s)[i]);
  if (e != WireError::None) return e;
  return w.finish();
}

std::variant<size_t, WireError> write_error_response(const QueryQuestion& query, Rcode rcode, std::span<uint8_t> out,
                                                     uint16_t edns_payload_size) {
  MessageWriter w(out);
  MessageWriter::ResponseOptions options;
  options.rcode = rcode;
  options.edns_payload_size = edns_payload_size;
  WireError e = w.begin_response(query, options);
  if (e != WireError::None) return e;
  return w.finish();
}

std::variant<size_t, WireError> write_format_error(std::span<const uint8_t> query, std::span<uint8_t> out) {
  if (query.size() < kHeaderLength) return WireError::TruncatedHeader;
  Header in = Header::from_flags(load16(query, 0), load16(query, 2));
  Header h;
  h.id = in.id;
  h.qr = true;
  h.opcode = in.opcode;
  h.rd = in.rd;
  h.rcode = static_cast<uint8_t>(Rcode::FormErr);
  MessageWriter w(out);
  WireError e = w.begin(h);
  if (e != WireError::None) return e;
  return w.finish();
}

std::variant<size_t, WireError> write_query(const QuerySpec& query, std::span<uint8_t> out) {
  Header h;
  h.id = query.id;
  h.rd = query.recursion_desired;
  h.cd = query.checking_disabled;
  MessageWriter w(out);
  WireError e = w.begin(h, query.edns ? &*query.edns : nullptr);
  if (e == WireError::None) e = w.add_question(query.question);
  if (e != WireError::None) return e;
  return w.finish();
}

std::variant<size_t, WireError> truncate_message(std::span<uint8_t> message, size_t limit) {
  if (message.size() <= limit) return message.size();
  std::span<const uint8_t> m = message;
  auto no_question = [](const Question&) { return WireError::None; };

  // First pass: validate the framing and find the OPT, whose room every cut must leave.
  Walker first(m);
  Header header;
  WireError e = first.header(header);
  if (e == WireError::None) e = first.questions(no_question);
  if (e != WireError::None) return e;
  const size_t question_end = first.pos();
  bool has_opt = false;
  size_t opt_fixed_at = 0;  // its TYPE field: the owner is rewritten as one root byte
  size_t opt_rdata_length = 0;
  e = first.records([&](const RecordFrame& f) {
    if (f.type == RecordType::OPT) {
      has_opt = true;
      opt_fixed_at = f.rdata_offset - kRecordFixedLength;
      opt_rdata_length = f.rdata_length;
    }
    return WireError::None;
  });
  if (e != WireError::None) return e;
  const size_t opt_length = has_opt ? kMinRecordLength + opt_rdata_length : 0;
  if (question_end + opt_length > limit) return WireError::NoSpace;

  // Second pass: the longest prefix of records that fits together with the OPT.
  Walker second(m);
  second.header(header);
  second.questions(no_question);
  size_t cut = question_end;
  bool opt_in_place = false;
  bool stopped = false;
  std::array<uint16_t, 3> kept{};
  second.records([&](const RecordFrame& f) {
    bool is_opt = f.type == RecordType::OPT;
    size_t needed = f.end + (has_opt && !opt_in_place && !is_opt ? opt_length : 0);
    if (stopped || needed > limit) {
      stopped = true;
      return WireError::None;
    }
    cut = f.end;
    if (is_opt)
      opt_in_place = true;
    else
      ++kept[static_cast<size_t>(f.section)];
    return WireError::None;
  });

  size_t length = cut;
  if (has_opt && !opt_in_place) {
    // The OPT lies after the cut, so this moves it down; memmove because the ranges may overlap.
    message[cut] = 0;
    std::memmove(message.data() + cut + 1, message.data() + opt_fixed_at, kRecordFixedLength + opt_rdata_length);
    length = cut + opt_length;
  }
  bool dropped_required = kept[0] < second.count(1) || kept[1] < second.count(2);
  store16(message, 6, kept[0]);
  store16(message, 8, kept[1]);
  store16(message, 10, static_cast<uint16_t>(kept[2] + (has_opt ? 1 : 0)));
  if (dropped_required) message[2] |= kFlagTcByte;
  return length;
}

// --- TTLs ------------------------------------------------------------------------------------

std::variant<TtlFields, WireError> find_ttl_fields(std::span<const uint8_t> m, std::span<uint16_t> offsets) {
  Walker w(m);
  Header header;
  WireError e = w.header(header);
  if (e != WireError::None) return e;
  std::optional<RecordType> qtype;
  e = w.questions([&](const Question& q) {
    if (!qtype) qtype = q.type;
    return WireError::None;
  });
  if (e != WireError::None) return e;

  TtlFields fields;
  bool answered = false;
  unsigned extended_rcode = 0;
  std::optional<NegativeTtl> soa;
  e = w.records([&](const RecordFrame& f) {
    if (f.type == RecordType::OPT) {
      extended_rcode = f.ttl >> 24;
      return WireError::None;
    }
    if (fields.count >= offsets.size()) return WireError::NoSpace;
    offsets[fields.count++] = static_cast<uint16_t>(f.ttl_offset);
    uint32_t ttl = effective_ttl(f.ttl);
    fields.min_ttl = fields.min_ttl ? std::min(*fields.min_ttl, ttl) : ttl;
    if (f.section == Section::Answer && (!qtype || *qtype == RecordType::ANY || f.type == *qtype)) answered = true;
    if (f.section == Section::Authority && f.type == RecordType::SOA && !soa) {
      RData data;  // SoaData holds its names inline: no allocation
      WireError soa_error = read_rdata(m, f.rdata_offset, f.rdata_length, f.type, f.record_class, data);
      if (soa_error != WireError::None) return soa_error;
      soa = NegativeTtl{ttl, std::get<SoaData>(data).minimum, static_cast<uint16_t>(f.ttl_offset)};
    }
    return WireError::None;
  });
  if (e != WireError::None) return e;

  auto rcode = static_cast<Rcode>(extended_rcode << 4 | header.rcode);
  if (rcode == Rcode::NXDomain)
    fields.kind = AnswerKind::NxDomain;
  else if (rcode == Rcode::NoError)
    fields.kind = answered ? AnswerKind::Positive : AnswerKind::NoData;
  else
    fields.kind = AnswerKind::Error;
  if (fields.kind == AnswerKind::NxDomain || fields.kind == AnswerKind::NoData) fields.negative = soa;
  return fields;
}

bool age_ttls(std::span<uint8_t> message, std::span<const uint16_t> offsets, uint32_t seconds) {
  for (uint16_t at : offsets)
    if (size_t{at} + 4 > message.size()) return false;
  for (uint16_t at : offsets) {
    uint32_t ttl = effective_ttl(load32(message, at));
    store32(message, at, ttl > seconds ? ttl - seconds : 0);
  }
  return true;
}

}  // namespace sluice::dns
