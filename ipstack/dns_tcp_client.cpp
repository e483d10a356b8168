#include "ipstack/dns_tcp_client.h"

#include <algorithm>
#include <cstring>

#include "ipstack/dns_tcp_framer.h"
#include "ipstack/lwip_address.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

namespace sluice::ipstack {

namespace {
constexpr uint64_t kSlotBits = 8;  // TcpQueryId = generation << 8 | slot
constexpr uint8_t kPollInterval = 2;  // lwIP coarse ticks (500 ms)
}  // namespace

std::string_view tcp_query_error_name(TcpQueryError e) {
  switch (e) {
    case TcpQueryError::None: return "none";
    case TcpQueryError::TooManyInFlight: return "too many queries in flight";
    case TcpQueryError::InvalidQuery: return "invalid query";
    case TcpQueryError::NoSourceAddress: return "no source address of the upstream's family";
    case TcpQueryError::NoResources: return "out of lwIP resources";
    case TcpQueryError::Timeout: return "timeout";
    case TcpQueryError::ConnectionFailed: return "connection refused or reset";
    case TcpQueryError::ConnectionClosed: return "connection closed before the response";
    case TcpQueryError::ResponseTooLarge: return "response too large";
    case TcpQueryError::MalformedResponse: return "malformed response";
  }
  return "unknown";
}

struct DnsTcpClient::Query {
  Query(DnsTcpClient& c, size_t i, const DnsTcpClientLimits& limits)
      : client(c),
        slot(i),
        request(kDnsTcpLengthPrefix + limits.max_query_bytes),
        framer(limits.max_response_bytes) {}

  TcpQueryId id() const { return generation << kSlotBits | slot; }

  DnsTcpClient& client;
  const size_t slot;
  uint64_t generation = 1;
  bool in_use = false;
  struct tcp_pcb* pcb = nullptr;  // null once detached or freed by lwIP
  std::vector<uint8_t> request;   // the framed query: [request_sent, request_size) still to send
  size_t request_size = 0;
  size_t request_sent = 0;
  DnsTcpFramer framer;
};

// lwIP's raw-API callbacks; `arg` is the Query. Detached before a query's slot is freed.
struct DnsTcpClientCallbacks {
  static void detach(struct tcp_pcb* pcb) {
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_poll(pcb, nullptr, 0);
  }

  // Detaches and closes (FIN) the query's pcb; true if it had to be aborted instead.
  static bool close(DnsTcpClient::Query& q) {
    struct tcp_pcb* pcb = q.pcb;
    q.pcb = nullptr;
    detach(pcb);
    if (tcp_close(pcb) == ERR_OK) return false;
    tcp_abort(pcb);
    return true;
  }

  static void abort(DnsTcpClient::Query& q) {
    struct tcp_pcb* pcb = q.pcb;
    q.pcb = nullptr;
    detach(pcb);
    tcp_abort(pcb);
  }

  static err_t connected(void* arg, struct tcp_pcb* pcb, err_t) {
    auto* q = static_cast<DnsTcpClient::Query*>(arg);
    tcp_nagle_disable(pcb);
    q->client.flush(*q);
    return ERR_OK;
  }

  static err_t sent(void* arg, struct tcp_pcb*, u16_t) {
    auto* q = static_cast<DnsTcpClient::Query*>(arg);
    q->client.flush(*q);
    return ERR_OK;
  }

  // Retries a send that lwIP refused for lack of memory while nothing was in flight.
  static err_t poll(void* arg, struct tcp_pcb*) {
    auto* q = static_cast<DnsTcpClient::Query*>(arg);
    q->client.flush(*q);
    return ERR_OK;
  }

  static err_t recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t err) {
    auto* q = static_cast<DnsTcpClient::Query*>(arg);
    DnsTcpClient& client = q->client;
    if (p == nullptr) {
      const bool aborted = close(*q);
      client.finish(*q, TcpQueryError::ConnectionClosed, {});
      return aborted ? ERR_ABRT : ERR_OK;
    }
    if (err != ERR_OK) {
      pbuf_free(p);
      return ERR_OK;
    }
    tcp_recved(pcb, p->tot_len);
    bool done = false;
    bool aborted = false;
    for (struct pbuf* piece = p; piece != nullptr && !done; piece = piece->next) {
      const std::span<const uint8_t> bytes(static_cast<const uint8_t*>(piece->payload), piece->len);
      const auto status = q->framer.feed(bytes, [&](std::span<const uint8_t> response) {
        // Close first, then call back: `response` may point into `p`, which is still ours.
        aborted = close(*q);
        done = true;
        client.finish(*q, TcpQueryError::None, response);
        return false;
      });
      if (status == DnsTcpFramer::Status::MessageTooLarge ||
          status == DnsTcpFramer::Status::EmptyMessage) {
        abort(*q);
        aborted = true;
        done = true;
        client.finish(*q, status == DnsTcpFramer::Status::MessageTooLarge
                              ? TcpQueryError::ResponseTooLarge
                              : TcpQueryError::MalformedResponse,
                      {});
      }
    }
    pbuf_free(p);
    return aborted ? ERR_ABRT : ERR_OK;
  }

  // The pcb is already freed: refused, reset, or given up by lwIP.
  static void error(void* arg, err_t err) {
    auto* q = static_cast<DnsTcpClient::Query*>(arg);
    if (q == nullptr) return;
    q->pcb = nullptr;
    q->client.finish(*q, err == ERR_CLSD ? TcpQueryError::ConnectionClosed
                                         : TcpQueryError::ConnectionFailed,
                     {});
  }

  static void timed_out(void* arg) {
    auto* q = static_cast<DnsTcpClient::Query*>(arg);
    abort(*q);
    q->client.finish(*q, TcpQueryError::Timeout, {});
  }
};

DnsTcpClient::DnsTcpClient(const DnsTcpClientLimits& limits, TcpQueryCallback callback,
                           IpStackCounters& counters, std::optional<IpAddress> source_v4,
                           std::optional<IpAddress> source_v6)
    : limits_(limits),
      callback_(std::move(callback)),
      counters_(counters),
      source_v4_(source_v4),
      source_v6_(source_v6) {
  queries_.reserve(limits.max_in_flight);
  for (size_t i = 0; i < limits.max_in_flight; ++i) {
    queries_.push_back(std::make_unique<Query>(*this, i, limits));
  }
}

DnsTcpClient::~DnsTcpClient() { shutdown(); }

void DnsTcpClient::shutdown() {
  for (auto& q : queries_) {
    if (!q->in_use) continue;
    sys_untimeout(&DnsTcpClientCallbacks::timed_out, q.get());
    if (q->pcb != nullptr) DnsTcpClientCallbacks::abort(*q);
    q->in_use = false;
    ++q->generation;
    --counters_.tcp_queries_in_flight;
  }
}

TcpQueryStart DnsTcpClient::query(const Endpoint& upstream, std::span<const uint8_t> query,
                                  uint32_t timeout_ms) {
  auto refuse = [this](TcpQueryError e) {
    ++counters_.tcp_queries_refused;
    return TcpQueryStart{0, e};
  };
  if (query.empty() || query.size() > limits_.max_query_bytes) {
    return refuse(TcpQueryError::InvalidQuery);
  }
  const std::optional<IpAddress>& source =
      upstream.address.family == IpFamily::v4 ? source_v4_ : source_v6_;
  if (!source) return refuse(TcpQueryError::NoSourceAddress);
  auto slot = std::find_if(queries_.begin(), queries_.end(), [](const auto& q) { return !q->in_use; });
  if (slot == queries_.end()) return refuse(TcpQueryError::TooManyInFlight);
  Query& q = **slot;

  struct tcp_pcb* pcb = tcp_new_ip_type(
      upstream.address.family == IpFamily::v4 ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
  if (pcb == nullptr) return refuse(TcpQueryError::NoResources);
  const ip_addr_t local = to_lwip(*source);
  if (tcp_bind(pcb, &local, 0) != ERR_OK) {
    tcp_abort(pcb);
    return refuse(TcpQueryError::NoResources);
  }
  put_dns_tcp_length(q.request.data(), query.size());
  std::memcpy(q.request.data() + kDnsTcpLengthPrefix, query.data(), query.size());
  q.request_size = kDnsTcpLengthPrefix + query.size();
  q.request_sent = 0;
  q.framer.reset();
  q.pcb = pcb;
  q.in_use = true;
  tcp_arg(pcb, &q);
  tcp_recv(pcb, &DnsTcpClientCallbacks::recv);
  tcp_sent(pcb, &DnsTcpClientCallbacks::sent);
  tcp_err(pcb, &DnsTcpClientCallbacks::error);
  tcp_poll(pcb, &DnsTcpClientCallbacks::poll, kPollInterval);
  const ip_addr_t remote = to_lwip(upstream.address);
  // Sends the SYN at once, through the output callback.
  if (tcp_connect(pcb, &remote, upstream.port, &DnsTcpClientCallbacks::connected) != ERR_OK) {
    DnsTcpClientCallbacks::abort(q);
    q.in_use = false;
    return refuse(TcpQueryError::NoResources);
  }
  sys_timeout(std::clamp<uint32_t>(timeout_ms, 1, LWIP_UINT32_MAX / 4),
              &DnsTcpClientCallbacks::timed_out, &q);
  ++counters_.tcp_queries_started;
  ++counters_.tcp_queries_in_flight;
  return TcpQueryStart{q.id(), TcpQueryError::None};
}

size_t DnsTcpClient::in_flight() const {
  return static_cast<size_t>(
      std::count_if(queries_.begin(), queries_.end(), [](const auto& q) { return q->in_use; }));
}

void DnsTcpClient::finish(Query& q, TcpQueryError error, std::span<const uint8_t> response) {
  // The slot is free before the callback runs, so the callback may start another query in it.
  // `response` stays valid: it points into lwIP's pbuf or this slot's framer buffer, and a new
  // query writes neither until its own response arrives, after the callback has returned.
  sys_untimeout(&DnsTcpClientCallbacks::timed_out, &q);
  const TcpQueryId id = q.id();
  q.in_use = false;
  ++q.generation;
  --counters_.tcp_queries_in_flight;
  switch (error) {
    case TcpQueryError::None: ++counters_.tcp_queries_answered; break;
    case TcpQueryError::Timeout: ++counters_.tcp_queries_timed_out; break;
    default: ++counters_.tcp_queries_failed; break;
  }
  callback_(id, error, response);
}

void DnsTcpClient::flush(Query& q) {
  while (q.pcb != nullptr && q.request_sent < q.request_size) {
    const size_t room = std::min<size_t>(tcp_sndbuf(q.pcb), tcp_mss(q.pcb));
    if (room == 0 || tcp_sndqueuelen(q.pcb) >= TCP_SND_QUEUELEN) break;
    const auto n = static_cast<u16_t>(std::min(q.request_size - q.request_sent, room));
    if (tcp_write(q.pcb, q.request.data() + q.request_sent, n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
      break;  // out of lwIP memory: the sent callback (or the deadline) comes next
    }
    q.request_sent += n;
  }
  if (q.pcb != nullptr) tcp_output(q.pcb);
}

}  // namespace sluice::ipstack
