#include "dns/interceptor.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "tunnel/inet_checksum.h"

namespace sluice::dns {

namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint8_t kFlagTcByte2 = 0x02;  // TC in the first flags byte
// Room behind a message in scratch_ for the OPT shape_reply() may add.
constexpr size_t kScratchSlack = 16;
// Negative answers carry a synthesised SOA so resolvers know how long to cache them
// (RFC 2308 section 3); its timers other than MINIMUM mean nothing and are the usual values.
constexpr uint32_t kSoaRefresh = 3600, kSoaRetry = 600, kSoaExpire = 86400;

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Multicast and broadcast: mDNS (224.0.0.251, ff02::fb) and LLMNR live here; never ours.
bool is_group_address(const IpAddress& a) {
  if (a.family == IpFamily::v4) {
    return (a.bytes[0] & 0xf0) == 0xe0 ||
           (a.bytes[0] == 255 && a.bytes[1] == 255 && a.bytes[2] == 255 && a.bytes[3] == 255);
  }
  return a.bytes[0] == 0xff;
}

Name text_name(const char* text) {
  auto parsed = Name::from_text(text);
  return std::holds_alternative<Name>(parsed) ? std::get<Name>(parsed) : Name{};
}

}  // namespace

// --- InterceptorOutput -------------------------------------------------------------------------

InterceptorOutput::InterceptorOutput(size_t stream_capacity) {
  to_tun.reserve(256);
  to_tunnel.reserve(256);
  to_stack.reserve(128);
  direct.reserve(64);
  tcp_queries.reserve(16);
  stream_answers.reserve(64);
  stream_bytes.reserve(stream_capacity);
  log.reserve(1024);
}

bool InterceptorOutput::empty() const {
  return to_tun.empty() && to_tunnel.empty() && to_stack.empty() && direct.empty() &&
         tcp_queries.empty() && stream_answers.empty() && log.empty();
}

void InterceptorOutput::clear() {
  to_tun.clear();
  to_tunnel.clear();
  to_stack.clear();
  direct.clear();
  tcp_queries.clear();
  stream_answers.clear();
  stream_bytes.clear();
  log.clear();
}

// --- DnsInterceptor ----------------------------------------------------------------------------

DnsInterceptor::DnsInterceptor(InterceptorOptions options, std::shared_ptr<const DnsPolicy> policy,
                               BufferPool& pool)
    : options_(std::move(options)),
      policy_(std::move(policy)),
      pool_(pool),
      cache_(std::make_unique<AnswerCache>(policy_->cache)),
      pending_(options_.max_in_flight),
      scratch_(kMaxMessageLength + kScratchSlack),
      ttl_offsets_(kMaxRecordsPerMessage),
      next_deadline_(std::numeric_limits<int64_t>::max()),
      local_zone_(text_name("local")),
      soa_mname_(text_name("localhost")),
      soa_rname_(text_name("nobody.invalid")) {
  const uint32_t last = uint32_t{options_.first_source_port} + options_.source_ports;
  if (options_.source_ports == 0 || last > 65536) {
    options_.source_ports = static_cast<uint16_t>(std::max<uint32_t>(1, 65536 - options_.first_source_port));
  }
}

void DnsInterceptor::set_policy(std::shared_ptr<const DnsPolicy> policy) {
  if (policy->cache == cache_->limits()) {
    cache_->clear();
  } else {
    cache_ = std::make_unique<AnswerCache>(policy->cache);
  }
  policy_ = std::move(policy);
}

void DnsInterceptor::handle_outbound(std::vector<PacketBuffer*>& packets, const Now& now,
                                     InterceptorOutput& out) {
  size_t kept = 0;
  for (PacketBuffer* packet : packets) {
    if (take_outbound(packet, now, out) == Taken::no) packets[kept++] = packet;
  }
  packets.resize(kept);
}

DnsInterceptor::Taken DnsInterceptor::take_outbound(PacketBuffer* packet, const Now& now,
                                                    InterceptorOutput& out) {
  const TransportView view = read_transport({packet->data(), packet->size()});
  if (view.kind == TransportView::Kind::other) return Taken::no;
  const IpAddress& destination = view.flow.destination;
  if (is_group_address(destination) || !policy_->intercepts(destination, view.flow.destination_port))
    return Taken::no;
  switch (view.kind) {
    case TransportView::Kind::tcp: {
      // The stack listens on the intercept addresses only (lwIP needs a netif per address).
      const auto& served = policy_->intercept_addresses;
      if (!options_.tcp_to_stack || std::find(served.begin(), served.end(), destination) == served.end())
        return Taken::no;
      out.to_stack.push_back(packet);
      return Taken::yes;
    }
    case TransportView::Kind::malformed:
      ++counters_.malformed_dropped;
      pool_.release(packet);
      return Taken::yes;
    case TransportView::Kind::udp:
      return take_udp_query(packet, view, now, out);
    case TransportView::Kind::other:
      break;
  }
  return Taken::no;
}

DnsInterceptor::Taken DnsInterceptor::take_udp_query(PacketBuffer* packet, const TransportView& view,
                                                     const Now& now, InterceptorOutput& out) {
  const QueryClient client{QueryClient::Kind::udp, view.flow, 0};
  auto parsed = parse_query_question(view.payload);
  if (std::holds_alternative<WireError>(parsed)) {
    answer_unparsed(client, view.payload, packet, now, out);
    return Taken::yes;
  }
  ClientQuery query{client, std::get<QueryQuestion>(parsed), now.mono_ns, now.wall_ns};
  if (query.query.question.name.is_within(local_zone_)) {
    ++counters_.passed_through;
    return Taken::no;
  }
  ++counters_.queries_udp;
  answer_query(query, packet, now, out);
  return Taken::yes;
}

void DnsInterceptor::handle_stream_query(uint64_t connection, std::span<const uint8_t> query,
                                         const Now& now, InterceptorOutput& out) {
  const QueryClient client{QueryClient::Kind::stream, UdpFlow{}, connection};
  auto parsed = parse_query_question(query);
  if (std::holds_alternative<WireError>(parsed)) {
    answer_unparsed(client, query, nullptr, now, out);
    return;
  }
  // A .local query over TCP cannot be left alone (the connection is ours already): it is
  // forwarded like any other name.
  ++counters_.queries_tcp;
  answer_query(ClientQuery{client, std::get<QueryQuestion>(parsed), now.mono_ns, now.wall_ns}, nullptr, now,
               out);
}

void DnsInterceptor::answer_unparsed(const QueryClient& client, std::span<const uint8_t> query,
                                     PacketBuffer* reuse, const Now& now, InterceptorOutput& out) {
  // Never answer a response (QR set): two responders could bounce errors at each other.
  const bool response = query.size() >= kHeaderLength && (query[2] & 0x80) != 0;
  auto written = write_format_error(query, scratch_);
  if (response || !std::holds_alternative<size_t>(written)) {
    ++counters_.malformed_dropped;
    if (reuse != nullptr) pool_.release(reuse);
    return;
  }
  ++counters_.formerr;
  ClientQuery unparsed{client, QueryQuestion{}, now.mono_ns, now.wall_ns};
  unparsed.query.header.id = load16(query.data());
  deliver(unparsed, std::get<size_t>(written), false, QueryAction::formerr, reuse, now, out);
}

void DnsInterceptor::answer_query(const ClientQuery& client, PacketBuffer* reuse, const Now& now,
                                  InterceptorOutput& out) {
  const QueryQuestion& q = client.query;
  if (q.header.opcode != Opcode::Query) {
    ++counters_.notimp;
    deliver_error(client, Rcode::NotImp, QueryAction::notimp, reuse, now, out);
    return;
  }
  if (q.edns && q.edns->version != 0) {  // RFC 6891 section 6.1.3
    ++counters_.badvers;
    deliver_error(client, Rcode::BadVers, QueryAction::badvers, reuse, now, out);
    return;
  }
  const auto name = CanonicalName::from_wire(q.lowercase_name.wire());
  if (!name) {
    ++counters_.formerr;
    deliver_error(client, Rcode::FormErr, QueryAction::formerr, reuse, now, out);
    return;
  }
  const auto qtype = static_cast<uint16_t>(q.question.type);
  DnsDecision decision;
  if (q.question.record_class == RecordClass::IN) {
    decision = policy_->decide(*name, qtype);
  } else {
    // Overrides and block lists speak of the Internet class only; CHAOS and friends go upstream.
    decision.upstream_set = policy_->routes.select(*name);
  }

  if (decision.kind != DnsDecision::Kind::forward) {
    const QueryAction action = decision.blocked ? QueryAction::blocked : QueryAction::overridden;
    ++(decision.blocked ? counters_.blocked : counters_.overridden);
    if (decision.kind == DnsDecision::Kind::refused) {
      deliver_error(client, Rcode::Refused, action, reuse, now, out);
      return;
    }
    const size_t length = build_local_answer(client, decision);
    if (length == 0) {
      deliver_error(client, Rcode::ServFail, QueryAction::servfail, reuse, now, out);
      return;
    }
    deliver(client, length, false, action, reuse, now, out);
    return;
  }

  const CacheKey key{*name, qtype, static_cast<uint16_t>(q.question.record_class),
                     q.edns && q.edns->dnssec_ok};
  const size_t cached = cache_->lookup(key, q.header.id, now.mono_ns, scratch_);
  if (cached != 0) {
    ++counters_.cache_hits;
    deliver(client, cached, true, QueryAction::cached, reuse, now, out);
    return;
  }
  if (reuse != nullptr) pool_.release(reuse);
  forward(client, decision.upstream_set, now, out);
}

size_t DnsInterceptor::build_local_answer(const ClientQuery& client, const DnsDecision& decision) {
  const QueryQuestion& q = client.query;
  MessageWriter writer(std::span<uint8_t>(scratch_).first(answer_limit(client)));
  MessageWriter::ResponseOptions options;
  options.rcode = decision.kind == DnsDecision::Kind::nxdomain ? Rcode::NXDomain : Rcode::NoError;
  options.edns_payload_size = advertised_payload(client.client);
  if (writer.begin_response(q, options) != WireError::None) return 0;
  if (decision.kind == DnsDecision::Kind::answer) {
    const auto qtype = static_cast<uint16_t>(q.question.type);
    for (const IpAddress& address : decision.addresses) {
      RData data;
      if (address.family == IpFamily::v4 && qtype == kTypeA) {
        AData a;
        std::copy_n(address.bytes.begin(), 4, a.address.begin());
        data = a;
      } else if (address.family == IpFamily::v6 && qtype == kTypeAaaa) {
        data = AaaaData{address.bytes};
      } else {
        continue;
      }
      const WireError e = writer.add_record(Section::Answer, make_record(q.question.name, decision.ttl, data));
      if (e == WireError::NoSpace) {
        writer.set_truncated();
        break;
      }
      if (e != WireError::None) return 0;
    }
  } else {
    SoaData soa{soa_mname_, soa_rname_, 1, kSoaRefresh, kSoaRetry, kSoaExpire, decision.ttl};
    const WireError e = writer.add_record(Section::Authority, make_record(q.question.name, decision.ttl, soa));
    // Without room for the SOA the answer is still right, only not cacheable downstream.
    if (e != WireError::None && e != WireError::NoSpace) return 0;
  }
  auto finished = writer.finish();
  return std::holds_alternative<size_t>(finished) ? std::get<size_t>(finished) : 0;
}

// --- Upstream queries --------------------------------------------------------------------------

void DnsInterceptor::forward(const ClientQuery& client, size_t set, const Now& now, InterceptorOutput& out) {
  ++counters_.forwarded;
  PendingQuery* q = pending_.allocate();
  if (q == nullptr) {
    ++counters_.inflight_evicted;
    fail(*pending_.oldest(), now, out);
    q = pending_.allocate();
  }
  q->client = client;
  q->policy = policy_;
  q->set = set;
  send_attempt(*q, now, out);
}

size_t DnsInterceptor::write_upstream_query(const PendingQuery& q, std::span<uint8_t> out) const {
  const QueryQuestion& asked = q.client.query;
  QuerySpec spec;
  spec.id = q.upstream_id;
  spec.question = asked.question;
  spec.recursion_desired = asked.header.rd;
  spec.checking_disabled = asked.header.cd;
  Edns edns;
  edns.udp_payload_size = upstream_udp_payload(q.server, options_.mtu);
  edns.dnssec_ok = asked.edns && asked.edns->dnssec_ok;
  spec.edns = std::move(edns);
  auto written = write_query(spec, out);
  return std::holds_alternative<size_t>(written) ? std::get<size_t>(written) : 0;
}

bool DnsInterceptor::send_attempt(PendingQuery& q, const Now& now, InterceptorOutput& out) {
  const UpstreamSet& set = q.policy->routes.set(q.set);
  while (q.attempt < attempts_of(set)) {
    q.server = server_for_attempt(set, q.attempt);
    q.transport = PendingQuery::Transport::udp;
    q.tcp_token = 0;
    q.deadline_ns = now.mono_ns + millis(set.timeout_ms);
    if (q.attempt > 0) ++counters_.upstream_retries;
    pending_.assign_id(q);
    const IpFamily family = q.server.endpoint.address.family;
    const auto source = tunnel_source(family);
    if (!q.server.direct && !source) {
      ++counters_.upstream_no_route;
      ++q.attempt;
      continue;
    }
    PacketBuffer* b = pool_.acquire();
    if (b == nullptr) {
      // Lost like a dropped datagram: the attempt times out and the next one tries again.
      ++counters_.no_buffer_dropped;
      note_deadline(q.deadline_ns);
      return true;
    }
    b->reset_for_inner();
    const std::span<uint8_t> room(b->data(), b->room());
    if (q.server.direct) {
      const size_t length = write_upstream_query(q, room);
      if (length == 0) {
        pool_.release(b);
        break;
      }
      b->set_size(length);
      out.direct.push_back(DirectQuery{q.server.endpoint, b});
    } else {
      const size_t headers = udp_headers_length(family);
      const size_t length = room.size() > headers ? write_upstream_query(q, room.subspan(headers)) : 0;
      q.source_port = static_cast<uint16_t>(options_.first_source_port + next_port_++ % options_.source_ports);
      const UdpFlow flow{*source, q.server.endpoint.address, q.source_port, q.server.endpoint.port};
      const size_t total = length == 0 ? 0 : write_udp_packet(room, flow, length);
      if (total == 0) {
        pool_.release(b);
        break;
      }
      b->set_size(total);
      out.to_tunnel.push_back(b);
    }
    ++counters_.upstream_queries;
    note_deadline(q.deadline_ns);
    return true;
  }
  ++counters_.upstream_failures;
  fail(q, now, out);
  return false;
}

void DnsInterceptor::start_tcp(PendingQuery& q, const Now& now, InterceptorOutput& out) {
  const UpstreamSet& set = q.policy->routes.set(q.set);
  ++counters_.tcp_fallbacks;
  ++counters_.upstream_queries;
  q.transport = PendingQuery::Transport::tcp;
  pending_.assign_token(q);
  q.deadline_ns = now.mono_ns + millis(set.timeout_ms);
  note_deadline(q.deadline_ns);
  PacketBuffer* b = pool_.acquire();
  if (b == nullptr) {
    ++counters_.no_buffer_dropped;
    return;
  }
  b->reset_for_inner();
  const size_t length = write_upstream_query(q, {b->data(), b->room()});
  if (length == 0) {
    pool_.release(b);
    return;
  }
  b->set_size(length);
  out.tcp_queries.push_back(TcpQuery{q.tcp_token, q.server.endpoint, q.server.direct,
                                     millis(set.timeout_ms), b});
}

void DnsInterceptor::fail(PendingQuery& q, const Now& now, InterceptorOutput& out) {
  deliver_error(q.client, Rcode::ServFail, QueryAction::servfail, nullptr, now, out);
  pending_.release(q);
}

void DnsInterceptor::handle_inbound(std::vector<PacketBuffer*>& packets, const Now& now,
                                    InterceptorOutput& out) {
  size_t kept = 0;
  for (PacketBuffer* packet : packets) {
    const TransportView view = read_transport({packet->data(), packet->size()});
    const bool ours = (view.kind == TransportView::Kind::udp || view.kind == TransportView::Kind::malformed) &&
                      view.ip.protocol == kIpProtocolUdp && is_source_port(view.flow.destination_port) &&
                      is_tunnel_address(view.flow.destination);
    if (!ours) {
      packets[kept++] = packet;
      continue;
    }
    if (view.kind == TransportView::Kind::udp) {
      on_tunnel_reply(view, now, out);
    } else {
      ++counters_.malformed_dropped;
    }
    pool_.release(packet);
  }
  packets.resize(kept);
}

void DnsInterceptor::on_tunnel_reply(const TransportView& view, const Now& now, InterceptorOutput& out) {
  if (view.payload.size() < kHeaderLength) {
    ++counters_.upstream_unmatched;
    return;
  }
  PendingQuery* q = pending_.find_by_id(load16(view.payload.data()));
  const Endpoint from{view.flow.source, view.flow.source_port};
  if (q == nullptr || q->server.direct || q->transport != PendingQuery::Transport::udp ||
      q->server.endpoint != from || q->source_port != view.flow.destination_port) {
    ++counters_.upstream_unmatched;
    return;
  }
  on_reply(*q, view.payload, false, now, out);
}

void DnsInterceptor::handle_direct_reply(const Endpoint& source, std::span<const uint8_t> reply,
                                         const Now& now, InterceptorOutput& out) {
  PendingQuery* q = reply.size() >= kHeaderLength ? pending_.find_by_id(load16(reply.data())) : nullptr;
  if (q == nullptr || !q->server.direct || q->transport != PendingQuery::Transport::udp ||
      q->server.endpoint != source) {
    ++counters_.upstream_unmatched;
    return;
  }
  on_reply(*q, reply, false, now, out);
}

void DnsInterceptor::handle_tcp_reply(uint64_t token, bool ok, std::span<const uint8_t> reply,
                                      const Now& now, InterceptorOutput& out) {
  PendingQuery* q = pending_.find_by_token(token);
  if (q == nullptr || q->transport != PendingQuery::Transport::tcp) {
    ++counters_.upstream_unmatched;
    return;
  }
  if (!ok) {
    ++counters_.tcp_failures;
    ++q->attempt;
    send_attempt(*q, now, out);
    return;
  }
  on_reply(*q, reply, true, now, out);
}

void DnsInterceptor::on_reply(PendingQuery& q, std::span<const uint8_t> reply, bool via_tcp, const Now& now,
                              InterceptorOutput& out) {
  const uint32_t attempts = attempts_of(q.policy->routes.set(q.set));
  auto next_attempt = [&] {
    ++counters_.upstream_errors;
    ++q.attempt;
    send_attempt(q, now, out);
  };
  switch (judge_reply(reply, q.client.query.question)) {
    case ReplyVerdict::mismatch:
    case ReplyVerdict::malformed:
      // Over UDP the real reply may still come: wait for it (or the timeout).
      if (!via_tcp) {
        ++counters_.upstream_unmatched;
        return;
      }
      next_attempt();
      return;
    case ReplyVerdict::truncated:
      if (!via_tcp) {
        start_tcp(q, now, out);
        return;
      }
      break;  // a truncated TCP reply is the best there is
    case ReplyVerdict::server_error:
      if (q.attempt + 1 < attempts) {
        next_attempt();
        return;
      }
      ++counters_.upstream_errors;
      break;  // the last server's error is the answer
    case ReplyVerdict::answer:
      break;
  }
  auto ttl = find_ttl_fields(reply, ttl_offsets_);
  if (!std::holds_alternative<TtlFields>(ttl)) {
    if (via_tcp || q.attempt + 1 < attempts) {
      next_attempt();
    } else {
      ++counters_.upstream_errors;
      ++counters_.upstream_failures;
      fail(q, now, out);
    }
    return;
  }
  cache_reply(q.client, reply, std::get<TtlFields>(ttl), now);
  std::copy(reply.begin(), reply.end(), scratch_.begin());
  deliver(q.client, reply.size(), true, QueryAction::forwarded, nullptr, now, out);
  pending_.release(q);
}

void DnsInterceptor::cache_reply(const ClientQuery& client, std::span<const uint8_t> reply,
                                 const TtlFields& ttl, const Now& now) {
  if ((reply[2] & kFlagTcByte2) != 0) return;  // never keep a partial answer
  std::optional<uint32_t> lifetime;
  bool negative = false;
  switch (ttl.kind) {
    case AnswerKind::Positive:
      lifetime = ttl.min_ttl;
      break;
    case AnswerKind::NxDomain:
    case AnswerKind::NoData:
      // RFC 2308 section 5: without an SOA there is no negative TTL, and no caching.
      if (ttl.negative) lifetime = ttl.negative->ttl();
      negative = true;
      break;
    case AnswerKind::Error:
      break;
  }
  if (!lifetime) return;
  const auto name = CanonicalName::from_wire(client.query.lowercase_name.wire());
  if (!name) return;
  const QueryQuestion& q = client.query;
  const CacheKey key{*name, static_cast<uint16_t>(q.question.type), static_cast<uint16_t>(q.question.record_class),
                     q.edns && q.edns->dnssec_ok};
  cache_->insert(key, reply, std::span<const uint16_t>(ttl_offsets_).first(ttl.count), *lifetime, negative,
                 now.mono_ns);
}

void DnsInterceptor::handle_timers(const Now& now, InterceptorOutput& out) {
  if (now.mono_ns < next_deadline_) return;
  int64_t next = std::numeric_limits<int64_t>::max();
  for (PendingQuery& q : pending_.slots()) {
    if (!q.in_use) continue;
    if (q.deadline_ns <= now.mono_ns) {
      ++counters_.upstream_timeouts;
      if (q.transport == PendingQuery::Transport::tcp) ++counters_.tcp_failures;
      ++q.attempt;
      if (!send_attempt(q, now, out)) continue;
    }
    next = std::min(next, q.deadline_ns);
  }
  next_deadline_ = next;
}

// --- Answers -------------------------------------------------------------------------------

void DnsInterceptor::deliver(const ClientQuery& client, size_t length, bool shape, QueryAction action,
                             PacketBuffer* reuse, const Now& now, InterceptorOutput& out) {
  size_t n = length;
  if (shape) {
    auto shaped = shape_reply(scratch_, n, client.query, advertised_payload(client.client));
    if (!shaped) {
      ++counters_.upstream_errors;
      deliver_error(client, Rcode::ServFail, QueryAction::servfail, reuse, now, out);
      return;
    }
    n = *shaped;
    const size_t limit = answer_limit(client);
    if (n > limit) {
      auto cut = truncate_message(std::span<uint8_t>(scratch_).first(n), limit);
      if (!std::holds_alternative<size_t>(cut)) {
        deliver_error(client, Rcode::ServFail, QueryAction::servfail, reuse, now, out);
        return;
      }
      n = std::get<size_t>(cut);
    }
  }
  const uint16_t rcode = scratch_[3] & 0x0f;
  if (emit(client.client, std::span<const uint8_t>(scratch_).first(n), reuse, out)) {
    counters_.latency.record(now.mono_ns - client.arrived_ns);
  }
  log(client, action, rcode, now, out);
}

void DnsInterceptor::deliver_error(const ClientQuery& client, Rcode rcode, QueryAction action,
                                   PacketBuffer* reuse, const Now& now, InterceptorOutput& out) {
  auto written = write_error_response(client.query, rcode, std::span<uint8_t>(scratch_).first(answer_limit(client)),
                                      advertised_payload(client.client));
  if (!std::holds_alternative<size_t>(written)) {
    ++counters_.malformed_dropped;
    if (reuse != nullptr) pool_.release(reuse);
    return;
  }
  if (rcode == Rcode::ServFail) ++counters_.servfail;
  deliver(client, std::get<size_t>(written), false, action, reuse, now, out);
}

bool DnsInterceptor::emit(const QueryClient& client, std::span<const uint8_t> message, PacketBuffer* reuse,
                          InterceptorOutput& out) {
  if (client.kind == QueryClient::Kind::stream) {
    if (reuse != nullptr) pool_.release(reuse);
    if (out.stream_bytes.size() + message.size() > out.stream_bytes.capacity()) {
      ++counters_.no_buffer_dropped;
      return false;
    }
    const size_t offset = out.stream_bytes.size();
    out.stream_bytes.insert(out.stream_bytes.end(), message.begin(), message.end());
    out.stream_answers.push_back(StreamAnswer{client.stream, offset, message.size()});
    return true;
  }
  PacketBuffer* b = reuse != nullptr ? reuse : pool_.acquire();
  if (b == nullptr) {
    ++counters_.no_buffer_dropped;
    return false;
  }
  b->reset_for_inner();
  const UdpFlow flow = client.flow.reversed();
  const size_t headers = udp_headers_length(flow.source.family);
  if (b->room() < headers + message.size()) {
    pool_.release(b);
    ++counters_.no_buffer_dropped;
    return false;
  }
  std::memcpy(b->data() + headers, message.data(), message.size());
  const size_t total = write_udp_packet({b->data(), b->room()}, flow, message.size());
  if (total == 0) {
    pool_.release(b);
    ++counters_.malformed_dropped;
    return false;
  }
  b->set_size(total);
  out.to_tun.push_back(b);
  return true;
}

void DnsInterceptor::log(const ClientQuery& client, QueryAction action, uint16_t rcode, const Now& now,
                         InterceptorOutput& out) {
  if (!policy_->query_log) return;
  if (out.log.size() == out.log.capacity()) {
    ++counters_.log_dropped;
    return;
  }
  QueryLogRecord r;
  r.wall_ns = client.arrived_wall_ns;
  r.tcp = client.client.kind == QueryClient::Kind::stream;
  r.client = client.client.flow;
  r.connection = client.client.stream;
  r.name = client.query.question.name;
  r.type = static_cast<uint16_t>(client.query.question.type);
  r.action = action;
  r.rcode = rcode;
  r.latency_ns = now.mono_ns - client.arrived_ns;
  out.log.push_back(r);
}

uint16_t DnsInterceptor::advertised_payload(const QueryClient& client) const {
  const IpFamily family = client.kind == QueryClient::Kind::udp ? client.flow.source.family : IpFamily::v6;
  const size_t headers = udp_headers_length(family);
  const size_t room = options_.mtu > headers ? options_.mtu - headers : 0;
  return static_cast<uint16_t>(std::clamp<size_t>(room, kClassicUdpPayload, kMaxMessageLength));
}

size_t DnsInterceptor::answer_limit(const ClientQuery& client) const {
  if (client.client.kind == QueryClient::Kind::stream) return kMaxMessageLength;
  const IpFamily family = client.client.flow.source.family;
  const size_t limit = client_udp_limit(client.query, family, options_.mtu);
  const size_t overhead = PacketBuffer::kHeadroom + udp_headers_length(family);
  const size_t room = pool_.buffer_capacity() > overhead ? pool_.buffer_capacity() - overhead : 0;
  return std::min(limit, room);
}

std::optional<IpAddress> DnsInterceptor::tunnel_source(IpFamily family) const {
  for (const IpAddress& a : options_.tunnel_addresses)
    if (a.family == family) return a;
  return std::nullopt;
}

bool DnsInterceptor::is_tunnel_address(const IpAddress& address) const {
  return std::find(options_.tunnel_addresses.begin(), options_.tunnel_addresses.end(), address) !=
         options_.tunnel_addresses.end();
}

}  // namespace sluice::dns
