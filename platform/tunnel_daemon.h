// The Linux daemon: runs the sans-IO sluice::Device over a TUN interface, one UDP socket and
// the UAPI socket, on one thread with one epoll loop.
//
//   TUN readable  -> read_batch  -> Device::handle_inner -> flush
//   UDP readable  -> receive_batch -> Device::handle_outer -> flush
//   deadline      -> Device::handle_timers -> flush
//   UAPI request  -> parse, reopen the socket if the port changes, Device::apply -> flush
//   flush         = send_batch(datagrams) + write_batch(inner), then every buffer back to the pool
//
// With a DNS policy (TunnelDaemonOptions::dns) the DnsPipeline sits between the TUN and the
// Device on both paths: it takes DNS queries out of each TUN batch (answers go back to the TUN,
// queries for upstreams through the tunnel join the batch for the Device) and replies to its
// own queries out of the Device's output. SIGHUP reloads its policy.
//
// Buffer ownership: buffers are acquired here for reads; the Device takes ownership of every
// buffer handed to it; every buffer in DeviceOutput comes back to this class, which releases
// it to the pool after sending/writing (or dropping) it, in flush(). Nothing else holds one.
//
// It stops on SIGINT/SIGTERM, a fatal TUN read error, or the interface being deleted (e.g.
// `ip link del`, `wg-quick down`); the UAPI socket is removed when the daemon is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/crypto_workers.h"
#include "platform/daemon_counters.h"
#include "platform/dns_pipeline.h"
#include "platform/event_loop.h"
#include "platform/link_monitor.h"
#include "platform/pcap_writer.h"
#include "platform/result.h"
#include "platform/signals.h"
#include "platform/tun_device.h"
#include "platform/uapi_server.h"
#include "platform/udp_socket.h"
#include "tunnel/device.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/uapi.h"

namespace sluice::platform {

struct TunnelDaemonOptions {
  std::string interface_name;  // 1..15 bytes
  // The inner MTU the device pads to. Buffers are sized for max(mtu, kMinBufferMtu) so that a
  // later `ip link set mtu 1500` (as wg-quick may do) still fits.
  uint32_t mtu = 1420;
  size_t buffer_count = 2048;  // the whole pool: reads, staged packets, handshakes
  size_t batch_size = 128;     // packets per read/receive system call (<= UdpSocket::kMaxBatch)
  // Batches one readiness callback handles before giving the other fds a turn; the fd stays
  // readable (level-triggered), so the rest is read on the next wake-up.
  size_t batches_per_wakeup = 8;
  // Worker threads for sealing and opening besides the event-loop thread (0: all inline).
  size_t crypto_threads = CryptoWorkers::default_threads();
  // Kernel offloads: TUN vnet headers with TSO/USO, UDP GSO and GRO. Off = one packet per
  // TUN read/write and per UDP datagram (for comparison and for kernels that misbehave).
  bool offload = true;
  // Bytes of packet memory (pool buffers plus the TUN's and the UDP socket's scratch space)
  // the daemon may use; 0 = buffer_count as given. Set, it decides buffer_count, and start-up
  // fails if even the minimum (two batches of buffers) does not fit.
  size_t memory_limit = 0;
  // The DNS interceptor: off when dns.config_path is empty. `deliver` is set by the daemon.
  DnsPipelineOptions dns;
};

enum class StopReason { None, Signal, TunFailed, LinkDeleted, EventLoopFailed };

class TunnelDaemon {
 public:
  // Creates the TUN, a UDP socket on a kernel-chosen port (as wireguard-go before a
  // listen_port is set), the link monitor, the signal fd and the UAPI socket. Nothing is left
  // behind on failure.
  static Result<std::unique_ptr<TunnelDaemon>> create(TunnelDaemonOptions options);
  ~TunnelDaemon();
  TunnelDaemon(const TunnelDaemon&) = delete;
  TunnelDaemon& operator=(const TunnelDaemon&) = delete;

  const std::string& interface_name() const { return tun_->name(); }
  int ifindex() const { return tun_->ifindex(); }
  uint16_t listen_port() const { return udp_->port(); }
  const Device& device() const { return *device_; }
  const DaemonCounters& counters() const { return counters_; }

  // Applies a validated change the way a UAPI set=1 does: a new listen_port is bound first
  // (a port in use fails with EADDRINUSE and changes nothing), then the Device applies the
  // change and the sockets are swapped. Returns nullopt on success.
  std::optional<UapiError> apply(DeviceChange change);

  // One UAPI request ("get=1\n\n" or "set=1\n...\n\n"); returns the whole answer, errno line
  // and blank line included.
  std::string handle_uapi_request(std::string_view request);

  // Live capture of the inner traffic (packets read from and written to the TUN) into a pcap
  // file of at most `max_bytes`; an empty `path` stops it. The UAPI socket's "capture=1".
  std::optional<UapiError> set_capture(const std::string& path, uint64_t max_bytes);

  // The counters as "key=value" lines (the UAPI socket's "stats=1" operation).
  std::string stats_text() const;

  // Runs the loop until a stop condition; returns why. stop_message() says it in words.
  StopReason run();
  void request_stop(StopReason reason, std::string message);
  const std::string& stop_message() const { return stop_message_; }

 private:
  explicit TunnelDaemon(TunnelDaemonOptions options);

  Now now() const;
  // Fills read_buffers_ with up to batch_size pool buffers (owned by this class until handed
  // to the Device or released); false, counted, when the pool is empty.
  bool acquire_read_buffers();
  void on_tun_readable();
  void on_udp_readable();
  void on_signal();
  void on_link_event();
  // Hands the DNS pipeline's output to the Device (to_tunnel) and to flush() (to_tun).
  void take_dns_output(DnsPipelineOutput& dns_out);
  int64_t next_deadline() const;
  void flush_capture_if_due();
  void run_timers_if_due();
  // True while the TUN or the UDP socket holds packets already read from the kernel (split
  // from a super-packet or a GRO read): the loop must not wait for readiness then.
  bool input_pending() const;
  // Sends and writes everything in out_, then releases every buffer in it and clears it.
  void flush();
  bool register_udp_socket();
  void check_pool_idle() const;

  TunnelDaemonOptions options_;
  // Declaration order is destruction order reversed: the Device (which may hold staged
  // buffers) goes before the pool, and the loop outlives every fd registered with it.
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<CryptoWorkers> crypto_workers_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<Device> device_;
  std::optional<SignalSet> signals_;
  std::unique_ptr<TunDevice> tun_;
  std::unique_ptr<UdpSocket> udp_;
  std::unique_ptr<LinkMonitor> link_monitor_;
  std::unique_ptr<UapiServer> uapi_;
  std::unique_ptr<DnsPipeline> dns_;  // null without a DNS policy
  std::unique_ptr<PcapWriter> capture_;  // null unless a live capture is on

  DeviceOutput out_;
  DnsPipelineOutput dns_out_;
  std::vector<PacketBuffer*> read_buffers_;
  std::vector<InboundDatagram> inbound_;
  std::vector<Endpoint> sources_;
  DaemonCounters counters_;
  StopReason stop_reason_ = StopReason::None;
  std::string stop_message_;
  int64_t next_drop_log_ns_ = 0;
  int64_t next_capture_flush_ns_ = 0;
  uint64_t drops_reported_ = 0;
};

}  // namespace sluice::platform
