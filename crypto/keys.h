// Key types shared by every part of the WireGuard cryptography, plus the encodings that
// configuration files (base64) and the UAPI protocol (hex) use for them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace sluice::crypto {

// Same type as sluice::Key (tunnel/device_config.h), so keys pass between layers unconverted.
using Key = std::array<uint8_t, 32>;
using PublicKey = Key;
using PrivateKey = Key;

// Initialises libsodium. Call once before anything else here; idempotent. False when the
// library cannot be used (for example no entropy source).
bool crypto_init();

// Constant time, so comparing a secret against zero leaks nothing about it.
bool is_zero(const Key& key);

// Constant-time equality, for comparing secrets or authenticators.
bool equal(const Key& a, const Key& b);

// Zeroes memory in a way the compiler may not drop as a dead store. `p` stays caller-owned.
void wipe(void* p, size_t n);

template <class T>
void wipe(T& obj) {
  static_assert(std::is_trivially_copyable_v<T>, "wipe() only plain data");
  wipe(&obj, sizeof obj);
}

// Exactly 44 characters of standard base64 with its one '=' of padding, decoding to 32
// bytes with the unused low bits zero (as `wg` requires). Anything else is nullopt.
std::optional<Key> key_from_base64(std::string_view text);
// Returns a new string; a private key's string is the caller's to wipe.
std::string key_to_base64(const Key& key);

// Exactly 64 hex digits, either case.
std::optional<Key> key_from_hex(std::string_view text);
// Lowercase, as the UAPI protocol prints keys. A private key's string is the caller's to wipe.
std::string key_to_hex(const Key& key);

}  // namespace sluice::crypto
