// BLAKE2s (RFC 7693 and the BLAKE2 reference KAT), keyed MAC, HMAC-BLAKE2s and KDF_n.
// HMAC and KDF expectations come from CPython's hashlib/hmac, an independent implementation.
#include <catch2/catch.hpp>

#include "crypto/blake2s.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::bytes_of;
using sluice::crypto::test::hex;
using sluice::crypto::test::unhex;
using sluice::crypto::test::unhex_array;

namespace {

std::vector<uint8_t> counting(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i);
  return v;
}

}  // namespace

TEST_CASE("BLAKE2s-256 RFC 7693 appendix B", "[blake2s][kat]") {
  CHECK(hex(hash(bytes_of("abc"))) == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
  CHECK(hex(hash({})) == "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
}

TEST_CASE("keyed BLAKE2s reference KAT (key 00..1f)", "[blake2s][kat]") {
  const auto key = counting(32);
  Hash out;
  Blake2s(key, 32).final(out);
  CHECK(hex(out) == "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49");
  Blake2s(key, 32).update(counting(1)).final(out);
  CHECK(hex(out) == "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1");
  Blake2s(key, 32).update(counting(255)).final(out);
  CHECK(hex(out) == "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd");
}

TEST_CASE("incremental hashing equals one-shot", "[blake2s]") {
  const auto data = counting(200);
  const Hash one_shot = hash(data);
  for (size_t split : {0, 1, 63, 64, 65, 128, 199, 200}) {
    const std::span<const uint8_t> all(data);
    CHECK(hash(all.first(split), all.subspan(split)) == one_shot);
  }
}

TEST_CASE("MAC is keyed BLAKE2s with a 16-byte output", "[blake2s][kat]") {
  CHECK(hex(mac(counting(32), bytes_of("abc"))) == "61ba5f165c194692e09d12520cc4c74a");
  // A 16-byte key, as mac2 uses the cookie.
  CHECK(hex(mac(counting(16), bytes_of("abc"))) == "75296c2d2c0f51210b383f386bc8b1ff");
}

TEST_CASE("HMAC-BLAKE2s", "[blake2s][kat]") {
  CHECK(hex(hmac(bytes_of("key"), bytes_of("The quick brown fox jumps over the lazy dog"))) ==
        "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0");
  CHECK(hex(hmac({}, {})) == "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd");
  // Keys longer than the 64-byte block are hashed first.
  CHECK(hex(hmac(counting(100), bytes_of("abc"))) ==
        "c1b751501db12b753069a918627b623179be55c8cc7ca5c4e14bdf32274ac656");
}

TEST_CASE("KDF1/2/3 follow the whitepaper's HKDF", "[blake2s][kat]") {
  const Key key = unhex_array<32>("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const auto input = unhex("deadbeef");
  Key t1, t2, t3;
  kdf3(key, input, t1, t2, t3);
  CHECK(hex(t1) == "295eddc5ddbe94fda37ccddcce6ec37c041214af91eade018e2bcc647730d045");
  CHECK(hex(t2) == "5a10f85476ab892b3b6021f2bf12f8ae35c3d6364563677084d471eba1240bf4");
  CHECK(hex(t3) == "f8d19a15c728e53146077d126ec3f833a7d9d659dbb8fba4deb703d935f87650");

  Key u1, u2;
  kdf2(key, input, u1, u2);
  CHECK(u1 == t1);
  CHECK(u2 == t2);
  Key v1;
  kdf1(key, input, v1);
  CHECK(v1 == t1);

  // The chaining key is routinely both input and output.
  Key ck = key;
  Key k;
  kdf2(ck, input, ck, k);
  CHECK(ck == t1);
  CHECK(k == t2);
}

TEST_CASE("misused BLAKE2s objects output zeros, never stale memory", "[blake2s]") {
  Hash out;
  out.fill(0xaa);
  Blake2s(counting(33), 32).update(bytes_of("abc")).final(out);  // key too long
  CHECK(hex(out) == std::string(64, '0'));
  out.fill(0xaa);
  Blake2s(counting(32), 33).final(std::span<uint8_t>(out).first(32));  // output too long
  CHECK(hex(out) == std::string(64, '0'));
  Mac m;
  m.fill(0xaa);
  Blake2s(counting(32), 32).final(m);  // wrong output size
  CHECK(hex(m) == std::string(32, '0'));
  // An empty key is plain hashing.
  Blake2s(std::span<const uint8_t>{}, 32).update(bytes_of("abc")).final(out);
  CHECK(out == hash(bytes_of("abc")));
}
