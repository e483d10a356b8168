#include "crypto/messages.h"

namespace sluice::crypto {

std::optional<MessageType> classify_message(std::span<const uint8_t> datagram) {
  if (datagram.size() < 4 || datagram[1] != 0 || datagram[2] != 0 || datagram[3] != 0) return std::nullopt;
  const size_t size = datagram.size();
  switch (datagram[0]) {
    case 1:
      if (size == kHandshakeInitiationSize) return MessageType::HandshakeInitiation;
      break;
    case 2:
      if (size == kHandshakeResponseSize) return MessageType::HandshakeResponse;
      break;
    case 3:
      if (size == kCookieReplySize) return MessageType::CookieReply;
      break;
    case 4:
      if (size >= kMinTransportSize) return MessageType::TransportData;
      break;
    default:
      break;
  }
  return std::nullopt;
}

uint32_t read_le32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

void write_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t read_le64(const uint8_t* p) { return uint64_t{read_le32(p)} | uint64_t{read_le32(p + 4)} << 32; }

void write_le64(uint8_t* p, uint64_t v) {
  write_le32(p, static_cast<uint32_t>(v));
  write_le32(p + 4, static_cast<uint32_t>(v >> 32));
}

namespace {

uint32_t le32_at(std::span<const uint8_t> msg, size_t offset) {
  return msg.size() >= offset + 4 ? read_le32(msg.data() + offset) : 0;
}

}  // namespace

uint32_t receiver_index_of(std::span<const uint8_t> msg) {
  if (msg.empty()) return 0;
  switch (msg[0]) {
    case static_cast<uint8_t>(MessageType::HandshakeResponse):
      return le32_at(msg, kResponseReceiverOffset);
    case static_cast<uint8_t>(MessageType::CookieReply):
      return le32_at(msg, kCookieReplyReceiverOffset);
    case static_cast<uint8_t>(MessageType::TransportData):
      return le32_at(msg, kTransportReceiverOffset);
    default:
      return 0;
  }
}

uint32_t sender_index_of(std::span<const uint8_t> msg) {
  if (msg.empty()) return 0;
  switch (msg[0]) {
    case static_cast<uint8_t>(MessageType::HandshakeInitiation):
      return le32_at(msg, kInitiationSenderOffset);
    case static_cast<uint8_t>(MessageType::HandshakeResponse):
      return le32_at(msg, kResponseSenderOffset);
    default:
      return 0;
  }
}

}  // namespace sluice::crypto
