// Device::apply: a validated DeviceChange takes effect as one step, in wireguard-go's order.
#include <spdlog/spdlog.h>

#include "crypto/keys.h"
#include "crypto/x25519.h"
#include "tunnel/device_impl.h"

namespace sluice {

namespace {
std::string short_key(const Key& k) { return crypto::key_to_base64(k).substr(0, 8) + "…"; }
}  // namespace

Peer* Device::Impl::find_peer(const Key& public_key) {
  auto it = peer_by_key.find(public_key);
  return it == peer_by_key.end() ? nullptr : peers[it->second].get();
}

Peer* Device::Impl::add_peer(const Key& public_key) {
  uint32_t id = 0;
  while (id < peers.size() && peers[id]) ++id;
  if (id == peers.size()) peers.emplace_back();
  peers[id] = std::make_unique<Peer>();
  Peer& p = *peers[id];
  p.id = id;
  p.public_key = public_key;
  p.cookie.init(public_key);
  if (has_private_key && !crypto::dh(p.precomputed_static_static, identity.private_key, public_key))
    p.precomputed_static_static = {};
  peer_by_key.emplace(public_key, id);
  spdlog::info("{}peer {} added", options().log_prefix, short_key(public_key));
  return &p;
}

void Device::Impl::remove_peer(Peer& peer) {
  spdlog::info("{}peer {} removed", options().log_prefix, short_key(peer.public_key));
  zero_key_material(peer);
  while (PacketBuffer* b = peer.staged.pop()) pool().release(b);
  allowed_ips.remove_peer(peer.id);
  peer_by_key.erase(peer.public_key);
  peers[peer.id].reset();
}

void Device::Impl::set_private_key(const Key& private_key) {
  Key clamped = private_key;
  if (!crypto::is_zero(clamped)) crypto::clamp_private_key(clamped);
  // Setting the key we already have (as every `wg setconf` does) must not end live sessions.
  const bool unchanged = has_private_key ? crypto::equal(clamped, identity.private_key) : crypto::is_zero(clamped);
  crypto::wipe(clamped);
  if (unchanged) return;
  if (crypto::is_zero(private_key)) {
    has_private_key = false;
    crypto::wipe(identity);
  } else {
    // Clamped as wireguard-go and Linux store it, so UAPI get prints what they print.
    identity.private_key = private_key;
    crypto::clamp_private_key(identity.private_key);
    identity.public_key = crypto::public_key_of(private_key);
    has_private_key = true;
    // A peer with our own public key could never complete a handshake (wireguard-go drops it).
    if (Peer* self = find_peer(identity.public_key)) remove_peer(*self);
  }
  cookie_checker.init(identity.public_key);
  for (auto& p : peers) {
    if (!p) continue;
    if (!has_private_key ||
        !crypto::dh(p->precomputed_static_static, identity.private_key, p->public_key))
      p->precomputed_static_static = {};
    // Sessions made with the old identity must not carry on; a new handshake follows on demand.
    clear_handshake(*p);
    if (p->current) p->current->send_expired = true;
  }
}

void Device::apply(const DeviceChange& change, const Now& now, DeviceOutput& out) {
  Impl& m = *impl_;
  if (change.private_key) m.set_private_key(*change.private_key);
  if (change.listen_port) listen_port_ = *change.listen_port;
  if (change.fwmark) fwmark_ = *change.fwmark;
  if (change.replace_peers) {
    for (auto& p : m.peers)
      if (p) m.remove_peer(*p);
  }
  for (const PeerChange& pc : change.peers) {
    Peer* peer = m.find_peer(pc.public_key);
    if (pc.remove) {
      if (peer) m.remove_peer(*peer);
      continue;
    }
    if (peer == nullptr) {
      if (pc.update_only) continue;
      // wireguard-go ignores a peer whose key is our own public key.
      if (m.has_private_key && pc.public_key == m.identity.public_key) continue;
      peer = m.add_peer(pc.public_key);
    }
    if (pc.preshared_key) peer->preshared_key = *pc.preshared_key;
    if (pc.endpoint && peer->endpoint != pc.endpoint) {
      peer->endpoint = pc.endpoint;
      spdlog::info("{}peer {} endpoint set to {}", options_.log_prefix, short_key(peer->public_key),
                   pc.endpoint->to_string());
    }
    if (pc.replace_allowed_ips) m.allowed_ips.remove_peer(peer->id);
    for (const IpPrefix& prefix : pc.allowed_ips) m.allowed_ips.insert(prefix, peer->id);
    if (pc.persistent_keepalive_interval) {
      bool was_off = peer->persistent_keepalive_interval == 0;
      peer->persistent_keepalive_interval = *pc.persistent_keepalive_interval;
      if (peer->persistent_keepalive_interval == 0) {
        peer->timers.persistent_keepalive = PeerTimers::kOff;
      } else if (was_off && m.has_private_key && peer->endpoint) {
        // As wireguard-go: turning keepalive on sends one now, which starts a handshake.
        m.send_keepalive(*peer, now, out);
      }
    }
  }
  m.run_seals();
}

}  // namespace sluice
