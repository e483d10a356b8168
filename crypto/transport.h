// Transport data messages: sealing and opening packets in place inside a caller-owned buffer
// that already has room for the header in front and the padding and tag behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "crypto/keys.h"
#include "crypto/messages.h"

namespace sluice::crypto {

// Plaintext is padded with zeros to a multiple of this, to blur packet lengths.
inline constexpr size_t kTransportPaddingMultiple = 16;

// What the five-argument seal_transport pads `plaintext_len` to: the next multiple of 16.
size_t padded_length(size_t plaintext_len);
// The same, but never beyond `mtu` (unless the plaintext itself is longer), as wireguard-go
// and Linux do: a full 1420-byte packet stays 1420 so the datagram still fits 1500 bytes over
// IPv6. mtu 0 means no cap.
size_t padded_length(size_t plaintext_len, size_t mtu);

// `packet` (caller-owned) is [16 bytes header space][plaintext_len bytes of plaintext][room
// for padded_length(plaintext_len) - plaintext_len + 16 more bytes]. Zero-pads, writes the
// header (type 4, receiver index, counter LE) and seals in place. Returns the datagram length
// 16 + padded + 16.
size_t seal_transport(const Key& key, uint32_t receiver_index, uint64_t counter, uint8_t* packet,
                      size_t plaintext_len);
// The same with the padded length chosen by the caller (padded_len >= plaintext_len, normally
// padded_length(plaintext_len, mtu)); the buffer needs room for padded_len + 16 after the header.
size_t seal_transport(const Key& key, uint32_t receiver_index, uint64_t counter, uint8_t* packet,
                      size_t plaintext_len, size_t padded_len);

// Opens the datagram `packet` (caller-owned, packet_len bytes) in place with the counter the
// caller read from its header. On success the padded plaintext is at packet + 16 and its
// length is returned; nullopt if too short or not authentic (the payload area is then zeroed).
// Replay checking is the caller's job, after authentication.
std::optional<size_t> open_transport(const Key& key, uint64_t counter, uint8_t* packet, size_t packet_len);

// The counter at offset 8. `packet` must hold at least kTransportHeaderSize bytes.
uint64_t transport_counter_of(const uint8_t* packet);

}  // namespace sluice::crypto
