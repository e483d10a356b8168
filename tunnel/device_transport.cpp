// Transport data: sealing inner packets for a peer and opening received ones (whitepaper
// section 5.4.6), with the send- and receive-side checks that keep keys fresh.
#include <spdlog/spdlog.h>

#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/transport.h"
#include "tunnel/device_impl.h"
#include "tunnel/ip_packet.h"

namespace sluice {

void Device::Impl::send_inner(Peer& peer, PacketBuffer* packet, const Now& now, DeviceOutput& out) {
  // Everything goes through the staged queue so that packets held during a handshake leave
  // before newer ones.
  if (PacketBuffer* evicted = peer.staged.push(packet)) drop(evicted, DropReason::StagedQueueFull);
  send_staged(peer, now, out);
}

void Device::Impl::send_keepalive(Peer& peer, const Now& now, DeviceOutput& out) {
  if (peer.staged.empty()) {
    PacketBuffer* b = pool().acquire();
    if (b == nullptr) return counters().drop(DropReason::BufferPoolEmpty);
    b->set_size(0);  // an empty transport message is a keepalive
    peer.staged.push(b);
  }
  send_staged(peer, now, out);
}

void Device::Impl::send_staged(Peer& peer, const Now& now, DeviceOutput& out) {
  if (peer.staged.empty()) return;
  if (!peer.endpoint) {
    // Nowhere to send them and nowhere to send a handshake: the peer must contact us first.
    while (PacketBuffer* b = peer.staged.pop()) drop(b, DropReason::NoEndpoint);
    return;
  }
  Keypair* kp = peer.current.get();
  if (kp == nullptr || !kp->can_send(now.mono_ns)) {
    send_initiation(peer, now, false, out);
    return;
  }
  bool sent_data = false;
  while (PacketBuffer* b = peer.staged.pop()) {
    if (!kp->can_send(now.mono_ns)) {
      drop(b, DropReason::KeypairExpired);
      continue;
    }
    size_t plaintext = b->size();
    // The header goes into the headroom in front of the inner packet; sealing is in place.
    uint8_t* start = b->data() - crypto::kTransportHeaderSize;
    // Padding stops at the MTU so that a full-sized inner packet still fits the path.
    size_t length = crypto::seal_transport(kp->keys.sending, kp->remote_index, kp->send_counter++,
                                           start, plaintext, crypto::padded_length(plaintext, options().mtu));
    b->set_bounds(b->offset() - crypto::kTransportHeaderSize, length);
    peer.tx_bytes += length;
    ++counters().datagrams_out;
    out.datagrams.push_back({*peer.endpoint, b});
    if (plaintext == 0) {
      ++counters().keepalives_sent;
    } else {
      sent_data = true;
    }
  }
  peer.timers.any_authenticated_packet_sent();
  peer.timers.any_authenticated_packet_traversal(now.mono_ns, peer.persistent_keepalive_interval);
  if (sent_data && peer.timers.new_handshake == PeerTimers::kOff)
    peer.timers.data_sent(now.mono_ns, jitter());
  keep_key_fresh_after_send(peer, now, out);
}

void Device::Impl::keep_key_fresh_after_send(Peer& peer, const Now& now, DeviceOutput& out) {
  Keypair* kp = peer.current.get();
  if (kp == nullptr || !kp->can_send(now.mono_ns)) return;
  if (kp->send_counter > kRekeyAfterMessages ||
      (kp->initiator && now.mono_ns - kp->created_ns > kRekeyAfterTime))
    send_initiation(peer, now, false, out);
}

void Device::Impl::handle_transport(const InboundDatagram& d, const Now& now, DeviceOutput& out) {
  PacketBuffer* b = d.buffer;
  auto it = indices.find(crypto::receiver_index_of({b->data(), b->size()}));
  if (it == indices.end() || it->second.keypair == nullptr)
    return drop(b, DropReason::UnknownReceiverIndex);
  Keypair* kp = it->second.keypair;
  Peer& peer = *peers[it->second.peer_id];
  if (!kp->can_receive(now.mono_ns)) return drop(b, DropReason::KeypairExpired);
  const uint64_t counter = crypto::transport_counter_of(b->data());
  // Cheap read-only check first, so replayed packets cost no decryption.
  if (!kp->replay.check(counter, kRejectAfterMessages)) return drop(b, DropReason::ReplayedCounter);
  const size_t datagram_length = b->size();
  auto plaintext = crypto::open_transport(kp->keys.receiving, counter, b->data(), b->size());
  if (!plaintext) return drop(b, DropReason::DecryptionFailed);
  // The window is updated only after authentication, so forged counters cannot advance it.
  if (!kp->replay.check_and_update(counter, kRejectAfterMessages))
    return drop(b, DropReason::ReplayedCounter);

  if (kp == peer.next.get()) {
    // First packet on the responder's keypair: the initiator has confirmed the session.
    if (peer.previous) indices.erase(peer.previous->local_index);
    peer.previous = std::move(peer.current);
    peer.current = std::move(peer.next);
    peer.timers.handshake_complete();
    peer.last_handshake_wall_ns = now.wall_ns;
    ++counters().handshakes_completed;
    spdlog::info("{}handshake with {} complete (responder)", options().log_prefix,
                 crypto::key_to_base64(peer.public_key).substr(0, 8));
  }
  if (peer.endpoint != d.source) {
    spdlog::debug("{}peer {} roamed to {}", options().log_prefix,
                  crypto::key_to_base64(peer.public_key).substr(0, 8), d.source.to_string());
    peer.endpoint = d.source;
  }
  peer.rx_bytes += datagram_length;
  peer.timers.any_authenticated_packet_received();
  peer.timers.any_authenticated_packet_traversal(now.mono_ns, peer.persistent_keepalive_interval);

  // Receive-side freshness: an initiator whose keys near REJECT_AFTER_TIME starts one last
  // handshake, since the responder may not.
  Keypair* current = peer.current.get();
  if (current && current->initiator && !peer.timers.sent_lastminute_handshake &&
      now.mono_ns - current->created_ns > kRejectAfterTime - kKeepaliveTimeout - kRekeyTimeout) {
    peer.timers.sent_lastminute_handshake = true;
    send_initiation(peer, now, false, out);
  }
  if (!peer.staged.empty()) send_staged(peer, now, out);

  if (*plaintext == 0) {
    ++counters().keepalives_received;
    pool().release(b);
    return;
  }
  const uint8_t* inner = b->data() + crypto::kTransportHeaderSize;
  auto info = parse_ip_packet({inner, *plaintext});
  if (!info) return drop(b, DropReason::InvalidDecrypted);
  auto owner = allowed_ips.lookup(info->source);
  if (!owner || *owner != peer.id) return drop(b, DropReason::SourceNotAllowed);
  b->set_bounds(b->offset() + crypto::kTransportHeaderSize, info->total_length);
  ++counters().inner_packets_out;
  out.inner.push_back(b);
  peer.timers.data_received(now.mono_ns);
}

}  // namespace sluice
