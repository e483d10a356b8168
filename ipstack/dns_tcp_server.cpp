#include "ipstack/dns_tcp_server.h"

#include <algorithm>
#include <cstring>

#include "ipstack/dns_tcp_framer.h"
#include "ipstack/lwip_address.h"
#include "ipstack/lwip_clock.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

namespace sluice::ipstack {

namespace {
constexpr uint64_t kSlotBits = 8;  // ConnectionId = generation << 8 | slot
constexpr uint8_t kPollInterval = 2;  // lwIP coarse ticks (500 ms): retry a stalled send

uint32_t to_timer_ms(int64_t ns) {
  const int64_t ms = ns / 1'000'000;
  return static_cast<uint32_t>(std::clamp<int64_t>(ms, 1, LWIP_UINT32_MAX / 4));
}
}  // namespace

struct DnsTcpServer::Connection {
  Connection(DnsTcpServer& s, size_t i, const DnsTcpServerLimits& limits)
      : server(s), slot(i), framer(limits.max_query_bytes), out(limits.send_buffer_bytes) {}

  ConnectionId id() const { return generation << kSlotBits | slot; }
  size_t out_pending() const { return out_end - out_begin; }

  DnsTcpServer& server;
  const size_t slot;
  uint64_t generation = 1;
  struct tcp_pcb* pcb = nullptr;  // null while the slot is free
  DnsTcpFramer framer;
  std::vector<uint8_t> out;  // framed answers lwIP has not taken yet: [out_begin, out_end)
  size_t out_begin = 0;
  size_t out_end = 0;
  uint32_t last_activity_ms = 0;
  uint32_t unanswered = 0;   // queries handed out and not answered yet
  bool peer_closed = false;  // FIN received: answer what is pending, then close
  bool in_recv = false;      // inside this connection's recv callback (and the handler)
  bool reset_pending = false;  // reset requested while in_recv; done when the callback ends
};

// lwIP's raw-API callbacks. `arg` is the DnsTcpServer for the listeners and the Connection for
// connections; every callback is detached before a connection's slot is released.
struct DnsTcpServerCallbacks {
  static void detach(struct tcp_pcb* pcb) {
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
    tcp_poll(pcb, nullptr, 0);
  }

  static err_t accept(void* arg, struct tcp_pcb* pcb, err_t err) {
    auto* server = static_cast<DnsTcpServer*>(arg);
    if (err != ERR_OK || pcb == nullptr) return ERR_VAL;
    DnsTcpServer::Connection* c = server->free_slot();
    if (c == nullptr) {
      ++server->counters_.dns_connections_refused;
      tcp_abort(pcb);
      return ERR_ABRT;
    }
    c->pcb = pcb;
    c->last_activity_ms = lwip_clock_now_ms();
    tcp_arg(pcb, c);
    tcp_recv(pcb, &recv);
    tcp_sent(pcb, &sent);
    tcp_err(pcb, &error);
    tcp_poll(pcb, &poll, kPollInterval);
    tcp_nagle_disable(pcb);  // answers are whole messages: send them at once
    sys_timeout(server->idle_timeout_ms_, &idle_expired, c);
    ++server->counters_.dns_connections_accepted;
    ++server->counters_.dns_connections_active;
    return ERR_OK;
  }

  static err_t recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t err) {
    auto* c = static_cast<DnsTcpServer::Connection*>(arg);
    DnsTcpServer& server = c->server;
    if (p == nullptr) {
      c->peer_closed = true;
      return server.finish_if_done(*c) ? ERR_ABRT : ERR_OK;
    }
    if (err != ERR_OK) {  // lwIP 2.1 never reports an error along with data
      pbuf_free(p);
      return ERR_OK;
    }
    c->last_activity_ms = lwip_clock_now_ms();
    tcp_recved(pcb, p->tot_len);
    c->in_recv = true;
    for (struct pbuf* q = p; q != nullptr && !c->reset_pending; q = q->next) {
      const std::span<const uint8_t> piece(static_cast<const uint8_t*>(q->payload), q->len);
      const auto status = c->framer.feed(piece, [&](std::span<const uint8_t> query) {
        ++server.counters_.dns_queries;
        ++c->unanswered;
        server.handler_(c->id(), query);
        return !c->reset_pending;
      });
      if (status == DnsTcpFramer::Status::MessageTooLarge) {
        ++server.counters_.dns_queries_too_large;
        c->reset_pending = true;
      } else if (status == DnsTcpFramer::Status::EmptyMessage) {
        c->reset_pending = true;
      }
    }
    c->in_recv = false;
    pbuf_free(p);
    if (c->reset_pending) {
      server.reset(*c);
      return ERR_ABRT;
    }
    return ERR_OK;
  }

  static err_t sent(void* arg, struct tcp_pcb*, u16_t) {
    auto* c = static_cast<DnsTcpServer::Connection*>(arg);
    c->last_activity_ms = lwip_clock_now_ms();
    c->server.flush(*c);
    return c->server.finish_if_done(*c) ? ERR_ABRT : ERR_OK;
  }

  static err_t poll(void* arg, struct tcp_pcb*) {
    auto* c = static_cast<DnsTcpServer::Connection*>(arg);
    if (c->out_pending() > 0) c->server.flush(*c);
    return c->server.finish_if_done(*c) ? ERR_ABRT : ERR_OK;
  }

  // The pcb is already freed (reset by the peer, or aborted by lwIP itself).
  static void error(void* arg, err_t) {
    auto* c = static_cast<DnsTcpServer::Connection*>(arg);
    if (c == nullptr) return;
    ++c->server.counters_.dns_connections_lost;
    c->pcb = nullptr;
    c->server.release(*c);
  }

  static void idle_expired(void* arg) {
    auto* c = static_cast<DnsTcpServer::Connection*>(arg);
    DnsTcpServer& server = c->server;
    const uint32_t idle = lwip_clock_now_ms() - c->last_activity_ms;
    if (idle < server.idle_timeout_ms_) {
      sys_timeout(server.idle_timeout_ms_ - idle, &idle_expired, c);
      return;
    }
    ++server.counters_.dns_connections_idle_closed;
    server.close(*c);
  }
};

DnsTcpServer::DnsTcpServer(const DnsTcpServerLimits& limits, DnsQueryHandler handler,
                           IpStackCounters& counters)
    : limits_(limits),
      idle_timeout_ms_(to_timer_ms(limits.idle_timeout_ns)),
      handler_(std::move(handler)),
      counters_(counters) {
  connections_.reserve(limits.max_connections);
  for (size_t i = 0; i < limits.max_connections; ++i) {
    connections_.push_back(std::make_unique<Connection>(*this, i, limits));
  }
  listeners_.reserve(MEMP_NUM_TCP_PCB_LISTEN);
}

DnsTcpServer::~DnsTcpServer() { shutdown(); }

void DnsTcpServer::shutdown() {
  for (auto& c : connections_) {
    if (c->pcb == nullptr) continue;
    struct tcp_pcb* pcb = c->pcb;
    DnsTcpServerCallbacks::detach(pcb);
    release(*c);
    tcp_abort(pcb);
  }
  for (struct tcp_pcb* l : listeners_) {
    tcp_arg(l, nullptr);
    tcp_accept(l, nullptr);
    tcp_close(l);  // a listener is freed at once; this cannot fail
  }
  listeners_.clear();
}

bool DnsTcpServer::listen(const IpAddress& address, uint16_t port, std::string& error) {
  const std::string where = address.family == IpFamily::v6
                                ? "[" + address.to_string() + "]:" + std::to_string(port)
                                : address.to_string() + ":" + std::to_string(port);
  if (listeners_.size() >= MEMP_NUM_TCP_PCB_LISTEN) {
    error = "DNS over TCP: too many listeners for " + where;
    return false;
  }
  struct tcp_pcb* pcb =
      tcp_new_ip_type(address.family == IpFamily::v4 ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6);
  if (pcb == nullptr) {
    error = "DNS over TCP: no lwIP pcb left for " + where;
    return false;
  }
  const ip_addr_t local = to_lwip(address);
  if (tcp_bind(pcb, &local, port) != ERR_OK) {
    tcp_abort(pcb);
    error = "DNS over TCP: cannot bind " + where + " (already in use)";
    return false;
  }
  err_t err = ERR_OK;
  struct tcp_pcb* listener = tcp_listen_with_backlog_and_err(pcb, TCP_DEFAULT_LISTEN_BACKLOG, &err);
  if (listener == nullptr) {
    tcp_abort(pcb);
    error = "DNS over TCP: cannot listen on " + where + " (lwIP error " + std::to_string(err) + ")";
    return false;
  }
  tcp_arg(listener, this);
  tcp_accept(listener, &DnsTcpServerCallbacks::accept);
  listeners_.push_back(listener);
  return true;
}

AnswerStatus DnsTcpServer::answer(ConnectionId id, std::span<const uint8_t> response) {
  Connection* c = find(id);
  if (c == nullptr) {
    ++counters_.dns_answers_connection_gone;
    return AnswerStatus::ConnectionGone;
  }
  if (response.empty() || response.size() > kDnsTcpMaxMessage) {
    ++counters_.dns_answers_invalid;
    return AnswerStatus::Invalid;
  }
  const size_t framed = kDnsTcpLengthPrefix + response.size();
  if (c->out_pending() + framed > c->out.size()) {
    ++counters_.dns_answers_overflow;
    if (c->in_recv) {
      c->reset_pending = true;  // the recv callback resets it and returns ERR_ABRT
    } else {
      reset(*c);
    }
    return AnswerStatus::Overflow;
  }
  if (c->out_end + framed > c->out.size()) {
    std::copy(c->out.begin() + static_cast<std::ptrdiff_t>(c->out_begin),
              c->out.begin() + static_cast<std::ptrdiff_t>(c->out_end), c->out.begin());
    c->out_end -= c->out_begin;
    c->out_begin = 0;
  }
  put_dns_tcp_length(c->out.data() + c->out_end, response.size());
  std::memcpy(c->out.data() + c->out_end + kDnsTcpLengthPrefix, response.data(), response.size());
  c->out_end += framed;
  if (c->unanswered > 0) --c->unanswered;
  c->last_activity_ms = lwip_clock_now_ms();
  ++counters_.dns_answers;
  flush(*c);
  if (!c->in_recv) finish_if_done(*c);
  return AnswerStatus::Queued;
}

size_t DnsTcpServer::active_connections() const {
  return static_cast<size_t>(std::count_if(connections_.begin(), connections_.end(),
                                           [](const auto& c) { return c->pcb != nullptr; }));
}

DnsTcpServer::Connection* DnsTcpServer::find(ConnectionId id) {
  const size_t slot = static_cast<size_t>(id & ((uint64_t{1} << kSlotBits) - 1));
  if (slot >= connections_.size()) return nullptr;
  Connection* c = connections_[slot].get();
  if (c->pcb == nullptr || c->id() != id) return nullptr;
  return c;
}

DnsTcpServer::Connection* DnsTcpServer::free_slot() {
  for (auto& c : connections_) {
    if (c->pcb == nullptr) return c.get();
  }
  return nullptr;
}

void DnsTcpServer::release(Connection& c) {
  sys_untimeout(&DnsTcpServerCallbacks::idle_expired, &c);
  c.pcb = nullptr;
  ++c.generation;
  c.framer.reset();
  c.out_begin = c.out_end = 0;
  c.unanswered = 0;
  c.peer_closed = c.in_recv = c.reset_pending = false;
  --counters_.dns_connections_active;
}

bool DnsTcpServer::close(Connection& c) {
  struct tcp_pcb* pcb = c.pcb;
  DnsTcpServerCallbacks::detach(pcb);
  release(c);
  if (tcp_close(pcb) == ERR_OK) return false;  // lwIP finishes the close on its own
  tcp_abort(pcb);  // no memory for the FIN: reset instead
  return true;
}

bool DnsTcpServer::reset(Connection& c) {
  struct tcp_pcb* pcb = c.pcb;
  DnsTcpServerCallbacks::detach(pcb);
  release(c);
  ++counters_.dns_connections_reset;
  tcp_abort(pcb);
  return true;
}

bool DnsTcpServer::finish_if_done(Connection& c) {
  if (c.pcb == nullptr || !c.peer_closed || c.unanswered > 0 || c.out_pending() > 0) return false;
  return close(c);
}

void DnsTcpServer::flush(Connection& c) {
  while (c.out_pending() > 0) {
    // One MSS at a time, so a full segment queue or heap refuses only the next segment.
    const size_t room = std::min<size_t>(tcp_sndbuf(c.pcb), tcp_mss(c.pcb));
    if (room == 0 || tcp_sndqueuelen(c.pcb) >= TCP_SND_QUEUELEN) break;
    const auto n = static_cast<u16_t>(std::min(c.out_pending(), room));
    if (tcp_write(c.pcb, c.out.data() + c.out_begin, n, TCP_WRITE_FLAG_COPY) != ERR_OK) {
      break;  // out of lwIP memory: the sent or poll callback tries again
    }
    c.out_begin += n;
  }
  if (c.out_pending() == 0) c.out_begin = c.out_end = 0;
  tcp_output(c.pcb);
}

}  // namespace sluice::ipstack
