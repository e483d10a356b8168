#include "platform/dns_pipeline.h"

#include <malloc.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "dns/dns_counters.h"
#include "dns/reply_packet.h"
#include "platform/clock.h"
#include "platform/daemon_counters.h"
#include "platform/socket_address.h"
#include "tunnel/inet_checksum.h"

namespace sluice::platform {

namespace {

// A connection lwIP opened that has been silent this long is gone (TIME_WAIT is 2 x 60 s).
constexpr int64_t kStackFlowIdle = seconds(300);
// Datagrams one readiness callback reads from a direct-upstream socket before yielding.
constexpr int kDirectReadsPerWakeup = 32;
constexpr size_t kDnsTcpPrefix = 2;

}  // namespace

// A DNS-over-TCP exchange with a direct upstream: connect, send the framed query, read one
// framed response. Its buffers are allocated when the pipeline is created.
struct DnsPipeline::DirectTcp {
  UniqueFd fd;
  uint64_t token = 0;
  int64_t deadline_ns = 0;
  std::vector<uint8_t> request = std::vector<uint8_t>(kDnsTcpPrefix + dns::kMaxMessageLength);
  std::vector<uint8_t> response = std::vector<uint8_t>(kDnsTcpPrefix + dns::kMaxMessageLength);
  size_t request_size = 0;
  size_t sent = 0;
  size_t received = 0;
  bool in_use = false;
};

DnsPipeline::DnsPipeline(DnsPipelineOptions options, EventLoop& loop, BufferPool& pool)
    : options_(std::move(options)), loop_(loop), pool_(pool), receive_buffer_(dns::kMaxMessageLength + 1) {
  own_out_.to_tun.reserve(64);
  own_out_.to_tunnel.reserve(64);
  stack_in_.reserve(128);
  stack_batch_.reserve(128);
  failed_tcp_.reserve(kMaxDirectTcp + kMaxStackQueries);
  for (auto& c : direct_tcp_) c = std::make_unique<DirectTcp>();
}

Result<std::unique_ptr<DnsPipeline>> DnsPipeline::create(DnsPipelineOptions options, EventLoop& loop,
                                                         BufferPool& pool, const Now& now) {
  if (!options.deliver) return Error{"DNS pipeline: a deliver callback is required", EINVAL};
  auto loaded = dns::load_dns_policy(options.config_path, options.tunnel_dns);
  if (auto* error = std::get_if<ConfigError>(&loaded)) return Error{error->to_string(), EINVAL};
  auto policy = std::make_shared<const dns::DnsPolicy>(std::move(std::get<dns::DnsPolicy>(loaded)));

  std::unique_ptr<DnsPipeline> p(new DnsPipeline(std::move(options), loop, pool));
  dns::InterceptorOptions io;
  io.tunnel_addresses = p->options_.tunnel_addresses;
  io.mtu = p->options_.mtu;
  io.max_in_flight = p->options_.max_in_flight;
  p->interceptor_ = std::make_unique<dns::DnsInterceptor>(io, policy, pool);
  if (auto error = p->open_query_log(*policy)) return Error{*error, EINVAL};
  if (auto error = p->make_stack(*policy, now)) return Error{"DNS over TCP: " + *error, EINVAL};
  for (const dns::ListReport& list : policy->lists) {
    spdlog::info("dns: {} list {}: {} rules, {} invalid lines", list.allow ? "allow" : "block", list.path,
                 list.stats.rules, list.stats.invalid);
  }
  spdlog::info("dns: intercepting {} address(es), {} blocked and {} allowed domains, {} upstream set(s)",
               policy->intercept_addresses.size(), policy->blocked.size(), policy->allowed.size(),
               policy->routes.set_count());
  return p;
}

DnsPipeline::~DnsPipeline() {
  for (auto& c : direct_tcp_) {
    if (c && c->in_use) loop_.remove(c->fd.get());
  }
  if (udp4_.valid()) loop_.remove(udp4_.get());
  if (udp6_.valid()) loop_.remove(udp6_.get());
  stack_.reset();
  for (PacketBuffer* b : stack_in_) pool_.release(b);
  scratch_.clear();
}

std::optional<std::string> DnsPipeline::open_query_log(const dns::DnsPolicy& policy) {
  if (!policy.query_log) {
    query_log_.reset();
    return std::nullopt;
  }
  if (query_log_ && query_log_->path() == policy.query_log_path) return std::nullopt;
  auto opened = dns::QueryLog::open(policy.query_log_path);
  if (auto* error = std::get_if<std::string>(&opened)) return *error;
  query_log_ = std::move(std::get<std::unique_ptr<dns::QueryLog>>(opened));
  return std::nullopt;
}

std::optional<std::string> DnsPipeline::make_stack(const dns::DnsPolicy& policy, const Now& now) {
  ipstack::IpStackConfig config;
  for (const IpAddress& a : options_.tunnel_addresses) {
    if (a.family == IpFamily::v4 && !config.ipv4) config.ipv4 = a;
    if (a.family == IpFamily::v6 && !config.ipv6) config.ipv6 = a;
  }
  config.mtu = static_cast<uint16_t>(std::clamp<uint32_t>(options_.mtu, 1280, 65535));
  for (const IpAddress& a : policy.intercept_addresses) {
    if (std::find(config.dns_addresses.begin(), config.dns_addresses.end(), a) == config.dns_addresses.end())
      config.dns_addresses.push_back(a);
  }
  config.dns_client.max_in_flight = kMaxStackQueries;
  config.output = [this](std::span<const uint8_t> packet) { on_stack_output(packet); };
  config.on_dns_query = [this](ipstack::ConnectionId id, std::span<const uint8_t> q) { on_stack_query(id, q); };
  config.on_tcp_query_done = [this](ipstack::TcpQueryId id, ipstack::TcpQueryError e, std::span<const uint8_t> r) {
    on_stack_tcp_done(id, e, r);
  };
  if (!config.ipv4 && !config.ipv6 && config.dns_addresses.empty()) {
    spdlog::warn("dns: no tunnel or intercept address: DNS over TCP is not served");
    stack_.reset();
    return std::nullopt;
  }
  stack_.reset();  // lwIP allows one stack per process
  flows_ = {};
  stack_queries_ = {};
  std::string error;
  stack_ = ipstack::IpStack::create(std::move(config), now, error);
  if (!stack_) return error;
  return std::nullopt;
}

std::optional<std::string> DnsPipeline::reload(const std::string& path, const Now& now) {
  const std::string file = path.empty() ? options_.config_path : path;
  auto loaded = dns::load_dns_policy(file, options_.tunnel_dns);
  if (auto* error = std::get_if<ConfigError>(&loaded)) {
    ++reload_failures_;
    return error->to_string();
  }
  auto policy = std::make_shared<const dns::DnsPolicy>(std::move(std::get<dns::DnsPolicy>(loaded)));
  // The query log is opened before anything changes, so a bad Path leaves all as it was.
  std::unique_ptr<dns::QueryLog> old_log = std::move(query_log_);
  query_log_ = nullptr;
  if (old_log && policy->query_log && old_log->path() == policy->query_log_path) query_log_ = std::move(old_log);
  // On failure the previous log comes back (when it was kept, old_log is empty and nothing moves).
  auto restore_log = [&] {
    if (old_log) query_log_ = std::move(old_log);
  };
  if (auto error = open_query_log(*policy)) {
    restore_log();
    ++reload_failures_;
    return error;
  }
  const auto& old_addresses = interceptor_->policy().intercept_addresses;
  if (old_addresses != policy->intercept_addresses) {
    // The stack serves the intercept addresses; it is rebuilt (dropping only DNS-over-TCP
    // connections) and, should that fail, rebuilt as it was.
    if (auto error = make_stack(*policy, now)) {
      make_stack(interceptor_->policy(), now);
      restore_log();
      ++reload_failures_;
      return "DNS over TCP: " + *error;
    }
  }
  interceptor_->set_policy(std::move(policy));
#ifdef __GLIBC__
  // A block list of millions of rules leaves megabytes of freed builder and old-policy memory
  // that glibc would keep; the memory ceiling of an embedded tunnel wants it back.
  malloc_trim(0);
#endif
  options_.config_path = file;
  ++reloads_;
  spdlog::info("dns: reloaded {}: {} blocked, {} allowed domains", file, interceptor_->policy().blocked.size(),
               interceptor_->policy().allowed.size());
  return std::nullopt;
}

// --- The daemon's calls ------------------------------------------------------------------------

void DnsPipeline::begin(const Now& now, DnsPipelineOutput& out) {
  now_ = now;
  current_ = &out;
}

void DnsPipeline::end() {
  current_ = nullptr;
  if (query_log_) query_log_->flush();
}

void DnsPipeline::handle_outbound(std::vector<PacketBuffer*>& packets, const Now& now, DnsPipelineOutput& out) {
  begin(now, out);
  interceptor_->handle_outbound(packets, now, scratch_);
  run(scratch_);
  drain();
  end();
}

void DnsPipeline::handle_inbound(std::vector<PacketBuffer*>& packets, const Now& now, DnsPipelineOutput& out) {
  begin(now, out);
  if (stack_) {
    size_t kept = 0;
    for (PacketBuffer* b : packets) {
      if (take_stack_flow(*b)) {
        stack_in_.push_back(b);
      } else {
        packets[kept++] = b;
      }
    }
    packets.resize(kept);
  }
  interceptor_->handle_inbound(packets, now, scratch_);
  run(scratch_);
  drain();
  end();
}

void DnsPipeline::handle_timers(const Now& now, DnsPipelineOutput& out) {
  begin(now, out);
  interceptor_->handle_timers(now, scratch_);
  run(scratch_);
  if (stack_ && now.mono_ns >= stack_->next_deadline()) stack_->handle_timers(now);
  for (auto& c : direct_tcp_) {
    if (c->in_use && now.mono_ns >= c->deadline_ns) finish_direct_tcp(*c, false);
  }
  drain();
  end();
}

int64_t DnsPipeline::next_deadline() const {
  int64_t next = interceptor_->next_deadline();
  if (stack_) next = std::min(next, stack_->next_deadline());
  for (const auto& c : direct_tcp_)
    if (c->in_use) next = std::min(next, c->deadline_ns);
  return next;
}

template <typename F>
void DnsPipeline::from_loop(F&& f) {
  begin(Now{monotonic_ns(), wall_ns()}, own_out_);
  f();
  drain();
  end();
  if (!own_out_.empty()) options_.deliver(own_out_);
  own_out_.clear();
}

// --- Interceptor output ------------------------------------------------------------------------

void DnsPipeline::run(dns::InterceptorOutput& o) {
  DnsPipelineOutput& out = *current_;
  out.to_tun.insert(out.to_tun.end(), o.to_tun.begin(), o.to_tun.end());
  out.to_tunnel.insert(out.to_tunnel.end(), o.to_tunnel.begin(), o.to_tunnel.end());
  for (PacketBuffer* b : o.to_stack) {
    if (stack_) {
      stack_in_.push_back(b);
    } else {
      pool_.release(b);
    }
  }
  for (const dns::DirectQuery& d : o.direct) {
    send_direct(d);
    pool_.release(d.message);
  }
  for (const dns::TcpQuery& t : o.tcp_queries) {
    const std::span<const uint8_t> message(t.message->data(), t.message->size());
    if (t.direct) {
      start_direct_tcp(t);
    } else {
      auto free_slot = std::find_if(stack_queries_.begin(), stack_queries_.end(),
                                    [](const PendingStackQuery& q) { return q.token == 0; });
      ipstack::TcpQueryStart started;
      if (stack_ && free_slot != stack_queries_.end()) {
        started = stack_->tcp_query(t.server, message, t.timeout_ns, now_);
      } else {
        started.error = ipstack::TcpQueryError::TooManyInFlight;
      }
      if (started.ok()) {
        *free_slot = PendingStackQuery{started.id, t.token};
      } else {
        spdlog::debug("dns: TCP to {} through the tunnel refused: {}", t.server.to_string(),
                      ipstack::tcp_query_error_name(started.error));
        failed_tcp_.push_back(t.token);
      }
    }
    pool_.release(t.message);
  }
  for (const dns::StreamAnswer& a : o.stream_answers) {
    if (stack_) stack_->answer(a.connection, o.bytes_of(a), now_);
  }
  if (query_log_ && !o.log.empty()) query_log_->write(o.log);
  o.clear();
}

void DnsPipeline::drain() {
  if (draining_) return;
  draining_ = true;
  while (!stack_in_.empty() || !failed_tcp_.empty()) {
    if (!failed_tcp_.empty()) {
      const uint64_t token = failed_tcp_.back();
      failed_tcp_.pop_back();
      interceptor_->handle_tcp_reply(token, false, {}, now_, scratch_);
      run(scratch_);
      continue;
    }
    stack_batch_.swap(stack_in_);
    for (PacketBuffer* b : stack_batch_) {
      // The stack copies the packet; callbacks run inside and queue more work in stack_in_.
      if (stack_) stack_->input(b->data(), b->size(), now_);
      pool_.release(b);
    }
    stack_batch_.clear();
  }
  draining_ = false;
}

// --- The embedded stack ------------------------------------------------------------------------

void DnsPipeline::on_stack_output(std::span<const uint8_t> packet) {
  PacketBuffer* b = current_ != nullptr ? pool_.acquire() : nullptr;
  if (b == nullptr) {
    ++stack_output_dropped_;
    return;
  }
  b->reset_for_inner();
  if (packet.size() > b->room()) {
    pool_.release(b);
    ++stack_output_dropped_;
    return;
  }
  std::memcpy(b->data(), packet.data(), packet.size());
  b->set_size(packet.size());
  const dns::TransportView view = dns::read_transport(packet);
  const auto& tunnel = options_.tunnel_addresses;
  const bool from_tunnel_address =
      view.kind == dns::TransportView::Kind::tcp &&
      std::find(tunnel.begin(), tunnel.end(), view.flow.source) != tunnel.end();
  if (!from_tunnel_address) {
    // The DNS server's side of a connection from a local client.
    current_->to_tun.push_back(b);
    return;
  }
  // A connection of ours to an upstream: remember it so its answers come back to the stack.
  const Endpoint remote{view.flow.destination, view.flow.destination_port};
  StackFlow* slot = nullptr;
  for (StackFlow& f : flows_) {
    if (f.in_use && f.local == view.flow.source && f.local_port == view.flow.source_port && f.remote == remote) {
      slot = &f;
      break;
    }
  }
  if (slot == nullptr) {
    // A free slot, else the one silent longest (lwIP has long forgotten it by then).
    slot = &*std::min_element(flows_.begin(), flows_.end(), [](const StackFlow& a, const StackFlow& b) {
      return (a.in_use ? a.last_seen_ns : std::numeric_limits<int64_t>::min()) <
             (b.in_use ? b.last_seen_ns : std::numeric_limits<int64_t>::min());
    });
  }
  *slot = StackFlow{view.flow.source, view.flow.source_port, remote, now_.mono_ns, true};
  current_->to_tunnel.push_back(b);
}

bool DnsPipeline::take_stack_flow(const PacketBuffer& packet) {
  const dns::TransportView view = dns::read_transport({packet.data(), packet.size()});
  if (view.kind != dns::TransportView::Kind::tcp) return false;
  const Endpoint remote{view.flow.source, view.flow.source_port};
  for (StackFlow& f : flows_) {
    if (!f.in_use) continue;
    if (now_.mono_ns - f.last_seen_ns > kStackFlowIdle) {
      f.in_use = false;
      continue;
    }
    if (f.local == view.flow.destination && f.local_port == view.flow.destination_port && f.remote == remote) {
      f.last_seen_ns = now_.mono_ns;
      return true;
    }
  }
  return false;
}

void DnsPipeline::on_stack_query(ipstack::ConnectionId id, std::span<const uint8_t> query) {
  interceptor_->handle_stream_query(id, query, now_, scratch_);
  run(scratch_);
}

void DnsPipeline::on_stack_tcp_done(ipstack::TcpQueryId id, ipstack::TcpQueryError error,
                                    std::span<const uint8_t> response) {
  auto q = std::find_if(stack_queries_.begin(), stack_queries_.end(),
                        [id](const PendingStackQuery& p) { return p.token != 0 && p.id == id; });
  if (q == stack_queries_.end()) return;
  const uint64_t token = q->token;
  *q = PendingStackQuery{};
  if (error != ipstack::TcpQueryError::None) {
    spdlog::debug("dns: TCP query through the tunnel failed: {}", ipstack::tcp_query_error_name(error));
  }
  interceptor_->handle_tcp_reply(token, error == ipstack::TcpQueryError::None, response, now_, scratch_);
  run(scratch_);
}

// --- Direct upstreams --------------------------------------------------------------------------

bool DnsPipeline::direct_socket(IpFamily family) {
  UniqueFd& fd = family == IpFamily::v4 ? udp4_ : udp6_;
  if (fd.valid()) return true;
  UniqueFd s(::socket(family == IpFamily::v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s.valid()) {
    spdlog::warn("dns: direct upstream socket: {}", std::strerror(errno));
    return false;
  }
  const int raw = s.get();
  if (!loop_.add(raw, EPOLLIN, [this, raw](uint32_t) { on_direct_readable(raw); })) return false;
  fd = std::move(s);
  return true;
}

void DnsPipeline::send_direct(const dns::DirectQuery& query) {
  const IpFamily family = query.server.address.family;
  if (!direct_socket(family)) {
    ++direct_send_errors_;
    return;
  }
  const UniqueFd& fd = family == IpFamily::v4 ? udp4_ : udp6_;
  auto address = to_socket_address(query.server, family == IpFamily::v4 ? AF_INET : AF_INET6);
  if (!address) {
    ++direct_send_errors_;
    return;
  }
  // A datagram that cannot be sent now is lost like one dropped on the way: the attempt's
  // timeout moves on to the next server.
  if (::sendto(fd.get(), query.message->data(), query.message->size(), MSG_DONTWAIT, address->get(),
               address->length) < 0) {
    ++direct_send_errors_;
  }
}

void DnsPipeline::on_direct_readable(int fd) {
  from_loop([&] {
    for (int i = 0; i < kDirectReadsPerWakeup; ++i) {
      sockaddr_storage from{};
      socklen_t from_length = sizeof from;
      const ssize_t n = ::recvfrom(fd, receive_buffer_.data(), receive_buffer_.size(), MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&from), &from_length);
      if (n < 0) break;
      auto source = to_endpoint(reinterpret_cast<const sockaddr*>(&from), from_length);
      if (!source || static_cast<size_t>(n) > dns::kMaxMessageLength) continue;
      interceptor_->handle_direct_reply(*source, {receive_buffer_.data(), static_cast<size_t>(n)}, now_, scratch_);
      run(scratch_);
    }
  });
}

void DnsPipeline::start_direct_tcp(const dns::TcpQuery& query) {
  auto free_slot = std::find_if(direct_tcp_.begin(), direct_tcp_.end(), [](const auto& c) { return !c->in_use; });
  const int family = query.server.address.family == IpFamily::v4 ? AF_INET : AF_INET6;
  auto address = to_socket_address(query.server, family);
  const size_t length = query.message->size();
  if (free_slot == direct_tcp_.end() || !address || length > dns::kMaxMessageLength) {
    ++direct_tcp_refused_;
    failed_tcp_.push_back(query.token);
    return;
  }
  DirectTcp& c = **free_slot;
  UniqueFd s(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s.valid() || (::connect(s.get(), address->get(), address->length) < 0 && errno != EINPROGRESS)) {
    ++direct_tcp_refused_;
    failed_tcp_.push_back(query.token);
    return;
  }
  c.request[0] = static_cast<uint8_t>(length >> 8);
  c.request[1] = static_cast<uint8_t>(length);
  std::memcpy(c.request.data() + kDnsTcpPrefix, query.message->data(), length);
  c.request_size = kDnsTcpPrefix + length;
  c.sent = 0;
  c.received = 0;
  c.token = query.token;
  c.deadline_ns = now_.mono_ns + query.timeout_ns;
  DirectTcp* cp = &c;
  if (!loop_.add(s.get(), EPOLLOUT | EPOLLIN, [this, cp](uint32_t events) {
        from_loop([&] { on_direct_tcp_event(*cp, events); });
      })) {
    ++direct_tcp_refused_;
    failed_tcp_.push_back(query.token);
    return;
  }
  c.fd = std::move(s);
  c.in_use = true;
}

void DnsPipeline::on_direct_tcp_event(DirectTcp& c, uint32_t events) {
  if (!c.in_use) return;
  if (c.sent < c.request_size) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLOUT) == 0) {
      finish_direct_tcp(c, false);
      return;
    }
    if ((events & EPOLLOUT) == 0) return;
    const ssize_t n = ::send(c.fd.get(), c.request.data() + c.sent, c.request_size - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) finish_direct_tcp(c, false);
      return;
    }
    c.sent += static_cast<size_t>(n);
    if (c.sent == c.request_size) loop_.modify(c.fd.get(), EPOLLIN);
    return;
  }
  while (true) {
    const size_t wanted = c.received < kDnsTcpPrefix
                              ? kDnsTcpPrefix
                              : kDnsTcpPrefix + (size_t{c.response[0]} << 8 | c.response[1]);
    if (c.received >= kDnsTcpPrefix && wanted == kDnsTcpPrefix) {  // a zero-length response
      finish_direct_tcp(c, false);
      return;
    }
    if (c.received == wanted) {
      finish_direct_tcp(c, true);
      return;
    }
    const ssize_t n = ::recv(c.fd.get(), c.response.data() + c.received, wanted - c.received, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      finish_direct_tcp(c, false);
      return;
    }
    if (n < 0) return;
    c.received += static_cast<size_t>(n);
  }
}

void DnsPipeline::finish_direct_tcp(DirectTcp& c, bool ok) {
  loop_.remove(c.fd.get());
  c.fd.reset();
  c.in_use = false;
  const uint64_t token = c.token;
  c.token = 0;
  if (!ok) {
    failed_tcp_.push_back(token);
    return;
  }
  interceptor_->handle_tcp_reply(token, true, std::span<const uint8_t>(c.response).subspan(kDnsTcpPrefix, c.received - kDnsTcpPrefix),
                                 now_, scratch_);
  run(scratch_);
}

// --- Stats -------------------------------------------------------------------------------------

void DnsPipeline::append_stats(std::string& out) {
  dns::append_dns_stats(out, interceptor_->counters());
  const dns::CacheCounters& cache = interceptor_->cache_counters();
  append_stat(out, "dns_cache_entries", cache.entries);
  append_stat(out, "dns_cache_bytes", cache.bytes);
  append_stat(out, "dns_cache_insertions", cache.insertions);
  append_stat(out, "dns_cache_evictions", cache.evictions);
  append_stat(out, "dns_cache_expired", cache.expired);
  append_stat(out, "dns_in_flight", interceptor_->in_flight());
  append_stat(out, "dns_blocked_domains", interceptor_->policy().blocked.size());
  append_stat(out, "dns_block_list_bytes", interceptor_->policy().blocked.memory_bytes());
  append_stat(out, "dns_policy_reloads", reloads_);
  append_stat(out, "dns_policy_reload_failures", reload_failures_);
  append_stat(out, "dns_stack_output_dropped", stack_output_dropped_);
  append_stat(out, "dns_direct_send_errors", direct_send_errors_);
  append_stat(out, "dns_direct_tcp_refused", direct_tcp_refused_);
  append_stat(out, "dns_query_log_write_errors", query_log_ ? query_log_->write_errors() : 0);
  if (stack_) {
    const ipstack::IpStackCounters& s = stack_->counters();
    append_stat(out, "dns_tcp_connections_accepted", s.dns_connections_accepted);
    append_stat(out, "dns_tcp_connections_active", s.dns_connections_active);
    append_stat(out, "dns_tcp_connections_refused", s.dns_connections_refused);
    append_stat(out, "dns_tcp_answers", s.dns_answers);
    append_stat(out, "dns_tcp_upstream_started", s.tcp_queries_started);
    append_stat(out, "dns_tcp_upstream_answered", s.tcp_queries_answered);
    append_stat(out, "dns_tcp_upstream_failed", s.tcp_queries_failed + s.tcp_queries_timed_out);
    append_stat(out, "dns_stack_packets_in", s.packets_in);
    append_stat(out, "dns_stack_packets_out", s.packets_out);
    append_stat(out, "dns_stack_drops", s.input_malformed + s.input_too_big + s.input_no_buffer + s.lwip_ip_drops +
                                            s.lwip_transport_drops);
  }
}

}  // namespace sluice::platform
