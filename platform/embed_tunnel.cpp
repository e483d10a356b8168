#include "platform/embed_tunnel.h"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

#include "platform/clock.h"
#include "tunnel/counters.h"
#include "platform/nat64.h"
#include "platform/tunnel_daemon.h"

namespace sluice::platform {

namespace {

// How often liveness is re-evaluated besides right after a handshake completes. Its rules
// work in seconds, so finer is wasted work.
constexpr int64_t kLivenessInterval = seconds(1);

Now now() { return Now{monotonic_ns(), wall_ns()}; }

// What is looked up for a peer at start and after each network change: its host name, or an
// IPv4 literal, which an IPv6-only network reaches only through its NAT64 prefix (nat64.h).
std::optional<std::string> endpoint_to_resolve(const ConfigPeer& peer) {
  if (peer.endpoint_host) return peer.endpoint_host;
  if (peer.change.endpoint && peer.change.endpoint->address.family == IpFamily::v4) {
    return peer.change.endpoint->address.to_string();
  }
  return std::nullopt;
}

struct PacketBatch {
  const uint8_t* const* packets;
  const size_t* lengths;
  const int* families;
};

// A packet the Device could not parse would be dropped there too; checking the family here
// catches a host that mislabels packets, which the Device cannot see.
bool fill_packet(void* context, size_t i, HandoffQueue::Item& item) {
  const auto* batch = static_cast<const PacketBatch*>(context);
  const size_t length = batch->lengths[i];
  const uint8_t* bytes = batch->packets[i];
  PacketBuffer* b = item.buffer;
  if (length == 0 || length > b->room() - PacketBuffer::kTailroom) return false;
  const unsigned version = bytes[0] >> 4;
  if (batch->families[i] == AF_INET) {
    if (version != 4 || length < 20) return false;
  } else if (batch->families[i] == AF_INET6) {
    if (version != 6 || length < 40) return false;
  } else {
    return false;
  }
  std::memcpy(b->data(), bytes, length);
  b->set_size(length);
  return true;
}

struct DatagramBatch {
  const uint8_t* const* datagrams;
  const size_t* lengths;
  const sluice_endpoint* sources;
};

bool fill_datagram(void* context, size_t i, HandoffQueue::Item& item) {
  const auto* batch = static_cast<const DatagramBatch*>(context);
  const size_t length = batch->lengths[i];
  PacketBuffer* b = item.buffer;
  if (length == 0 || length > b->capacity()) return false;
  std::memcpy(b->data(), batch->datagrams[i], length);
  b->set_bounds(0, length);
  const sluice_endpoint& source = batch->sources[i];
  item.source.address = source.family == SLUICE_ENDPOINT_IPV4 ? IpAddress::v4(source.address)
                                                               : IpAddress::v6(source.address);
  item.source.port = source.port;
  return true;
}

sluice_endpoint to_sluice_endpoint(const Endpoint& e) {
  sluice_endpoint out{};
  out.family = e.address.family == IpFamily::v4 ? SLUICE_ENDPOINT_IPV4 : SLUICE_ENDPOINT_IPV6;
  std::memcpy(out.address, e.address.bytes.data(), e.address.size());
  out.port = e.port;
  return out;
}

}  // namespace

EmbeddedTunnel::EmbeddedTunnel(WgQuickConfig config, EmbedOptions options)
    : config_(std::move(config)),
      options_(std::move(options)),
      settings_(EmbedNetworkSettings::from_config(config_)),
      mtu_(settings_.mtu),
      packets_in_(kEmbedBatch),
      datagrams_in_(kEmbedBatch) {}

std::variant<std::unique_ptr<EmbeddedTunnel>, EmbedCreateError> EmbeddedTunnel::create(
    std::string_view text, EmbedOptions options) {
  if (options.packets_to_host == nullptr && options.tun_fd < 0) {
    return EmbedCreateError{SLUICE_ERR_INVALID_ARGUMENT,
                            "options: packets_to_host is required without a tun_fd"};
  }
  if (options.tun_fd >= 0 && fcntl(options.tun_fd, F_GETFD) < 0) {
    return EmbedCreateError{SLUICE_ERR_INVALID_ARGUMENT,
                            "options: tun_fd " + std::to_string(options.tun_fd) +
                                " is not an open descriptor"};
  }
  auto parsed = parse_wg_quick_config(text, "config");
  if (auto* error = std::get_if<ConfigError>(&parsed)) {
    return EmbedCreateError{SLUICE_ERR_CONFIG, error->to_string()};
  }
  WgQuickConfig config = std::get<WgQuickConfig>(std::move(parsed));
  const uint32_t mtu = config.mtu.value_or(1420);
  if (mtu < kMinEmbedMtu || mtu > kMaxEmbedMtu) {
    return EmbedCreateError{SLUICE_ERR_CONFIG, "config: MTU: " + std::to_string(mtu) +
                                                   " is outside " + std::to_string(kMinEmbedMtu) +
                                                   ".." + std::to_string(kMaxEmbedMtu)};
  }
  const size_t capacity = buffer_capacity_for_mtu(mtu);
  const size_t memory = options.memory_limit != 0 ? options.memory_limit : kDefaultEmbedMemory;
  // The pool alone is checked here; start() also counts a library-owned socket's scratch.
  if (memory / capacity < kMinEmbedBuffers) {
    return EmbedCreateError{
        SLUICE_ERR_INVALID_ARGUMENT,
        "options: memory_limit of " + std::to_string(memory) + " bytes is too small: " +
            std::to_string(kMinEmbedBuffers * capacity) + " bytes are needed at MTU " +
            std::to_string(mtu)};
  }
  return std::unique_ptr<EmbeddedTunnel>(new EmbeddedTunnel(std::move(config), std::move(options)));
}

EmbeddedTunnel::~EmbeddedTunnel() { stop(); }

std::optional<Error> EmbeddedTunnel::start() {
  if (running()) return Error{"the tunnel is already started", EALREADY};

  // Names first: a DNS failure must leave nothing behind, and the worker must never block.
  DeviceChange change = to_device_change(config_);
  for (size_t i = 0; i < config_.peers.size(); ++i) {
    const ConfigPeer& peer = config_.peers[i];
    const std::optional<std::string> host = endpoint_to_resolve(peer);
    if (!host) continue;
    auto resolved = resolve_endpoint_for_network(*host, peer.endpoint_port);
    if (!resolved) {
      return Error{"config:" + std::to_string(peer.line) + ": Endpoint: " +
                       resolved.error().message,
                   resolved.error().code};
    }
    change.peers[i].endpoint = *resolved;
  }

  auto run = std::make_unique<Running>();
  auto wake = WakePipe::create();
  if (!wake) return wake.error();
  run->wake = std::move(*wake);
  size_t scratch = 0;
  if (options_.datagrams_to_network == nullptr) {
    auto udp = open_embed_udp(config_.listen_port.value_or(0), config_.fwmark.value_or(0));
    if (!udp) return udp.error();
    run->udp = std::move(*udp);
    scratch = scratch_bytes(*run->udp);
    // The Device reports the port it is told; tell it the one the kernel picked.
    change.listen_port = run->udp->port();
  }
  if (options_.tun_fd >= 0) {
    const int fd = fcntl(options_.tun_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return Error::from_errno("tun_fd: dup", errno);
    auto utun = UtunDevice::adopt(UniqueFd(fd));
    if (!utun) return Error{"tun_fd: " + utun.error().message, utun.error().code};
    run->utun = std::move(*utun);
  }
  const size_t capacity = buffer_capacity_for_mtu(mtu_);
  const size_t memory = options_.memory_limit != 0 ? options_.memory_limit : kDefaultEmbedMemory;
  const size_t buffers = memory > scratch ? (memory - scratch) / capacity : 0;
  if (buffers < kMinEmbedBuffers) {
    return Error{"memory limit of " + std::to_string(memory) + " bytes is too small: the UDP " +
                     "socket's scratch space takes " + std::to_string(scratch) +
                     " bytes and the packet pool at least " +
                     std::to_string(kMinEmbedBuffers * capacity) + " more",
                 ENOMEM};
  }
  buffer_count_ = buffers;
  run->pool = std::make_unique<BufferPool>(buffer_count_, capacity);
  run->crypto = std::make_unique<CryptoWorkers>(options_.crypto_threads);
  DeviceOptions device_options;
  device_options.log_prefix = options_.log_prefix;
  device_options.mtu = mtu_;
  device_options.crypto_executor = run->crypto.get();
  run->device = std::make_unique<Device>(device_options, *run->pool);
  run->initial = std::move(change);
  run->drained.reserve(kEmbedBatch);
  run->batch.reserve(kEmbedBatch);
  run->inbound.reserve(kEmbedBatch);
  run->out.datagrams.reserve(4 * kEmbedBatch);
  run->out.inner.reserve(4 * kEmbedBatch);
  run->pointers.resize(kEmbedBatch);
  run->lengths.resize(kEmbedBatch);
  run->families.resize(kEmbedBatch);
  run->endpoints.resize(kEmbedBatch);
  run->read_buffers.reserve(kEmbedBatch);
  run->sources.resize(kEmbedBatch);
  if (run->udp) listen_port_ = run->udp->port();
  run_ = std::move(run);

  // Stocked here rather than on the worker, so a write right after start() returns is taken.
  packets_in_.restock(*run_->pool, true);
  datagrams_in_.restock(*run_->pool, false);
  packets_in_.open(run_->wake.write_fd());
  datagrams_in_.open(run_->wake.write_fd());

  stop_requested_ = false;
  liveness_.reset();
  next_liveness_ns_ = 0;
  network_change_due_ns_ = INT64_MAX;
  asleep_ = false;
  resolved_.clear();
  resolved_ready_ = false;
  handshakes_seen_ = 0;
  {
    std::lock_guard lock(task_mutex_);
    tasks_open_ = true;
    task_wake_fd_ = run_->wake.write_fd();
  }
  try {
    worker_ = std::thread([this] { worker_main(); });
  } catch (const std::system_error& e) {
    close_tasks();
    release_everything();
    return Error{std::string("starting the worker thread: ") + e.what(), e.code().value()};
  }
  spdlog::info("{}started: {} peer(s), MTU {}, {} buffers of {} bytes, {} crypto thread(s)",
               options_.log_prefix, config_.peers.size(), mtu_, buffer_count_,
               buffer_capacity_for_mtu(mtu_), options_.crypto_threads);
  return std::nullopt;
}

bool EmbeddedTunnel::stop() {
  if (!running()) return true;
  if (std::this_thread::get_id() == worker_.get_id()) return false;
  stop_requested_ = true;
  run_->wake.notify();
  worker_.join();
  if (resolver_.joinable()) resolver_.join();  // may wait out a slow DNS answer
  release_everything();
  spdlog::info("{}stopped", options_.log_prefix);
  return true;
}

void EmbeddedTunnel::release_everything() {
  Running& r = *run_;
  packets_in_.close_and_release(*r.pool);
  datagrams_in_.close_and_release(*r.pool);
  for (const OutboundDatagram& d : r.out.datagrams) r.pool->release(d.buffer);
  for (PacketBuffer* b : r.out.inner) r.pool->release(b);
  r.out.clear();
  r.device.reset();  // gives staged packets back to the pool
  if (r.pool->available() != r.pool->count()) {
    spdlog::error("{}buffer pool: {} of {} buffers not returned at stop", options_.log_prefix,
                  r.pool->count() - r.pool->available(), r.pool->count());
  }
  r.crypto.reset();  // joins the crypto threads
  listen_port_ = 0;
  run_.reset();
}

void EmbeddedTunnel::close_tasks() {
  std::lock_guard lock(task_mutex_);
  tasks_open_ = false;
  task_wake_fd_ = -1;
  if (task_ != nullptr && !task_done_) {
    task_done_ = true;
    task_ran_ = false;
    task_done_cv_.notify_all();
  }
}

bool EmbeddedTunnel::call_on_worker(const std::function<void()>& task) {
  if (worker_id_.load() == std::this_thread::get_id()) {
    task();
    return true;
  }
  std::lock_guard call(call_mutex_);
  std::unique_lock lock(task_mutex_);
  if (!tasks_open_) return false;
  task_ = &task;
  task_done_ = false;
  task_ran_ = false;
  WakePipe::notify(task_wake_fd_);
  task_done_cv_.wait(lock, [this] { return task_done_; });
  task_ = nullptr;
  return task_ran_;
}

void EmbeddedTunnel::run_pending_task() {
  std::lock_guard lock(task_mutex_);
  if (task_ == nullptr || task_done_) return;
  (*task_)();
  task_done_ = true;
  task_ran_ = true;
  task_done_cv_.notify_all();
}

void EmbeddedTunnel::worker_main() {
  Running& r = *run_;
  worker_id_ = std::this_thread::get_id();
  r.device->apply(r.initial, now(), r.out);
  flush();
  while (!stop_requested_.load(std::memory_order_acquire)) {
    // Datagrams a GRO read left inside the socket are served without waiting: the fd may not
    // be readable for them.
    const bool pending = r.udp && has_pending(*r.udp);
    if (!wait_and_dispatch(pending ? 0 : worker_deadline())) {
      spdlog::error("{}poll failed; the tunnel no longer moves packets", options_.log_prefix);
      break;
    }
    if (stop_requested_.load(std::memory_order_acquire)) break;
    if (r.udp && has_pending(*r.udp)) {
      on_udp_readable();
    }
    run_timers_if_due();
  }
  // No host call may wait for a worker that is gone.
  close_tasks();
  worker_id_ = std::thread::id();
}

bool EmbeddedTunnel::wait_and_dispatch(int64_t deadline_ns) {
  Running& r = *run_;
  int timeout_ms = -1;
  if (deadline_ns != INT64_MAX) {
    // Rounded up: waking a little early would only find nothing due and wait again.
    const int64_t wait_ns = std::max<int64_t>(0, deadline_ns - monotonic_ns());
    timeout_ms = static_cast<int>(std::min<int64_t>((wait_ns + 999'999) / 1'000'000, INT_MAX));
  }
  std::array<pollfd, 3> fds{};
  size_t n = 0;
  fds[n++] = pollfd{r.wake.read_fd(), POLLIN, 0};
  const int udp_fd = r.udp ? r.udp->fd() : -1;
  if (udp_fd >= 0) fds[n++] = pollfd{udp_fd, POLLIN, 0};
  const int utun_fd = r.utun && !r.utun_failed ? r.utun->fd() : -1;
  if (utun_fd >= 0) fds[n++] = pollfd{utun_fd, POLLIN, 0};
  if (poll(fds.data(), n, timeout_ms) < 0) return errno == EINTR;
  for (size_t i = 0; i < n; ++i) {
    if (fds[i].revents == 0) continue;
    if (stop_requested_.load(std::memory_order_acquire)) return true;
    // An earlier handler may have replaced the socket (a network change); the new one is
    // polled next round.
    if (fds[i].fd == r.wake.read_fd()) {
      on_wake();
    } else if (fds[i].fd == udp_fd && r.udp && r.udp->fd() == udp_fd) {
      on_udp_readable();
    } else if (fds[i].fd == utun_fd && !r.utun_failed) {
      on_utun_readable();
    }
  }
  return true;
}

int64_t EmbeddedTunnel::worker_deadline() const {
  int64_t deadline = network_change_due_ns_;
  if (asleep_) return deadline;  // parked: only host calls wake the worker
  deadline = std::min(deadline, run_->device->next_deadline());
  // Periodic liveness checks wake the worker only for a host that listens for them.
  if (options_.liveness != nullptr) deadline = std::min(deadline, next_liveness_ns_);
  return deadline;
}

bool EmbeddedTunnel::open_udp(uint16_t port) {
  Running& r = *run_;
  auto udp = open_embed_udp(port, config_.fwmark.value_or(0));
  if (!udp) {
    spdlog::warn("{}udp: binding port {} failed: {}", options_.log_prefix, port,
                 udp.error().message);
    return false;
  }
  r.udp = std::move(*udp);
  listen_port_ = r.udp->port();
  return true;
}

void EmbeddedTunnel::handle_network_change() {
  Running& r = *run_;
  network_change_due_ns_ = INT64_MAX;
  if (options_.datagrams_to_network == nullptr) {
    // A socket bound before the change may keep a dead source address or route; a new one
    // picks the current ones. The port is kept so peers that know it keep working; the old
    // socket must close first, as the port cannot be bound twice.
    const uint16_t port = r.udp ? r.udp->port() : config_.listen_port.value_or(0);
    r.udp.reset();
    if (!open_udp(port) && (port == 0 || !open_udp(0))) {
      spdlog::error("{}udp: no socket after the network change; retrying at the next one",
                    options_.log_prefix);
      listen_port_ = 0;
    } else if (r.udp->port() != port) {
      spdlog::warn("{}udp: port {} was taken; now {}", options_.log_prefix, port,
                   r.udp->port());
    }
  }
  start_resolving();
  r.device->initiate_handshakes(now(), r.out);
  flush();
  spdlog::info("{}network change: rebound, handshaking", options_.log_prefix);
}

void EmbeddedTunnel::start_resolving() {
  bool any = false;
  for (const ConfigPeer& p : config_.peers) any = any || endpoint_to_resolve(p).has_value();
  if (!any) return;
  if (resolver_.joinable()) {
    // Still resolving from the last change; its answer is about as fresh.
    std::lock_guard lock(resolved_mutex_);
    if (!resolved_ready_) return;
  }
  if (resolver_.joinable()) resolver_.join();
  const int wake_fd = run_->wake.write_fd();
  try {
    resolver_ = std::thread([this, wake_fd] {
      std::vector<std::pair<size_t, Endpoint>> found;
      for (size_t i = 0; i < config_.peers.size(); ++i) {
        const ConfigPeer& p = config_.peers[i];
        const std::optional<std::string> host = endpoint_to_resolve(p);
        if (!host) continue;
        auto e = resolve_endpoint_for_network(*host, p.endpoint_port);
        if (e) {
          found.emplace_back(i, *e);
        } else {
          spdlog::warn("{}config:{}: Endpoint: {}", options_.log_prefix, p.line,
                       e.error().message);
        }
      }
      {
        std::lock_guard lock(resolved_mutex_);
        resolved_ = std::move(found);
        resolved_ready_ = true;
      }
      // The worker joins this thread before the pipe can close.
      WakePipe::notify(wake_fd);
    });
  } catch (const std::system_error& e) {
    spdlog::warn("{}cannot start the resolver thread: {}", options_.log_prefix, e.what());
  }
}

void EmbeddedTunnel::apply_resolved() {
  std::vector<std::pair<size_t, Endpoint>> found;
  {
    std::lock_guard lock(resolved_mutex_);
    if (!resolved_ready_) return;
    found.swap(resolved_);
    resolved_ready_ = false;
  }
  if (resolver_.joinable()) resolver_.join();
  DeviceChange change;
  for (const auto& [index, endpoint] : found) {
    PeerChange p;
    p.public_key = config_.peers[index].change.public_key;
    p.update_only = true;
    p.endpoint = endpoint;
    change.peers.push_back(std::move(p));
  }
  if (change.peers.empty()) return;
  Running& r = *run_;
  const Now t = now();
  r.device->apply(change, t, r.out);
  r.device->initiate_handshakes(t, r.out);
  flush();
}

bool EmbeddedTunnel::network_changed() {
  return call_on_worker([this] { network_change_due_ns_ = monotonic_ns() + kNetworkChangeDebounce; });
}

bool EmbeddedTunnel::sleep() {
  return call_on_worker([this] {
    asleep_ = true;
    spdlog::info("{}sleeping: timers parked", options_.log_prefix);
  });
}

bool EmbeddedTunnel::wake() {
  return call_on_worker([this] {
    if (!asleep_) return;
    asleep_ = false;
    spdlog::info("{}awake: timers resumed", options_.log_prefix);
    handle_network_change();
  });
}

void EmbeddedTunnel::on_utun_readable() {
  Running& r = *run_;
  for (int round = 0; round < 8; ++round) {
    r.read_buffers.clear();
    while (r.read_buffers.size() < kEmbedBatch) {
      PacketBuffer* b = r.pool->acquire();  // reset for inner: headroom for sealing in place
      if (b == nullptr) break;
      r.read_buffers.push_back(b);
    }
    if (r.read_buffers.empty()) return;  // packets wait in the descriptor's queue
    const int n = r.utun->read_batch(r.read_buffers);
    const size_t got = n > 0 ? static_cast<size_t>(n) : 0;
    for (size_t i = got; i < r.read_buffers.size(); ++i) r.pool->release(r.read_buffers[i]);
    r.read_buffers.resize(got);
    if (n < 0) {
      // Closed or torn down by the host: stop listening rather than spin on a dead fd.
      spdlog::error("{}utun: reading failed: {}; no more packets from it", options_.log_prefix,
                    std::strerror(-n));
      r.utun_failed = true;
      return;
    }
    if (got == 0) return;
    // Ownership of every read buffer passes to the Device here.
    r.device->handle_inner(r.read_buffers, now(), r.out);
    r.read_buffers.clear();
    flush();
    if (got < kEmbedBatch) return;
  }
}

void EmbeddedTunnel::on_udp_readable() {
  Running& r = *run_;
  // A bounded number of batches per wake-up, so host packets and timers get their turn; the
  // fd is level-triggered, so the rest is read on the next round.
  for (int round = 0; round < 8; ++round) {
    r.read_buffers.clear();
    while (r.read_buffers.size() < kEmbedBatch) {
      PacketBuffer* b = r.pool->acquire();
      if (b == nullptr) break;
      r.read_buffers.push_back(b);
    }
    if (r.read_buffers.empty()) {
      ++udp_pool_exhausted_;
      return;  // datagrams wait in the kernel's queue until buffers come back
    }
    const int n = r.udp->receive_batch(r.read_buffers, std::span<Endpoint>(r.sources));
    const size_t got = n > 0 ? static_cast<size_t>(n) : 0;
    r.inbound.clear();
    for (size_t i = 0; i < r.read_buffers.size(); ++i) {
      if (i < got && r.read_buffers[i]->size() > 0) {
        r.inbound.push_back(InboundDatagram{r.sources[i], r.read_buffers[i]});
      } else {
        r.pool->release(r.read_buffers[i]);
      }
    }
    r.read_buffers.clear();
    if (n < 0) {
      spdlog::debug("{}udp: receive failed: {}", options_.log_prefix, std::strerror(-n));
      return;
    }
    if (!r.inbound.empty()) {
      // Ownership of every datagram buffer passes to the Device here.
      r.device->handle_outer(r.inbound, now(), r.out);
      r.inbound.clear();
      flush();
    }
    if (got < kEmbedBatch) return;
  }
}

void EmbeddedTunnel::on_wake() {
  Running& r = *run_;
  // Emptied before the queues are: a push that lands after their drain finds its queue empty
  // and writes the pipe again, so no packet waits for the next unrelated wake-up.
  r.wake.drain();
  if (stop_requested_.load(std::memory_order_acquire)) return;
  run_pending_task();
  apply_resolved();
  packets_in_.drain(r.drained);
  if (!r.drained.empty()) {
    r.batch.clear();
    for (const HandoffQueue::Item& item : r.drained) r.batch.push_back(item.buffer);
    r.drained.clear();
    // Ownership of every buffer passes to the Device here.
    r.device->handle_inner(r.batch, now(), r.out);
    r.batch.clear();
    flush();
  }
  datagrams_in_.drain(r.drained);
  if (!r.drained.empty()) {
    r.inbound.clear();
    for (const HandoffQueue::Item& item : r.drained) {
      r.inbound.push_back(InboundDatagram{item.source, item.buffer});
    }
    r.drained.clear();
    r.device->handle_outer(r.inbound, now(), r.out);
    r.inbound.clear();
    flush();
  }
  packets_in_.restock(*r.pool, true);
  datagrams_in_.restock(*r.pool, false);
}

void EmbeddedTunnel::check_liveness(int64_t now_ns, bool force) {
  Running& r = *run_;
  const uint64_t handshakes = r.device->counters().handshakes_completed;
  if (!force && (options_.liveness == nullptr ||
                 (now_ns < next_liveness_ns_ && handshakes == handshakes_seen_))) {
    return;
  }
  handshakes_seen_ = handshakes;
  next_liveness_ns_ = now_ns + kLivenessInterval;
  const int before = liveness_.state();
  const int after = liveness_.update(*r.device, r.device->status(), now_ns);
  if (after != before && options_.liveness != nullptr) {
    spdlog::debug("{}liveness {} -> {}", options_.log_prefix, before, after);
    options_.liveness(options_.context, after);
  }
}

void EmbeddedTunnel::run_timers_if_due() {
  Running& r = *run_;
  const Now t = now();
  if (t.mono_ns >= network_change_due_ns_) handle_network_change();
  if (asleep_) return;
  check_liveness(t.mono_ns, false);
  if (t.mono_ns < r.device->next_deadline()) return;
  r.device->handle_timers(t, r.out);
  flush();
  // Timers may have freed staged buffers; hosts blocked on a full queue can go on.
  packets_in_.restock(*r.pool, true);
  datagrams_in_.restock(*r.pool, false);
}

void EmbeddedTunnel::flush() {
  Running& r = *run_;
  if (options_.datagrams_to_network == nullptr && !r.out.datagrams.empty()) {
    // Without a socket (a rebind failed) everything counts as dropped until the next one.
    const int n = r.udp ? r.udp->send_batch(r.out.datagrams) : 0;
    const size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
    udp_send_dropped_ += r.out.datagrams.size() - std::min(sent, r.out.datagrams.size());
    for (const OutboundDatagram& d : r.out.datagrams) r.pool->release(d.buffer);
    r.out.datagrams.clear();
  }
  for (size_t start = 0; start < r.out.datagrams.size(); start += kEmbedBatch) {
    const size_t n = std::min(kEmbedBatch, r.out.datagrams.size() - start);
    for (size_t i = 0; i < n; ++i) {
      const OutboundDatagram& d = r.out.datagrams[start + i];
      r.pointers[i] = d.buffer->data();
      r.lengths[i] = d.buffer->size();
      r.endpoints[i] = to_sluice_endpoint(d.destination);
    }
    options_.datagrams_to_network(options_.context, r.pointers.data(), r.lengths.data(),
                                  r.endpoints.data(), n);
  }
  for (const OutboundDatagram& d : r.out.datagrams) r.pool->release(d.buffer);

  if (r.utun && !r.out.inner.empty()) {
    const int n = r.utun->write_batch(r.out.inner);
    const size_t written = n > 0 ? static_cast<size_t>(n) : 0;
    utun_write_dropped_ += r.out.inner.size() - std::min(written, r.out.inner.size());
    for (PacketBuffer* b : r.out.inner) r.pool->release(b);
    r.out.inner.clear();
  }
  for (size_t start = 0; start < r.out.inner.size(); start += kEmbedBatch) {
    const size_t n = std::min(kEmbedBatch, r.out.inner.size() - start);
    for (size_t i = 0; i < n; ++i) {
      const PacketBuffer* b = r.out.inner[start + i];
      r.pointers[i] = b->data();
      r.lengths[i] = b->size();
      r.families[i] = (b->data()[0] >> 4) == 6 ? AF_INET6 : AF_INET;
    }
    options_.packets_to_host(options_.context, r.pointers.data(), r.lengths.data(),
                             r.families.data(), n);
  }
  for (PacketBuffer* b : r.out.inner) r.pool->release(b);
  r.out.clear();
}

bool EmbeddedTunnel::get_stats(sluice_tunnel_stats& out) {
  return call_on_worker([&] {
    check_liveness(monotonic_ns(), true);
    const Running& r = *run_;
    const DeviceCounters& c = r.device->counters();
    out = sluice_tunnel_stats{};
    out.packets_from_host = c.inner_packets_in;
    out.packets_to_host = c.inner_packets_out;
    out.datagrams_received = c.datagrams_in;
    out.datagrams_sent = c.datagrams_out;
    out.handshakes_completed = c.handshakes_completed;
    static_assert(static_cast<size_t>(DropReason::Count) <= SLUICE_DROP_REASONS_MAX);
    for (size_t i = 0; i < c.drops.size(); ++i) out.drops[i] = c.drops[i];
    out.host_packets_dropped = host_packets_dropped_.load();
    out.host_datagrams_dropped = host_datagrams_dropped_.load();
    out.udp_send_dropped = udp_send_dropped_;
    out.udp_pool_exhausted = udp_pool_exhausted_;
    out.tun_write_dropped = utun_write_dropped_;
    out.liveness = liveness_.state();
  });
}

bool EmbeddedTunnel::get_peer_stats(sluice_peer_stats* peers, size_t capacity,
                                    size_t& peer_count) {
  return call_on_worker([&] {
    check_liveness(monotonic_ns(), true);
    const DeviceStatus status = run_->device->status();
    peer_count = status.peers.size();
    for (size_t i = 0; i < std::min(capacity, status.peers.size()); ++i) {
      const PeerStatus& p = status.peers[i];
      sluice_peer_stats& o = peers[i];
      o = sluice_peer_stats{};
      std::memcpy(o.public_key, p.public_key.data(), sizeof o.public_key);
      o.last_handshake_sec = p.last_handshake_time_sec;
      o.last_handshake_nsec = p.last_handshake_time_nsec;
      o.rx_bytes = p.rx_bytes;
      o.tx_bytes = p.tx_bytes;
      o.liveness = liveness_.peer_state(p.public_key);
      o.rtt_ns = p.handshake_rtt_ns;
    }
  });
}

long EmbeddedTunnel::write_packets(const uint8_t* const* packets, const size_t* lengths,
                                   const int* families, size_t count) {
  PacketBatch batch{packets, lengths, families};
  size_t dropped = 0;
  const long taken = packets_in_.push(count, fill_packet, &batch, dropped);
  if (dropped != 0) host_packets_dropped_ += dropped;
  return taken;
}

long EmbeddedTunnel::receive_datagrams(const uint8_t* const* datagrams, const size_t* lengths,
                                       const sluice_endpoint* sources, size_t count) {
  DatagramBatch batch{datagrams, lengths, sources};
  size_t dropped = 0;
  const long taken = datagrams_in_.push(count, fill_datagram, &batch, dropped);
  if (dropped != 0) host_datagrams_dropped_ += dropped;
  return taken;
}

}  // namespace sluice::platform
