// Two (or more) sans-IO devices joined by a simulated UDP network in virtual time: latency,
// loss, duplication, reordering and outages are applied to every datagram, and every timer
// runs exactly when the device asks for it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "crypto/keys.h"
#include "tunnel/device.h"

namespace sluice::test {

struct LinkConditions {
  int64_t latency_ns = millis(5);
  double loss = 0.0;
  double duplicate = 0.0;
  double reorder = 0.0;  // probability that a datagram is delayed by reorder_delay_ns more
  int64_t reorder_delay_ns = millis(20);
  int64_t outage_start_ns = -1;  // [start, end): every datagram is lost
  int64_t outage_end_ns = -1;
};

struct SimNode {
  SimNode(std::string name, Endpoint outer, IpAddress inner, DeviceOptions options = {});

  std::string name;
  Endpoint outer;
  IpAddress inner;
  crypto::PrivateKey private_key;
  crypto::PublicKey public_key;
  BufferPool pool;
  Device device;
  std::vector<uint32_t> received;  // sequence numbers of inner packets delivered to this node
};

class SimNetwork {
 public:
  explicit SimNetwork(uint64_t seed) : rng_(seed) {}

  SimNode& add_node(std::string name, Endpoint outer, IpAddress inner, DeviceOptions options = {});
  // Configures `a` to know `b` (its inner address as AllowedIPs; the endpoint only if asked).
  void add_peer(SimNode& a, const SimNode& b, bool with_endpoint, uint16_t keepalive = 0,
                const Key& psk = {});

  LinkConditions link;
  // Sees every datagram a node sends, before the link conditions apply: where a hostile
  // middle copies real packets to mangle them.
  std::function<void(const Endpoint& from, const Endpoint& to, std::span<const uint8_t> bytes)> tap;
  // Puts a datagram on the wire to arrive at `at`, bypassing the link conditions, so an
  // attacker's copies arrive exactly when the test means them to.
  void inject(const Endpoint& from, const Endpoint& to, std::vector<uint8_t> bytes, int64_t at);
  // Hand a node every datagram due at the same instant in one handle_outer call, as a socket
  // batch would, instead of one call per datagram.
  bool batch_delivery = false;
  int64_t now() const { return now_; }
  Now clock() const { return Now{now_, now_ + wall_base_}; }

  // Sends one inner IPv4/UDP packet carrying `seq` from `from` to `to`'s inner address.
  void send_inner(SimNode& from, const SimNode& to, uint32_t seq);
  // Runs until virtual time `until`, calling `tick` every `tick_interval_ns` if given.
  void run_until(int64_t until, int64_t tick_interval_ns = 0,
                 const std::function<void(int64_t)>& tick = {});

  uint64_t datagrams_lost() const { return lost_; }

 private:
  struct InFlight {
    int64_t deliver_at;
    uint64_t order;
    Endpoint from;
    Endpoint to;
    std::vector<uint8_t> bytes;
    bool operator>(const InFlight& o) const {
      return deliver_at != o.deliver_at ? deliver_at > o.deliver_at : order > o.order;
    }
  };

  void transmit(const Endpoint& from, const Endpoint& to, const uint8_t* data, size_t len);
  void process(SimNode& node, DeviceOutput& out);
  SimNode* node_at(const Endpoint& e);
  bool chance(double p) { return p > 0 && std::uniform_real_distribution<>(0, 1)(rng_) < p; }

  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> in_flight_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  int64_t wall_base_ = int64_t{1'700'000'000} * kNanosPerSecond;
  uint64_t order_ = 0;
  uint64_t lost_ = 0;
};

// Builds an IPv4/UDP packet from `src` to `dst` whose payload is `seq`, in `buffer`.
void build_inner_packet(PacketBuffer& buffer, const IpAddress& src, const IpAddress& dst, uint32_t seq);

}  // namespace sluice::test
