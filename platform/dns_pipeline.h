// The DNS part of the daemon's packet pipeline: the sans-IO dns::DnsInterceptor, the embedded
// IpStack (lwIP) that serves DNS over TCP and runs the TCP fallback through the tunnel, the
// sockets for direct upstreams, the query log, and the policy file with its reloads.
//
//   TUN read batch -> handle_outbound -> (rest of the batch + out.to_tunnel) -> Device::handle_inner
//                                     -> out.to_tun: answers, written to the TUN
//   Device output  -> handle_inbound  -> takes replies to our queries out of DeviceOutput::inner
//   deadline       -> handle_timers   (next_deadline() joins the Device's)
//   SIGHUP         -> reload()
//   stats=1        -> append_stats()
//
// Buffer ownership: the pipeline takes ownership of every packet it removes from a batch handed
// to it. Every buffer it puts into a DnsPipelineOutput belongs to the caller: to_tunnel ones go
// to Device::handle_inner (which takes them), to_tun ones are written to the TUN and released.
// Output that arises outside the caller's calls (a reply on a direct-upstream socket, which the
// pipeline watches on the daemon's EventLoop) is handed over through DnsPipelineOptions::deliver
// with the same rules. Between calls the pipeline holds no pool buffer.
//
// Single-threaded: every call on the event-loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dns/interceptor.h"
#include "dns/query_log.h"
#include "ipstack/ip_stack.h"
#include "platform/event_loop.h"
#include "platform/result.h"
#include "platform/unique_fd.h"
#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/time.h"

namespace sluice::platform {

struct DnsPipelineOutput {
  std::vector<PacketBuffer*> to_tun;     // answers and the stack's packets for local clients
  std::vector<PacketBuffer*> to_tunnel;  // queries and the stack's segments for upstreams:
                                         // inner packets for Device::handle_inner
  bool empty() const { return to_tun.empty() && to_tunnel.empty(); }
  void clear() {
    to_tun.clear();
    to_tunnel.clear();
  }
};

struct DnsPipelineOptions {
  std::string config_path;                  // the DNS policy file (docs/DNS.md)
  std::vector<IpAddress> tunnel_dns;        // the wg-quick config's DNS= servers
  std::vector<IpAddress> tunnel_addresses;  // its Address= entries, host part
  uint32_t mtu = 1420;                      // the tunnel's inner MTU
  size_t max_in_flight = 1024;              // pending upstream queries
  // Receives output produced outside handle_*() calls; must hand to_tunnel to the Device, write
  // to_tun to the TUN, and release both (the DnsPipelineOutput is cleared after it returns).
  std::function<void(DnsPipelineOutput&)> deliver;
};

class DnsPipeline {
 public:
  // Loads the policy (an error is the policy file's "FILE:LINE: KEY: message"), creates the
  // IpStack and opens the query log. `loop` and `pool` must outlive the pipeline.
  static Result<std::unique_ptr<DnsPipeline>> create(DnsPipelineOptions options, EventLoop& loop,
                                                     BufferPool& pool, const Now& now);
  // Removes its fds from the loop, aborts TCP attempts, flushes the query log.
  ~DnsPipeline();
  DnsPipeline(const DnsPipeline&) = delete;
  DnsPipeline& operator=(const DnsPipeline&) = delete;

  // Packets read from the TUN (data() at PacketBuffer::kHeadroom). Removes the ones it takes.
  void handle_outbound(std::vector<PacketBuffer*>& packets, const Now& now, DnsPipelineOutput& out);
  // Packets the Device decrypted for the TUN (DeviceOutput::inner). Removes the ones it takes.
  void handle_inbound(std::vector<PacketBuffer*>& packets, const Now& now, DnsPipelineOutput& out);
  void handle_timers(const Now& now, DnsPipelineOutput& out);
  // Monotonic ns; INT64_MAX when nothing is scheduled. Calling handle_timers() early is harmless.
  int64_t next_deadline() const;

  // Loads `path` (empty: the file given at creation, which a non-empty `path` replaces) and
  // swaps the new policy in only if it is complete and valid. Returns the error otherwise,
  // and then nothing has changed.
  std::optional<std::string> reload(const std::string& path, const Now& now);

  // "dns_*=value" lines: the interceptor's counters, the cache, the stack, the pipeline's drops.
  void append_stats(std::string& out);

  const dns::DnsPolicy& policy() const { return interceptor_->policy(); }

 private:
  struct DirectTcp;
  struct StackFlow {
    IpAddress local;
    uint16_t local_port = 0;
    Endpoint remote;
    int64_t last_seen_ns = 0;
    bool in_use = false;
  };
  struct PendingStackQuery {
    ipstack::TcpQueryId id = 0;
    uint64_t token = 0;
  };
  static constexpr size_t kMaxDirectTcp = 4;
  static constexpr size_t kMaxStackFlows = 32;
  static constexpr size_t kMaxStackQueries = 8;  // TCP fallbacks through the tunnel at once

  DnsPipeline(DnsPipelineOptions options, EventLoop& loop, BufferPool& pool);

  // Sets the output and time for the calls that follow; end() forgets both and flushes the log.
  void begin(const Now& now, DnsPipelineOutput& out);
  void end();
  // Consumes everything in `o` except what must wait for drain() (stack input, failed TCP).
  void run(dns::InterceptorOutput& o);
  // Feeds queued packets to the stack and reports failed TCP attempts, until nothing is left.
  void drain();

  std::optional<std::string> make_stack(const dns::DnsPolicy& policy, const Now& now);
  std::optional<std::string> open_query_log(const dns::DnsPolicy& policy);

  void on_stack_output(std::span<const uint8_t> packet);
  void on_stack_query(ipstack::ConnectionId id, std::span<const uint8_t> query);
  void on_stack_tcp_done(ipstack::TcpQueryId id, ipstack::TcpQueryError error, std::span<const uint8_t> response);
  bool take_stack_flow(const PacketBuffer& packet);

  void send_direct(const dns::DirectQuery& query);
  bool direct_socket(IpFamily family);
  void on_direct_readable(int fd);
  void start_direct_tcp(const dns::TcpQuery& query);
  void on_direct_tcp_event(DirectTcp& c, uint32_t events);
  void finish_direct_tcp(DirectTcp& c, bool ok);
  // Runs `f` as a loop callback: a fresh time and the pipeline's own output, delivered after.
  template <typename F>
  void from_loop(F&& f);

  DnsPipelineOptions options_;
  EventLoop& loop_;
  BufferPool& pool_;
  std::unique_ptr<dns::DnsInterceptor> interceptor_;
  std::unique_ptr<ipstack::IpStack> stack_;
  std::unique_ptr<dns::QueryLog> query_log_;

  dns::InterceptorOutput scratch_;
  DnsPipelineOutput own_out_;
  DnsPipelineOutput* current_ = nullptr;
  Now now_{};
  bool draining_ = false;
  std::vector<PacketBuffer*> stack_in_;
  std::vector<PacketBuffer*> stack_batch_;
  std::vector<uint64_t> failed_tcp_;
  std::array<StackFlow, kMaxStackFlows> flows_{};
  std::array<PendingStackQuery, kMaxStackQueries> stack_queries_{};

  UniqueFd udp4_;
  UniqueFd udp6_;
  std::vector<uint8_t> receive_buffer_;
  std::array<std::unique_ptr<DirectTcp>, kMaxDirectTcp> direct_tcp_{};

  uint64_t stack_output_dropped_ = 0;   // pool empty or no caller output to put it in
  uint64_t direct_send_errors_ = 0;
  uint64_t direct_tcp_refused_ = 0;     // more than kMaxDirectTcp at once, or connect failed
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
};

}  // namespace sluice::platform
