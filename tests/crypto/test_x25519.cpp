// X25519 known answers from RFC 7748 (§5.2 and §6.1) and low-order point rejection.
#include <catch2/catch.hpp>

#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::hex;
using sluice::crypto::test::unhex_array;

TEST_CASE("X25519 RFC 7748 section 5.2 vectors", "[x25519][kat]") {
  REQUIRE(crypto_init());
  Key out;
  REQUIRE(dh(out, unhex_array<32>("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
             unhex_array<32>("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")));
  CHECK(hex(out) == "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");

  REQUIRE(dh(out, unhex_array<32>("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
             unhex_array<32>("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")));
  CHECK(hex(out) == "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

TEST_CASE("X25519 RFC 7748 section 5.2 iterated vector", "[x25519][kat]") {
  Key k = unhex_array<32>("0900000000000000000000000000000000000000000000000000000000000000");
  Key u = k;
  for (int i = 1; i <= 1000; ++i) {
    Key r;
    REQUIRE(dh(r, k, u));
    u = k;
    k = r;
    if (i == 1) CHECK(hex(k) == "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
  }
  CHECK(hex(k) == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

TEST_CASE("X25519 RFC 7748 section 6.1 Diffie-Hellman", "[x25519][kat]") {
  const PrivateKey alice = unhex_array<32>("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const PrivateKey bob = unhex_array<32>("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  CHECK(hex(public_key_of(alice)) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(hex(public_key_of(bob)) == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  Key ab, ba;
  REQUIRE(dh(ab, alice, public_key_of(bob)));
  REQUIRE(dh(ba, bob, public_key_of(alice)));
  CHECK(hex(ab) == "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(ab == ba);
}

TEST_CASE("X25519 rejects low-order points (all-zero shared secret)", "[x25519]") {
  const PrivateKey priv = generate_private_key();
  // Order 1, 2, 4 and 8 points, and non-canonical encodings of them (p - 1, p, p + 1, ...).
  const char* low_order[] = {
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
      "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  };
  for (const char* point : low_order) {
    INFO(point);
    Key out;
    out.fill(0xaa);
    CHECK_FALSE(dh(out, priv, unhex_array<32>(point)));
    CHECK(is_zero(out));
  }
}

TEST_CASE("generated private keys are clamped and distinct", "[x25519]") {
  const PrivateKey a = generate_private_key();
  const PrivateKey b = generate_private_key();
  CHECK(a != b);
  for (const auto& k : {a, b}) {
    CHECK((k[0] & 7) == 0);
    CHECK((k[31] & 0x80) == 0);
    CHECK((k[31] & 0x40) == 0x40);
  }
  PrivateKey raw;
  raw.fill(0xff);
  const PublicKey before = public_key_of(raw);
  clamp_private_key(raw);
  CHECK(raw[0] == 0xf8);
  CHECK(raw[31] == 0x7f);
  CHECK(public_key_of(raw) == before);  // X25519 clamps anyway; clamping only changes the display
}
