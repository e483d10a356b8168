// Transport data: sealing inner packets for a peer and opening received ones (whitepaper
// section 5.4.6), with the send- and receive-side checks that keep keys fresh.
#include <spdlog/spdlog.h>

#include "crypto/keys.h"
#include "crypto/messages.h"
#include "crypto/transport.h"
#include "crypto/transport_job.h"
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
    const size_t plaintext = b->size();
    // The header goes into the headroom in front of the inner packet; sealing is in place.
    // The counter is taken here, on the protocol thread, so it is unique whatever thread seals.
    crypto::TransportJob& job = seal_jobs.emplace_back();
    job.kind = crypto::TransportJob::Kind::Seal;
    job.message = b->data() - crypto::kTransportHeaderSize;
    job.plaintext_len = plaintext;
    // Padding stops at the MTU so that a full-sized inner packet still fits the path.
    job.padded_len = crypto::padded_length(plaintext, options().mtu);
    job.counter = kp->send_counter++;
    job.receiver_index = kp->remote_index;
    job.key = kp->keys.sending;
    const size_t length = crypto::sealed_length(job.padded_len);
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

void Device::Impl::run_jobs(std::vector<crypto::TransportJob>& jobs) {
  if (jobs.empty()) return;
  if (CryptoExecutor* executor = options().crypto_executor) {
    executor->run(jobs);
  } else {
    run_inline(jobs);
  }
}

void Device::Impl::run_seals() {
  run_jobs(seal_jobs);
  seal_jobs.clear();
}

void Device::Impl::queue_transport(const InboundDatagram& d, const Now& now) {
  PacketBuffer* b = d.buffer;
  const uint32_t local_index = crypto::receiver_index_of({b->data(), b->size()});
  auto it = indices.find(local_index);
  if (it == indices.end() || it->second.keypair == nullptr)
    return drop(b, DropReason::UnknownReceiverIndex);
  Keypair* kp = it->second.keypair;
  if (!kp->can_receive(now.mono_ns)) return drop(b, DropReason::KeypairExpired);
  const uint64_t counter = crypto::transport_counter_of(b->data());
  // Cheap read-only check first, so replayed packets cost no decryption.
  if (!kp->replay.check(counter, kRejectAfterMessages)) return drop(b, DropReason::ReplayedCounter);
  crypto::TransportJob& job = open_jobs.emplace_back();
  job.kind = crypto::TransportJob::Kind::Open;
  job.message = b->data();
  job.message_len = b->size();
  job.counter = counter;
  job.key = kp->keys.receiving;
  pending_opens.push_back({d, local_index, kp});
}

void Device::Impl::finish_transport(const Now& now, DeviceOutput& out) {
  run_jobs(open_jobs);
  for (size_t i = 0; i < pending_opens.size(); ++i) finish_open(pending_opens[i], open_jobs[i], now, out);
  open_jobs.clear();
  pending_opens.clear();
}

void Device::Impl::finish_open(const PendingOpen& p, const crypto::TransportJob& job, const Now& now,
                               DeviceOutput& out) {
  PacketBuffer* b = p.datagram.buffer;
  // An earlier packet of this batch may have confirmed a new session and retired this keypair.
  auto it = indices.find(p.local_index);
  if (it == indices.end() || it->second.keypair != p.keypair)
    return drop(b, DropReason::UnknownReceiverIndex);
  Keypair* kp = p.keypair;
  Peer& peer = *peers[it->second.peer_id];
  if (!job.ok) return drop(b, DropReason::DecryptionFailed);
  // The window is updated only after authentication, so forged counters cannot advance it;
  // a duplicate within one batch passed the first check and is caught here.
  if (!kp->replay.check_and_update(job.counter, kRejectAfterMessages))
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
  const Endpoint& source = p.datagram.source;
  if (peer.endpoint != source) {
    spdlog::debug("{}peer {} roamed to {}", options().log_prefix,
                  crypto::key_to_base64(peer.public_key).substr(0, 8), source.to_string());
    peer.endpoint = source;
  }
  peer.rx_bytes += job.message_len;
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

  if (job.plaintext_len == 0) {
    ++counters().keepalives_received;
    pool().release(b);
    return;
  }
  const uint8_t* inner = b->data() + crypto::kTransportHeaderSize;
  auto info = parse_ip_packet({inner, job.plaintext_len});
  if (!info) return drop(b, DropReason::InvalidDecrypted);
  auto owner = allowed_ips.lookup(info->source);
  if (!owner || *owner != peer.id) return drop(b, DropReason::SourceNotAllowed);
  b->set_bounds(b->offset() + crypto::kTransportHeaderSize, info->total_length);
  ++counters().inner_packets_out;
  out.inner.push_back(b);
  peer.timers.data_received(now.mono_ns);
}

}  // namespace sluice
