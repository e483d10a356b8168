// ChaCha20-Poly1305 (RFC 8439 §2.8.2) and XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03
// appendix A.3.1) known answers, plus WireGuard's counter nonce.
#include <catch2/catch.hpp>

#include "crypto/aead.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::bytes_of;
using sluice::crypto::test::hex;
using sluice::crypto::test::unhex;
using sluice::crypto::test::unhex_array;

namespace {

const char* const kSunscreen =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would "
    "be it.";
const Key kKey = unhex_array<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const std::vector<uint8_t> kAd = unhex("50515253c0c1c2c3c4c5c6c7");

}  // namespace

TEST_CASE("ChaCha20-Poly1305 RFC 8439 2.8.2", "[aead][kat]") {
  REQUIRE(crypto_init());
  const auto nonce = unhex_array<12>("070000004041424344454647");
  const auto plain = bytes_of(kSunscreen);
  const std::string expected =
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e06"
      "0b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d265"
      "86cec64b6116"
      "1ae10b594f09e26a7e902ecbd0600691";

  std::vector<uint8_t> sealed(plain.size() + kAeadTagSize);
  REQUIRE(aead_seal(sealed, kKey, nonce, plain, kAd));
  CHECK(hex(sealed) == expected);

  std::vector<uint8_t> opened(plain.size());
  REQUIRE(aead_open(opened, kKey, nonce, sealed, kAd));
  CHECK(std::equal(opened.begin(), opened.end(), plain.begin(), plain.end()));

  // Any flipped bit, in ciphertext, tag or associated data, fails, and leaves no plaintext.
  for (size_t i = 0; i < sealed.size(); i += 7) {
    auto bad = sealed;
    bad[i] ^= 1;
    std::fill(opened.begin(), opened.end(), uint8_t{0xaa});
    CHECK_FALSE(aead_open(opened, kKey, nonce, bad, kAd));
    CHECK(std::all_of(opened.begin(), opened.end(), [](uint8_t b) { return b == 0; }));
  }
  auto bad_ad = kAd;
  bad_ad[0] ^= 1;
  CHECK_FALSE(aead_open(opened, kKey, nonce, sealed, bad_ad));
}

TEST_CASE("AEAD in place and size checks", "[aead]") {
  const auto plain = bytes_of(kSunscreen);
  std::vector<uint8_t> buf(plain.begin(), plain.end());
  buf.resize(plain.size() + kAeadTagSize);
  REQUIRE(aead_seal(buf, kKey, 7, std::span<const uint8_t>(buf.data(), plain.size()), {}));
  std::vector<uint8_t> copy(plain.size() + kAeadTagSize);
  REQUIRE(aead_seal(copy, kKey, 7, plain, {}));
  CHECK(buf == copy);
  REQUIRE(aead_open(std::span<uint8_t>(buf.data(), plain.size()), kKey, 7, buf, {}));
  CHECK(std::equal(plain.begin(), plain.end(), buf.begin()));

  std::vector<uint8_t> wrong(plain.size());
  CHECK_FALSE(aead_seal(wrong, kKey, 0, plain, {}));
  CHECK_FALSE(aead_open(wrong, kKey, 0, std::span<const uint8_t>(copy).first(10), {}));
  std::vector<uint8_t> empty;
  CHECK_FALSE(aead_open(empty, kKey, 0, std::span<const uint8_t>(copy).first(15), {}));
  // A bare tag is the sealed empty message.
  std::vector<uint8_t> tag(kAeadTagSize);
  REQUIRE(aead_seal(tag, kKey, 0, {}, {}));
  CHECK(aead_open(empty, kKey, 0, tag, {}));
  CHECK_FALSE(aead_open(empty, kKey, 1, tag, {}));
}

TEST_CASE("WireGuard nonce is 4 zero bytes then the counter little-endian", "[aead]") {
  CHECK(hex(aead_nonce(0)) == "000000000000000000000000");
  CHECK(hex(aead_nonce(0x0102030405060708)) == "000000000807060504030201");
  CHECK(hex(aead_nonce(~uint64_t{0})) == "00000000ffffffffffffffff");
}

TEST_CASE("XChaCha20-Poly1305 draft-irtf-cfrg-xchacha A.3.1", "[aead][kat]") {
  const auto nonce = unhex_array<24>("404142434445464748494a4b4c4d4e4f5051525354555657");
  const auto plain = bytes_of(kSunscreen);
  const std::string expected =
      "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54"
      "c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f6"
      "15c68b13b52e"
      "c0875924c1c7987947deafd8780acf49";

  std::vector<uint8_t> sealed(plain.size() + kAeadTagSize);
  REQUIRE(xaead_seal(sealed, kKey, nonce, plain, kAd));
  CHECK(hex(sealed) == expected);

  std::vector<uint8_t> opened(plain.size());
  REQUIRE(xaead_open(opened, kKey, nonce, sealed, kAd));
  CHECK(std::equal(opened.begin(), opened.end(), plain.begin(), plain.end()));

  auto bad = sealed;
  bad.back() ^= 0x80;
  CHECK_FALSE(xaead_open(opened, kKey, nonce, bad, kAd));
  auto other_nonce = nonce;
  other_nonce[23] ^= 1;
  CHECK_FALSE(xaead_open(opened, kKey, other_nonce, sealed, kAd));
}
