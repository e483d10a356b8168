#include "dns/upstream.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

namespace sluice::dns {

namespace {

constexpr uint16_t kTypeOpt = 41;
constexpr size_t kRecordFixed = 10;  // TYPE, CLASS, TTL, RDLENGTH
constexpr size_t kOptLength = 11;    // root owner + fixed part, no options
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagTc = 0x0200;

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void store16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The offset after the name at `pos` (labels, ending in the root byte or one pointer), without
// following pointers. Nothing if it runs past `end` or uses an unknown label type.
std::optional<size_t> skip_name(std::span<const uint8_t> m, size_t pos, size_t end) {
  for (size_t labels = 0; labels <= kMaxNameLength; ++labels) {
    if (pos >= end) return std::nullopt;
    const uint8_t length = m[pos];
    if (length == 0) return pos + 1;
    if ((length & 0xc0) == 0xc0) {
      if (pos + 2 > end) return std::nullopt;
      return pos + 2;
    }
    if ((length & 0xc0) != 0) return std::nullopt;
    pos += 1 + size_t{length};
  }
  return std::nullopt;
}

struct OptPlace {
  bool found = false;
  size_t start = 0;   // the owner byte
  size_t fixed = 0;   // the TYPE field
  size_t end = 0;     // after its RDATA
};

// Finds the OPT pseudo-record and checks that every record fits in `length` bytes.
std::optional<OptPlace> find_opt(std::span<const uint8_t> m, size_t length) {
  if (length < kHeaderLength) return std::nullopt;
  const size_t counts[4] = {load16(&m[4]), load16(&m[6]), load16(&m[8]), load16(&m[10])};
  size_t pos = kHeaderLength;
  for (size_t i = 0; i < counts[0]; ++i) {
    auto next = skip_name(m, pos, length);
    if (!next || *next + 4 > length) return std::nullopt;
    pos = *next + 4;
  }
  OptPlace opt;
  for (size_t section = 1; section < 4; ++section) {
    for (size_t i = 0; i < counts[section]; ++i) {
      const size_t start = pos;
      auto next = skip_name(m, pos, length);
      if (!next || *next + kRecordFixed > length) return std::nullopt;
      const size_t fixed = *next;
      const size_t end = fixed + kRecordFixed + load16(&m[fixed + 8]);
      if (end > length) return std::nullopt;
      if (load16(&m[fixed]) == kTypeOpt) {
        if (section != 3 || opt.found) return std::nullopt;
        opt = OptPlace{true, start, fixed, end};
      }
      pos = end;
    }
  }
  return opt;
}

}  // namespace

uint16_t upstream_udp_payload(const Upstream& server, uint32_t tunnel_mtu) {
  if (server.direct) return kDirectUdpPayload;
  const size_t headers = udp_headers_length(server.endpoint.address.family);
  const size_t room = tunnel_mtu > headers ? tunnel_mtu - headers : 0;
  return static_cast<uint16_t>(std::clamp<size_t>(room, kClassicUdpPayload, 65535));
}

uint16_t client_udp_limit(const QueryQuestion& query, IpFamily family, uint32_t mtu) {
  size_t asked = kClassicUdpPayload;
  if (query.edns) asked = std::max<size_t>(query.edns->udp_payload_size, kClassicUdpPayload);
  const size_t headers = udp_headers_length(family);
  const size_t room = mtu > headers ? mtu - headers : 0;
  return static_cast<uint16_t>(std::max<size_t>(std::min(asked, room), kClassicUdpPayload));
}

ReplyVerdict judge_reply(std::span<const uint8_t> reply, const Question& question) {
  if (reply.size() < kHeaderLength || reply.size() > kMaxMessageLength) return ReplyVerdict::malformed;
  const uint16_t flags = load16(&reply[2]);
  if ((flags & kFlagQr) == 0) return ReplyVerdict::malformed;
  const uint8_t rcode = flags & 0x0f;
  const bool server_error = rcode == static_cast<uint8_t>(Rcode::FormErr) ||
                            rcode == static_cast<uint8_t>(Rcode::ServFail) ||
                            rcode == static_cast<uint8_t>(Rcode::NotImp) ||
                            rcode == static_cast<uint8_t>(Rcode::Refused);
  const uint16_t qdcount = load16(&reply[4]);
  if (qdcount == 0) return server_error ? ReplyVerdict::server_error : ReplyVerdict::mismatch;
  if (qdcount != 1) return ReplyVerdict::malformed;
  Name name;
  size_t next = 0;
  if (read_name(reply, kHeaderLength, reply.size(), name, next) != WireError::None || next + 4 > reply.size())
    return ReplyVerdict::malformed;
  if (!(name == question.name) || load16(&reply[next]) != static_cast<uint16_t>(question.type) ||
      load16(&reply[next + 2]) != static_cast<uint16_t>(question.record_class))
    return ReplyVerdict::mismatch;
  if (server_error) return ReplyVerdict::server_error;
  if ((flags & kFlagTc) != 0) return ReplyVerdict::truncated;
  return ReplyVerdict::answer;
}

std::optional<size_t> shape_reply(std::span<uint8_t> message, size_t length, const QueryQuestion& query,
                                  uint16_t payload_size) {
  if (length > message.size()) return std::nullopt;
  auto opt = find_opt(message, length);
  if (!opt) return std::nullopt;
  // The question name: at offset 12 it cannot be compressed (a pointer must point backwards
  // into the body), and a reply that passed judge_reply() echoes it with the same length.
  const std::span<const uint8_t> asked = query.question.name.wire();
  const bool echo = load16(&message[4]) == 1 && kHeaderLength + asked.size() <= length;
  Name echoed;
  size_t next = 0;
  const bool same_name = echo && read_name(message.first(length), kHeaderLength, length, echoed, next) == WireError::None &&
                         echoed == query.question.name && next == kHeaderLength + asked.size();

  if (!query.edns && opt->found) {
    std::memmove(&message[opt->start], &message[opt->end], length - opt->end);
    length -= opt->end - opt->start;
    store16(&message[10], load16(&message[10]) - 1u);
  } else if (query.edns && opt->found) {
    store16(&message[opt->fixed + 2], payload_size);
    // TTL field: extended rcode, version, then DO and the other flags.
    message[opt->fixed + 5] = 0;  // version 0
    message[opt->fixed + 6] = query.edns->dnssec_ok ? 0x80 : 0x00;
    message[opt->fixed + 7] = 0;
  } else if (query.edns && !opt->found) {
    if (length + kOptLength > message.size() || load16(&message[10]) == 0xffff) return std::nullopt;
    uint8_t* p = &message[length];
    p[0] = 0;  // root owner
    store16(p + 1, kTypeOpt);
    store16(p + 3, payload_size);
    p[5] = 0;  // extended rcode
    p[6] = 0;  // version
    p[7] = query.edns->dnssec_ok ? 0x80 : 0x00;
    p[8] = 0;
    store16(p + 9, 0);  // RDLENGTH
    length += kOptLength;
    store16(&message[10], load16(&message[10]) + 1u);
  }
  store16(&message[0], query.header.id);
  if (same_name) std::memcpy(&message[kHeaderLength], asked.data(), asked.size());
  return length;
}

// --- PendingQueries ----------------------------------------------------------------------------

PendingQueries::PendingQueries(size_t capacity)
    : slots_(std::clamp<size_t>(capacity, 1, kMaxCapacity)), by_id_(65536, 0) {
  free_.reserve(slots_.size());
  for (size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
}

PendingQuery* PendingQueries::allocate() {
  if (free_.empty()) return nullptr;
  PendingQuery& q = slots_[free_.back()];
  free_.pop_back();
  q = PendingQuery{};
  q.in_use = true;
  q.sequence = next_sequence_++;
  ++used_;
  return &q;
}

PendingQuery* PendingQueries::oldest() {
  PendingQuery* best = nullptr;
  for (PendingQuery& q : slots_)
    if (q.in_use && (best == nullptr || q.sequence < best->sequence)) best = &q;
  return best;
}

void PendingQueries::release(PendingQuery& query) {
  if (!query.in_use) return;
  if (by_id_[query.upstream_id] == index_of(query) + 1) by_id_[query.upstream_id] = 0;
  query.in_use = false;
  query.policy.reset();
  query.tcp_token = 0;
  free_.push_back(static_cast<uint32_t>(index_of(query)));
  --used_;
}

void PendingQueries::assign_id(PendingQuery& query) {
  const size_t slot = index_of(query) + 1;
  if (by_id_[query.upstream_id] == slot) by_id_[query.upstream_id] = 0;
  // At most kMaxCapacity of 65536 ids are taken, so a random pick is free with probability
  // >= 3/4; the scan after a few misses only bounds the worst case.
  uint16_t id = 0;
  bool found = false;
  for (int i = 0; i < 16 && !found; ++i) {
    id = static_cast<uint16_t>(randombytes_uniform(65536));
    found = by_id_[id] == 0;
  }
  while (!found) {
    ++id;
    found = by_id_[id] == 0;
  }
  by_id_[id] = static_cast<uint16_t>(slot);
  query.upstream_id = id;
}

PendingQuery* PendingQueries::find_by_id(uint16_t id) {
  const uint16_t slot = by_id_[id];
  if (slot == 0) return nullptr;
  PendingQuery& q = slots_[slot - 1u];
  return q.in_use ? &q : nullptr;
}

uint64_t PendingQueries::assign_token(PendingQuery& query) {
  query.tcp_token = (next_token_++ << 16) | index_of(query);
  return query.tcp_token;
}

PendingQuery* PendingQueries::find_by_token(uint64_t token) {
  if (token == 0) return nullptr;
  const size_t slot = token & 0xffff;
  if (slot >= slots_.size()) return nullptr;
  PendingQuery& q = slots_[slot];
  return q.in_use && q.tcp_token == token ? &q : nullptr;
}

}  // namespace sluice::dns
