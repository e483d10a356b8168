#include "crypto/aead.h"

#include <sodium.h>


namespace sluice::crypto {

AeadNonce aead_nonce(uint64_t counter) {
  AeadNonce nonce{};
  for (size_t i = 0; i < 8; ++i) nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
  return nonce;
}

bool aead_seal(std::span<uint8_t> out, const Key& key, const AeadNonce& nonce,
               std::span<const uint8_t> plaintext, std::span<const uint8_t> ad) {
  if (out.size() != plaintext.size() + kAeadTagSize) return false;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), nullptr, plaintext.data(), plaintext.size(), ad.data(),
                                            ad.size(), nullptr, nonce.data(), key.data());
  return true;
}

bool aead_seal(std::span<uint8_t> out, const Key& key, uint64_t counter, std::span<const uint8_t> plaintext,
               std::span<const uint8_t> ad) {
  return aead_seal(out, key, aead_nonce(counter), plaintext, ad);
}

bool aead_open(std::span<uint8_t> out, const Key& key, const AeadNonce& nonce,
               std::span<const uint8_t> ciphertext, std::span<const uint8_t> ad) {
  if (ciphertext.size() < kAeadTagSize || out.size() != ciphertext.size() - kAeadTagSize) return false;
  // libsodium checks the tag before decrypting and zeroes `out` when it fails.
  return crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), nullptr, nullptr, ciphertext.data(),
                                                   ciphertext.size(), ad.data(), ad.size(), nonce.data(),
                                                   key.data()) == 0;
}

bool aead_open(std::span<uint8_t> out, const Key& key, uint64_t counter, std::span<const uint8_t> ciphertext,
               std::span<const uint8_t> ad) {
  return aead_open(out, key, aead_nonce(counter), ciphertext, ad);
}

bool xaead_seal(std::span<uint8_t> out, const Key& key, const XAeadNonce& nonce,
                std::span<const uint8_t> plaintext, std::span<const uint8_t> ad) {
  if (out.size() != plaintext.size() + kAeadTagSize) return false;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data(), nullptr, plaintext.data(), plaintext.size(), ad.data(),
                                             ad.size(), nullptr, nonce.data(), key.data());
  return true;
}

bool xaead_open(std::span<uint8_t> out, const Key& key, const XAeadNonce& nonce,
                std::span<const uint8_t> ciphertext, std::span<const uint8_t> ad) {
  if (ciphertext.size() < kAeadTagSize || out.size() != ciphertext.size() - kAeadTagSize) return false;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), nullptr, nullptr, ciphertext.data(),
                                                    ciphertext.size(), ad.data(), ad.size(), nonce.data(),
                                                    key.data()) == 0;
}

}  // namespace sluice::crypto
