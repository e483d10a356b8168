// The WireGuard device as a sans-IO state machine. It takes packets and the time, and gives
// back datagrams to send, inner packets to deliver and the next deadline. The caller owns the
// sockets, the TUN, the clock and the threads; nothing here blocks or performs I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "tunnel/counters.h"
#include "tunnel/crypto_executor.h"
#include "tunnel/device_config.h"
#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"
#include "tunnel/time.h"

namespace sluice {

struct DeviceOptions {
  std::string log_prefix;  // put before every log line of this device, e.g. "wg0: "
  uint32_t mtu = 1420;          // inner MTU: bounds transport padding
  // Handshake messages per second above which the device is "under load" and demands a
  // valid mac2 (a cookie) before doing any Diffie-Hellman. 0 = always under load.
  uint32_t under_load_handshakes_per_second = 128;
  // Runs the seals and opens of each call, possibly on other threads; null runs them inline.
  // Not owned; must outlive the device.
  CryptoExecutor* crypto_executor = nullptr;
};

// A datagram received from the outer network. The device takes ownership of `buffer`.
struct InboundDatagram {
  Endpoint source;
  PacketBuffer* buffer = nullptr;
};

// A datagram the device wants sent. The caller owns `buffer` once it is in DeviceOutput and
// must give it back to the pool after sending (or dropping) it.
struct OutboundDatagram {
  Endpoint destination;
  PacketBuffer* buffer = nullptr;
};

// Everything one call produced. The caller owns every buffer in it; clear() does not release.
struct DeviceOutput {
  std::vector<OutboundDatagram> datagrams;
  std::vector<PacketBuffer*> inner;  // decrypted IP packets for the TUN, data() = IP header
  void clear() {
    datagrams.clear();
    inner.clear();
  }
};

struct Peer;

// Which keys a peer holds right now: for tests, liveness reporting and diagnostics.
struct PeerSession {
  bool current = false;
  bool can_send = false;  // current exists and is within REJECT_AFTER_TIME/MESSAGES
  bool previous = false;
  bool next = false;      // responder keypair awaiting confirmation
  bool handshake_pending = false;
  int64_t current_age_ns = 0;
};

class Device {
 public:
  // `pool` supplies buffers for handshake messages and keepalives, and receives buffers the
  // device drops. It must outlive the device.
  Device(DeviceOptions options, BufferPool& pool);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Plaintext IP packets read from the TUN, each with headroom (PacketBuffer::kHeadroom) and
  // tailroom. Takes ownership of every buffer: each is sealed into out.datagrams, staged
  // until a session exists, or released to the pool when dropped.
  void handle_inner(std::span<PacketBuffer* const> packets, const Now& now, DeviceOutput& out);

  // Datagrams from the UDP socket. Takes ownership of every buffer: each is opened in place
  // into out.inner, answered through out.datagrams, or released to the pool.
  void handle_outer(std::span<const InboundDatagram> datagrams, const Now& now, DeviceOutput& out);

  // Runs every timer due at `now` (handshake retransmits, keepalives, rekeys, key zeroing).
  void handle_timers(const Now& now, DeviceOutput& out);

  // Starts a handshake with every peer that has an endpoint, within the usual limit of one
  // per REKEY_TIMEOUT: after the network changed, the current sessions' path may be gone, and
  // waiting for the timers to notice takes KEEPALIVE_TIMEOUT + REKEY_TIMEOUT.
  void initiate_handshakes(const Now& now, DeviceOutput& out);

  // Monotonic time at which handle_timers() must next be called; INT64_MAX if never.
  int64_t next_deadline() const;

  // Applies a validated change (from UAPI set=1 or a config file) as one step.
  void apply(const DeviceChange& change, const Now& now, DeviceOutput& out);
  DeviceStatus status() const;
  std::optional<PeerSession> peer_session(const Key& public_key, int64_t now_ns) const;

  uint16_t listen_port() const { return listen_port_; }
  uint32_t fwmark() const { return fwmark_; }
  const DeviceCounters& counters() const { return counters_; }
  size_t peer_count() const;
  bool under_load(int64_t now_ns) const;

  // Options that the embedding may change at run time.
  void set_mtu(uint32_t mtu) { options_.mtu = mtu; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DeviceOptions options_;
  BufferPool& pool_;
  uint16_t listen_port_ = 0;
  uint32_t fwmark_ = 0;
  DeviceCounters counters_;
};

}  // namespace sluice
