#include "crypto/x25519.h"

#include <sodium.h>

namespace sluice::crypto {

void clamp_private_key(PrivateKey& key) {
  key[0] &= 248;
  key[31] = static_cast<uint8_t>((key[31] & 127) | 64);
}

PrivateKey generate_private_key() {
  PrivateKey key;
  randombytes_buf(key.data(), key.size());
  clamp_private_key(key);
  return key;
}

PublicKey public_key_of(const PrivateKey& private_key) {
  PublicKey pub{};
  crypto_scalarmult_base(pub.data(), private_key.data());
  return pub;
}

bool dh(Key& out, const PrivateKey& private_key, const PublicKey& public_key) {
  // libsodium already fails on an all-zero result; the second check keeps us correct even
  // if a future build stops doing so.
  if (crypto_scalarmult(out.data(), private_key.data(), public_key.data()) != 0 || is_zero(out)) {
    wipe(out);
    return false;
  }
  return true;
}

}  // namespace sluice::crypto
