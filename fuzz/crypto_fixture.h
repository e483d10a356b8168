// The fixed handshake state fuzz_crypto_messages works against, built the same way by the
// target and by the seed generator (same identities, same random stream), so that the
// generator's valid messages authenticate inside the target.
#pragma once

#include <array>

#include "crypto/cookie.h"
#include "crypto/noise.h"
#include "crypto/tai64n.h"
#include "crypto/x25519.h"
#include "fuzz_support.h"

namespace sluice::fuzz {

struct CryptoFixture {
  crypto::StaticIdentity initiator;
  crypto::StaticIdentity responder;
  crypto::Key static_static{};  // DH(initiator, responder), either way round
  crypto::Key preshared_key{};
  crypto::InitiatorHandshake handshake;  // the initiator's state after sending `initiation`
  std::array<uint8_t, crypto::kHandshakeInitiationSize> initiation{};  // macs filled in
  crypto::Key transport_key{};
  static constexpr uint32_t kInitiatorIndex = 0x01020304;
  static constexpr int64_t kWallNs = int64_t{1'700'000'000} * 1'000'000'000;
};

// Reseeds the random stream; call before anything else draws from it.
inline CryptoFixture make_crypto_fixture() {
  reseed_random(0x5eed);
  CryptoFixture f;
  f.initiator = identity_from(0x22);
  f.responder = identity_from(0x11);
  if (!crypto::dh(f.static_static, f.initiator.private_key, f.responder.public_key)) __builtin_trap();
  f.preshared_key.fill(0x44);
  f.transport_key.fill(0x33);
  if (!crypto::create_initiation(f.initiator, f.responder.public_key, f.static_static, f.preshared_key,
                                 CryptoFixture::kInitiatorIndex, crypto::tai64n_from_unix_ns(CryptoFixture::kWallNs),
                                 f.handshake, f.initiation))
    __builtin_trap();
  crypto::CookieMaker maker;
  maker.init(f.responder.public_key);
  maker.add_macs(f.initiation, 0);
  return f;
}

// The selectors of fuzz_crypto_messages: the first input byte modulo kCount.
enum class CryptoOp : uint8_t { Classify, Initiation, Response, CookieReply, Transport, CookieChecker, Count };

}  // namespace sluice::fuzz
