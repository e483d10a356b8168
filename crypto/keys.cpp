#include "crypto/keys.h"

#include <sodium.h>

#include <algorithm>

namespace sluice::crypto {

bool crypto_init() { return sodium_init() >= 0; }

bool is_zero(const Key& key) { return sodium_is_zero(key.data(), key.size()) == 1; }

bool equal(const Key& a, const Key& b) { return sodium_memcmp(a.data(), b.data(), a.size()) == 0; }

void wipe(void* p, size_t n) { sodium_memzero(p, n); }

namespace {
constexpr size_t kBase64KeyLength = 44;
constexpr size_t kHexKeyLength = 64;
}  // namespace

std::optional<Key> key_from_base64(std::string_view text) {
  if (text.size() != kBase64KeyLength) return std::nullopt;
  // libsodium 1.0.18 decodes every byte from 0x80 to 0xFF as '/', so the alphabet is checked
  // here: 43 base64 characters and the one '=' of padding, as wg(8) accepts.
  auto in_alphabet = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  };
  if (!std::all_of(text.begin(), text.end() - 1, in_alphabet) || text.back() != '=') return std::nullopt;
  Key key{};
  size_t decoded = 0;
  const char* end = nullptr;
  const int rc = sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &decoded,
                                   &end, sodium_base64_VARIANT_ORIGINAL);
  if (rc != 0 || decoded != key.size() || end != text.data() + text.size()) {
    wipe(key);  // may hold part of a private key
    return std::nullopt;
  }
  return key;
}

std::string key_to_base64(const Key& key) {
  char buf[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(buf, sizeof buf, key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(buf, kBase64KeyLength);
  wipe(buf, sizeof buf);
  return out;
}

std::optional<Key> key_from_hex(std::string_view text) {
  if (text.size() != kHexKeyLength) return std::nullopt;
  Key key{};
  size_t decoded = 0;
  const char* end = nullptr;
  const int rc = sodium_hex2bin(key.data(), key.size(), text.data(), text.size(), nullptr, &decoded, &end);
  if (rc != 0 || decoded != key.size() || end != text.data() + text.size()) {
    wipe(key);
    return std::nullopt;
  }
  return key;
}

std::string key_to_hex(const Key& key) {
  char buf[kHexKeyLength + 1];
  sodium_bin2hex(buf, sizeof buf, key.data(), key.size());
  std::string out(buf, kHexKeyLength);
  wipe(buf, sizeof buf);
  return out;
}

}  // namespace sluice::crypto
