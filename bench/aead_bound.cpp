#include "bench/aead_bound.h"

#include <sodium.h>

#include <array>
#include <cstdlib>

namespace sluice::bench {

AeadBound::AeadBound() {
  if (!crypto::crypto_init()) std::abort();  // libsodium unusable: nothing to measure
  crypto_aead_chacha20poly1305_ietf_keygen(key_.data());
}

bool AeadBound::round_trip(std::span<PacketBuffer* const> batch, size_t length) {
  bool authentic = true;
  std::array<uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonce{};
  for (PacketBuffer* b : batch) {
    // WireGuard's nonce layout: 32 zero bits, then the counter little-endian.
    const uint64_t counter = counter_++;
    for (size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
    uint8_t* data = b->data();
    unsigned long long sealed = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(data, &sealed, data, length, nullptr, 0, nullptr, nonce.data(),
                                              key_.data());
    authentic &= crypto_aead_chacha20poly1305_ietf_decrypt(data, nullptr, nullptr, data, sealed, nullptr, 0,
                                                           nonce.data(), key_.data()) == 0;
  }
  return authentic;
}

}  // namespace sluice::bench
