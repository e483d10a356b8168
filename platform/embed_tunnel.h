// One embedded tunnel (sluice.h's sluice_tunnel): the sans-IO Device driven by a worker thread
// of its own, with the host on both sides: inner packets arrive through write_packets() and
// leave through the packets_to_host callback; outer datagrams leave through
// datagrams_to_network and arrive through receive_datagrams().
//
//   host thread  -> HandoffQueue (packets / datagrams) -> WakePipe wakes the worker
//   worker       -> Device::handle_inner / handle_outer / handle_timers -> flush
//   flush        = callbacks with arrays pointing into pool buffers, then every buffer home
//
// With a library-owned transport, a socket (EmbedUdp) replaces the datagram callback and
// queue: the worker receives into pool buffers and sends straight from them, as the daemon does.
// The worker waits in poll(2) on at most three descriptors (wake pipe, socket, utun), which
// Linux and Darwin both have, so nothing here is tied to epoll or eventfd.
//
// Buffer ownership: every PacketBuffer belongs to the pool, which only the worker touches while
// the tunnel runs (and the starting/stopping thread while it does not). The HandoffQueues hold
// pool buffers lent to host threads; the Device owns what it stages; flush() releases the
// rest. After stop every buffer is back in the pool, and the pool is freed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "include/sluice.h"
#include "platform/crypto_workers.h"
#include "platform/darwin/utun_device.h"
#include "platform/embed_handoff_queue.h"
#include "platform/embed_liveness.h"
#include "platform/embed_network_settings.h"
#include "platform/result.h"
#include "platform/embed_udp.h"
#include "platform/unique_fd.h"
#include "platform/wake_pipe.h"
#include "tunnel/device.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/wg_quick_config.h"

namespace sluice::platform {

struct EmbedOptions {
  void* context = nullptr;
  sluice_packets_fn packets_to_host = nullptr;
  // Null: the library owns the outer transport, a batched UDP socket on the config's ListenPort.
  sluice_datagrams_fn datagrams_to_network = nullptr;
  sluice_liveness_fn liveness = nullptr;
  int tun_fd = -1;  // the host's utun descriptor (dup()ed at start), or -1
  size_t memory_limit = 0;  // 0 = kDefaultEmbedMemory
  uint32_t crypto_threads = 0;
  std::string log_prefix;
};

inline constexpr size_t kDefaultEmbedMemory = 4 << 20;
// Packets per callback call and per HandoffQueue; the pool needs room for both queues' stock
// plus as much again for packets in flight through the Device.
inline constexpr size_t kEmbedBatch = 64;
inline constexpr size_t kMinEmbedBuffers = 6 * kEmbedBatch;
// Buffers are sized by the MTU; a jumbo MTU would eat the ceiling a mobile host sets.
inline constexpr uint32_t kMinEmbedMtu = 576;
inline constexpr uint32_t kMaxEmbedMtu = 9000;
// Hosts report a burst of path updates when a phone moves between networks; one rebind after
// the burst settles is enough, and rebinding mid-burst would bind to an address about to go.
inline constexpr int64_t kNetworkChangeDebounce = 500'000'000;

// Why create() refused: `code` is SLUICE_ERR_CONFIG or SLUICE_ERR_INVALID_ARGUMENT.
struct EmbedCreateError {
  int code = SLUICE_ERR_CONFIG;
  std::string message;
};

class EmbeddedTunnel {
 public:
  // Validates the config text and the options; nothing is started. The error says what is
  // wrong, never a key.
  static std::variant<std::unique_ptr<EmbeddedTunnel>, EmbedCreateError> create(
      std::string_view config, EmbedOptions options);
  ~EmbeddedTunnel();  // stops first
  EmbeddedTunnel(const EmbeddedTunnel&) = delete;
  EmbeddedTunnel& operator=(const EmbeddedTunnel&) = delete;

  std::optional<Error> start();
  // False when called from the worker thread (a callback), which cannot join itself.
  bool stop();
  bool running() const { return worker_.joinable(); }
  // The bound UDP port of a library-owned transport while started; 0 otherwise.
  uint16_t listen_port() const { return listen_port_.load(); }

  // Fixed at create; any thread.
  const EmbedNetworkSettings& network_settings() const { return settings_; }

  // Host threads. `families` are AF_INET/AF_INET6; -1 when stopped, else how many were taken.
  long write_packets(const uint8_t* const* packets, const size_t* lengths, const int* families,
                     size_t count);
  long receive_datagrams(const uint8_t* const* datagrams, const size_t* lengths,
                         const sluice_endpoint* sources, size_t count);

  // Host threads. The network changed (interface, address, path): after kNetworkChangeDebounce
  // without another call, the worker rebinds a library-owned socket, re-resolves endpoint host
  // names (on a short-lived thread, as DNS blocks) and starts handshakes. False when stopped.
  bool network_changed();
  // Host threads. Sleep parks the timers (no handshake retries, keepalives or liveness checks
  // while the host is suspended); wake resumes them and handles the wake-up as a network
  // change without waiting, since the path and NAT mappings have probably changed.
  bool sleep();
  bool wake();

  // Host threads: snapshots taken on the worker. False when stopped. get_peer_stats sets
  // `peer_count` to the number of peers and fills up to `capacity` entries.
  bool get_stats(sluice_tunnel_stats& out);
  bool get_peer_stats(sluice_peer_stats* peers, size_t capacity, size_t& peer_count);

 private:
  EmbeddedTunnel(WgQuickConfig config, EmbedOptions options);

  // What exists only while started; destroyed after the worker is joined.
  struct Running {
    WakePipe wake;  // host pushes, host calls and stop() wake the worker through it
    std::unique_ptr<BufferPool> pool;
    std::unique_ptr<CryptoWorkers> crypto;
    std::unique_ptr<Device> device;
    std::unique_ptr<EmbedUdp> udp;  // null when the host carries the datagrams
    std::unique_ptr<UtunDevice> utun;  // null unless the host gave a tun_fd
    bool utun_failed = false;  // reading it failed (closed by the host): no longer polled
    DeviceChange initial;  // the config, endpoints resolved; applied by the worker first
    DeviceOutput out;
    std::vector<HandoffQueue::Item> drained;
    std::vector<PacketBuffer*> batch;
    std::vector<InboundDatagram> inbound;
    std::vector<PacketBuffer*> read_buffers;  // library-owned UDP only
    std::vector<Endpoint> sources;
    // Callback scratch, kEmbedBatch each.
    std::vector<const uint8_t*> pointers;
    std::vector<size_t> lengths;
    std::vector<int> families;
    std::vector<sluice_endpoint> endpoints;
  };

  // Runs `task` on the worker thread and waits for it (directly when called on the worker).
  // False, without running it, when the worker is not running.
  bool call_on_worker(const std::function<void()>& task);
  void run_pending_task();
  void close_tasks();
  void check_liveness(int64_t now_ns, bool force);
  void handle_network_change();
  bool open_udp(uint16_t port);
  void start_resolving();
  void apply_resolved();
  int64_t worker_deadline() const;

  void worker_main();
  // Waits until `deadline_ns` (monotonic; INT64_MAX = no deadline) for a descriptor, then
  // handles the ready ones. False when poll fails for good.
  bool wait_and_dispatch(int64_t deadline_ns);
  void on_wake();
  void on_udp_readable();
  void on_utun_readable();
  void run_timers_if_due();
  void flush();
  void release_everything();

  WgQuickConfig config_;
  EmbedOptions options_;
  EmbedNetworkSettings settings_;
  uint32_t mtu_;
  size_t buffer_count_ = 0;  // decided at start, once the socket's scratch space is known
  HandoffQueue packets_in_;
  HandoffQueue datagrams_in_;
  std::unique_ptr<Running> run_;
  std::thread worker_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<uint16_t> listen_port_{0};
  std::atomic<uint64_t> host_packets_dropped_{0};
  std::atomic<uint64_t> host_datagrams_dropped_{0};
  // Host calls waiting for the worker (call_on_worker). call_mutex_ lets one in at a time.
  std::mutex call_mutex_;
  std::mutex task_mutex_;
  std::condition_variable task_done_cv_;
  const std::function<void()>* task_ = nullptr;
  bool task_done_ = false;
  bool task_ran_ = false;
  bool tasks_open_ = false;
  int task_wake_fd_ = -1;
  std::atomic<std::thread::id> worker_id_{};

  LivenessTracker liveness_;  // worker-only
  int64_t network_change_due_ns_ = INT64_MAX;  // worker-only
  bool asleep_ = false;                        // worker-only
  // Endpoint names resolved off the worker: the resolver thread fills resolved_ and wakes the
  // worker, which applies them and joins it. Joined at stop at the latest.
  std::thread resolver_;
  std::mutex resolved_mutex_;
  std::vector<std::pair<size_t, Endpoint>> resolved_;  // (peer index in config_, endpoint)
  bool resolved_ready_ = false;

  int64_t next_liveness_ns_ = 0;
  uint64_t handshakes_seen_ = 0;

  // Worker-only counters (read by the worker's statistics snapshot).
  uint64_t udp_pool_exhausted_ = 0;
  uint64_t udp_send_dropped_ = 0;
  uint64_t utun_write_dropped_ = 0;
};

}  // namespace sluice::platform
