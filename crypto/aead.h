// The whitepaper's AEAD (ChaCha20-Poly1305, RFC 8439) and XAEAD (XChaCha20-Poly1305).
//
// Buffers: `out` is caller-owned and must be exactly plaintext + 16 bytes when sealing, or
// ciphertext - 16 bytes when opening. `out` may start at the same address as the input
// (in place) or not overlap it at all; partial overlap is not allowed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/keys.h"

namespace sluice::crypto {

inline constexpr size_t kAeadTagSize = 16;

using AeadNonce = std::array<uint8_t, 12>;
using XAeadNonce = std::array<uint8_t, 24>;

// WireGuard's nonce: 32 zero bits, then the 64-bit counter little-endian.
AeadNonce aead_nonce(uint64_t counter);

// False only when a span has the wrong size.
bool aead_seal(std::span<uint8_t> out, const Key& key, const AeadNonce& nonce,
               std::span<const uint8_t> plaintext, std::span<const uint8_t> ad);
bool aead_seal(std::span<uint8_t> out, const Key& key, uint64_t counter, std::span<const uint8_t> plaintext,
               std::span<const uint8_t> ad);

// False on a wrong size or failed authentication; after a failure `out` holds no plaintext.
bool aead_open(std::span<uint8_t> out, const Key& key, const AeadNonce& nonce,
               std::span<const uint8_t> ciphertext, std::span<const uint8_t> ad);
bool aead_open(std::span<uint8_t> out, const Key& key, uint64_t counter, std::span<const uint8_t> ciphertext,
               std::span<const uint8_t> ad);

bool xaead_seal(std::span<uint8_t> out, const Key& key, const XAeadNonce& nonce,
                std::span<const uint8_t> plaintext, std::span<const uint8_t> ad);
bool xaead_open(std::span<uint8_t> out, const Key& key, const XAeadNonce& nonce,
                std::span<const uint8_t> ciphertext, std::span<const uint8_t> ad);

}  // namespace sluice::crypto
