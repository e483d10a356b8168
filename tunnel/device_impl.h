// Private state of Device, shared by the files that implement its parts: handshake
// (device_handshake.cpp), transport data (device_transport.cpp), timers (device_timers.cpp)
// and configuration (device_config.cpp).
#pragma once

#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/keys.h"
#include "crypto/noise.h"
#include "crypto/transport_job.h"
#include "tunnel/allowed_ips.h"
#include "tunnel/device.h"
#include "tunnel/peer.h"
#include "tunnel/ratelimiter.h"

namespace sluice {

// What a receiver index names: a handshake we initiated, or a keypair.
struct IndexEntry {
  uint32_t peer_id = 0;
  Keypair* keypair = nullptr;  // null: the peer's pending initiation
};

// A received transport message between its two phases: looked up and replay-checked, waiting
// for its open job; `keypair` is compared, never dereferenced, after the jobs have run.
struct PendingOpen {
  InboundDatagram datagram;
  uint32_t local_index = 0;
  Keypair* keypair = nullptr;
};

struct Device::Impl {
  // First member: libsodium must be ready before the seed below is drawn.
  const bool sodium_ready = crypto::crypto_init();
  Device& device;
  crypto::StaticIdentity identity;
  bool has_private_key = false;
  crypto::CookieChecker cookie_checker;

  std::vector<std::unique_ptr<Peer>> peers;  // indexed by Peer::id; null slots are free
  std::map<Key, uint32_t> peer_by_key;
  AllowedIps allowed_ips;
  std::unordered_map<uint32_t, IndexEntry> indices;
  Ratelimiter ratelimiter{random_seed()};

  // Handshake load, counted per one-second window.
  int64_t load_window_start = INT64_MIN / 2;
  uint32_t load_window_count = 0;
  int64_t last_under_load_ns = INT64_MIN / 2;

  // Crypto queued during one public call. Seals point into buffers already in the caller's
  // DeviceOutput; opens are finished (phase two) before anything that could change keypairs.
  // Their capacity is kept, so steady state does not allocate.
  std::vector<crypto::TransportJob> seal_jobs;
  std::vector<crypto::TransportJob> open_jobs;
  std::vector<PendingOpen> pending_opens;

  explicit Impl(Device& d) : device(d) {}
  // A secret hash seed, so remote hosts cannot aim at one rate-limit bucket.
  static uint64_t random_seed();

  DeviceCounters& counters() { return device.counters_; }
  BufferPool& pool() { return device.pool_; }
  const DeviceOptions& options() const { return device.options_; }

  Peer* peer(uint32_t id) { return id < peers.size() ? peers[id].get() : nullptr; }
  Peer* find_peer(const Key& public_key);
  Peer* add_peer(const Key& public_key);
  void remove_peer(Peer& peer);
  void set_private_key(const Key& private_key);

  uint32_t new_index(uint32_t peer_id, Keypair* keypair);
  void drop(PacketBuffer* b, DropReason r);
  static int64_t jitter();
  bool note_handshake_load(int64_t now);

  // Handshake (device_handshake.cpp).
  void send_initiation(Peer& peer, const Now& now, bool is_retry, DeviceOutput& out);
  void handle_initiation(const InboundDatagram& d, const Now& now, DeviceOutput& out);
  void handle_response(const InboundDatagram& d, const Now& now, DeviceOutput& out);
  void handle_cookie_reply(const InboundDatagram& d, const Now& now);
  bool require_cookie(const InboundDatagram& d, uint32_t sender_index, const Now& now,
                      DeviceOutput& out);
  void install_keypair(Peer& peer, std::unique_ptr<Keypair> keypair);
  void clear_handshake(Peer& peer);
  void zero_key_material(Peer& peer);

  // Transport data (device_transport.cpp).
  void send_inner(Peer& peer, PacketBuffer* packet, const Now& now, DeviceOutput& out);
  void send_staged(Peer& peer, const Now& now, DeviceOutput& out);
  void send_keepalive(Peer& peer, const Now& now, DeviceOutput& out);
  // Phase one of a received transport message: look-up and cheap checks, then an open job.
  void queue_transport(const InboundDatagram& d, const Now& now);
  // Runs the queued opens and finishes each in arrival order (phase two).
  void finish_transport(const Now& now, DeviceOutput& out);
  void finish_open(const PendingOpen& p, const crypto::TransportJob& job, const Now& now,
                   DeviceOutput& out);
  // Runs the queued seals; every public call ends with this, so DeviceOutput is complete.
  void run_seals();
  void run_jobs(std::vector<crypto::TransportJob>& jobs);
  void keep_key_fresh_after_send(Peer& peer, const Now& now, DeviceOutput& out);

  // Timers (device_timers.cpp).
  void run_timers(Peer& peer, const Now& now, DeviceOutput& out);
};

// The cookie MAC binds the source address and port: address bytes, then the port big-endian.
size_t endpoint_cookie_bytes(const Endpoint& e, uint8_t (&out)[18]);

}  // namespace sluice
