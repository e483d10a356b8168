// A hostile middle on the path of a working tunnel: for every real data packet it sends
// mangled copies (replayed, duplicated, reordered, truncated, oversized, wrong receiver index,
// bit-flipped, bad header). The receiver must drop each copy under the reason it predicts,
// deliver every legitimate packet exactly once, and keep carrying traffic both ways.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "common/deterministic_random.h"
#include "crypto/messages.h"
#include "sim/sim_network.h"

using namespace sluice;
using namespace sluice::test;

namespace {

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
Endpoint ep(const char* text) { return *Endpoint::parse(text); }

// Copies of real packets, each with the drop reason the receiver must give it.
class HostileMiddle {
 public:
  HostileMiddle(SimNetwork& net, const SimNode& victim, uint64_t seed) : net_(net), victim_(victim), rng_(seed) {}

  void on_datagram(const Endpoint& from, const Endpoint& to, std::span<const uint8_t> bytes) {
    // Only data packets towards the victim; keepalives (header + tag only) carry nothing to
    // deliver, so "every legitimate packet exactly once" is about data.
    if (to != victim_.outer || bytes.size() <= crypto::kMinTransportSize ||
        crypto::classify_message(bytes) != crypto::MessageType::TransportData)
      return;
    const std::vector<uint8_t> real(bytes.begin(), bytes.end());
    captured_.push_back(real);
    // Forgeries land just before the original, so their counter is still unseen and only
    // authentication can reject them; they must not advance the window and block the original.
    const int64_t early = net_.now() + net_.link.latency_ns - 1000;

    std::vector<uint8_t> t = real;  // truncated
    t.resize(uniform(0, real.size() - 1));
    forge(from, std::move(t), early,
          t.size() < crypto::kMinTransportSize ? DropReason::InvalidMessage : DropReason::DecryptionFailed);

    std::vector<uint8_t> o = real;  // oversized: trailing bytes outside the tag
    o.resize(real.size() + uniform(1, 1300), 0xa5);
    forge(from, std::move(o), early, DropReason::DecryptionFailed);

    std::vector<uint8_t> f = real;  // one bit flipped in ciphertext or tag
    const size_t at = uniform(crypto::kTransportHeaderSize, real.size() - 1);
    f[at] ^= static_cast<uint8_t>(1u << uniform(0, 7));
    forge(from, std::move(f), early, DropReason::DecryptionFailed);

    std::vector<uint8_t> c = real;  // counter moved 2^40 ahead: unseen, so it reaches the AEAD
    c[crypto::kTransportCounterOffset + 5] ^= 0x01;
    forge(from, std::move(c), early, DropReason::DecryptionFailed);

    std::vector<uint8_t> w = real;  // receiver index nobody handed out
    crypto::write_le32(w.data() + crypto::kTransportReceiverOffset,
                       crypto::read_le32(w.data() + crypto::kTransportReceiverOffset) ^ 0x5a5a0001u);
    forge(from, std::move(w), early, DropReason::UnknownReceiverIndex);

    std::vector<uint8_t> r = real;  // a reserved byte set
    r[1 + uniform(0, 2)] = 1;
    forge(from, std::move(r), early, DropReason::InvalidMessage);

    // Exact copies: whichever of original and copy arrives second is the replay (the link also
    // reorders originals, so either may win), one now and one well after the window moved on.
    forge(from, real, net_.now() + net_.link.latency_ns, DropReason::ReplayedCounter);
    forge(from, real, net_.now() + millis(500), DropReason::ReplayedCounter);
  }

  // Every packet seen so far, again, newest first: reordered replays of old traffic.
  void replay_all_reversed(const Endpoint& from) {
    for (auto it = captured_.rbegin(); it != captured_.rend(); ++it)
      forge(from, *it, net_.now() + millis(1), DropReason::ReplayedCounter);
  }

  const std::map<DropReason, uint64_t>& expected() const { return expected_; }
  uint64_t forged() const { return forged_; }

 private:
  void forge(const Endpoint& from, std::vector<uint8_t> bytes, int64_t at, DropReason reason) {
    ++expected_[reason];
    ++forged_;
    net_.inject(from, victim_.outer, std::move(bytes), at);
  }
  size_t uniform(size_t lo, size_t hi) { return std::uniform_int_distribution<size_t>(lo, hi)(rng_); }

  SimNetwork& net_;
  const SimNode& victim_;
  std::mt19937_64 rng_;
  std::vector<std::vector<uint8_t>> captured_;
  std::map<DropReason, uint64_t> expected_;
  uint64_t forged_ = 0;
};

void run_under_attack(uint64_t seed, bool batch_delivery) {
  use_deterministic_randombytes();
  reseed_randombytes(seed);
  spdlog::set_level(spdlog::level::warn);
  SimNetwork net(seed);
  SimNode& a = net.add_node("a", ep("192.0.2.1:51820"), ip("10.0.0.1"));
  SimNode& b = net.add_node("b", ep("192.0.2.2:51820"), ip("10.0.0.2"));
  net.add_peer(a, b, true);
  net.add_peer(b, a, false);
  // Reordering but no loss or duplication of its own, so every drop at b is the middle's.
  net.link = LinkConditions{millis(5), 0.0, 0.0, 0.2, millis(20), -1, -1};
  net.batch_delivery = batch_delivery;
  HostileMiddle middle(net, b, seed);
  net.tap = [&](const Endpoint& from, const Endpoint& to, std::span<const uint8_t> bytes) {
    middle.on_datagram(from, to, bytes);
  };

  uint32_t seq = 0;
  uint32_t back = 0;  // b -> a, once b holds a confirmed session (it has no endpoint before)
  net.run_until(seconds(30), millis(50), [&](int64_t now) {
    net.send_inner(a, b, seq++);
    auto session = b.device.peer_session(a.public_key, now);
    if (session && session->can_send) net.send_inner(b, a, back++);
  });
  net.tap = nullptr;
  middle.replay_all_reversed(a.outer);
  net.run_until(seconds(31));

  // Delivered: exactly the legitimate packets, each once, both ways.
  std::vector<uint32_t> got = b.received;
  std::sort(got.begin(), got.end());
  std::vector<uint32_t> want(seq);
  for (uint32_t i = 0; i < seq; ++i) want[i] = i;
  CHECK(got == want);
  CHECK(back > seq - 10);
  CHECK(a.received.size() == back);
  CHECK(b.device.counters().inner_packets_out == seq);

  // Dropped: every forgery, under the reason predicted for it, and nothing else.
  const DeviceCounters& c = b.device.counters();
  INFO("forged copies: " << middle.forged() << ", legitimate packets: " << seq);
  uint64_t dropped_total = 0;
  for (size_t i = 0; i < static_cast<size_t>(DropReason::Count); ++i) {
    const auto reason = static_cast<DropReason>(i);
    const auto it = middle.expected().find(reason);
    const uint64_t want_drops = it == middle.expected().end() ? 0 : it->second;
    INFO("drop reason " << drop_reason_name(reason));
    CHECK(c.dropped(reason) == want_drops);
    dropped_total += c.dropped(reason);
  }
  CHECK(dropped_total == middle.forged());
  CHECK(middle.expected().size() == 4);  // all four reasons were exercised
  // The attack never forced a new session.
  CHECK(a.device.counters().handshakes_completed == 1);
  CHECK(b.device.counters().handshakes_completed == 1);
}

}  // namespace

TEST_CASE("mangled copies of transport packets are dropped by reason, never delivered", "[sim][hostile]") {
  SECTION("one datagram per call") { run_under_attack(41, false); }
  SECTION("socket-sized batches, duplicates inside one batch") { run_under_attack(42, true); }
}
