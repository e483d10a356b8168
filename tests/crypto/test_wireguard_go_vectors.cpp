// Known answers recorded from live exchanges with wireguard-go (Debian 12's package), run
// in a private network namespace with the preshared key below:
//
//  A. Sluice initiates. wireguard-go accepted the initiation, answered with the response below,
//     decrypted our ICMP echo request and sent back the encrypted echo reply below.
//  B. wireguard-go initiates (triggered by a ping). Sluice answered with the response below,
//     and wireguard-go then sent the ping as the transport packet below.
//
// Each packet wireguard-go produced can only be opened with keys it derived from our
// messages, so these tests pin byte-for-byte compatibility of every part of the handshake,
// mac1, and transport data. Ephemeral keys are fixed by scripting randombytes.
#include <catch2/catch.hpp>

#include <array>

#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "crypto/transport.h"
#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::hex;
using sluice::crypto::test::ScriptedRandom;
using sluice::crypto::test::unhex;
using sluice::crypto::test::unhex_array;

namespace {

const Key kPresharedKey = unhex_array<32>("0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b");
// wireguard-go's interface key (from `wg genkey`), the same in both exchanges.
const PrivateKey kWireGuardGoPrivate =
    unhex_array<32>("685c8d45849b9038d00121221b5dbc32298d62545a1ca92a05a49d3a68562b73");
const PublicKey kWireGuardGoPublic =
    unhex_array<32>("36251e5f5123824d2131687534dd3d88772596cabeaf15992f293e8e9c898433");

StaticIdentity identity(const PrivateKey& private_key) {
  return StaticIdentity{private_key, public_key_of(private_key)};
}

template <size_t N>
std::array<uint8_t, N> packet(const std::string& hex_text) {
  return unhex_array<N>(hex_text);
}

// Exchange A: Sluice is the initiator.
const PrivateKey kSluiceInitiatorPrivate =
    unhex_array<32>("e8a7c4f1c6e2b7d3a9f0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f70");
const char* const kInitiatorEphemeral = "5850f1e8c7b6a5948372615041322314b5a69788796a5b4c3d2e1f1011121314";
const int64_t kInitiationWallNs = 1'700'000'000'123'456'789;
const uint32_t kInitiatorIndex = 0x01020304;
const std::string kInitiationA =
    "01000000040302010d1fed338ddfc86c14ba424f5634743c9efc01eb43d33fff63a52c7835c9de6f55e7127a7d7d7a93"
    "15513e73d2da78b4fd5ce3a79557a75c5b3fdb75b671102344e5a5ea6f05c9da5dd6c78a912720d25b1f9574b13d6b0c"
    "5059f103dcb98b56ba90ef7701b4a9298f3b38c35a723038e84b3113f77ef3da01b3532c000000000000000000000000"
    "00000000";
const std::string kResponseA =
    "02000000b6e831f204030201da7b8b414618b945f058c0a107f15865ad403cc57bb4dfa286b0a5e453c6994e9fdecd7e"
    "d01b4cae6e035eda3efe6b64b2ad3b6b8e4b2ce3a807021bd923d56a00000000000000000000000000000000";
const std::string kSendingKeyA = "cbecf82ca7e3936d0ba6329d0d14dacfdfd0965fb3aa3409d5dd5f3b30256739";
const std::string kReceivingKeyA = "12aefba21b22540f7478fc1ae59ee7dc25fcfac19293749c757a1cc72cc09b8e";
const std::string kEchoRequestA =  // IPv4 ICMP echo request 10.9.0.2 -> 10.9.0.1
    "4500003012344000400114850a0900020a090001080010ddbeef00016162636465666768696a6b6c6d6e6f7071727374";
const std::string kEchoRequestSealedA =
    "04000000b6e831f200000000000000006e2b3b1eeaf529d0aea7992925e07d211bd58d57769e87b3038f9822f18f9504"
    "30bd7be984d68f27190b929a3c5b44b55f6e22db1f5b308f836e29c4101c8e83";
const std::string kEchoReplySealedA =  // from wireguard-go
    "0400000004030201000000000000000050e69a2d029977027331d8b0f7258d18e03ef2e04fa0fea7007c7c7f4a124b35"
    "62ca936c51bf4984c44c6d1669dd55d126b09d274590a72a9d8305ddd2030c45";
const std::string kEchoReplyA =
    "4500003066910000400100280a0900010a090002000018ddbeef00016162636465666768696a6b6c6d6e6f7071727374";

// Exchange B: wireguard-go is the initiator.
const PrivateKey kSluiceResponderPrivate =
    unhex_array<32>("a0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e5f");
const char* const kResponderEphemeral = "7071727374757677788898a8b8c8d8e8f8091929394959697989a9b9c9d9e9f0";
const uint32_t kResponderIndex = 0x0a0b0c0d;
const std::string kInitiationB =  // from wireguard-go
    "010000008ac301f5d915ee6b086c8b2485744b4dfeee55dc76de4ae4e5ded9baf37c09c06fc052443868225ba5af561a"
    "4d563058bc237b1ddc40a0d9a60ba00ffde7b7b74eca58d9ee806580ea1a46700aa6d334b8f1f04cd09f321ea7b77979"
    "0da94522ea4c6d97650c0f95aff5dde931cef0cef7303e5f2d0870fea6a44a14f8b50f8a000000000000000000000000"
    "00000000";
const std::string kTimestampB = "400000006b01fd5a1c000000";
const std::string kResponseB =
    "020000000d0c0b0a8ac301f533cd5e5cfa64a192f003fff2e27c80f1d83cc76aeaff860dfd82146e73b86c2f01d71e4b"
    "a035413e0d459722515555c2e891bfa72ce0e16e88b8252ae6f2671800000000000000000000000000000000";
const std::string kSendingKeyB = "2d0c70e4349be11a54ba0f964085951d2cbcde578d2e33132aa254ca02b8f4b1";
const std::string kReceivingKeyB = "544b6f0ceae4d8cdee0f481d262ad850111beb7def2f8b97dad6b18e19a30dbc";
const std::string kEchoRequestSealedB =  // from wireguard-go
    "040000000d0c0b0a0000000000000000205c8b0b4e85206cebcb8fdc7cfd66c64209de3e66e1b2f3c4d3327ccbdefa10"
    "b86de057bd3acb33a114ec6d3028829f8485eedd4a94f3b9a546f1bbec3276f84ad802ec528f4807870a526e17f82819"
    "e6546cf626927a5a7e1fddd7e1eb65b3353d3a5294c504dfbbac82ceee507a52";
const std::string kEchoRequestB =  // IPv4 ICMP echo request 10.9.0.1 -> 10.9.0.2, padded to 96
    "45000054399540004001ecff0a0900010a090002080001d12593000150fd016b00000000b85f07000000000010111213"
    "1415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637000000000000000000000000";

}  // namespace

TEST_CASE("wireguard-go A: our initiation, byte for byte", "[noise][cookie][interop][kat]") {
  REQUIRE(crypto_init());
  const StaticIdentity local = identity(kSluiceInitiatorPrivate);
  Key static_static;
  REQUIRE(dh(static_static, local.private_key, kWireGuardGoPublic));

  InitiatorHandshake state;
  std::array<uint8_t, kHandshakeInitiationSize> initiation{};
  {
    ScriptedRandom random;
    random.push(unhex(kInitiatorEphemeral));
    REQUIRE(create_initiation(local, kWireGuardGoPublic, static_static, kPresharedKey, kInitiatorIndex,
                              tai64n_from_unix_ns(kInitiationWallNs), state, initiation));
    CHECK(random.remaining() == 0);
  }
  CookieMaker cookies;
  cookies.init(kWireGuardGoPublic);
  cookies.add_macs(initiation, 0);
  CHECK(hex(initiation) == kInitiationA);

  // Our responder side reads it as wireguard-go did.
  const StaticIdentity remote = identity(kWireGuardGoPrivate);
  CookieChecker checker;
  checker.init(remote.public_key);
  CHECK(checker.check_mac1(initiation));
  auto consumed = decrypt_initiation_static(remote, initiation);
  REQUIRE(consumed);
  CHECK(consumed->remote_static == local.public_key);
  Key remote_static_static;
  REQUIRE(dh(remote_static_static, remote.private_key, consumed->remote_static));
  REQUIRE(decrypt_initiation_timestamp(*consumed, remote_static_static, initiation));
  CHECK(consumed->timestamp == tai64n_from_unix_ns(kInitiationWallNs));
}

TEST_CASE("wireguard-go A: its response and transport packets", "[noise][cookie][transport][interop][kat]") {
  const StaticIdentity local = identity(kSluiceInitiatorPrivate);
  Key static_static;
  REQUIRE(dh(static_static, local.private_key, kWireGuardGoPublic));
  InitiatorHandshake state;
  std::array<uint8_t, kHandshakeInitiationSize> initiation{};
  {
    ScriptedRandom random;
    random.push(unhex(kInitiatorEphemeral));
    REQUIRE(create_initiation(local, kWireGuardGoPublic, static_static, kPresharedKey, kInitiatorIndex,
                              tai64n_from_unix_ns(kInitiationWallNs), state, initiation));
  }

  const auto response = packet<kHandshakeResponseSize>(kResponseA);
  CookieChecker checker;  // wireguard-go keyed mac1 with our public key
  checker.init(local.public_key);
  CHECK(checker.check_mac1(response));

  const auto keys = consume_response(state, local, kPresharedKey, response);
  REQUIRE(keys);
  CHECK(hex(keys->sending) == kSendingKeyA);
  CHECK(hex(keys->receiving) == kReceivingKeyA);
  Key zero{};
  CHECK_FALSE(consume_response(state, local, zero, response));  // the psk matters

  // Our echo request, as wireguard-go received and decrypted it.
  const auto request = unhex(kEchoRequestA);
  std::vector<uint8_t> buf(kTransportHeaderSize + padded_length(request.size()) + kAuthTagSize);
  std::copy(request.begin(), request.end(), buf.begin() + kTransportHeaderSize);
  const size_t len = seal_transport(keys->sending, sender_index_of(response), 0, buf.data(), request.size());
  buf.resize(len);
  CHECK(hex(buf) == kEchoRequestSealedA);

  // wireguard-go's echo reply.
  auto reply = unhex(kEchoReplySealedA);
  REQUIRE(classify_message(reply) == MessageType::TransportData);
  CHECK(receiver_index_of(reply) == kInitiatorIndex);
  const auto plain_len = open_transport(keys->receiving, transport_counter_of(reply.data()), reply.data(), reply.size());
  REQUIRE(plain_len);
  CHECK(hex(std::span<const uint8_t>(reply).subspan(kTransportHeaderSize, *plain_len)) == kEchoReplyA);
}

TEST_CASE("wireguard-go B: its initiation, our response, its transport packet", "[noise][cookie][transport][interop][kat]") {
  REQUIRE(crypto_init());
  const StaticIdentity local = identity(kSluiceResponderPrivate);
  const auto initiation = packet<kHandshakeInitiationSize>(kInitiationB);

  CookieChecker checker;
  checker.init(local.public_key);
  REQUIRE(checker.check_mac1(initiation));
  auto consumed = decrypt_initiation_static(local, initiation);
  REQUIRE(consumed);
  CHECK(consumed->remote_static == kWireGuardGoPublic);
  CHECK(consumed->remote_index == sender_index_of(initiation));
  Key static_static;
  REQUIRE(dh(static_static, local.private_key, consumed->remote_static));
  REQUIRE(decrypt_initiation_timestamp(*consumed, static_static, initiation));
  CHECK(hex(consumed->timestamp) == kTimestampB);

  std::array<uint8_t, kHandshakeResponseSize> response{};
  std::optional<SessionKeys> keys;
  {
    ScriptedRandom random;
    random.push(unhex(kResponderEphemeral));
    keys = create_response(*consumed, kPresharedKey, kResponderIndex, response);
  }
  REQUIRE(keys);
  CookieMaker cookies;
  cookies.init(kWireGuardGoPublic);
  cookies.add_macs(response, 0);
  CHECK(hex(response) == kResponseB);
  CHECK(hex(keys->sending) == kSendingKeyB);
  CHECK(hex(keys->receiving) == kReceivingKeyB);

  auto data = unhex(kEchoRequestSealedB);
  CHECK(receiver_index_of(data) == kResponderIndex);
  const auto plain_len = open_transport(keys->receiving, transport_counter_of(data.data()), data.data(), data.size());
  REQUIRE(plain_len);
  CHECK(hex(std::span<const uint8_t>(data).subspan(kTransportHeaderSize, *plain_len)) == kEchoRequestB);
}
