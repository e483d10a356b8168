// The Noise IKpsk2 handshake pattern, generic over prologue and payloads:
//
//   <- s
//   ...
//   -> e, es, s, ss      (message 1: e.pub | AEAD(s.pub) | AEAD(payload))
//   <- e, ee, se, psk    (message 2: e.pub | AEAD(payload))
//
// WireGuard is this pattern with its identifier as the prologue, a TAI64N timestamp as the
// first payload and an empty second payload (noise.h frames those). Keeping the pattern
// generic lets the Noise project's own test vectors run through the exact code WireGuard uses.
//
// Every function takes the message body as a caller-owned span of exactly the size given by
// ikpsk2_message{1,2}_size. On failure they return false; the SymmetricState is then
// unspecified and must be discarded (its destructor wipes it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/aead.h"
#include "crypto/keys.h"
#include "crypto/noise_symmetric.h"

namespace sluice::crypto {

inline constexpr size_t kIkpsk2Message1StaticOffset = 32;
inline constexpr size_t kIkpsk2Message1PayloadOffset = 32 + 32 + kAeadTagSize;
inline constexpr size_t kIkpsk2Message2PayloadOffset = 32;

constexpr size_t ikpsk2_message1_size(size_t payload_size) {
  return kIkpsk2Message1PayloadOffset + payload_size + kAeadTagSize;
}
constexpr size_t ikpsk2_message2_size(size_t payload_size) {
  return kIkpsk2Message2PayloadOffset + payload_size + kAeadTagSize;
}

// Both roles: InitializeSymmetric(protocol_name), MixHash(prologue), MixHash(responder's s).
void ikpsk2_initialize(SymmetricState& state, std::string_view protocol_name, std::span<const uint8_t> prologue,
                       const PublicKey& responder_static);

// Initiator: writes message 1 into `out`. `static_static` = DH(s, rs), precomputed per peer.
bool ikpsk2_write_message1(SymmetricState& state, const PrivateKey& ephemeral_private,
                           const PublicKey& local_static_public, const PublicKey& remote_static,
                           const Key& static_static, std::span<const uint8_t> payload, std::span<uint8_t> out);

// Responder, first half of message 1 (e, es, s): learns who is calling so that the caller
// can look up the peer (and its precomputed DH) before the second half.
bool ikpsk2_read_message1_static(SymmetricState& state, const PrivateKey& local_static_private,
                                 std::span<const uint8_t> msg, PublicKey& remote_ephemeral,
                                 PublicKey& remote_static);
// Responder, second half (ss, payload). `payload_out` is caller-owned, msg.size() - 96 bytes.
bool ikpsk2_read_message1_payload(SymmetricState& state, const Key& static_static, std::span<const uint8_t> msg,
                                  std::span<uint8_t> payload_out);

// Responder: writes message 2 into `out`.
bool ikpsk2_write_message2(SymmetricState& state, const PrivateKey& ephemeral_private,
                           const PublicKey& remote_ephemeral, const PublicKey& remote_static,
                           const Key& preshared_key, std::span<const uint8_t> payload, std::span<uint8_t> out);

// Initiator: reads message 2. `payload_out` is caller-owned, msg.size() - 48 bytes.
bool ikpsk2_read_message2(SymmetricState& state, const PrivateKey& ephemeral_private,
                          const PrivateKey& local_static_private, const Key& preshared_key,
                          std::span<const uint8_t> msg, std::span<uint8_t> payload_out);

}  // namespace sluice::crypto
