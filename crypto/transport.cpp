#include "crypto/transport.h"

#include <algorithm>
#include <span>

#include "crypto/aead.h"

namespace sluice::crypto {

size_t padded_length(size_t plaintext_len) {
  return (plaintext_len + kTransportPaddingMultiple - 1) / kTransportPaddingMultiple * kTransportPaddingMultiple;
}

size_t padded_length(size_t plaintext_len, size_t mtu) {
  const size_t padded = padded_length(plaintext_len);
  if (mtu == 0 || padded <= mtu) return padded;
  return plaintext_len > mtu ? plaintext_len : mtu;
}

size_t seal_transport(const Key& key, uint32_t receiver_index, uint64_t counter, uint8_t* packet,
                      size_t plaintext_len) {
  return seal_transport(key, receiver_index, counter, packet, plaintext_len, padded_length(plaintext_len));
}

size_t seal_transport(const Key& key, uint32_t receiver_index, uint64_t counter, uint8_t* packet,
                      size_t plaintext_len, size_t padded_len) {
  const size_t padded = padded_len < plaintext_len ? plaintext_len : padded_len;
  uint8_t* payload = packet + kTransportHeaderSize;
  std::fill(payload + plaintext_len, payload + padded, uint8_t{0});

  packet[0] = static_cast<uint8_t>(MessageType::TransportData);
  packet[1] = packet[2] = packet[3] = 0;
  write_le32(packet + kTransportReceiverOffset, receiver_index);
  write_le64(packet + kTransportCounterOffset, counter);

  aead_seal(std::span<uint8_t>(payload, padded + kAuthTagSize), key, counter,
            std::span<const uint8_t>(payload, padded), {});
  return kTransportHeaderSize + padded + kAuthTagSize;
}

std::optional<size_t> open_transport(const Key& key, uint64_t counter, uint8_t* packet, size_t packet_len) {
  if (packet_len < kMinTransportSize) return std::nullopt;
  uint8_t* payload = packet + kTransportHeaderSize;
  const size_t sealed_len = packet_len - kTransportHeaderSize;
  const size_t plain_len = sealed_len - kAuthTagSize;
  if (!aead_open(std::span<uint8_t>(payload, plain_len), key, counter, std::span<const uint8_t>(payload, sealed_len),
                 {}))
    return std::nullopt;
  return plain_len;
}

uint64_t transport_counter_of(const uint8_t* packet) { return read_le64(packet + kTransportCounterOffset); }

}  // namespace sluice::crypto
