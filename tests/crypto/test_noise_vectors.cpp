// Known-answer tests for the Noise layer that WireGuard's handshake is built from.
//
// The IKpsk2 vector is "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s" from the Noise project's
// cacophony test vectors (haskell-cryptography/cacophony, vectors/cacophony.txt). WireGuard
// differs from it only in prologue and payloads, which noise_ikpsk2 takes as parameters, so
// this drives the very functions create_initiation/create_response call.
#include <catch2/catch.hpp>

#include "crypto/aead.h"
#include "crypto/noise.h"
#include "crypto/noise_ikpsk2.h"
#include "crypto/noise_symmetric.h"
#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::bytes_of;
using sluice::crypto::test::hex;
using sluice::crypto::test::unhex;
using sluice::crypto::test::unhex_array;

namespace {

struct CacophonyIkpsk2 {
  std::vector<uint8_t> prologue = unhex("4a6f686e2047616c74");
  Key psk = unhex_array<32>("54686973206973206d7920417573747269616e20706572737065637469766521");
  PrivateKey init_static = unhex_array<32>("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1");
  PrivateKey init_ephemeral = unhex_array<32>("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a");
  PublicKey init_remote_static = unhex_array<32>("31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62");
  PrivateKey resp_static = unhex_array<32>("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893");
  PrivateKey resp_ephemeral = unhex_array<32>("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b");

  std::vector<uint8_t> payload1 = unhex("4c756477696720766f6e204d69736573");
  std::string message1 =
      "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98ddd8e2ad57527207feb5"
      "6253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84831215f2441eba616548e832985"
      "464cf17e51ee93109008399a21f7e13f";
  std::vector<uint8_t> payload2 = unhex("4d757272617920526f746862617264");
  std::string message2 =
      "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef0751b8f007572dab03222"
      "17755c0632f365717edbf34d33e87a";

  // Transport messages after the handshake: {payload, ciphertext}, alternating initiator and
  // responder, each side's nonce counting from 0.
  std::vector<std::pair<std::string, std::string>> transport = {
      {"462e20412e20486179656b", "8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7"},
      {"4361726c204d656e676572", "07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef"},
      {"4a65616e2d426170746973746520536179", "6ab1467c0448cc78394494abaaf23afce0e234315d6e2624dcbfa8a21c1c4d073d"},
      {"457567656e2042f6686d20766f6e2042617765726b",
       "dfc346c0d2296ae6cf1acf6f12b8456a1dba228cf8d8b774aacf1c47fc53aa80ebc7a4c292"},
  };
};

}  // namespace

TEST_CASE("cacophony Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector", "[noise][kat]") {
  REQUIRE(crypto_init());
  const CacophonyIkpsk2 v;
  REQUIRE(public_key_of(v.resp_static) == v.init_remote_static);

  Key static_static;
  REQUIRE(dh(static_static, v.init_static, v.init_remote_static));

  SymmetricState initiator;
  SymmetricState responder;
  ikpsk2_initialize(initiator, kNoiseConstruction, v.prologue, v.init_remote_static);
  ikpsk2_initialize(responder, kNoiseConstruction, v.prologue, v.init_remote_static);

  // -> e, es, s, ss
  std::vector<uint8_t> m1(ikpsk2_message1_size(v.payload1.size()));
  REQUIRE(ikpsk2_write_message1(initiator, v.init_ephemeral, public_key_of(v.init_static), v.init_remote_static,
                                static_static, v.payload1, m1));
  CHECK(hex(m1) == v.message1);

  PublicKey remote_ephemeral{};
  PublicKey remote_static{};
  REQUIRE(ikpsk2_read_message1_static(responder, v.resp_static, m1, remote_ephemeral, remote_static));
  CHECK(remote_static == public_key_of(v.init_static));
  CHECK(remote_ephemeral == public_key_of(v.init_ephemeral));
  Key responder_static_static;
  REQUIRE(dh(responder_static_static, v.resp_static, remote_static));
  std::vector<uint8_t> p1(v.payload1.size());
  REQUIRE(ikpsk2_read_message1_payload(responder, responder_static_static, m1, p1));
  CHECK(p1 == v.payload1);

  // <- e, ee, se, psk
  std::vector<uint8_t> m2(ikpsk2_message2_size(v.payload2.size()));
  REQUIRE(ikpsk2_write_message2(responder, v.resp_ephemeral, remote_ephemeral, remote_static, v.psk, v.payload2, m2));
  CHECK(hex(m2) == v.message2);

  std::vector<uint8_t> p2(v.payload2.size());
  REQUIRE(ikpsk2_read_message2(initiator, v.init_ephemeral, v.init_static, v.psk, m2, p2));
  CHECK(p2 == v.payload2);
  CHECK(initiator.hash() == responder.hash());

  Key i_send, i_recv, r_recv, r_send;
  initiator.split(i_send, i_recv);
  responder.split(r_recv, r_send);
  CHECK(i_send == r_recv);
  CHECK(i_recv == r_send);

  // Transport messages are exactly WireGuard's: counter nonce, empty associated data.
  uint64_t i_counter = 0, r_counter = 0;
  for (size_t i = 0; i < v.transport.size(); ++i) {
    const auto plain = unhex(v.transport[i].first);
    std::vector<uint8_t> sealed(plain.size() + kAeadTagSize);
    const bool from_initiator = i % 2 == 0;
    const Key& key = from_initiator ? i_send : r_send;
    uint64_t& counter = from_initiator ? i_counter : r_counter;
    REQUIRE(aead_seal(sealed, key, counter, plain, {}));
    CHECK(hex(sealed) == v.transport[i].second);
    std::vector<uint8_t> opened(plain.size());
    REQUIRE(aead_open(opened, from_initiator ? r_recv : i_recv, counter, sealed, {}));
    CHECK(opened == plain);
    ++counter;
  }
}

TEST_CASE("WireGuard initial chaining key and hash", "[noise][kat]") {
  // HASH(CONSTRUCTION) and HASH(HASH(CONSTRUCTION) || IDENTIFIER), the constants Linux and
  // BoringTun precompute.
  SymmetricState s;
  s.initialize(kNoiseConstruction);
  CHECK(hex(s.chaining_key()) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  s.mix_hash(bytes_of(kWireGuardIdentifier));
  CHECK(hex(s.hash()) == "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
  CHECK(hex(s.chaining_key()) == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
}

TEST_CASE("SymmetricState: short protocol names are zero-padded, not hashed", "[noise]") {
  SymmetricState s;
  s.initialize("Noise_NN");
  CHECK(hex(s.hash()) == "4e6f6973655f4e4e000000000000000000000000000000000000000000000000");
  CHECK(s.chaining_key() == s.hash());

  // Before any MixKey, EncryptAndHash is the identity plus MixHash.
  const std::vector<uint8_t> plain = {1, 2, 3};
  std::vector<uint8_t> out(3);
  REQUIRE(s.encrypt_and_hash(out, plain));
  CHECK(out == plain);
}
