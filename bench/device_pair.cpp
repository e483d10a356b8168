#include "bench/device_pair.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "crypto/keys.h"
#include "crypto/x25519.h"

namespace sluice::bench {

namespace {

// Documentation addresses (RFC 5737) outside, a private /24 inside: nothing here is ever sent.
constexpr const char* kOuterA = "192.0.2.1:51820";
constexpr const char* kOuterB = "192.0.2.2:51820";
constexpr const char* kInnerA = "10.99.0.1";
constexpr const char* kInnerB = "10.99.0.2";
constexpr size_t kMinIpLength = 20 + 8;  // IPv4 + UDP headers, no payload

DeviceOptions options_for(const char* log_prefix, CryptoExecutor* executor) {
  DeviceOptions o;
  o.log_prefix = log_prefix;
  o.crypto_executor = executor;
  return o;
}

uint16_t ipv4_header_checksum(const uint8_t* header) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (header[i] << 8) | header[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

DevicePair::DevicePair(size_t pool_buffers, CryptoExecutor* executor)
    : pool_(pool_buffers, kBufferCapacity),
      a_(options_for("bench a: ", executor), pool_),
      b_(options_for("bench b: ", executor), pool_),
      a_endpoint_(*Endpoint::parse(kOuterA)),
      b_endpoint_(*Endpoint::parse(kOuterB)),
      a_inner_(*IpAddress::parse(kInnerA)),
      b_inner_(*IpAddress::parse(kInnerB)),
      // The clock stands still at the handshake's time: no timer falls due while measuring, so
      // only the per-packet path is timed, and no run is long enough to reach a rekey.
      now_{kNanosPerSecond, int64_t{1'700'000'000} * kNanosPerSecond} {
  crypto::PrivateKey key_a = crypto::generate_private_key();
  crypto::PrivateKey key_b = crypto::generate_private_key();
  const crypto::PublicKey pub_a = crypto::public_key_of(key_a);
  const crypto::PublicKey pub_b = crypto::public_key_of(key_b);

  DeviceChange config_a;
  config_a.private_key = key_a;
  config_a.listen_port = a_endpoint_.port;
  PeerChange peer_b;
  peer_b.public_key = pub_b;
  peer_b.endpoint = b_endpoint_;
  peer_b.allowed_ips.push_back(IpPrefix{b_inner_, 32});
  config_a.peers.push_back(peer_b);
  a_.apply(config_a, now_, out_a_);

  DeviceChange config_b;
  config_b.private_key = key_b;
  config_b.listen_port = b_endpoint_.port;
  PeerChange peer_a;
  peer_a.public_key = pub_a;
  peer_a.allowed_ips.push_back(IpPrefix{a_inner_, 32});
  config_b.peers.push_back(peer_a);
  b_.apply(config_b, now_, out_b_);
  crypto::wipe(key_a);
  crypto::wipe(key_b);

  // The first packet waits in a's staged queue while initiation, response and the packet
  // itself (b's confirmation) cross: afterwards both sides hold a confirmed current keypair.
  PacketBuffer* first = pool_.acquire();
  if (first == nullptr) throw std::runtime_error("bench pair: buffer pool is empty");
  build_packet(*first, 64);
  std::vector<PacketBuffer*> batch{first};
  const size_t delivered = round_trip(batch);
  for (PacketBuffer* p : batch) pool_.release(p);
  auto session_a = a_.peer_session(pub_b, now_.mono_ns);
  auto session_b = b_.peer_session(pub_a, now_.mono_ns);
  if (delivered != 1 || !session_a || !session_a->can_send || !session_b || !session_b->current)
    throw std::runtime_error("bench pair: the in-memory handshake did not complete (delivered " +
                             std::to_string(delivered) + " of 1 packets)");
}

void DevicePair::build_packet(PacketBuffer& buffer, size_t ip_length) const {
  if (ip_length < kMinIpLength || ip_length > 1420 ||
      buffer.room() < ip_length + PacketBuffer::kTailroom)
    throw std::invalid_argument("bench pair: inner packet length " + std::to_string(ip_length) +
                                " is outside 28..1420 or the buffer");
  uint8_t* p = buffer.data();
  std::memset(p, 0, 28);
  p[0] = 0x45;  // IPv4, 20-byte header
  p[2] = static_cast<uint8_t>(ip_length >> 8);
  p[3] = static_cast<uint8_t>(ip_length);
  p[8] = 64;  // TTL
  p[9] = 17;  // UDP
  std::memcpy(p + 12, a_inner_.bytes.data(), 4);
  std::memcpy(p + 16, b_inner_.bytes.data(), 4);
  const uint16_t checksum = ipv4_header_checksum(p);
  p[10] = static_cast<uint8_t>(checksum >> 8);
  p[11] = static_cast<uint8_t>(checksum);
  p[20] = 0x13;  // ports 5001 -> 5001; a zero UDP checksum means "none" over IPv4
  p[21] = 0x89;
  p[22] = 0x13;
  p[23] = 0x89;
  p[24] = static_cast<uint8_t>((ip_length - 20) >> 8);
  p[25] = static_cast<uint8_t>(ip_length - 20);
  for (size_t i = kMinIpLength; i < ip_length; ++i) p[i] = static_cast<uint8_t>(i * 131);
  buffer.set_size(ip_length);
}

size_t DevicePair::round_trip(std::vector<PacketBuffer*>& batch) {
  a_.handle_inner(batch, now_, out_a_);
  batch.clear();
  // Datagrams bounce until neither side has anything left to say; the data path needs one leg,
  // a handshake three. The cap only guards against two devices that never stop answering.
  constexpr int kMaxRounds = 8;
  for (int round = 0; round < kMaxRounds && (!out_a_.datagrams.empty() || !out_b_.datagrams.empty()); ++round) {
    carry(out_a_, a_endpoint_, b_, out_b_, batch);
    carry(out_b_, b_endpoint_, a_, out_a_, stray_);
  }
  for (DeviceOutput* out : {&out_a_, &out_b_})
    for (const OutboundDatagram& d : out->datagrams) pool_.release(d.buffer);
  out_a_.datagrams.clear();
  out_b_.datagrams.clear();
  for (PacketBuffer* p : stray_) pool_.release(p);
  stray_.clear();
  return batch.size();
}

void DevicePair::carry(DeviceOutput& from_out, const Endpoint& from, Device& to, DeviceOutput& to_out,
                       std::vector<PacketBuffer*>& delivered) {
  if (from_out.datagrams.empty()) return;
  in_flight_.clear();
  for (const OutboundDatagram& d : from_out.datagrams) in_flight_.push_back(InboundDatagram{from, d.buffer});
  from_out.datagrams.clear();
  to.handle_outer(in_flight_, now_, to_out);
  delivered.insert(delivered.end(), to_out.inner.begin(), to_out.inner.end());
  to_out.inner.clear();
}

}  // namespace sluice::bench
