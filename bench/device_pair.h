// Two Devices that know each other as peers, joined in memory with no latency and no loss, with
// the handshake between them completed: the in-process data path that bench_datapath measures.
// The pair owns one BufferPool shared by both devices, so a buffer sealed by `a` can be opened
// by `b` and goes back to the same pool whichever device drops it. Not thread-safe: one pair
// per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tunnel/device.h"

namespace sluice::bench {

class DevicePair {
 public:
  // Pool buffers, as the Linux daemon sizes them: room for a 1420-byte inner packet plus the
  // transport header, padding and tag, with spare.
  static constexpr size_t kBufferCapacity = 2048;

  // Builds both devices (a knows b's endpoint, b learns a's from the handshake), sends one
  // packet from a to b and checks that it arrived on a confirmed session. Throws
  // std::runtime_error if the handshake does not complete. `pool_buffers` bounds the pool.
  // `executor` (not owned, may be null for inline crypto) runs both devices' seals and opens;
  // it must outlive the pair, and the pair must then be driven from one thread only.
  DevicePair(size_t pool_buffers, CryptoExecutor* executor);

  BufferPool& pool() { return pool_; }
  const Device& a() const { return a_; }
  const Device& b() const { return b_; }

  // Writes a valid IPv4/UDP packet of `ip_length` bytes (28 <= ip_length <= 1420) from a's
  // tunnel address to b's into `buffer` (caller-owned, reset for inner use) at data().
  void build_packet(PacketBuffer& buffer, size_t ip_length) const;

  // Seals every packet in `batch` through a.handle_inner, carries the datagrams to
  // b.handle_outer (and anything either device answers to the other) until nothing is in
  // flight. The caller owns the buffers in `batch` before the call; the devices take them, and
  // on return `batch` holds the buffers b delivered, owned by the caller again, each with its
  // inner packet decrypted in place at data() exactly where it started, so it can be sent
  // again unchanged. Packets that did not arrive went back to the pool; returns how many did.
  size_t round_trip(std::vector<PacketBuffer*>& batch);

 private:
  // Hands the datagrams in `from_out` (sent from `from`) to `to`; the inner packets `to`
  // delivers are appended to `delivered` (ownership with them), its answers stay in `to_out`.
  void carry(DeviceOutput& from_out, const Endpoint& from, Device& to, DeviceOutput& to_out,
             std::vector<PacketBuffer*>& delivered);

  BufferPool pool_;
  Device a_;
  Device b_;
  Endpoint a_endpoint_;
  Endpoint b_endpoint_;
  IpAddress a_inner_;
  IpAddress b_inner_;
  Now now_;
  // Reused across calls, so that after the first batch nothing here allocates.
  DeviceOutput out_a_;
  DeviceOutput out_b_;
  std::vector<InboundDatagram> in_flight_;
  std::vector<PacketBuffer*> stray_;  // inner packets delivered to a (none expected)
};

}  // namespace sluice::bench
