// What fuzz_device_outer and fuzz_device_inner share with each other and with the seed
// generator: the device under test ("A") with its configuration, the peer "B" that the harness
// plays with the crypto layer (so it knows B's session keys, which a Device never exposes),
// the buffer checks, and the input format of fuzz_device_outer.
//
// A (private key 0xa1..) has two peers:
//   B (0xb2..): AllowedIPs 10.0.0.0/24 and fd00::/64; endpoint 192.0.2.2:51820 if the config
//               byte asks for it. The harness holds B's private key.
//   C (0xc3..): AllowedIPs 0.0.0.0/0, no endpoint: packets for it wait in its staged queue.
#pragma once

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <string>
#include <optional>
#include <set>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/messages.h"
#include "crypto/noise.h"
#include "crypto/tai64n.h"
#include "crypto/transport.h"
#include "fuzz_support.h"
#include "tunnel/device.h"
#include "tunnel/ip_packet.h"

namespace sluice::fuzz {

inline constexpr size_t kPoolBuffers = 64;  // small, so pool exhaustion is reachable
inline constexpr size_t kBufferCapacity = 2048;
inline constexpr size_t kMaxBatch = 16;
inline constexpr int64_t kStartMonoNs = kNanosPerSecond;
inline constexpr int64_t kStartWallNs = int64_t{1'700'000'000} * kNanosPerSecond;
inline constexpr uint64_t kRandomSeed = 0xf022;
// Virtual time one input may run: past key zeroing (3 x REJECT_AFTER_TIME = 9 min) with room to
// spare. More only repeats handshake attempts, each costing two X25519 operations.
inline constexpr int64_t kMaxSimulatedNs = seconds(20 * 60);

// The config byte (first byte of both device targets' inputs).
enum ConfigFlags : uint8_t {
  kLoadMask = 0x03,           // under_load_handshakes_per_second: 128, 0 (always), 1, 4
  kEndpoint = 0x04,           // A knows B's endpoint, so A can initiate
  kPresharedKey = 0x08,       // A and B share a preshared key
  kKeepalive = 0x10,          // persistent keepalive 25 s for B
  kSmallMtu = 0x20,           // mtu 1280 instead of 1420 (bounds transport padding)
  kEstablishSession = 0x40,   // a real handshake (B initiates) and B's confirming keepalive
};

struct Identities {
  crypto::StaticIdentity a, b, c;
  crypto::Key b_static_static{};  // DH(B, A)
  crypto::Key psk{};
};

// Computed once per process: X25519 is the expensive part of a device's setup.
inline const Identities& identities() {
  static const Identities ids = [] {
    Identities i;
    i.a = identity_from(0xa1);
    i.b = identity_from(0xb2);
    i.c = identity_from(0xc3);
    if (!crypto::dh(i.b_static_static, i.b.private_key, i.a.public_key)) __builtin_trap();
    i.psk.fill(0x5a);
    return i;
  }();
  return ids;
}

inline IpAddress ip(const char* text) { return *IpAddress::parse(text); }
inline Endpoint endpoint(const char* text) { return *Endpoint::parse(text); }

// Where datagrams come from, chosen by two bits of a record: B's usual address, a NAT rebinding,
// and two IPv6 sources (roaming across families).
inline Endpoint source_endpoint(unsigned selector) {
  static const Endpoint sources[4] = {endpoint("192.0.2.2:51820"), endpoint("198.51.100.7:4444"),
                                      endpoint("[2001:db8::2]:51820"), endpoint("[2001:db8::3]:1")};
  return sources[selector & 3];
}

inline DeviceOptions device_options(uint8_t config) {
  static constexpr uint32_t kLoads[4] = {128, 0, 1, 4};
  DeviceOptions o;
  o.mtu = (config & kSmallMtu) ? 1280 : 1420;
  o.under_load_handshakes_per_second = kLoads[config & kLoadMask];
  return o;
}

inline DeviceChange device_change(uint8_t config) {
  const Identities& ids = identities();
  DeviceChange change;
  change.private_key = ids.a.private_key;
  change.listen_port = 51820;
  PeerChange b;
  b.public_key = ids.b.public_key;
  if (config & kPresharedKey) b.preshared_key = ids.psk;
  if (config & kEndpoint) b.endpoint = source_endpoint(0);
  if (config & kKeepalive) b.persistent_keepalive_interval = 25;
  b.allowed_ips = {IpPrefix{ip("10.0.0.0"), 24}, IpPrefix{ip("fd00::"), 64}};
  PeerChange c;
  c.public_key = ids.c.public_key;
  c.allowed_ips = {IpPrefix{ip("0.0.0.0"), 0}};
  change.peers = {b, c};
  return change;
}

// Every buffer the device hands out must lie inside its pool buffer: the pool is one
// allocation, so ASan would not notice a packet running into its neighbour.
inline void check_buffer(const PacketBuffer* b, std::set<const PacketBuffer*>& seen) {
  FUZZ_CHECK(b != nullptr);
  FUZZ_CHECK(seen.insert(b).second);  // no buffer twice in one output
  FUZZ_CHECK(b->capacity() == kBufferCapacity);
  FUZZ_CHECK(b->offset() <= b->capacity() && b->size() <= b->capacity() - b->offset());
}

// At the end of an input, with the device destroyed: every buffer is back, exactly once.
inline void check_pool_complete(BufferPool& pool) {
  FUZZ_CHECK(pool.available() == pool.count());
  std::set<PacketBuffer*> distinct;
  while (PacketBuffer* b = pool.acquire()) FUZZ_CHECK(distinct.insert(b).second);
  FUZZ_CHECK(distinct.size() == pool.count());
  for (PacketBuffer* b : distinct) pool.release(b);
}

// An inner packet for B's side of the tunnel: IPv4/UDP 10.0.0.1 -> 10.0.0.2, or IPv6/UDP
// fd00::1 -> fd00::2, with `payload` bytes of payload. Returns the packet length.
inline size_t build_inner_packet(uint8_t* p, bool v6, size_t payload, bool from_b) {
  const size_t header = v6 ? 40 : 20;
  const size_t len = header + 8 + payload;
  std::memset(p, 0, len);
  uint8_t a[16] = {}, b[16] = {};
  if (v6) {
    a[0] = b[0] = 0xfd;
    a[15] = 1;
    b[15] = 2;
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>((len - 40) >> 8);
    p[5] = static_cast<uint8_t>(len - 40);
    p[6] = 17;
    p[7] = 64;
    std::memcpy(p + 8, from_b ? b : a, 16);
    std::memcpy(p + 24, from_b ? a : b, 16);
  } else {
    a[0] = b[0] = 10;
    a[3] = 1;
    b[3] = 2;
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(len >> 8);
    p[3] = static_cast<uint8_t>(len);
    p[8] = 64;
    p[9] = 17;
    std::memcpy(p + 12, from_b ? b : a, 4);
    std::memcpy(p + 16, from_b ? a : b, 4);
  }
  p[header + 1] = 53;  // ports 53 -> 53
  p[header + 3] = 53;
  p[header + 4] = static_cast<uint8_t>((len - header) >> 8);
  p[header + 5] = static_cast<uint8_t>(len - header);
  return len;
}

// The peer B, played with the crypto layer.
class HarnessPeer {
 public:
  explicit HarnessPeer(uint8_t config) {
    const Identities& ids = identities();
    if (config & kPresharedKey) psk_ = ids.psk;
    maker_.init(ids.a.public_key);    // B's macs on messages to A
    checker_.init(ids.b.public_key);  // B's cookie replies to A's handshake messages
  }

  struct Session {
    crypto::Key sending{};
    crypto::Key receiving{};
    uint32_t local_index = 0;   // B's index: A writes it into transport headers to B
    uint32_t remote_index = 0;  // A's index: B writes it into its transport headers
    uint64_t next_counter = 0;
  };
  const std::optional<Session>& session() const { return session_; }
  Session* mutable_session() { return session_ ? &*session_ : nullptr; }

  // A new initiation from B (mac1/mac2 filled unless `macs` is false: the caller mutates
  // first and then calls fix_macs). Remembered so that A's response can be consumed.
  std::array<uint8_t, crypto::kHandshakeInitiationSize> initiation(uint32_t index, int64_t wall_ns) {
    const Identities& ids = identities();
    std::array<uint8_t, crypto::kHandshakeInitiationSize> msg{};
    crypto::InitiatorHandshake st;
    if (crypto::create_initiation(ids.b, ids.a.public_key, ids.b_static_static, psk_, index,
                                  crypto::tai64n_from_unix_ns(wall_ns), st, msg)) {
      pending_ = st;
    }
    return msg;
  }

  // A response from B to A's last initiation; nullopt if A has sent none. Sets B's session
  // as if A will accept it.
  std::optional<std::array<uint8_t, crypto::kHandshakeResponseSize>> response(uint32_t index) {
    if (!a_initiation_) return std::nullopt;
    const Identities& ids = identities();
    auto st = crypto::decrypt_initiation_static(ids.b, *a_initiation_);
    if (!st || !crypto::decrypt_initiation_timestamp(*st, ids.b_static_static, *a_initiation_)) return std::nullopt;
    std::array<uint8_t, crypto::kHandshakeResponseSize> msg{};
    const uint32_t a_index = st->remote_index;
    auto keys = crypto::create_response(*st, psk_, index, msg);
    if (!keys) return std::nullopt;
    session_ = Session{keys->sending, keys->receiving, index, a_index, 0};
    return msg;
  }

  // A cookie reply from B to A's last handshake message; nullopt if there is none.
  std::optional<std::array<uint8_t, crypto::kCookieReplySize>> cookie_reply(int64_t now_ns) {
    if (a_last_handshake_.empty()) return std::nullopt;
    std::array<uint8_t, crypto::kCookieReplySize> msg{};
    const uint8_t source[6] = {192, 0, 2, 1, 0xca, 0x6c};  // A as B sees it
    checker_.create_reply(a_last_handshake_, crypto::sender_index_of(a_last_handshake_), source, now_ns, msg);
    return msg;
  }

  void fix_macs(std::span<uint8_t> msg, int64_t now_ns) { maker_.add_macs(msg, now_ns); }

  // Seals `plaintext` as B's next transport message into `out` (which must have room for
  // 16 + padded + 16 bytes); returns the datagram length. Without a session the keys and
  // index are zero, which A rejects.
  size_t seal(std::span<const uint8_t> plaintext, std::optional<uint64_t> counter, uint8_t* out) {
    Session none;
    Session& s = session_ ? *session_ : none;
    const uint64_t c = counter ? *counter : s.next_counter++;
    if (!plaintext.empty()) std::memcpy(out + crypto::kTransportHeaderSize, plaintext.data(), plaintext.size());
    return crypto::seal_transport(s.sending, s.remote_index, c, out, plaintext.size());
  }

  // Everything A sends is seen here before the buffer goes back to the pool.
  void observe(std::span<const uint8_t> msg, int64_t now_ns) {
    auto type = crypto::classify_message(msg);
    if (!type) return;
    switch (*type) {
      case crypto::MessageType::HandshakeInitiation:
        a_initiation_.emplace();
        std::copy(msg.begin(), msg.end(), a_initiation_->begin());
        a_last_handshake_.assign(msg.begin(), msg.end());
        break;
      case crypto::MessageType::HandshakeResponse: {
        a_last_handshake_.assign(msg.begin(), msg.end());
        if (!pending_) break;
        std::span<const uint8_t, crypto::kHandshakeResponseSize> r(msg.data(), msg.size());
        if (auto keys = crypto::consume_response(*pending_, identities().b, psk_, r)) {
          session_ = Session{keys->sending, keys->receiving, pending_->local_index, crypto::sender_index_of(msg), 0};
          pending_.reset();
        }
        break;
      }
      case crypto::MessageType::CookieReply: {
        std::span<const uint8_t, crypto::kCookieReplySize> r(msg.data(), msg.size());
        (void)maker_.consume_reply(r, now_ns);
        break;
      }
      case crypto::MessageType::TransportData:
        break;
    }
  }

 private:
  crypto::Key psk_{};
  crypto::CookieMaker maker_;
  crypto::CookieChecker checker_;
  std::optional<crypto::InitiatorHandshake> pending_;
  std::optional<std::array<uint8_t, crypto::kHandshakeInitiationSize>> a_initiation_;
  std::vector<uint8_t> a_last_handshake_;
  std::optional<Session> session_;
};

// The device under test, its pool and clock, and B. Construction applies the config and, if
// asked, runs a real handshake so that B holds a confirmed session with A.
struct Rig {
  explicit Rig(uint8_t config_byte)
      : config(config_byte), pool(kPoolBuffers, kBufferCapacity), b(config_byte) {
    device.emplace(device_options(config_byte), pool);
    now = Now{kStartMonoNs, kStartWallNs};
    device->apply(device_change(config), now, out);
    drain();
    if (config & kEstablishSession) establish_session();
  }

  // Hands one datagram from B (at `source`) to A: in its own batch of one.
  void deliver(std::span<const uint8_t> bytes, const Endpoint& source) {
    PacketBuffer* buf = pool.acquire();
    if (buf == nullptr) return;
    buf->reset_for_outer();
    std::memcpy(buf->data(), bytes.data(), bytes.size());
    buf->set_size(bytes.size());
    InboundDatagram d{source, buf};
    device->handle_outer({&d, 1}, now, out);
    drain();
  }

  void establish_session() {
    // A answers; drain() lets B consume the response. Under load A answers the first with a
    // cookie reply instead, and B's second initiation carries mac2.
    for (int attempt = 0; attempt < 2 && !b.session(); ++attempt) {
      auto init = b.initiation(0xb0b, now.wall_ns);
      b.fix_macs(init, now.mono_ns);
      deliver(init, source_endpoint(0));
      now.mono_ns += millis(1);
      now.wall_ns += millis(1);
    }
    uint8_t keepalive[crypto::kMinTransportSize];
    const size_t n = b.seal({}, std::nullopt, keepalive);
    deliver({keepalive, n}, source_endpoint(0));  // confirms A's `next` keypair
  }

  // Checks and returns every buffer of `out`; `on_datagram` sees each datagram first.
  template <typename F>
  void drain(F&& on_datagram) {
    std::set<const PacketBuffer*> seen;
    for (const OutboundDatagram& d : out.datagrams) {
      check_buffer(d.buffer, seen);
      std::span<const uint8_t> msg(d.buffer->data(), d.buffer->size());
      FUZZ_CHECK(crypto::classify_message(msg).has_value());  // A only sends WireGuard messages
      b.observe(msg, now.mono_ns);
      on_datagram(d);
    }
    for (PacketBuffer* p : out.inner) {
      check_buffer(p, seen);
      // Delivered packets are whole IP packets from an address routed to B.
      auto info = parse_ip_packet({p->data(), p->size()});
      FUZZ_CHECK(info && info->total_length == p->size());
      static const IpPrefix b_v4{ip("10.0.0.0"), 24}, b_v6{ip("fd00::"), 64};
      FUZZ_CHECK(b_v4.contains(info->source) || b_v6.contains(info->source));
    }
    for (const OutboundDatagram& d : out.datagrams) pool.release(d.buffer);
    for (PacketBuffer* p : out.inner) pool.release(p);
    out.clear();
  }
  void drain() {
    drain([](const OutboundDatagram&) {});
  }

  // Moves the clock forward, running every timer when it falls due, as an event loop would.
  template <typename F>
  void advance(int64_t delta_ns, F&& on_datagram) {
    const int64_t target = std::min(now.mono_ns + delta_ns, kStartMonoNs + kMaxSimulatedNs);
    for (;;) {
      const int64_t deadline = device->next_deadline();
      if (deadline > target) break;
      if (deadline > now.mono_ns) {
        now.wall_ns += deadline - now.mono_ns;
        now.mono_ns = deadline;
      }
      device->handle_timers(now, out);
      drain(on_datagram);
      // Otherwise an event loop would spin: every due timer must have moved on.
      FUZZ_CHECK(device->next_deadline() > now.mono_ns);
    }
    if (target > now.mono_ns) {
      now.wall_ns += target - now.mono_ns;
      now.mono_ns = target;
    }
  }

  // Destroys the device (which returns its staged packets) and checks that every buffer is
  // back in the pool exactly once.
  void finish() {
    FUZZ_CHECK(out.datagrams.empty() && out.inner.empty());
    if (verbose()) print_counters();
    device.reset();
    check_pool_complete(pool);
  }

  // SLUICE_FUZZ_VERBOSE=1: what each input made the device do, for checking that a seed
  // reaches what it was written for (run the target on the seed file).
  static bool verbose() {
    static const bool on = std::getenv("SLUICE_FUZZ_VERBOSE") != nullptr;
    return on;
  }
  void print_counters() const {
    const DeviceCounters& c = device->counters();
    std::fprintf(stderr,
                 "device: datagrams in %llu out %llu, inner in %llu out %llu, initiations %llu, responses %llu, "
                 "cookie replies %llu, handshakes %llu, keepalives sent %llu received %llu, B session %s, "
                 "opened by B %llu\n",
                 ull(c.datagrams_in), ull(c.datagrams_out), ull(c.inner_packets_in), ull(c.inner_packets_out),
                 ull(c.handshake_initiations_sent), ull(c.handshake_responses_sent), ull(c.cookie_replies_sent),
                 ull(c.handshakes_completed), ull(c.keepalives_sent), ull(c.keepalives_received),
                 b.session() ? "yes" : "no", ull(opened_by_b));
    for (size_t r = 0; r < static_cast<size_t>(DropReason::Count); ++r)
      if (c.drops[r])
        std::fprintf(stderr, "  dropped %s: %llu\n", std::string(drop_reason_name(static_cast<DropReason>(r))).c_str(),
                     ull(c.drops[r]));
  }
  static unsigned long long ull(uint64_t v) { return v; }

  uint8_t config;
  uint64_t opened_by_b = 0;  // transport messages from A that B checked (fuzz_device_inner)
  BufferPool pool;
  std::optional<Device> device;  // optional only so finish() can destroy it before the pool
  HarnessPeer b;
  Now now;
  DeviceOutput out;
};

// --- fuzz_device_outer's input format -------------------------------------------------------
// byte 0: config (ConfigFlags). Then records, each starting with an op byte:
//   bits 0-2  OuterOp
//   bits 3-4  source of the datagram (source_endpoint)
//   bit  5    handshake ops: leave mac1/mac2 as mutated (default: recompute them after mutating)
//             Transport: take the counter from the record (u64) instead of B's next counter
//   bit  6    Initiation: timestamp 10 s in the past (a replay of an older one)
//             Transport: fix up the plaintext's IP header so it is delivered (source in B's range)
// Mutations (handshake and transport ops, after sealing): u8 count (mod 5), then count pairs of
// u8 offset (mod message size) and u8 xor mask.
enum class OuterOp : uint8_t {
  Raw = 0,          // u16 length, bytes: any datagram
  Initiation = 1,   // u8 sender index (+0x100), mutations
  Response = 2,     // u8 sender index (+0x200), mutations: answers A's last initiation
  CookieReply = 3,  // mutations: answers A's last handshake message
  Transport = 4,    // [u64 counter], u16 plaintext length, bytes, mutations
  Time = 5,         // u8 amount, unit from bits 3-4 (1 ms, 100 ms, 1 s, 10 s); runs timers.
                    // At most kMaxSimulatedNs per input in all.
  Inner = 6,        // u8 payload length, bit 3: IPv6. A sends a packet to B (handle_inner)
  Flush = 7,        // hands the pending batch of datagrams to A
};

inline uint8_t outer_op(OuterOp op, unsigned source = 0, uint8_t flags = 0) {
  return static_cast<uint8_t>(static_cast<uint8_t>(op) | (source & 3) << 3 | flags);
}
inline constexpr uint8_t kOpRawMacs = 0x20;
inline constexpr uint8_t kOpExplicitCounter = 0x20;
inline constexpr uint8_t kOpOldTimestamp = 0x40;
inline constexpr uint8_t kOpFixIp = 0x40;

// The largest plaintext B seals: it and its padding and tag must fit a pool buffer.
inline constexpr size_t kMaxSealedPlaintext = kBufferCapacity - crypto::kTransportHeaderSize - crypto::kAuthTagSize -
                                              crypto::kTransportPaddingMultiple;

}  // namespace sluice::fuzz
