// mac1, mac2 and cookie replies between a CookieMaker (initiator) and CookieChecker (responder).
#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "crypto/blake2s.h"
#include "crypto/cookie.h"
#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::bytes_of;
using sluice::crypto::test::hex;
using sluice::crypto::test::unhex_array;

namespace {

constexpr int64_t kSecond = 1'000'000'000;

std::vector<uint8_t> initiation_like(uint8_t fill) {
  std::vector<uint8_t> m(kHandshakeInitiationSize, fill);
  m[0] = 1;
  m[1] = m[2] = m[3] = 0;
  return m;
}

const std::array<uint8_t, 6> kSourceA = {192, 0, 2, 1, 0xca, 0x6c};
const std::array<uint8_t, 6> kSourceB = {192, 0, 2, 2, 0xca, 0x6c};

bool mac2_is_zero(std::span<const uint8_t> msg, size_t offset) {
  return std::all_of(msg.begin() + static_cast<std::ptrdiff_t>(offset),
                     msg.begin() + static_cast<std::ptrdiff_t>(offset + kMacSize), [](uint8_t b) { return b == 0; });
}

}  // namespace

TEST_CASE("mac1 is MAC(HASH(\"mac1----\" || receiver public key), message up to mac1)", "[cookie][kat]") {
  REQUIRE(crypto_init());
  const PublicKey responder = unhex_array<32>("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto msg = initiation_like(0x42);
  CookieMaker maker;
  maker.init(responder);
  maker.add_macs(msg, 0);

  const Key mac1_key = hash(bytes_of("mac1----"), responder);
  const Mac expected = mac(mac1_key, std::span<const uint8_t>(msg).first(kInitiationMac1Offset));
  CHECK(std::equal(expected.begin(), expected.end(), msg.begin() + kInitiationMac1Offset));
  CHECK(mac2_is_zero(msg, kInitiationMac2Offset));
}

TEST_CASE("mac1 round trip for initiations and responses", "[cookie]") {
  const PublicKey responder_public = public_key_of(generate_private_key());
  CookieChecker checker;
  checker.init(responder_public);
  CookieMaker maker;
  maker.init(responder_public);

  for (size_t size : {kHandshakeInitiationSize, kHandshakeResponseSize}) {
    std::vector<uint8_t> msg(size, 0x33);
    msg[0] = size == kHandshakeInitiationSize ? 1 : 2;
    msg[1] = msg[2] = msg[3] = 0;
    CHECK_FALSE(checker.check_mac1(msg));
    maker.add_macs(msg, 0);
    CHECK(checker.check_mac1(msg));
    const size_t mac1_offset = size == kHandshakeInitiationSize ? kInitiationMac1Offset : kResponseMac1Offset;
    for (size_t i = 0; i < mac1_offset + kMacSize; i += 5) {
      auto bad = msg;
      bad[i] ^= 4;
      INFO("size " << size << " byte " << i);
      CHECK_FALSE(checker.check_mac1(bad));
    }
    // mac2 is not covered by mac1.
    auto mac2_changed = msg;
    mac2_changed.back() ^= 1;
    CHECK(checker.check_mac1(mac2_changed));
  }

  // A checker for another key does not accept it; odd sizes are never valid.
  CookieChecker other;
  other.init(public_key_of(generate_private_key()));
  auto msg = initiation_like(1);
  maker.add_macs(msg, 0);
  CHECK_FALSE(other.check_mac1(msg));
  std::vector<uint8_t> odd(100, 0);
  maker.add_macs(odd, 0);
  CHECK(std::all_of(odd.begin(), odd.end(), [](uint8_t b) { return b == 0; }));
  CHECK_FALSE(checker.check_mac1(odd));
}

TEST_CASE("cookie reply round trip, mac2, and expiry after 120 s", "[cookie]") {
  const PublicKey responder_public = public_key_of(generate_private_key());
  CookieChecker checker;
  checker.init(responder_public);
  CookieMaker maker;
  maker.init(responder_public);

  const int64_t t0 = 1000 * kSecond;
  auto msg = initiation_like(7);
  maker.add_macs(msg, t0);
  REQUIRE(checker.check_mac1(msg));
  CHECK_FALSE(checker.check_mac2(msg, kSourceA, t0));  // no cookie yet

  // Under load the responder answers with a cookie reply instead of a response.
  std::array<uint8_t, kCookieReplySize> reply{};
  checker.create_reply(msg, 0xabcdef01, kSourceA, t0, reply);
  CHECK(classify_message(reply) == MessageType::CookieReply);
  CHECK(receiver_index_of(reply) == 0xabcdef01);

  // Tampered replies are refused and do not use up the mac1. The receiver index only routes
  // the reply to a peer and is not authenticated.
  for (size_t i = 0; i < reply.size(); i += 3) {
    if (i >= kCookieReplyReceiverOffset && i < kCookieReplyNonceOffset) continue;
    auto bad = reply;
    bad[i] ^= 0x10;
    INFO("byte " << i);
    CHECK_FALSE(maker.consume_reply(bad, t0));
  }
  REQUIRE(maker.consume_reply(reply, t0 + kSecond));
  CHECK_FALSE(maker.consume_reply(reply, t0 + kSecond));  // each mac1 answered once

  // The retried initiation carries mac2, valid from the same source only.
  auto retry = initiation_like(8);
  maker.add_macs(retry, t0 + 2 * kSecond);
  CHECK(checker.check_mac1(retry));
  CHECK_FALSE(mac2_is_zero(retry, kInitiationMac2Offset));
  CHECK(checker.check_mac2(retry, kSourceA, t0 + 2 * kSecond));
  CHECK_FALSE(checker.check_mac2(retry, kSourceB, t0 + 2 * kSecond));
  auto bad = retry;
  bad[kInitiationMac2Offset] ^= 1;
  CHECK_FALSE(checker.check_mac2(bad, kSourceA, t0 + 2 * kSecond));
  bad = retry;
  bad[50] ^= 1;
  CHECK_FALSE(checker.check_mac2(bad, kSourceA, t0 + 2 * kSecond));

  // The responder's secret dies 120 s after it was made: its cookies with it.
  CHECK(checker.check_mac2(retry, kSourceA, t0 + 120 * kSecond - 1));
  CHECK_FALSE(checker.check_mac2(retry, kSourceA, t0 + 120 * kSecond));

  // The initiator stops sending a cookie 120 s after receiving it.
  auto late = initiation_like(9);
  maker.add_macs(late, t0 + kSecond + 120 * kSecond - 1);
  CHECK_FALSE(mac2_is_zero(late, kInitiationMac2Offset));
  maker.add_macs(late, t0 + kSecond + 120 * kSecond);
  CHECK(mac2_is_zero(late, kInitiationMac2Offset));

  // A new reply after expiry rotates the secret; the new cookie works again.
  auto again = initiation_like(10);
  const int64_t t1 = t0 + 200 * kSecond;
  maker.add_macs(again, t1);
  checker.create_reply(again, 1, kSourceA, t1, reply);
  REQUIRE(maker.consume_reply(reply, t1));
  maker.add_macs(again, t1);
  CHECK(checker.check_mac2(again, kSourceA, t1));
  CHECK_FALSE(checker.check_mac2(retry, kSourceA, t1));  // old cookie, old secret
}

TEST_CASE("cookie replies must answer our latest mac1", "[cookie]") {
  const PublicKey responder_public = public_key_of(generate_private_key());
  CookieChecker checker;
  checker.init(responder_public);
  CookieMaker maker;
  maker.init(responder_public);

  auto first = initiation_like(1);
  std::array<uint8_t, kCookieReplySize> reply{};
  checker.create_reply(first, 1, kSourceA, 0, reply);
  CHECK_FALSE(maker.consume_reply(reply, 0));  // we never sent anything

  maker.add_macs(first, 0);
  auto second = initiation_like(2);
  maker.add_macs(second, 0);
  checker.create_reply(first, 1, kSourceA, 0, reply);
  CHECK_FALSE(maker.consume_reply(reply, 0));  // answers an older message
  checker.create_reply(second, 1, kSourceA, 0, reply);
  CHECK(maker.consume_reply(reply, 0));

  // A reply encrypted for another responder key is refused.
  CookieChecker impostor;
  impostor.init(public_key_of(generate_private_key()));
  auto third = initiation_like(3);
  maker.add_macs(third, 0);
  impostor.create_reply(third, 1, kSourceA, 0, reply);
  CHECK_FALSE(maker.consume_reply(reply, 0));

  // Re-initialising for a new peer key forgets the cookie.
  maker.init(public_key_of(generate_private_key()));
  maker.add_macs(third, 0);
  CHECK(mac2_is_zero(third, kInitiationMac2Offset));
}

TEST_CASE("cookie reply for an unrecognisable message is all zero", "[cookie]") {
  CookieChecker checker;
  checker.init(public_key_of(generate_private_key()));
  std::vector<uint8_t> odd(50, 1);
  std::array<uint8_t, kCookieReplySize> reply;
  reply.fill(0xee);
  checker.create_reply(odd, 1, kSourceA, 0, reply);
  CHECK(std::all_of(reply.begin(), reply.end(), [](uint8_t b) { return b == 0; }));
  CHECK_FALSE(checker.check_mac2(odd, kSourceA, 0));
}
