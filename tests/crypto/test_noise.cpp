// WireGuard handshake between two identities, and rejection of every tampered message.
#include <catch2/catch.hpp>

#include <array>

#include "crypto/noise.h"
#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;

namespace {

StaticIdentity make_identity() {
  StaticIdentity id;
  id.private_key = generate_private_key();
  id.public_key = public_key_of(id.private_key);
  return id;
}

Key static_static(const StaticIdentity& local, const PublicKey& remote) {
  Key out;
  REQUIRE(dh(out, local.private_key, remote));
  return out;
}

struct Handshake {
  StaticIdentity initiator = make_identity();
  StaticIdentity responder = make_identity();
  Key psk{};
  Tai64n timestamp = tai64n_from_unix_ns(1'700'000'000'000'000'000);
  InitiatorHandshake initiator_state;
  std::array<uint8_t, kHandshakeInitiationSize> initiation{};
  std::array<uint8_t, kHandshakeResponseSize> response{};

  void initiate() {
    REQUIRE(create_initiation(initiator, responder.public_key, static_static(initiator, responder.public_key), psk,
                              0x11223344, timestamp, initiator_state, initiation));
  }

  std::optional<ConsumedInitiation> receive() {
    auto st = decrypt_initiation_static(responder, initiation);
    if (!st) return std::nullopt;
    if (!decrypt_initiation_timestamp(*st, static_static(responder, st->remote_static), initiation))
      return std::nullopt;
    return st;
  }
};

}  // namespace

TEST_CASE("handshake derives matching keys, with and without a preshared key", "[noise]") {
  REQUIRE(crypto_init());
  for (bool with_psk : {false, true}) {
    INFO("psk " << with_psk);
    Handshake h;
    if (with_psk) h.psk = generate_private_key();
    h.initiate();

    CHECK(classify_message(h.initiation) == MessageType::HandshakeInitiation);
    CHECK(sender_index_of(h.initiation) == 0x11223344);
    CHECK(std::all_of(h.initiation.begin() + kInitiationMac1Offset, h.initiation.end(), [](uint8_t b) { return b == 0; }));
    CHECK(h.initiator_state.local_index == 0x11223344);

    auto st = h.receive();
    REQUIRE(st);
    CHECK(st->remote_static == h.initiator.public_key);
    CHECK(st->remote_index == 0x11223344);
    CHECK(st->timestamp == h.timestamp);

    auto responder_keys = create_response(*st, h.psk, 0x55667788, h.response);
    REQUIRE(responder_keys);
    CHECK(is_zero(st->chaining_key));
    CHECK(is_zero(st->hash));
    CHECK(classify_message(h.response) == MessageType::HandshakeResponse);
    CHECK(sender_index_of(h.response) == 0x55667788);
    CHECK(receiver_index_of(h.response) == 0x11223344);

    auto initiator_keys = consume_response(h.initiator_state, h.initiator, h.psk, h.response);
    REQUIRE(initiator_keys);
    CHECK(initiator_keys->sending == responder_keys->receiving);
    CHECK(initiator_keys->receiving == responder_keys->sending);
    CHECK(initiator_keys->sending != initiator_keys->receiving);
  }
}

TEST_CASE("a different preshared key fails at the response", "[noise]") {
  Handshake h;
  h.psk = generate_private_key();
  h.initiate();
  auto st = h.receive();
  REQUIRE(st);  // psk2: the initiation does not depend on the psk
  Key other_psk = generate_private_key();
  REQUIRE(create_response(*st, other_psk, 1, h.response));
  CHECK_FALSE(consume_response(h.initiator_state, h.initiator, h.psk, h.response));
  Key zero{};
  CHECK_FALSE(consume_response(h.initiator_state, h.initiator, zero, h.response));
}

TEST_CASE("every tampered initiation byte is rejected", "[noise]") {
  Handshake h;
  h.initiate();
  // mac1/mac2 are not covered by Noise (the cookie layer checks them); everything before is.
  for (size_t i = 0; i < kInitiationMac1Offset; ++i) {
    if (i >= kInitiationSenderOffset && i < kInitiationEphemeralOffset) continue;  // index: not authenticated
    Handshake t = h;
    t.initiation[i] ^= 0x01;
    INFO("byte " << i);
    CHECK_FALSE(t.receive());
  }
  Handshake t = h;
  t.initiation[kInitiationSenderOffset] ^= 1;
  auto st = t.receive();
  REQUIRE(st);
  CHECK(st->remote_index == (0x11223344 ^ 1));
}

TEST_CASE("initiation from an unknown key or with a bad precomputed DH", "[noise]") {
  Handshake h;
  h.initiate();
  // Sent to someone else: the static key does not decrypt.
  CHECK_FALSE(decrypt_initiation_static(make_identity(), h.initiation));

  auto st = decrypt_initiation_static(h.responder, h.initiation);
  REQUIRE(st);
  const ConsumedInitiation before = *st;
  // The wrong peer's DH fails authentication and leaves the state alone.
  CHECK_FALSE(decrypt_initiation_timestamp(*st, static_static(h.responder, make_identity().public_key), h.initiation));
  Key zero{};
  CHECK_FALSE(decrypt_initiation_timestamp(*st, zero, h.initiation));
  CHECK(st->hash == before.hash);
  CHECK(st->chaining_key == before.chaining_key);
  CHECK(decrypt_initiation_timestamp(*st, static_static(h.responder, st->remote_static), h.initiation));
}

TEST_CASE("create_initiation refuses low-order keys", "[noise]") {
  Handshake h;
  Key zero{};
  PublicKey low_order{};  // the zero point
  CHECK_FALSE(create_initiation(h.initiator, low_order, static_static(h.initiator, h.responder.public_key), zero, 1,
                                h.timestamp, h.initiator_state, h.initiation));
  CHECK(is_zero(h.initiator_state.ephemeral_private));
  CHECK(std::all_of(h.initiation.begin(), h.initiation.end(), [](uint8_t b) { return b == 0; }));
  CHECK_FALSE(create_initiation(h.initiator, h.responder.public_key, zero, zero, 1, h.timestamp, h.initiator_state,
                                h.initiation));
}

TEST_CASE("every tampered response byte is rejected and the initiator state survives", "[noise]") {
  Handshake h;
  h.psk = generate_private_key();
  h.initiate();
  auto st = h.receive();
  REQUIRE(st);
  const auto keys = create_response(*st, h.psk, 0x55667788, h.response);
  REQUIRE(keys);
  const InitiatorHandshake before = h.initiator_state;

  for (size_t i = 0; i < kResponseMac1Offset; ++i) {
    if (i >= kResponseSenderOffset && i < kResponseReceiverOffset) continue;  // sender index: not authenticated
    auto bad = h.response;
    bad[i] ^= 0x80;
    INFO("byte " << i);
    CHECK_FALSE(consume_response(h.initiator_state, h.initiator, h.psk, bad));
  }
  CHECK(h.initiator_state.hash == before.hash);
  CHECK(h.initiator_state.chaining_key == before.chaining_key);
  CHECK(h.initiator_state.ephemeral_private == before.ephemeral_private);

  // The genuine response still works afterwards.
  const auto initiator_keys = consume_response(h.initiator_state, h.initiator, h.psk, h.response);
  REQUIRE(initiator_keys);
  CHECK(initiator_keys->sending == keys->receiving);

  // A response for another handshake of ours (different receiver index) is refused.
  InitiatorHandshake other = h.initiator_state;
  other.local_index ^= 1;
  CHECK_FALSE(consume_response(other, h.initiator, h.psk, h.response));
}

TEST_CASE("each handshake uses fresh ephemerals", "[noise]") {
  Handshake a;
  a.initiate();
  Handshake b = a;
  b.initiate();
  CHECK(a.initiator_state.ephemeral_private != b.initiator_state.ephemeral_private);
  CHECK(!std::equal(a.initiation.begin() + 8, a.initiation.begin() + 40, b.initiation.begin() + 8));
}
