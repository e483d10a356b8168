// Noise's SymmetricState (Noise Protocol Framework §5.2) instantiated with BLAKE2s and
// ChaCha20-Poly1305: the chaining key, the handshake hash and the current cipher key.
// WireGuard's handshake is this object driven through the IKpsk2 pattern (noise_ikpsk2.h).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "crypto/blake2s.h"
#include "crypto/keys.h"

namespace sluice::crypto {

class SymmetricState {
 public:
  SymmetricState() = default;
  // Resumes a handshake between messages. Noise always calls MixKey before the next
  // encryption, so no cipher key needs to be carried over.
  SymmetricState(const Key& chaining_key, const Hash& hash);
  ~SymmetricState();  // wipes every secret
  SymmetricState(const SymmetricState&) = delete;
  SymmetricState& operator=(const SymmetricState&) = delete;

  // InitializeSymmetric(protocol_name): h = name padded or hashed to 32 bytes, ck = h.
  void initialize(std::string_view protocol_name);

  // h = HASH(h || data)
  void mix_hash(std::span<const uint8_t> data);
  // (ck, k) = KDF2(ck, input_key_material), n = 0
  void mix_key(std::span<const uint8_t> input_key_material);
  // MixKey(DH(private_key, public_key)). False when the DH result is zero.
  bool mix_dh(const PrivateKey& private_key, const PublicKey& public_key);
  // (ck, t, k) = KDF3(ck, input_key_material), MixHash(t), n = 0. How psk tokens are mixed.
  void mix_key_and_hash(std::span<const uint8_t> input_key_material);

  // c = AEAD(k, n++, plaintext, h); MixHash(c). `out` is caller-owned, plaintext + 16 bytes
  // (just the plaintext before any key is set). False only on a wrong size.
  bool encrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> plaintext);
  // The inverse. `out` is caller-owned, ciphertext - 16 bytes; `ciphertext` must not overlap
  // it. On failure the state is unchanged.
  bool decrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> ciphertext);

  // (first, second) = KDF2(ck, empty). The initiator sends with `first`.
  void split(Key& first, Key& second) const;

  const Key& chaining_key() const { return chaining_key_; }
  const Hash& hash() const { return hash_; }

 private:
  Key chaining_key_{};
  Hash hash_{};
  Key key_{};
  uint64_t nonce_ = 0;
  bool has_key_ = false;
};

}  // namespace sluice::crypto
