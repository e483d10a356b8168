#include "tunnel/device.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/x25519.h"
#include "tunnel/device_impl.h"
#include "tunnel/ip_packet.h"

namespace sluice {

Device::Device(DeviceOptions options, BufferPool& pool)
    : impl_(std::make_unique<Impl>(*this)), options_(std::move(options)), pool_(pool) {}

Device::~Device() {
  for (auto& p : impl_->peers) {
    if (!p) continue;
    while (PacketBuffer* b = p->staged.pop()) pool_.release(b);
  }
  crypto::wipe(impl_->identity);
}

size_t Device::peer_count() const { return impl_->peer_by_key.size(); }

bool Device::under_load(int64_t now_ns) const {
  return options_.under_load_handshakes_per_second == 0 ||
         now_ns - impl_->last_under_load_ns < kUnderLoadAfterTime;
}

int64_t Device::next_deadline() const {
  int64_t next = INT64_MAX;
  for (const auto& p : impl_->peers)
    if (p) next = std::min(next, p->timers.next());
  return next;
}

void Device::handle_inner(std::span<PacketBuffer* const> packets, const Now& now,
                          DeviceOutput& out) {
  for (PacketBuffer* packet : packets) {
    ++counters_.inner_packets_in;
    auto info = parse_ip_packet({packet->data(), packet->size()});
    if (!info) {
      impl_->drop(packet, DropReason::InvalidInnerPacket);
      continue;
    }
    // Trailing bytes beyond the IP total length are not part of the packet.
    packet->set_size(info->total_length);
    auto peer_id = impl_->allowed_ips.lookup(info->destination);
    Peer* peer = peer_id ? impl_->peer(*peer_id) : nullptr;
    if (peer == nullptr) {
      impl_->drop(packet, DropReason::NoRouteToPeer);
      continue;
    }
    impl_->send_inner(*peer, packet, now, out);
  }
  impl_->run_seals();
}

void Device::handle_outer(std::span<const InboundDatagram> datagrams, const Now& now,
                          DeviceOutput& out) {
  for (const InboundDatagram& d : datagrams) {
    ++counters_.datagrams_in;
    auto type = crypto::classify_message({d.buffer->data(), d.buffer->size()});
    if (!type) {
      impl_->drop(d.buffer, DropReason::InvalidMessage);
      continue;
    }
    if (*type == crypto::MessageType::TransportData) {
      impl_->queue_transport(d, now);  // takes the buffer
      continue;
    }
    // A handshake message may replace keypairs: finish the opens queued before it first, so
    // the batch has the same effect as handling its datagrams one by one.
    impl_->finish_transport(now, out);
    switch (*type) {
      case crypto::MessageType::TransportData:
        break;
      case crypto::MessageType::HandshakeInitiation:
        impl_->handle_initiation(d, now, out);
        break;
      case crypto::MessageType::HandshakeResponse:
        impl_->handle_response(d, now, out);
        break;
      case crypto::MessageType::CookieReply:
        impl_->handle_cookie_reply(d, now);
        break;
    }
    pool_.release(d.buffer);
  }
  impl_->finish_transport(now, out);
  impl_->run_seals();
}

void Device::handle_timers(const Now& now, DeviceOutput& out) {
  for (size_t i = 0; i < impl_->peers.size(); ++i) {
    Peer* p = impl_->peers[i].get();
    if (p && p->timers.next() <= now.mono_ns) impl_->run_timers(*p, now, out);
  }
  impl_->ratelimiter.collect(now.mono_ns);
  impl_->run_seals();
}

void Device::initiate_handshakes(const Now& now, DeviceOutput& out) {
  for (const auto& p : impl_->peers) {
    if (p && p->endpoint) impl_->send_initiation(*p, now, false, out);
  }
}

DeviceStatus Device::status() const {
  DeviceStatus s;
  if (impl_->has_private_key) s.private_key = impl_->identity.private_key;
  s.listen_port = listen_port_;
  s.fwmark = fwmark_;
  for (const auto& p : impl_->peers) {
    if (!p) continue;
    PeerStatus ps;
    ps.public_key = p->public_key;
    ps.preshared_key = p->preshared_key;
    ps.endpoint = p->endpoint;
    ps.last_handshake_time_sec = p->last_handshake_wall_ns / kNanosPerSecond;
    ps.last_handshake_time_nsec = p->last_handshake_wall_ns % kNanosPerSecond;
    ps.tx_bytes = p->tx_bytes;
    ps.rx_bytes = p->rx_bytes;
    ps.persistent_keepalive_interval = p->persistent_keepalive_interval;
    ps.allowed_ips = impl_->allowed_ips.prefixes_of(p->id);
    ps.handshake_rtt_ns = p->handshake_rtt_ns;
    s.peers.push_back(std::move(ps));
  }
  return s;
}

std::optional<PeerSession> Device::peer_session(const Key& public_key, int64_t now_ns) const {
  auto it = impl_->peer_by_key.find(public_key);
  if (it == impl_->peer_by_key.end()) return std::nullopt;
  const Peer& p = *impl_->peers[it->second];
  PeerSession s;
  s.current = p.current != nullptr;
  s.can_send = p.current && p.current->can_send(now_ns);
  s.previous = p.previous != nullptr;
  s.next = p.next != nullptr;
  s.handshake_pending = p.initiation_pending;
  if (p.current) s.current_age_ns = now_ns - p.current->created_ns;
  return s;
}

// --- Impl helpers shared by the other device files ---

void Device::Impl::drop(PacketBuffer* b, DropReason r) {
  counters().drop(r);
  SPDLOG_TRACE("dropping packet: {}", drop_reason_name(r));
  pool().release(b);
}

uint64_t Device::Impl::random_seed() {
  uint64_t seed;
  randombytes_buf(&seed, sizeof(seed));
  return seed;
}

int64_t Device::Impl::jitter() {
  return static_cast<int64_t>(randombytes_uniform(static_cast<uint32_t>(kRekeyTimeoutJitterMax / kNanosPerMilli))) *
         kNanosPerMilli;
}

uint32_t Device::Impl::new_index(uint32_t peer_id, Keypair* keypair) {
  uint32_t index;
  do {
    randombytes_buf(&index, sizeof(index));
  } while (indices.count(index) != 0);
  indices.emplace(index, IndexEntry{peer_id, keypair});
  return index;
}

bool Device::Impl::note_handshake_load(int64_t now) {
  if (now - load_window_start >= kNanosPerSecond) {
    load_window_start = now;
    load_window_count = 0;
  }
  ++load_window_count;
  if (load_window_count > options().under_load_handshakes_per_second) last_under_load_ns = now;
  return device.under_load(now);
}

size_t endpoint_cookie_bytes(const Endpoint& e, uint8_t (&out)[18]) {
  size_t n = e.address.size();
  std::copy_n(e.address.bytes.begin(), n, out);
  out[n] = static_cast<uint8_t>(e.port >> 8);
  out[n + 1] = static_cast<uint8_t>(e.port);
  return n + 2;
}

}  // namespace sluice
