// Device-wide counters: every packet the device drops is counted under a reason.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sluice {

enum class DropReason : uint8_t {
  InvalidInnerPacket,   // not a well-formed IPv4/IPv6 packet
  NoRouteToPeer,        // destination matches no peer's AllowedIPs
  NoEndpoint,           // peer has no endpoint to send to
  StagedQueueFull,      // waiting for a handshake and the peer's queue was full
  HandshakeTimeout,     // staged packets purged after REKEY_ATTEMPT_TIME without a session
  InvalidMessage,       // not a WireGuard message (type, reserved bytes, size)
  BadMac1,
  CookieRequired,       // under load without a valid mac2: a cookie reply was sent instead
  RateLimited,          // under load and over the per-source handshake rate
  HandshakeFailed,      // decryption or key agreement of a handshake message failed
  UnknownPeer,          // initiation from a static key we do not know
  ReplayedHandshake,    // TAI64N timestamp not newer than the last one
  HandshakeFlood,       // initiations from one peer faster than allowed
  UnknownReceiverIndex,
  KeypairExpired,       // REJECT_AFTER_TIME or REJECT_AFTER_MESSAGES reached
  DecryptionFailed,     // transport data failed authentication
  ReplayedCounter,
  SourceNotAllowed,     // decrypted packet's source is outside the peer's AllowedIPs
  InvalidDecrypted,     // decrypted packet is not a well-formed IP packet
  NoPrivateKey,
  BufferPoolEmpty,
  Count
};

std::string_view drop_reason_name(DropReason r);

struct DeviceCounters {
  uint64_t inner_packets_in = 0;     // from the TUN
  uint64_t inner_packets_out = 0;    // to the TUN
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t handshake_initiations_sent = 0;
  uint64_t handshake_responses_sent = 0;
  uint64_t cookie_replies_sent = 0;
  uint64_t handshakes_completed = 0;
  uint64_t keepalives_sent = 0;
  uint64_t keepalives_received = 0;
  std::array<uint64_t, static_cast<size_t>(DropReason::Count)> drops{};

  void drop(DropReason r) { ++drops[static_cast<size_t>(r)]; }
  uint64_t dropped(DropReason r) const { return drops[static_cast<size_t>(r)]; }
};

}  // namespace sluice
