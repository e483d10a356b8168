#include "platform/tunnel_daemon.h"

#include <net/if.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <array>
#include <cassert>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "platform/clock.h"
#include "platform/netlink.h"
#include "tunnel/key_value.h"
#include "platform/udp_gro_queue.h"

namespace sluice::platform {

namespace {

constexpr int64_t kDropLogInterval = seconds(10);
constexpr uint64_t kDefaultCaptureBytes = uint64_t{64} << 20;
constexpr int64_t kCaptureFlushInterval = seconds(1);

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "signal";
  }
}

}  // namespace

UdpSocketOptions udp_options(const TunnelDaemonOptions& options) {
  UdpSocketOptions o;
  o.gso = o.gro = options.offload;
  if (options.memory_limit != 0) {
    // Under a ceiling the GRO scratch gets at most a quarter of it; the pool needs the rest.
    o.gro_reads = std::clamp<size_t>(options.memory_limit / 4 / GroReceiveQueue::kSlotBytes, 1, o.gro_reads);
  }
  return o;
}

TunnelDaemon::TunnelDaemon(TunnelDaemonOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<TunnelDaemon>> TunnelDaemon::create(TunnelDaemonOptions options) {
  options.batch_size = std::clamp<size_t>(options.batch_size, 1, UdpSocket::kMaxBatch);
  options.batches_per_wakeup = std::max<size_t>(options.batches_per_wakeup, 1);
  options.buffer_count = std::max(options.buffer_count, 2 * options.batch_size);
  std::unique_ptr<TunnelDaemon> d(new TunnelDaemon(options));

  auto loop = EventLoop::create();
  if (!loop) return loop.error();
  d->loop_ = std::move(*loop);

  // Signals first: a SIGTERM during the rest of start-up is then handled, not fatal.
  auto signals = SignalSet::create({SIGINT, SIGTERM, SIGHUP});
  if (!signals) return signals.error();
  d->signals_.emplace(std::move(*signals));

  TunOptions tun_options;
  tun_options.offload = options.offload;
  auto tun = TunDevice::create(options.interface_name, tun_options);
  if (!tun) {
    Error e = tun.error();  // its message names the interface already
    if (e.code == EBUSY) e.message += " (another process has an interface of that name open)";
    return e;
  }
  d->tun_ = std::move(*tun);
  // As wireguard-go: the interface starts at the tunnel MTU, not the kernel's 1500, so full
  // inner packets still fit the path once sealed (the outer socket sets don't-fragment).
  // wg-quick and `sluice up` may set another MTU later.
  {
    auto netlink = Netlink::open();
    if (!netlink) return Error{"netlink: " + netlink.error().message, netlink.error().code};
    if (auto set = (*netlink)->set_mtu(d->tun_->ifindex(), options.mtu); !set)
      return Error{"setting the MTU of " + d->tun_->name() + ": " + set.error().message, set.error().code};
  }

  auto udp = UdpSocket::open(0, 0, udp_options(options));
  if (!udp) return udp.error();
  d->udp_ = std::move(*udp);

  const size_t capacity = buffer_capacity_for_mtu(options.mtu);
  if (options.memory_limit != 0) {
    // The scratch space of the TUN and the socket is fixed; the pool gets the rest.
    const size_t fixed = d->tun_->scratch_bytes() + d->udp_->scratch_bytes();
    const size_t minimum = 2 * options.batch_size;
    const size_t fits = options.memory_limit > fixed ? (options.memory_limit - fixed) / capacity : 0;
    if (fits < minimum) {
      return Error{"memory limit of " + std::to_string(options.memory_limit) + " bytes is too small: " +
                       std::to_string(fixed) + " bytes of I/O scratch space plus at least " +
                       std::to_string(minimum * capacity) + " bytes of packet buffers are needed",
                   EINVAL};
    }
    options.buffer_count = fits;
    d->options_.buffer_count = fits;
  }
  d->pool_ = std::make_unique<BufferPool>(options.buffer_count, capacity);
  spdlog::debug("buffer pool: {} buffers of {} bytes; I/O scratch {} bytes", options.buffer_count,
                capacity, d->tun_->scratch_bytes() + d->udp_->scratch_bytes());

  d->crypto_workers_ = std::make_unique<CryptoWorkers>(options.crypto_threads);
  DeviceOptions device_options;
  device_options.mtu = options.mtu;
  device_options.crypto_executor = d->crypto_workers_.get();
  d->device_ = std::make_unique<Device>(device_options, *d->pool_);

  auto monitor = LinkMonitor::open(d->tun_->ifindex());
  if (!monitor) return Error{"link monitor: " + monitor.error().message, monitor.error().code};
  d->link_monitor_ = std::move(*monitor);

  TunnelDaemon* self = d.get();
  if (!d->loop_->add(d->signals_->fd(), EPOLLIN, [self](uint32_t) { self->on_signal(); }) ||
      !d->loop_->add(d->tun_->fd(), EPOLLIN, [self](uint32_t) { self->on_tun_readable(); }) ||
      !d->loop_->add(d->link_monitor_->fd(), EPOLLIN,
                     [self](uint32_t) { self->on_link_event(); }) ||
      !d->register_udp_socket()) {
    return Error{"registering descriptors with the event loop failed", EIO};
  }

  auto uapi = UapiServer::create(*d->loop_, d->tun_->name(), [self](std::string_view request) {
    return self->handle_uapi_request(request);
  });
  if (!uapi) return Error{"UAPI socket: " + uapi.error().message, uapi.error().code};
  d->uapi_ = std::move(*uapi);

  if (!options.dns.config_path.empty()) {
    DnsPipelineOptions dns = options.dns;
    dns.mtu = options.mtu;
    dns.deliver = [self](DnsPipelineOutput& out) {
      self->take_dns_output(out);
      self->flush();
    };
    auto pipeline = DnsPipeline::create(std::move(dns), *d->loop_, *d->pool_, d->now());
    if (!pipeline) return pipeline.error();
    d->dns_ = std::move(*pipeline);
    d->dns_out_.to_tun.reserve(options.batch_size);
    d->dns_out_.to_tunnel.reserve(options.batch_size);
  }

  d->read_buffers_.reserve(options.batch_size);
  d->inbound_.reserve(options.batch_size);
  d->sources_.resize(options.batch_size);
  d->out_.datagrams.reserve(options.batch_size * 2);
  d->out_.inner.reserve(options.batch_size * 2);

  // The Device reports the port it is told; tell it the one the kernel picked.
  DeviceChange initial;
  initial.listen_port = d->udp_->port();
  d->device_->apply(initial, d->now(), d->out_);
  d->flush();

  spdlog::info("interface {} (index {}) created, UDP port {}, MTU {}, {} crypto worker(s)",
               d->tun_->name(), d->tun_->ifindex(), d->udp_->port(), options.mtu,
               d->crypto_workers_->threads());
  return d;
}

TunnelDaemon::~TunnelDaemon() {
  dns_.reset();  // its fds leave the loop, its queued stack input goes back to the pool
  if (loop_) {
    if (uapi_) uapi_.reset();  // removes the socket file and its fds from the loop
    if (udp_) loop_->remove(udp_->fd());
    if (tun_) loop_->remove(tun_->fd());
    if (link_monitor_) loop_->remove(link_monitor_->fd());
    if (signals_) loop_->remove(signals_->fd());
  }
  // Give back whatever is still in flight, then every buffer must be home: a missing one is a
  // leak somewhere on the data path.
  flush();
  device_.reset();
  if (pool_ && pool_->available() != pool_->count()) {
    spdlog::error("buffer pool: {} of {} buffers not returned at shutdown",
                  pool_->count() - pool_->available(), pool_->count());
    assert(pool_->available() == pool_->count());
  }
}

Now TunnelDaemon::now() const { return Now{monotonic_ns(), wall_ns()}; }

bool TunnelDaemon::register_udp_socket() {
  return loop_->add(udp_->fd(), EPOLLIN, [this](uint32_t) { on_udp_readable(); });
}

void TunnelDaemon::request_stop(StopReason reason, std::string message) {
  if (stop_reason_ != StopReason::None) return;
  stop_reason_ = reason;
  stop_message_ = std::move(message);
  loop_->stop();
}

StopReason TunnelDaemon::run() {
  while (stop_reason_ == StopReason::None) {
    if (!loop_->run_once(input_pending() ? 0 : next_deadline())) {
      request_stop(StopReason::EventLoopFailed, "event loop failed");
      break;
    }
    // Packets read from the kernel but not yet handed out are served first; the fds may not
    // be readable for them.
    if (tun_->has_pending()) on_tun_readable();
    if (udp_->has_pending()) on_udp_readable();
    run_timers_if_due();
    flush_capture_if_due();
    check_pool_idle();
  }
  spdlog::info("stopping: {}", stop_message_);
  return stop_reason_;
}

bool TunnelDaemon::input_pending() const { return tun_->has_pending() || udp_->has_pending(); }

void TunnelDaemon::flush_capture_if_due() {
  if (!capture_) return;
  const int64_t t = monotonic_ns();
  if (t < next_capture_flush_ns_) return;
  // Once a second, so that a capture can be read while it is being written.
  next_capture_flush_ns_ = t + kCaptureFlushInterval;
  if (!capture_->flush()) spdlog::warn("capture to {}: {}", capture_->path(), capture_->error());
}

int64_t TunnelDaemon::next_deadline() const {
  const int64_t device = device_->next_deadline();
  return dns_ ? std::min(device, dns_->next_deadline()) : device;
}

void TunnelDaemon::run_timers_if_due() {
  const Now t = now();
  if (t.mono_ns < next_deadline()) return;
  if (t.mono_ns >= device_->next_deadline()) device_->handle_timers(t, out_);
  if (dns_ && t.mono_ns >= dns_->next_deadline()) {
    dns_->handle_timers(t, dns_out_);
    take_dns_output(dns_out_);
  }
  flush();
}

void TunnelDaemon::take_dns_output(DnsPipelineOutput& dns_out) {
  if (!dns_out.to_tunnel.empty()) device_->handle_inner(dns_out.to_tunnel, now(), out_);
  out_.inner.insert(out_.inner.end(), dns_out.to_tun.begin(), dns_out.to_tun.end());
  dns_out.clear();
}

void TunnelDaemon::check_pool_idle() const {
  // Between wake-ups this class holds no buffer: the free ones are in the pool and the rest
  // are the Device's (staged packets), so everything this class acquired went back in flush().
  assert(out_.datagrams.empty() && out_.inner.empty());
  assert(read_buffers_.empty() && inbound_.empty());
  // A Device without peers has nowhere to stage a packet: then every buffer must be home.
  assert(device_->peer_count() != 0 || pool_->available() == pool_->count());
}

bool TunnelDaemon::acquire_read_buffers() {
  read_buffers_.clear();
  while (read_buffers_.size() < options_.batch_size) {
    PacketBuffer* b = pool_->acquire();
    if (b == nullptr) break;
    read_buffers_.push_back(b);
  }
  if (!read_buffers_.empty()) return true;
  // Every buffer is staged in the Device or in flight; packets wait in the kernel's queues
  // (which drop past their length) until buffers come back.
  ++counters_.pool_exhausted;
  return false;
}

void TunnelDaemon::on_tun_readable() {
  for (size_t batch = 0; batch < options_.batches_per_wakeup; ++batch) {
    if (!acquire_read_buffers()) return;
    const int n = tun_->read_batch(read_buffers_);
    const size_t got = n > 0 ? static_cast<size_t>(n) : 0;
    for (size_t i = got; i < read_buffers_.size(); ++i) pool_->release(read_buffers_[i]);
    read_buffers_.resize(got);
    if (n < 0) {
      // Deleting the interface makes reads fail (EBADFD), often before the link notification
      // is read: ask the monitor first, so `ip link del` counts as a clean stop.
      if (link_monitor_->link_deleted() || if_indextoname(static_cast<unsigned>(tun_->ifindex()),
                                                          std::array<char, IF_NAMESIZE>{}.data()) ==
                                               nullptr) {
        request_stop(StopReason::LinkDeleted, "interface " + tun_->name() + " was deleted");
      } else {
        request_stop(StopReason::TunFailed,
                     std::string("reading from the TUN failed: ") + std::strerror(-n));
      }
      return;
    }
    if (got == 0) return;
    spdlog::trace("tun: read {} packets", got);
    counters_.tun_read_batches.record(got);
    for (const PacketBuffer* b : read_buffers_) counters_.tun_bytes_in += b->size();
    const Now t = now();
    if (capture_) {
      for (const PacketBuffer* b : read_buffers_) capture_->write(t.wall_ns, {b->data(), b->size()});
    }
    if (dns_) {
      // The pipeline takes the DNS packets; its queries for upstreams join the batch.
      dns_->handle_outbound(read_buffers_, t, dns_out_);
      read_buffers_.insert(read_buffers_.end(), dns_out_.to_tunnel.begin(), dns_out_.to_tunnel.end());
      out_.inner.insert(out_.inner.end(), dns_out_.to_tun.begin(), dns_out_.to_tun.end());
      dns_out_.clear();
    }
    // Ownership of every read buffer passes to the Device here.
    device_->handle_inner(read_buffers_, t, out_);
    read_buffers_.clear();
    flush();
    if (got < options_.batch_size) return;  // drained
  }
}

void TunnelDaemon::on_udp_readable() {
  for (size_t batch = 0; batch < options_.batches_per_wakeup; ++batch) {
    if (!acquire_read_buffers()) return;
    UdpSocket* socket = udp_.get();
    const int n = socket->receive_batch(read_buffers_, std::span<Endpoint>(sources_));
    const size_t got = n > 0 ? static_cast<size_t>(n) : 0;
    inbound_.clear();
    for (size_t i = 0; i < read_buffers_.size(); ++i) {
      if (i < got && read_buffers_[i]->size() > 0) {
        inbound_.push_back(InboundDatagram{sources_[i], read_buffers_[i]});
      } else {
        if (i < got) ++counters_.udp_truncated;
        pool_->release(read_buffers_[i]);
      }
    }
    read_buffers_.clear();
    if (n < 0) {
      ++counters_.udp_receive_errors;
      spdlog::debug("udp: receive failed: {}", std::strerror(-n));
      return;
    }
    if (got == 0) return;
    spdlog::trace("udp: received {} datagrams", got);
    counters_.udp_receive_batches.record(got);
    for (const InboundDatagram& d : inbound_) counters_.udp_bytes_in += d.buffer->size();
    if (!inbound_.empty()) {
      // Ownership of every datagram buffer passes to the Device here.
      const Now t = now();
      device_->handle_outer(inbound_, t, out_);
      inbound_.clear();
      if (dns_) {
        // Replies to the pipeline's queries through the tunnel are its, not the TUN's.
        dns_->handle_inbound(out_.inner, t, dns_out_);
        take_dns_output(dns_out_);
      }
      flush();
    }
    if (got < options_.batch_size) return;
  }
}

void TunnelDaemon::flush() {
  if (!out_.datagrams.empty()) {
    size_t sent = 0;
    if (udp_) {
      const int n = udp_->send_batch(out_.datagrams);
      sent = n > 0 ? static_cast<size_t>(n) : 0;
    }
    counters_.udp_send_dropped += out_.datagrams.size() - std::min(sent, out_.datagrams.size());
    counters_.udp_send_batches.record(out_.datagrams.size());
    for (size_t i = 0; i < std::min(sent, out_.datagrams.size()); ++i)
      counters_.udp_bytes_out += out_.datagrams[i].buffer->size();
    spdlog::trace("udp: sent {} of {} datagrams", sent, out_.datagrams.size());
    for (const OutboundDatagram& d : out_.datagrams) pool_->release(d.buffer);
  }
  if (!out_.inner.empty()) {
    if (capture_) {
      const int64_t wall = wall_ns();
      for (const PacketBuffer* b : out_.inner) capture_->write(wall, {b->data(), b->size()});
    }
    size_t written = 0;
    if (tun_) {
      const int n = tun_->write_batch(out_.inner);
      written = n > 0 ? static_cast<size_t>(n) : 0;
    }
    counters_.tun_write_dropped += out_.inner.size() - std::min(written, out_.inner.size());
    counters_.tun_write_batches.record(out_.inner.size());
    for (size_t i = 0; i < std::min(written, out_.inner.size()); ++i)
      counters_.tun_bytes_out += out_.inner[i]->size();
    spdlog::trace("tun: wrote {} of {} packets", written, out_.inner.size());
    for (PacketBuffer* b : out_.inner) pool_->release(b);
  }
  out_.clear();

  // Drops are per-packet events: report them at most every few seconds.
  const uint64_t dropped = counters_.udp_send_dropped + counters_.tun_write_dropped +
                           counters_.udp_truncated + counters_.pool_exhausted;
  if (dropped != drops_reported_) {
    const int64_t t = monotonic_ns();
    if (t >= next_drop_log_ns_) {
      spdlog::debug(
          "drops so far: {} UDP sends, {} TUN writes, {} oversized datagrams, {} reads without "
          "free buffers",
          counters_.udp_send_dropped, counters_.tun_write_dropped, counters_.udp_truncated,
          counters_.pool_exhausted);
      drops_reported_ = dropped;
      next_drop_log_ns_ = t + kDropLogInterval;
    }
  }
}

void TunnelDaemon::on_signal() {
  while (std::optional<int> s = signals_->read_signal()) {
    if (*s == SIGHUP) {
      if (!dns_) {
        spdlog::info("SIGHUP ignored (configure with wg(8))");
      } else if (auto error = dns_->reload("", now())) {
        spdlog::error("dns: reload failed, the running policy stays: {}", *error);
      }
      continue;
    }
    request_stop(StopReason::Signal, std::string("received ") + signal_name(*s));
  }
}

void TunnelDaemon::on_link_event() {
  if (link_monitor_->link_deleted()) {
    request_stop(StopReason::LinkDeleted, "interface " + tun_->name() + " was deleted");
  }
}

std::optional<UapiError> TunnelDaemon::apply(DeviceChange change) {
  std::unique_ptr<UdpSocket> new_socket;
  const uint32_t fwmark = change.fwmark.value_or(device_->fwmark());
  if (change.listen_port) {
    // As wireguard-go: 0 asks for a fresh kernel-chosen port; the same port keeps the socket.
    if (*change.listen_port == 0 || *change.listen_port != udp_->port()) {
      auto opened = UdpSocket::open(*change.listen_port, fwmark, udp_options(options_));
      if (!opened) {
        const int code = opened.error().code != 0 ? opened.error().code : EADDRINUSE;
        return UapiError{code, opened.error().message};
      }
      new_socket = std::move(*opened);
    }
    if (new_socket) change.listen_port = new_socket->port();
  }
  if (change.fwmark && !new_socket && *change.fwmark != device_->fwmark()) {
    if (!udp_->set_fwmark(*change.fwmark)) {
      // wireguard-go answers a refused fwmark with its "port in use" errno as well.
      return UapiError{EADDRINUSE, "setting fwmark " + std::to_string(*change.fwmark) +
                                       " on the UDP socket failed"};
    }
  }

  device_->apply(change, now(), out_);

  if (new_socket) {
    loop_->remove(udp_->fd());
    const uint16_t old_port = udp_->port();
    udp_ = std::move(new_socket);
    if (!register_udp_socket()) {
      spdlog::error("registering the new UDP socket with the event loop failed");
    }
    spdlog::info("listening on UDP port {} (was {})", udp_->port(), old_port);
  }
  if (change.fwmark) spdlog::debug("fwmark {:#x}", *change.fwmark);
  flush();
  return std::nullopt;
}

std::optional<UapiError> TunnelDaemon::set_capture(const std::string& path, uint64_t max_bytes) {
  if (path.empty()) {
    if (capture_) {
      spdlog::info("capture to {} stopped: {} packets, {} bytes, {} dropped", capture_->path(),
                   capture_->packets(), capture_->bytes(), capture_->dropped());
    }
    capture_.reset();
    return std::nullopt;
  }
  // The daemon's working directory is not the caller's: only absolute paths mean one thing.
  if (path.front() != '/') return UapiError{EINVAL, "capture path '" + path + "' is not absolute"};
  auto writer = PcapWriter::create(path, max_bytes);
  if (!writer) return UapiError{writer.error().code != 0 ? writer.error().code : EIO, writer.error().message};
  capture_ = std::move(*writer);  // a capture already running is closed first
  spdlog::info("capturing inner traffic to {} (at most {} bytes)", path, max_bytes);
  return std::nullopt;
}

std::string TunnelDaemon::handle_uapi_request(std::string_view request) {
  // Strip the final blank line; the operation line comes first.
  const size_t eol = request.find('\n');
  std::string_view op = request.substr(0, eol);
  if (!op.empty() && op.back() == '\r') op.remove_suffix(1);
  const std::string_view body = eol == std::string_view::npos ? std::string_view{}
                                                               : request.substr(eol + 1);
  if (op == "get=1") {
    DeviceStatus status = device_->status();
    status.listen_port = udp_->port();
    spdlog::debug("uapi: get");
    return format_uapi_get(status) + format_uapi_errno(0);
  }
  if (op == "capture=1") {
    std::string path;
    uint64_t max_bytes = kDefaultCaptureBytes;
    for (std::string_view rest = body; !rest.empty();) {
      const size_t nl = rest.find('\n');
      const std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
      if (line.empty()) continue;
      if (line.starts_with("path=")) {
        path = std::string(line.substr(5));
      } else if (line.starts_with("max_bytes=")) {
        const std::string_view v = line.substr(10);
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), max_bytes);
        if (ec != std::errc{} || end != v.data() + v.size()) {
          spdlog::error("uapi: capture: max_bytes is not a number");
          return format_uapi_errno(EINVAL);
        }
      } else {
        spdlog::error("uapi: capture: unknown key in '{}'", text::quoted(line));
        return format_uapi_errno(EINVAL);
      }
    }
    if (auto error = set_capture(path, max_bytes)) {
      spdlog::error("uapi: capture: {}", error->message);
      return format_uapi_errno(error->errno_value);
    }
    return format_uapi_errno(0);
  }
  if (op == "stats=1") {
    // Sluice's own operation (wg never sends it): the counters `sluice stats` prints.
    return stats_text() + format_uapi_errno(0);
  }
  if (op == "set=1") {
    auto parsed = parse_uapi_set(body);
    if (auto* error = std::get_if<UapiError>(&parsed)) {
      spdlog::error("uapi: set rejected: {}", error->message);
      return format_uapi_errno(error->errno_value);
    }
    const DeviceChange& change = std::get<DeviceChange>(parsed);
    spdlog::debug("uapi: set ({} peer sections{})", change.peers.size(),
                  change.replace_peers ? ", replacing peers" : "");
    if (auto error = apply(std::get<DeviceChange>(std::move(parsed)))) {
      spdlog::error("uapi: set failed: {}", error->message);
      return format_uapi_errno(error->errno_value);
    }
    return format_uapi_errno(0);
  }
  spdlog::error("uapi: unknown operation '{}'", op);
  return format_uapi_errno(EINVAL);
}

}  // namespace sluice::platform

namespace sluice::platform {

std::string TunnelDaemon::stats_text() const {
  std::string out;
  const DeviceCounters& d = device_->counters();
  const DaemonCounters& c = counters_;
  append_stat(out, "tun_packets_in", c.tun_read_batches.items());
  append_stat(out, "tun_bytes_in", c.tun_bytes_in);
  append_stat(out, "tun_packets_out", c.tun_write_batches.items() - c.tun_write_dropped);
  append_stat(out, "tun_bytes_out", c.tun_bytes_out);
  append_stat(out, "udp_datagrams_in", c.udp_receive_batches.items());
  append_stat(out, "udp_bytes_in", c.udp_bytes_in);
  append_stat(out, "udp_datagrams_out", c.udp_send_batches.items() - c.udp_send_dropped);
  append_stat(out, "udp_bytes_out", c.udp_bytes_out);
  append_stat(out, "handshake_initiations_sent", d.handshake_initiations_sent);
  append_stat(out, "handshake_responses_sent", d.handshake_responses_sent);
  append_stat(out, "cookie_replies_sent", d.cookie_replies_sent);
  append_stat(out, "handshakes_completed", d.handshakes_completed);
  append_stat(out, "keepalives_sent", d.keepalives_sent);
  append_stat(out, "keepalives_received", d.keepalives_received);
  for (size_t r = 0; r < static_cast<size_t>(DropReason::Count); ++r) {
    const auto reason = static_cast<DropReason>(r);
    append_stat(out, "drop_" + std::string(drop_reason_name(reason)), d.dropped(reason));
  }
  append_stat(out, "drop_udp_send", c.udp_send_dropped);
  append_stat(out, "drop_tun_write", c.tun_write_dropped);
  append_stat(out, "drop_udp_oversized", c.udp_truncated);
  append_stat(out, "pool_exhausted", c.pool_exhausted);
  append_stat(out, "udp_receive_errors", c.udp_receive_errors);
  append_histogram(out, "tun_read", c.tun_read_batches);
  append_histogram(out, "udp_receive", c.udp_receive_batches);
  append_histogram(out, "udp_send", c.udp_send_batches);
  append_histogram(out, "tun_write", c.tun_write_batches);
  const TunStats& tun = tun_->stats();
  const UdpSocketStats& udp = udp_->stats();
  append_stat(out, "tun_read_syscalls", tun.read_calls);
  append_stat(out, "tun_write_syscalls", tun.write_calls);
  append_stat(out, "udp_receive_syscalls", udp.receive_syscalls);
  append_stat(out, "udp_send_syscalls", udp.send_syscalls);
  append_stat(out, "tun_vnet_hdr", tun_->offloads().vnet_hdr);
  append_stat(out, "tun_tso", tun_->offloads().tso);
  append_stat(out, "tun_uso", tun_->offloads().uso);
  append_stat(out, "tun_super_packets_read", tun.super_packets_read);
  append_stat(out, "tun_segments_produced", tun.segments_produced);
  append_stat(out, "tun_coalesced_writes", tun.coalesced_writes);
  append_stat(out, "tun_packets_coalesced", tun.packets_coalesced);
  append_stat(out, "tun_coalesced_writes_refused", tun.coalesced_writes_refused);
  append_stat(out, "tun_read_dropped_truncated", tun.read_dropped_truncated);
  append_stat(out, "tun_read_dropped_too_big", tun.read_dropped_too_big);
  uint64_t malformed = 0;
  for (uint64_t n : tun.read_dropped_malformed) malformed += n;
  append_stat(out, "tun_read_dropped_malformed", malformed);
  append_stat(out, "udp_gso", udp_->gso_enabled());
  append_stat(out, "udp_gro", udp_->gro_enabled());
  append_stat(out, "udp_gso_messages", udp.gso_messages);
  append_stat(out, "udp_gso_segments", udp.gso_segments);
  append_stat(out, "udp_gso_fallbacks", udp.gso_fallbacks);
  append_stat(out, "udp_gro_reads", udp.gro_reads);
  append_stat(out, "udp_gro_segments", udp.gro_segments);
  append_stat(out, "udp_send_waits", udp.send_waits);
  append_stat(out, "udp_unreachable_skipped", udp.unreachable_skipped);
  append_stat(out, "udp_dont_fragment", udp_->dont_fragment());
  append_stat(out, "crypto_threads", crypto_workers_->threads());
  append_stat(out, "crypto_parallel_batches", crypto_workers_->parallel_batches());
  append_stat(out, "pool_buffers", pool_->count());
  append_stat(out, "pool_buffers_free", pool_->available());
  append_stat(out, "pool_buffer_bytes", pool_->buffer_capacity());
  append_stat(out, "packet_memory_bytes",
              pool_->count() * pool_->buffer_capacity() + tun_->scratch_bytes() + udp_->scratch_bytes());
  append_stat(out, "capture_active", capture_ != nullptr);
  if (capture_) {
    append_stat(out, "capture_packets", capture_->packets());
    append_stat(out, "capture_bytes", capture_->bytes());
    append_stat(out, "capture_dropped", capture_->dropped());
  }
  if (dns_) dns_->append_stats(out);
  return out;
}

}  // namespace sluice::platform
