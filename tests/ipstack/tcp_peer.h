// The far end of one TCP connection with the embedded stack, played in memory: builds the
// IPv4/IPv6 + TCP packets a real host would send (checksums included) and reads the segments
// the stack sends back, tracking sequence numbers. Header-only, shared by tests/ipstack and
// fuzz/fuzz_lwip_input.cpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "tunnel/inet_checksum.h"
#include "tunnel/ip_address.h"
#include "tunnel/ip_packet.h"

namespace sluice::test {

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;

struct TcpSegment {
  IpAddress source, destination;
  uint16_t source_port = 0, destination_port = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  std::vector<uint8_t> payload;
};

// Reads a TCP segment out of a whole IP packet (no IPv6 extension headers); nothing for
// anything else. Checks nothing beyond lengths: see transport_checksum_valid() for that.
inline std::optional<TcpSegment> parse_tcp_segment(std::span<const uint8_t> packet) {
  const auto ip = parse_ip_packet(packet);
  if (!ip || ip->protocol != kIpProtocolTcp) return std::nullopt;
  const size_t at = ip->header_length;
  if (ip->total_length < at + 20) return std::nullopt;
  const uint8_t* t = packet.data() + at;
  const size_t data_offset = static_cast<size_t>(t[12] >> 4) * 4;
  if (data_offset < 20 || at + data_offset > ip->total_length) return std::nullopt;
  TcpSegment s;
  s.source = ip->source;
  s.destination = ip->destination;
  s.source_port = static_cast<uint16_t>(t[0] << 8 | t[1]);
  s.destination_port = static_cast<uint16_t>(t[2] << 8 | t[3]);
  s.seq = uint32_t{t[4]} << 24 | uint32_t{t[5]} << 16 | uint32_t{t[6]} << 8 | t[7];
  s.ack = uint32_t{t[8]} << 24 | uint32_t{t[9]} << 16 | uint32_t{t[10]} << 8 | t[11];
  s.flags = t[13];
  s.window = static_cast<uint16_t>(t[14] << 8 | t[15]);
  s.payload.assign(packet.begin() + static_cast<long>(at + data_offset),
                   packet.begin() + static_cast<long>(ip->total_length));
  return s;
}

// An IPv4 or IPv6 packet (by the addresses' family) carrying one TCP segment with valid
// checksums. A SYN carries an MSS option of `mss` when it is not zero.
inline std::vector<uint8_t> build_tcp_packet(const IpAddress& source, uint16_t source_port,
                                             const IpAddress& destination,
                                             uint16_t destination_port, uint32_t seq, uint32_t ack,
                                             uint8_t flags, std::span<const uint8_t> payload,
                                             uint16_t window = 65535, uint16_t mss = 0) {
  const bool v4 = source.family == IpFamily::v4;
  const size_t ip_header = v4 ? 20 : 40;
  const size_t options = (flags & kTcpSyn) && mss != 0 ? 4 : 0;
  const size_t tcp_header = 20 + options;
  const size_t total = ip_header + tcp_header + payload.size();
  std::vector<uint8_t> p(total, 0);
  if (v4) {
    p[0] = 0x45;
    p[2] = static_cast<uint8_t>(total >> 8);
    p[3] = static_cast<uint8_t>(total);
    p[6] = 0x40;  // don't fragment
    p[8] = 64;
    p[9] = kIpProtocolTcp;
    std::memcpy(&p[12], source.bytes.data(), 4);
    std::memcpy(&p[16], destination.bytes.data(), 4);
  } else {
    const size_t payload_length = total - 40;
    p[0] = 0x60;
    p[4] = static_cast<uint8_t>(payload_length >> 8);
    p[5] = static_cast<uint8_t>(payload_length);
    p[6] = kIpProtocolTcp;
    p[7] = 64;
    std::memcpy(&p[8], source.bytes.data(), 16);
    std::memcpy(&p[24], destination.bytes.data(), 16);
  }
  uint8_t* t = &p[ip_header];
  t[0] = static_cast<uint8_t>(source_port >> 8);
  t[1] = static_cast<uint8_t>(source_port);
  t[2] = static_cast<uint8_t>(destination_port >> 8);
  t[3] = static_cast<uint8_t>(destination_port);
  for (int i = 0; i < 4; ++i) {
    t[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
    t[8 + i] = static_cast<uint8_t>(ack >> (24 - 8 * i));
  }
  t[12] = static_cast<uint8_t>((tcp_header / 4) << 4);
  t[13] = flags;
  t[14] = static_cast<uint8_t>(window >> 8);
  t[15] = static_cast<uint8_t>(window);
  if (options != 0) {
    t[20] = 2;  // MSS
    t[21] = 4;
    t[22] = static_cast<uint8_t>(mss >> 8);
    t[23] = static_cast<uint8_t>(mss);
  }
  if (!payload.empty()) std::memcpy(t + tcp_header, payload.data(), payload.size());
  if (v4) fill_ipv4_header_checksum(p);
  fill_transport_checksum(p);
  return p;
}

// One connection's far end. `local` is this peer, `remote` the stack.
class TcpPeer {
 public:
  TcpPeer(const IpAddress& local, uint16_t local_port, const IpAddress& remote,
          uint16_t remote_port, uint32_t initial_seq = 1000)
      : local_(local), remote_(remote), local_port_(local_port), remote_port_(remote_port),
        snd_nxt_(initial_seq) {}

  // True when `s` belongs to this connection (from the stack to us).
  bool owns(const TcpSegment& s) const {
    return s.source == remote_ && s.destination == local_ && s.source_port == remote_port_ &&
           s.destination_port == local_port_;
  }

  // Learns from a segment the stack sent: its SYN's sequence number, data, FIN, RST.
  void take(const TcpSegment& s) {
    if (s.flags & kTcpRst) {
      reset_ = true;
      return;
    }
    if (s.flags & kTcpSyn) {
      rcv_nxt_ = s.seq + 1;
      established_ = true;
    }
    if (!s.payload.empty() && s.seq == rcv_nxt_) {
      received_.insert(received_.end(), s.payload.begin(), s.payload.end());
      rcv_nxt_ += static_cast<uint32_t>(s.payload.size());
    }
    if ((s.flags & kTcpFin) && s.seq + s.payload.size() == rcv_nxt_) {
      rcv_nxt_ += 1;
      fin_received_ = true;
    }
    if (s.flags & kTcpAck) acked_ = s.ack;
  }

  std::vector<uint8_t> syn(uint16_t mss = 1360) {
    auto p = segment(kTcpSyn, {}, 0, mss);
    snd_nxt_ += 1;
    return p;
  }
  // The answer to the stack's SYN (when the stack connects to us).
  std::vector<uint8_t> syn_ack(uint16_t mss = 1360) {
    auto p = segment(kTcpSyn | kTcpAck, {}, rcv_nxt_, mss);
    snd_nxt_ += 1;
    return p;
  }
  std::vector<uint8_t> ack() { return segment(kTcpAck, {}, rcv_nxt_); }
  std::vector<uint8_t> data(std::span<const uint8_t> bytes) {
    auto p = segment(kTcpAck | kTcpPsh, bytes, rcv_nxt_);
    snd_nxt_ += static_cast<uint32_t>(bytes.size());
    return p;
  }
  std::vector<uint8_t> fin() {
    auto p = segment(kTcpFin | kTcpAck, {}, rcv_nxt_);
    snd_nxt_ += 1;
    return p;
  }
  std::vector<uint8_t> rst() { return segment(kTcpRst | kTcpAck, {}, rcv_nxt_); }
  // Any segment, sequence and acknowledgment numbers off by the deltas (for fuzzing). With a
  // zero sequence delta the segment counts as sent: the next one follows it.
  std::vector<uint8_t> custom(uint8_t flags, std::span<const uint8_t> payload, int32_t seq_delta,
                              int32_t ack_delta, uint16_t window) {
    auto p = build_tcp_packet(local_, local_port_, remote_, remote_port_,
                              snd_nxt_ + static_cast<uint32_t>(seq_delta),
                              rcv_nxt_ + static_cast<uint32_t>(ack_delta), flags, payload, window,
                              (flags & kTcpSyn) ? 1360 : 0);
    if (seq_delta == 0) {
      snd_nxt_ += static_cast<uint32_t>(payload.size()) + ((flags & kTcpSyn) ? 1 : 0) +
                  ((flags & kTcpFin) ? 1 : 0);
    }
    return p;
  }

  bool established() const { return established_; }
  bool reset() const { return reset_; }
  bool fin_received() const { return fin_received_; }
  uint32_t snd_nxt() const { return snd_nxt_; }
  uint32_t acked() const { return acked_; }
  std::vector<uint8_t>& received() { return received_; }

 private:
  std::vector<uint8_t> segment(uint8_t flags, std::span<const uint8_t> payload, uint32_t ack,
                               uint16_t mss = 0) {
    return build_tcp_packet(local_, local_port_, remote_, remote_port_, snd_nxt_, ack, flags,
                            payload, 65535, mss);
  }

  IpAddress local_, remote_;
  uint16_t local_port_, remote_port_;
  uint32_t snd_nxt_;
  uint32_t rcv_nxt_ = 0;
  uint32_t acked_ = 0;
  bool established_ = false, reset_ = false, fin_received_ = false;
  std::vector<uint8_t> received_;
};

// `message` with its two-byte DNS-over-TCP length prefix.
inline std::vector<uint8_t> dns_tcp_frame(std::span<const uint8_t> message) {
  std::vector<uint8_t> out(2 + message.size());
  out[0] = static_cast<uint8_t>(message.size() >> 8);
  out[1] = static_cast<uint8_t>(message.size());
  if (!message.empty()) std::memcpy(out.data() + 2, message.data(), message.size());
  return out;
}

}  // namespace sluice::test
