#include "ipstack/ip_stack.h"

#include <algorithm>
#include <limits>

#include "ipstack/lwip_clock.h"
#include "ipstack/lwip_port.h"
#include "ipstack/tunnel_netif.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "tunnel/ip_packet.h"

namespace sluice::ipstack {

namespace {
// lwIP's globals have one owner at a time; lwip_init() runs once per process (it cannot be
// undone, and its cyclic timers stay in lwIP's timeout list).
bool instance_alive = false;
bool lwip_ready = false;

constexpr uint16_t kMinMtu = 1280;  // IPv6's minimum link MTU

uint32_t ip_drops() { return lwip_stats.ip.drop + lwip_stats.ip6.drop; }
uint32_t transport_drops() {
  return lwip_stats.tcp.drop + lwip_stats.udp.drop + lwip_stats.icmp.drop +
         lwip_stats.icmp6.drop + lwip_stats.nd6.drop;
}
uint32_t memory_errors() {
  uint32_t sum = lwip_stats.mem.err;
  for (int i = 0; i < MEMP_MAX; ++i) sum += lwip_stats.memp[i]->err;
  return sum;
}

std::string check_config(const IpStackConfig& c) {
  if (!c.output) return "output callback is required";
  if (c.ipv4 && c.ipv4->family != IpFamily::v4) return "ipv4 must be an IPv4 address";
  if (c.ipv6 && c.ipv6->family != IpFamily::v6) return "ipv6 must be an IPv6 address";
  if (!c.ipv4 && !c.ipv6 && c.dns_addresses.empty()) return "the stack needs at least one address";
  if (c.mtu < kMinMtu) return "mtu must be at least " + std::to_string(kMinMtu);
  if (!c.dns_addresses.empty()) {
    if (!c.on_dns_query) return "on_dns_query is required to serve DNS";
    const DnsTcpServerLimits& s = c.dns_server;
    if (s.max_connections < 1 || s.max_connections > SLUICE_IPSTACK_MAX_DNS_CONNECTIONS) {
      return "dns_server.max_connections must be 1.." +
             std::to_string(SLUICE_IPSTACK_MAX_DNS_CONNECTIONS);
    }
    if (s.max_query_bytes < 1 || s.max_query_bytes > 65535) {
      return "dns_server.max_query_bytes must be 1..65535";
    }
    if (s.send_buffer_bytes < 3) return "dns_server.send_buffer_bytes must be at least 3";
    if (s.idle_timeout_ns < millis(1)) return "dns_server.idle_timeout_ns must be at least 1 ms";
  }
  const DnsTcpClientLimits& q = c.dns_client;
  if (c.on_tcp_query_done && q.max_in_flight > SLUICE_IPSTACK_MAX_TCP_QUERIES) {
    return "dns_client.max_in_flight must be at most " +
           std::to_string(SLUICE_IPSTACK_MAX_TCP_QUERIES);
  }
  if (q.max_query_bytes < 1 || q.max_query_bytes > 65535 || q.max_response_bytes < 1 ||
      q.max_response_bytes > 65535) {
    return "dns_client.max_query_bytes and max_response_bytes must be 1..65535";
  }
  return {};
}

// Without a callback nobody could hear the result, so the client takes no queries at all.
DnsTcpClientLimits client_limits(const IpStackConfig& c) {
  DnsTcpClientLimits limits = c.dns_client;
  if (!c.on_tcp_query_done) limits.max_in_flight = 0;
  return limits;
}

DnsTcpServerLimits server_limits(const IpStackConfig& c) {
  DnsTcpServerLimits limits = c.dns_server;
  if (c.dns_addresses.empty()) limits.max_connections = 0;
  return limits;
}

// Frees every pcb lwIP still holds: connections we closed that are still finishing (FIN_WAIT,
// LAST_ACK, TIME_WAIT), bound ones, and listeners.
void free_all_pcbs() {
  while (tcp_active_pcbs != nullptr) tcp_abort(tcp_active_pcbs);
  while (tcp_tw_pcbs != nullptr) tcp_abort(tcp_tw_pcbs);
  while (tcp_bound_pcbs != nullptr) tcp_abort(tcp_bound_pcbs);
  while (tcp_listen_pcbs.pcbs != nullptr) tcp_close(tcp_listen_pcbs.pcbs);
}
}  // namespace

std::unique_ptr<IpStack> IpStack::create(IpStackConfig config, const Now& now, std::string& error) {
  if (instance_alive) {
    error = "another IpStack is alive (lwIP allows one per process)";
    return nullptr;
  }
  error = check_config(config);
  if (!error.empty()) return nullptr;
  lwip_port_init();
  if (!lwip_ready) {
    lwip_init();
    lwip_ready = true;
  }
  lwip_clock_start(now.mono_ns);

  std::vector<IpAddress> addresses;
  if (config.ipv4) addresses.push_back(*config.ipv4);
  if (config.ipv6) addresses.push_back(*config.ipv6);
  addresses.insert(addresses.end(), config.dns_addresses.begin(), config.dns_addresses.end());
  const std::vector<IpAddress> listen = config.dns_addresses;
  const uint16_t port = config.dns_port;

  std::unique_ptr<IpStack> stack(new IpStack(std::move(config)));
  if (!stack->netif_->configure(addresses, error)) return nullptr;
  for (const IpAddress& a : listen) {
    if (!stack->server_.listen(a, port, error)) return nullptr;
  }
  return stack;
}

IpStack::IpStack(IpStackConfig config)
    : config_(std::move(config)),
      netif_(std::make_unique<TunnelNetif>(config_.mtu, config_.output, counters_)),
      server_(server_limits(config_), config_.on_dns_query, counters_),
      client_(client_limits(config_), config_.on_tcp_query_done, counters_, config_.ipv4,
              config_.ipv6),
      lwip_ip_seen_(ip_drops()),
      lwip_transport_seen_(transport_drops()),
      lwip_memory_seen_(memory_errors()) {
  instance_alive = true;  // from here on, the destructor undoes everything
}

IpStack::~IpStack() {
  netif_->mute();
  client_.shutdown();
  server_.shutdown();
  free_all_pcbs();
  netif_.reset();
  instance_alive = false;
}

void IpStack::set_time(const Now& now) { lwip_clock_set(now.mono_ns); }

void IpStack::input(const uint8_t* packet, size_t length, const Now& now) {
  set_time(now);
  const std::span<const uint8_t> bytes(packet, length);
  const auto info = parse_ip_packet(bytes);
  if (!info) {
    ++counters_.input_malformed;
    return;
  }
  if (info->total_length > config_.mtu) {
    ++counters_.input_too_big;
    return;
  }
  const auto size = static_cast<u16_t>(info->total_length);  // padding past it is dropped
  struct pbuf* p = pbuf_alloc(PBUF_RAW, size, PBUF_POOL);
  if (p == nullptr) {
    ++counters_.input_no_buffer;
    return;
  }
  pbuf_take(p, packet, size);
  ++counters_.packets_in;
  netif_->input(p);
}

void IpStack::handle_timers(const Now& now) {
  set_time(now);
  sys_check_timeouts();
}

int64_t IpStack::next_deadline() const {
  const u32_t sleep_ms = sys_timeouts_sleeptime();
  if (sleep_ms == SYS_TIMEOUTS_SLEEPTIME_INFINITE) return std::numeric_limits<int64_t>::max();
  return lwip_clock_deadline(sleep_ms);
}

AnswerStatus IpStack::answer(ConnectionId id, std::span<const uint8_t> response, const Now& now) {
  set_time(now);
  return server_.answer(id, response);
}

TcpQueryStart IpStack::tcp_query(const Endpoint& upstream, std::span<const uint8_t> query,
                                 int64_t timeout_ns, const Now& now) {
  set_time(now);
  const int64_t ms = std::clamp<int64_t>(timeout_ns / kNanosPerMilli, 1, LWIP_UINT32_MAX / 4);
  return client_.query(upstream, query, static_cast<uint32_t>(ms));
}

bool IpStack::serves(const IpAddress& address) const { return netif_->serves(address); }

const IpStackCounters& IpStack::counters() {
  // lwIP's counters are 32-bit and wrap; the difference since the last fold is still right.
  const uint32_t ip = ip_drops(), transport = transport_drops(), memory = memory_errors();
  counters_.lwip_ip_drops += static_cast<uint32_t>(ip - lwip_ip_seen_);
  counters_.lwip_transport_drops += static_cast<uint32_t>(transport - lwip_transport_seen_);
  counters_.lwip_memory_errors += static_cast<uint32_t>(memory - lwip_memory_seen_);
  lwip_ip_seen_ = ip;
  lwip_transport_seen_ = transport;
  lwip_memory_seen_ = memory;
  return counters_;
}

}  // namespace sluice::ipstack
