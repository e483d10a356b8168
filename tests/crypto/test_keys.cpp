#include <catch2/catch.hpp>

#include "crypto/keys.h"
#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;

namespace {

// Appends instead of `"literal" + std::string`, which GCC 12 at -O3 misreports under -Wrestrict.
std::string concat(std::string_view a, std::string_view b) {
  std::string out(a);
  out.append(b);
  return out;
}

Key counting_key() {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

}  // namespace

TEST_CASE("base64 keys: known value and round trip", "[keys]") {
  REQUIRE(crypto_init());
  CHECK(key_to_base64(counting_key()) == "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  CHECK(key_from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") == counting_key());
  for (int i = 0; i < 64; ++i) {
    const Key k = generate_private_key();
    CHECK(key_from_base64(key_to_base64(k)) == k);
  }
}

TEST_CASE("base64 keys: everything but the canonical 44-character form is rejected", "[keys]") {
  const char* bad[] = {
      "",
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",     // no padding
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",   // too long
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",    // unused low bits set
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=",    // not base64
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH h=",    // whitespace
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-_8=",    // URL-safe alphabet
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==",    // 31 bytes + 2 padding chars
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  // trailing newline
  };
  for (const char* text : bad) {
    INFO(text);
    CHECK_FALSE(key_from_base64(text).has_value());
  }
  // Not NUL-terminated views are read only within their bounds.
  const std::string longer = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=XYZ";
  CHECK(key_from_base64(std::string_view(longer).substr(0, 44)) == counting_key());
}

TEST_CASE("hex keys: lowercase out, either case in, exact length", "[keys]") {
  const std::string lower = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  CHECK(key_to_hex(counting_key()) == lower);
  CHECK(key_from_hex(lower) == counting_key());
  CHECK(key_from_hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F") == counting_key());

  CHECK_FALSE(key_from_hex(lower.substr(0, 63)));
  CHECK_FALSE(key_from_hex(concat(lower, "0")));
  CHECK_FALSE(key_from_hex(concat(lower, "00")));
  CHECK_FALSE(key_from_hex(concat("0x", lower.substr(2))));
  CHECK_FALSE(key_from_hex(concat("g", lower.substr(1))));
  CHECK_FALSE(key_from_hex(concat(lower.substr(0, 62), " f")));
  CHECK_FALSE(key_from_hex(""));
  for (int i = 0; i < 64; ++i) {
    const Key k = generate_private_key();
    CHECK(key_from_hex(key_to_hex(k)) == k);
  }
}

TEST_CASE("is_zero, equal and wipe", "[keys]") {
  Key k{};
  CHECK(is_zero(k));
  k[31] = 1;
  CHECK_FALSE(is_zero(k));
  CHECK(equal(k, k));
  Key other = k;
  other[0] ^= 0x80;
  CHECK_FALSE(equal(k, other));
  wipe(k);
  CHECK(is_zero(k));
  uint8_t raw[5] = {1, 2, 3, 4, 5};
  wipe(raw, sizeof raw);
  for (uint8_t b : raw) CHECK(b == 0);
}

TEST_CASE("crypto_init is idempotent", "[keys]") {
  CHECK(crypto_init());
  CHECK(crypto_init());
}

TEST_CASE("base64 keys with bytes outside the alphabet are rejected", "[keys]") {
  // Found by fuzz_keys: libsodium 1.0.18 reads bytes 0x80-0xFF as '/'.
  std::string text = "20glfhI3l2p0rYz+3KACE0CP6JrGJR8bkw////////o=";
  REQUIRE(sluice::crypto::key_from_base64(text));
  for (int byte = 0x80; byte <= 0xff; ++byte) {
    std::string bad = text;
    bad[34] = static_cast<char>(byte);
    CHECK_FALSE(sluice::crypto::key_from_base64(bad));
  }
  CHECK_FALSE(sluice::crypto::key_from_base64("20glfhI3l2p0rYz+3KACE0CP6JrGJR8bkw////////o-"));
}
