// Curve25519 Diffie-Hellman (RFC 7748), WireGuard's DH() and DH-Generate().
#pragma once

#include "crypto/keys.h"

namespace sluice::crypto {

// A fresh random private key, clamped as `wg genkey` prints it.
PrivateKey generate_private_key();

// Clears the bits X25519 ignores anyway, so a configured key reads back the way wg-quick
// and wireguard-go show it.
void clamp_private_key(PrivateKey& key);

PublicKey public_key_of(const PrivateKey& private_key);

// out = X25519(private_key, public_key). False (and `out` zeroed) when the result is all
// zero: the peer sent a low-order point, which would make the "shared" secret public.
bool dh(Key& out, const PrivateKey& private_key, const PublicKey& public_key);

}  // namespace sluice::crypto
