// WireGuard's four message formats: sizes, field offsets and classification. All multi-byte
// fields are little-endian. Fields are read and written at explicit offsets, never by
// casting a packed struct over the bytes.
//
//   HandshakeInitiation (148)  type|0 0 0|sender(4)|ephemeral(32)|static(32+16)|timestamp(12+16)|mac1|mac2
//   HandshakeResponse    (92)  type|0 0 0|sender(4)|receiver(4)|ephemeral(32)|empty(0+16)|mac1|mac2
//   CookieReply          (64)  type|0 0 0|receiver(4)|nonce(24)|cookie(16+16)
//   TransportData      (>=32)  type|0 0 0|receiver(4)|counter(8)|packet(n+16)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace sluice::crypto {

enum class MessageType : uint8_t {
  HandshakeInitiation = 1,
  HandshakeResponse = 2,
  CookieReply = 3,
  TransportData = 4,
};

inline constexpr size_t kAuthTagSize = 16;
inline constexpr size_t kMacSize = 16;
inline constexpr size_t kCookieSize = 16;
inline constexpr size_t kCookieNonceSize = 24;

inline constexpr size_t kHandshakeInitiationSize = 148;
inline constexpr size_t kInitiationSenderOffset = 4;
inline constexpr size_t kInitiationEphemeralOffset = 8;
inline constexpr size_t kInitiationStaticOffset = 40;
inline constexpr size_t kInitiationTimestampOffset = 88;
inline constexpr size_t kInitiationMac1Offset = 116;
inline constexpr size_t kInitiationMac2Offset = 132;

inline constexpr size_t kHandshakeResponseSize = 92;
inline constexpr size_t kResponseSenderOffset = 4;
inline constexpr size_t kResponseReceiverOffset = 8;
inline constexpr size_t kResponseEphemeralOffset = 12;
inline constexpr size_t kResponseEmptyOffset = 44;
inline constexpr size_t kResponseMac1Offset = 60;
inline constexpr size_t kResponseMac2Offset = 76;

inline constexpr size_t kCookieReplySize = 64;
inline constexpr size_t kCookieReplyReceiverOffset = 4;
inline constexpr size_t kCookieReplyNonceOffset = 8;
inline constexpr size_t kCookieReplyCookieOffset = 32;

inline constexpr size_t kTransportHeaderSize = 16;
inline constexpr size_t kTransportReceiverOffset = 4;
inline constexpr size_t kTransportCounterOffset = 8;
inline constexpr size_t kMinTransportSize = kTransportHeaderSize + kAuthTagSize;  // a keepalive

// The type byte is 1..4, the three reserved bytes are zero, the size is exact for handshake
// and cookie messages and at least kMinTransportSize for transport data. Else nullopt.
std::optional<MessageType> classify_message(std::span<const uint8_t> datagram);

// Raw little-endian access; `p` must point at 4 or 8 readable/writable bytes.
uint32_t read_le32(const uint8_t* p);
void write_le32(uint8_t* p, uint32_t v);
uint64_t read_le64(const uint8_t* p);
void write_le64(uint8_t* p, uint64_t v);

// The index the sender chose for us (response, cookie reply, transport). 0 for anything else
// or anything too short; call after classify_message.
uint32_t receiver_index_of(std::span<const uint8_t> msg);
// The sender's own index (initiation, response). 0 for anything else or too short.
uint32_t sender_index_of(std::span<const uint8_t> msg);

}  // namespace sluice::crypto
