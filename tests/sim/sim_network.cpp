#include "sim/sim_network.h"

#include <algorithm>
#include <cstring>

#include "crypto/x25519.h"

namespace sluice::test {

SimNode::SimNode(std::string n, Endpoint o, IpAddress i, DeviceOptions options)
    : name(std::move(n)),
      outer(o),
      inner(i),
      private_key(crypto::generate_private_key()),
      public_key(crypto::public_key_of(private_key)),
      pool(1024, 2048),
      device([&] {
        options.log_prefix = name + ": ";
        return options;
      }(), pool) {
  DeviceChange change;
  change.private_key = private_key;
  change.listen_port = outer.port;
  DeviceOutput out;
  device.apply(change, Now{}, out);
}

SimNode& SimNetwork::add_node(std::string name, Endpoint outer, IpAddress inner, DeviceOptions options) {
  nodes_.push_back(std::make_unique<SimNode>(std::move(name), outer, inner, std::move(options)));
  return *nodes_.back();
}

void SimNetwork::add_peer(SimNode& a, const SimNode& b, bool with_endpoint, uint16_t keepalive,
                          const Key& psk) {
  PeerChange pc;
  pc.public_key = b.public_key;
  pc.preshared_key = psk;
  if (with_endpoint) pc.endpoint = b.outer;
  pc.allowed_ips.push_back(IpPrefix{b.inner, 32});
  if (keepalive) pc.persistent_keepalive_interval = keepalive;
  DeviceChange change;
  change.peers.push_back(pc);
  DeviceOutput out;
  a.device.apply(change, clock(), out);
  process(a, out);
}

void build_inner_packet(PacketBuffer& b, const IpAddress& src, const IpAddress& dst, uint32_t seq) {
  uint8_t* p = b.data();
  const size_t len = 20 + 8 + 4;
  std::memset(p, 0, len);
  p[0] = 0x45;
  p[2] = 0;
  p[3] = len;
  p[8] = 64;
  p[9] = 17;
  std::memcpy(p + 12, src.bytes.data(), 4);
  std::memcpy(p + 16, dst.bytes.data(), 4);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[20] = 0x30;  // ports 12345 -> 12345
  p[21] = 0x39;
  p[22] = 0x30;
  p[23] = 0x39;
  p[25] = 12;
  std::memcpy(p + 28, &seq, 4);
  b.set_size(len);
}

void SimNetwork::send_inner(SimNode& from, const SimNode& to, uint32_t seq) {
  PacketBuffer* b = from.pool.acquire();
  if (b == nullptr) return;
  build_inner_packet(*b, from.inner, to.inner, seq);
  DeviceOutput out;
  PacketBuffer* batch[1] = {b};
  from.device.handle_inner(batch, clock(), out);
  process(from, out);
}

SimNode* SimNetwork::node_at(const Endpoint& e) {
  for (auto& n : nodes_)
    if (n->outer == e) return n.get();
  return nullptr;
}

void SimNetwork::inject(const Endpoint& from, const Endpoint& to, std::vector<uint8_t> bytes, int64_t at) {
  in_flight_.push(InFlight{std::max(at, now_), order_++, from, to, std::move(bytes)});
}

void SimNetwork::transmit(const Endpoint& from, const Endpoint& to, const uint8_t* data, size_t len) {
  if (tap) tap(from, to, {data, len});
  bool in_outage = now_ >= link.outage_start_ns && now_ < link.outage_end_ns;
  if (in_outage || chance(link.loss)) {
    ++lost_;
    return;
  }
  int copies = chance(link.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    int64_t at = now_ + link.latency_ns + (chance(link.reorder) ? link.reorder_delay_ns : 0);
    in_flight_.push(InFlight{at, order_++, from, to, std::vector<uint8_t>(data, data + len)});
  }
}

void SimNetwork::process(SimNode& node, DeviceOutput& out) {
  for (auto& d : out.datagrams) {
    transmit(node.outer, d.destination, d.buffer->data(), d.buffer->size());
    node.pool.release(d.buffer);
  }
  for (PacketBuffer* p : out.inner) {
    if (p->size() >= 32) {
      uint32_t seq;
      std::memcpy(&seq, p->data() + 28, 4);
      node.received.push_back(seq);
    }
    node.pool.release(p);
  }
  out.clear();
}

void SimNetwork::run_until(int64_t until, int64_t tick_interval_ns,
                           const std::function<void(int64_t)>& tick) {
  int64_t next_tick = tick_interval_ns > 0 ? now_ : INT64_MAX;
  DeviceOutput out;
  for (;;) {
    if (next_tick >= until) next_tick = INT64_MAX;  // what is sent must have time to arrive
    int64_t next = std::min(next_tick, in_flight_.empty() ? INT64_MAX : in_flight_.top().deliver_at);
    for (auto& n : nodes_) next = std::min(next, n->device.next_deadline());
    if (next > until) {
      now_ = until;
      return;
    }
    now_ = std::max(now_, next);
    while (!in_flight_.empty() && in_flight_.top().deliver_at <= now_) {
      // One batch: the next due datagram and, with batch_delivery, every further due one for
      // the same node (order kept; others wait for their own batch at the same instant).
      SimNode* dst = node_at(in_flight_.top().to);
      std::vector<InboundDatagram> batch;
      std::vector<InFlight> other;
      while (!in_flight_.empty() && in_flight_.top().deliver_at <= now_) {
        InFlight f = in_flight_.top();
        in_flight_.pop();
        SimNode* to = node_at(f.to);
        if (to == nullptr) {
          ++lost_;
          continue;
        }
        if (to != dst) {
          other.push_back(std::move(f));
          continue;
        }
        PacketBuffer* b = dst->pool.acquire();
        if (b == nullptr) continue;
        if (f.bytes.size() > b->capacity()) {  // a real socket would have truncated it
          dst->pool.release(b);
          ++lost_;
          continue;
        }
        b->reset_for_outer();
        if (!f.bytes.empty()) std::memcpy(b->data(), f.bytes.data(), f.bytes.size());  // an empty one may have no data()
        b->set_size(f.bytes.size());
        batch.push_back(InboundDatagram{f.from, b});
        if (!batch_delivery) break;
      }
      for (InFlight& f : other) in_flight_.push(std::move(f));
      if (batch.empty()) continue;
      dst->device.handle_outer(batch, clock(), out);
      process(*dst, out);
    }
    for (auto& n : nodes_) {
      if (n->device.next_deadline() <= now_) {
        n->device.handle_timers(clock(), out);
        process(*n, out);
      }
    }
    if (next_tick <= now_) {
      tick(now_);
      next_tick += tick_interval_ns;
    }
  }
}

}  // namespace sluice::test
