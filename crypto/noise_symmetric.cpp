#include "crypto/noise_symmetric.h"

#include <algorithm>

#include "crypto/aead.h"
#include "crypto/x25519.h"

namespace sluice::crypto {

SymmetricState::SymmetricState(const Key& chaining_key, const Hash& hash)
    : chaining_key_(chaining_key), hash_(hash) {}

SymmetricState::~SymmetricState() {
  wipe(chaining_key_);
  wipe(hash_);
  wipe(key_);
}

void SymmetricState::initialize(std::string_view protocol_name) {
  const std::span<const uint8_t> name(reinterpret_cast<const uint8_t*>(protocol_name.data()),
                                      protocol_name.size());
  if (name.size() <= hash_.size()) {
    hash_.fill(0);
    std::copy(name.begin(), name.end(), hash_.begin());
  } else {
    hash_ = crypto::hash(name);
  }
  chaining_key_ = hash_;
  wipe(key_);
  nonce_ = 0;
  has_key_ = false;
}

void SymmetricState::mix_hash(std::span<const uint8_t> data) { hash_ = crypto::hash(hash_, data); }

void SymmetricState::mix_key(std::span<const uint8_t> input_key_material) {
  kdf2(chaining_key_, input_key_material, chaining_key_, key_);
  nonce_ = 0;
  has_key_ = true;
}

bool SymmetricState::mix_dh(const PrivateKey& private_key, const PublicKey& public_key) {
  Key shared;
  if (!dh(shared, private_key, public_key)) return false;
  mix_key(shared);
  wipe(shared);
  return true;
}

void SymmetricState::mix_key_and_hash(std::span<const uint8_t> input_key_material) {
  Key temp_hash;
  kdf3(chaining_key_, input_key_material, chaining_key_, temp_hash, key_);
  mix_hash(temp_hash);
  wipe(temp_hash);
  nonce_ = 0;
  has_key_ = true;
}

bool SymmetricState::encrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> plaintext) {
  if (!has_key_) {
    if (out.size() != plaintext.size()) return false;
    std::copy(plaintext.begin(), plaintext.end(), out.begin());
  } else if (!aead_seal(out, key_, nonce_++, plaintext, hash_)) {
    return false;
  }
  mix_hash(out);
  return true;
}

bool SymmetricState::decrypt_and_hash(std::span<uint8_t> out, std::span<const uint8_t> ciphertext) {
  if (!has_key_) {
    if (out.size() != ciphertext.size()) return false;
    std::copy(ciphertext.begin(), ciphertext.end(), out.begin());
  } else if (!aead_open(out, key_, nonce_, ciphertext, hash_)) {
    return false;
  } else {
    ++nonce_;
  }
  mix_hash(ciphertext);
  return true;
}

void SymmetricState::split(Key& first, Key& second) const { kdf2(chaining_key_, {}, first, second); }

}  // namespace sluice::crypto
