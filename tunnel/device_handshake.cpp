// Handshake messages: sending initiations, answering them, consuming responses and cookie
// replies, and the keypair rotation that follows (whitepaper sections 5.4 and 6).
#include <spdlog/spdlog.h>

#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/tai64n.h"
#include "tunnel/device_impl.h"

namespace sluice {

namespace {

void emit(DeviceCounters& c, DeviceOutput& out, const Endpoint& to, PacketBuffer* b) {
  ++c.datagrams_out;
  out.datagrams.push_back({to, b});
}

void retire(std::unordered_map<uint32_t, IndexEntry>& indices, std::unique_ptr<Keypair>& kp) {
  if (!kp) return;
  indices.erase(kp->local_index);
  kp.reset();
}

void update_endpoint(Peer& peer, const Endpoint& source, const std::string& device_name) {
  if (peer.endpoint == source) return;
  // Roaming: only called once a message from `source` has been authenticated.
  spdlog::debug("{}peer {} endpoint {} -> {}", device_name,
                crypto::key_to_base64(peer.public_key).substr(0, 8),
                peer.endpoint ? peer.endpoint->to_string() : "(none)", source.to_string());
  peer.endpoint = source;
}

}  // namespace

void Device::Impl::clear_handshake(Peer& peer) {
  if (!peer.initiation_pending) return;
  indices.erase(peer.initiation.local_index);
  peer.initiation_pending = false;
  crypto::wipe(peer.initiation);
}

void Device::Impl::zero_key_material(Peer& peer) {
  retire(indices, peer.previous);
  retire(indices, peer.current);
  retire(indices, peer.next);
  clear_handshake(peer);
}

void Device::Impl::install_keypair(Peer& peer, std::unique_ptr<Keypair> keypair) {
  if (keypair->initiator) {
    // The response confirmed the session: it is usable at once. A responder keypair still
    // waiting in `next` is kept as previous so packets already sealed with it still open.
    if (peer.next) {
      retire(indices, peer.previous);
      peer.previous = std::move(peer.next);
      retire(indices, peer.current);
    } else {
      retire(indices, peer.previous);
      peer.previous = std::move(peer.current);
    }
    peer.current = std::move(keypair);
  } else {
    // The responder may not send until the initiator's first data packet confirms the keys.
    retire(indices, peer.next);
    peer.next = std::move(keypair);
    retire(indices, peer.previous);
  }
}

void Device::Impl::send_initiation(Peer& peer, const Now& now, bool is_retry, DeviceOutput& out) {
  if (!is_retry) peer.timers.handshake_attempts = 0;
  if (now.mono_ns - peer.last_sent_handshake_ns < kRekeyTimeout) return;
  if (!has_private_key || crypto::is_zero(peer.precomputed_static_static)) {
    counters().drop(DropReason::NoPrivateKey);
    return;
  }
  if (!peer.endpoint) return;
  PacketBuffer* b = pool().acquire();
  if (b == nullptr) {
    counters().drop(DropReason::BufferPoolEmpty);
    return;
  }
  clear_handshake(peer);
  uint32_t index = new_index(peer.id, nullptr);
  b->set_bounds(0, crypto::kHandshakeInitiationSize);
  std::span<uint8_t, crypto::kHandshakeInitiationSize> msg(b->data(), crypto::kHandshakeInitiationSize);
  if (!crypto::create_initiation(identity, peer.public_key, peer.precomputed_static_static,
                                 peer.preshared_key, index, crypto::tai64n_from_unix_ns(now.wall_ns),
                                 peer.initiation, msg)) {
    indices.erase(index);
    pool().release(b);
    counters().drop(DropReason::HandshakeFailed);
    return;
  }
  peer.initiation_pending = true;
  peer.cookie.add_macs(msg, now.mono_ns);
  peer.last_sent_handshake_ns = now.mono_ns;
  peer.tx_bytes += msg.size();
  ++counters().handshake_initiations_sent;
  spdlog::debug("{}sending handshake initiation to {}{}", options().log_prefix,
                peer.endpoint->to_string(), is_retry ? " (retry)" : "");
  emit(counters(), out, *peer.endpoint, b);
  peer.timers.any_authenticated_packet_traversal(now.mono_ns, peer.persistent_keepalive_interval);
  peer.timers.any_authenticated_packet_sent();
  peer.timers.handshake_initiated(now.mono_ns, jitter());
}

bool Device::Impl::require_cookie(const InboundDatagram& d, uint32_t sender_index,
                                  const Now& now, DeviceOutput& out) {
  uint8_t source[18];
  std::span<const uint8_t> src(source, endpoint_cookie_bytes(d.source, source));
  std::span<const uint8_t> msg(d.buffer->data(), d.buffer->size());
  if (!cookie_checker.check_mac2(msg, src, now.mono_ns)) {
    counters().drop(DropReason::CookieRequired);
    PacketBuffer* b = pool().acquire();
    if (b == nullptr) {
      counters().drop(DropReason::BufferPoolEmpty);
      return true;
    }
    b->set_bounds(0, crypto::kCookieReplySize);
    cookie_checker.create_reply(msg, sender_index, src, now.mono_ns,
                                std::span<uint8_t, crypto::kCookieReplySize>(b->data(), crypto::kCookieReplySize));
    ++counters().cookie_replies_sent;
    emit(counters(), out, d.source, b);
    return true;
  }
  // A valid mac2 proves the source address is reachable, so it can be rate limited by it.
  if (!ratelimiter.allow(d.source.address, now.mono_ns)) {
    counters().drop(DropReason::RateLimited);
    return true;
  }
  return false;
}

void Device::Impl::handle_initiation(const InboundDatagram& d, const Now& now, DeviceOutput& out) {
  std::span<const uint8_t, crypto::kHandshakeInitiationSize> msg(d.buffer->data(), crypto::kHandshakeInitiationSize);
  if (!has_private_key) return counters().drop(DropReason::NoPrivateKey);
  if (!cookie_checker.check_mac1(msg)) return counters().drop(DropReason::BadMac1);
  if (note_handshake_load(now.mono_ns) && require_cookie(d, crypto::sender_index_of(msg), now, out))
    return;

  auto st = crypto::decrypt_initiation_static(identity, msg);
  if (!st) return counters().drop(DropReason::HandshakeFailed);
  Peer* peer = find_peer(st->remote_static);
  if (peer == nullptr) return counters().drop(DropReason::UnknownPeer);
  if (crypto::is_zero(peer->precomputed_static_static) ||
      !crypto::decrypt_initiation_timestamp(*st, peer->precomputed_static_static, msg))
    return counters().drop(DropReason::HandshakeFailed);
  if (!crypto::tai64n_after(st->timestamp, peer->latest_timestamp))
    return counters().drop(DropReason::ReplayedHandshake);
  if (now.mono_ns - peer->last_initiation_consumed_ns < kMinInitiationInterval)
    return counters().drop(DropReason::HandshakeFlood);
  peer->latest_timestamp = st->timestamp;
  peer->last_initiation_consumed_ns = now.mono_ns;
  peer->rx_bytes += msg.size();
  update_endpoint(*peer, d.source, options().log_prefix);
  peer->timers.any_authenticated_packet_received();
  peer->timers.any_authenticated_packet_traversal(now.mono_ns, peer->persistent_keepalive_interval);

  PacketBuffer* b = pool().acquire();
  if (b == nullptr) return counters().drop(DropReason::BufferPoolEmpty);
  auto keypair = std::make_unique<Keypair>();
  uint32_t index = new_index(peer->id, keypair.get());
  b->set_bounds(0, crypto::kHandshakeResponseSize);
  std::span<uint8_t, crypto::kHandshakeResponseSize> resp(b->data(), crypto::kHandshakeResponseSize);
  auto keys = crypto::create_response(*st, peer->preshared_key, index, resp);
  const uint32_t remote_index = st->remote_index;
  crypto::wipe(*st);
  if (!keys) {
    indices.erase(index);
    pool().release(b);
    return counters().drop(DropReason::HandshakeFailed);
  }
  keypair->keys = *keys;
  crypto::wipe(*keys);
  keypair->local_index = index;
  keypair->remote_index = remote_index;
  keypair->created_ns = now.mono_ns;
  keypair->initiator = false;
  install_keypair(*peer, std::move(keypair));
  peer->cookie.add_macs(resp, now.mono_ns);
  peer->last_sent_handshake_ns = now.mono_ns;
  peer->tx_bytes += resp.size();
  ++counters().handshake_responses_sent;
  spdlog::debug("{}answering handshake initiation from {}", options().log_prefix, d.source.to_string());
  emit(counters(), out, d.source, b);
  peer->timers.session_derived(now.mono_ns);
  peer->timers.any_authenticated_packet_traversal(now.mono_ns, peer->persistent_keepalive_interval);
  peer->timers.any_authenticated_packet_sent();
}

void Device::Impl::handle_response(const InboundDatagram& d, const Now& now, DeviceOutput& out) {
  std::span<const uint8_t, crypto::kHandshakeResponseSize> msg(d.buffer->data(), crypto::kHandshakeResponseSize);
  if (!has_private_key) return counters().drop(DropReason::NoPrivateKey);
  if (!cookie_checker.check_mac1(msg)) return counters().drop(DropReason::BadMac1);
  if (note_handshake_load(now.mono_ns) && require_cookie(d, crypto::sender_index_of(msg), now, out))
    return;

  uint32_t receiver = crypto::receiver_index_of(msg);
  auto it = indices.find(receiver);
  if (it == indices.end() || it->second.keypair != nullptr)
    return counters().drop(DropReason::UnknownReceiverIndex);
  Peer* peer = this->peer(it->second.peer_id);
  if (peer == nullptr || !peer->initiation_pending || peer->initiation.local_index != receiver)
    return counters().drop(DropReason::UnknownReceiverIndex);
  auto keys = crypto::consume_response(peer->initiation, identity, peer->preshared_key, msg);
  if (!keys) return counters().drop(DropReason::HandshakeFailed);

  auto keypair = std::make_unique<Keypair>();
  keypair->keys = *keys;
  crypto::wipe(*keys);
  keypair->local_index = receiver;
  keypair->remote_index = crypto::sender_index_of(msg);
  keypair->created_ns = now.mono_ns;
  keypair->initiator = true;
  // The handshake's index now names the keypair.
  it->second.keypair = keypair.get();
  peer->initiation_pending = false;
  crypto::wipe(peer->initiation);
  install_keypair(*peer, std::move(keypair));

  peer->rx_bytes += msg.size();
  peer->last_handshake_wall_ns = now.wall_ns;
  // Only the latest initiation's index is accepted above, so this pairs it with its answer.
  peer->handshake_rtt_ns = now.mono_ns - peer->last_sent_handshake_ns;
  ++counters().handshakes_completed;
  update_endpoint(*peer, d.source, options().log_prefix);
  spdlog::info("{}handshake with {} complete (initiator)", options().log_prefix,
               crypto::key_to_base64(peer->public_key).substr(0, 8));
  peer->timers.session_derived(now.mono_ns);
  peer->timers.handshake_complete();
  peer->timers.any_authenticated_packet_received();
  peer->timers.any_authenticated_packet_traversal(now.mono_ns, peer->persistent_keepalive_interval);
  // Data (or a keepalive) on the new keys is what confirms the session to the responder.
  send_keepalive(*peer, now, out);
}

void Device::Impl::handle_cookie_reply(const InboundDatagram& d, const Now& now) {
  std::span<const uint8_t, crypto::kCookieReplySize> msg(d.buffer->data(), crypto::kCookieReplySize);
  auto it = indices.find(crypto::receiver_index_of(msg));
  Peer* peer = it == indices.end() ? nullptr : this->peer(it->second.peer_id);
  if (peer == nullptr) return counters().drop(DropReason::UnknownReceiverIndex);
  if (!peer->cookie.consume_reply(msg, now.mono_ns))
    return counters().drop(DropReason::HandshakeFailed);
  spdlog::debug("{}received cookie reply from {}", options().log_prefix, d.source.to_string());
}

}  // namespace sluice
