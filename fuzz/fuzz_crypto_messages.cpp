// The crypto layer's readers of untrusted bytes (crypto/messages.h, noise.h, cookie.h,
// transport.h) against fixed identities (crypto_fixture.h). The first byte selects the
// function (CryptoOp); the rest is the message. Fixed-size messages are given exactly their
// size (shorter inputs are zero-padded, longer ones cut), from an exact-size heap copy so ASan
// sees any read past the end. Seeds from seed_generator are genuine messages for this
// fixture, so the fuzzer starts on the success paths too.
#include <algorithm>
#include <vector>

#include "crypto/transport.h"
#include "crypto_fixture.h"

using namespace sluice;
using fuzz::CryptoOp;

namespace {

fuzz::CryptoFixture* fixture = nullptr;

template <size_t N>
std::vector<uint8_t> sized(std::span<const uint8_t> rest) {
  std::vector<uint8_t> v(N, 0);
  std::copy_n(rest.begin(), std::min(N, rest.size()), v.begin());
  return v;
}

void classify(std::span<const uint8_t> rest) {
  auto msg = fuzz::exact_copy(rest);
  auto type = crypto::classify_message(msg);
  const uint32_t receiver = crypto::receiver_index_of(msg);
  const uint32_t sender = crypto::sender_index_of(msg);
  if (!type) return;
  switch (*type) {
    case crypto::MessageType::HandshakeInitiation:
      FUZZ_CHECK(msg.size() == crypto::kHandshakeInitiationSize && receiver == 0);
      FUZZ_CHECK(sender == crypto::read_le32(&msg[crypto::kInitiationSenderOffset]));
      break;
    case crypto::MessageType::HandshakeResponse:
      FUZZ_CHECK(msg.size() == crypto::kHandshakeResponseSize);
      FUZZ_CHECK(receiver == crypto::read_le32(&msg[crypto::kResponseReceiverOffset]));
      break;
    case crypto::MessageType::CookieReply:
      FUZZ_CHECK(msg.size() == crypto::kCookieReplySize && sender == 0);
      break;
    case crypto::MessageType::TransportData:
      FUZZ_CHECK(msg.size() >= crypto::kMinTransportSize && sender == 0);
      FUZZ_CHECK(receiver == crypto::read_le32(&msg[crypto::kTransportReceiverOffset]));
      break;
  }
}

void initiation(std::span<const uint8_t> rest) {
  auto msg = sized<crypto::kHandshakeInitiationSize>(rest);
  std::span<const uint8_t, crypto::kHandshakeInitiationSize> m(msg.data(), msg.size());
  auto st = crypto::decrypt_initiation_static(fixture->responder, m);
  if (!st) return;
  // As the device: the static-static DH for whoever the initiation claims to be.
  crypto::Key ss;
  if (!crypto::dh(ss, fixture->responder.private_key, st->remote_static)) return;
  if (!crypto::decrypt_initiation_timestamp(*st, ss, m)) return;
  std::array<uint8_t, crypto::kHandshakeResponseSize> response;
  (void)crypto::create_response(*st, fixture->preshared_key, 7, response);
}

void response(std::span<const uint8_t> rest) {
  auto msg = sized<crypto::kHandshakeResponseSize>(rest);
  std::span<const uint8_t, crypto::kHandshakeResponseSize> m(msg.data(), msg.size());
  auto keys = crypto::consume_response(fixture->handshake, fixture->initiator, fixture->preshared_key, m);
  // Only a response to our own index can authenticate.
  if (keys) FUZZ_CHECK(crypto::receiver_index_of(msg) == fuzz::CryptoFixture::kInitiatorIndex);
}

void cookie_reply(std::span<const uint8_t> rest) {
  // A fresh maker per input whose last message is the fixture's initiation, as a peer has
  // after sending it; consume_reply then needs a reply bound to that initiation's mac1.
  crypto::CookieMaker maker;
  maker.init(fixture->responder.public_key);
  auto sent = fixture->initiation;
  maker.add_macs(sent, 0);
  auto msg = sized<crypto::kCookieReplySize>(rest);
  std::span<const uint8_t, crypto::kCookieReplySize> m(msg.data(), msg.size());
  const bool ok = maker.consume_reply(m, 1);
  if (ok) {
    // Each mac1 is answered once.
    FUZZ_CHECK(!maker.consume_reply(m, 2));
    // With a cookie held, mac2 of the next message is no longer zero.
    maker.add_macs(sent, 3);
    FUZZ_CHECK(std::any_of(sent.begin() + crypto::kInitiationMac2Offset, sent.end(), [](uint8_t b) { return b; }));
  }
}

void transport(std::span<const uint8_t> rest) {
  auto msg = fuzz::exact_copy(rest);
  const uint64_t counter = msg.size() >= crypto::kTransportHeaderSize ? crypto::transport_counter_of(msg.data()) : 0;
  auto plain = crypto::open_transport(fixture->transport_key, counter, msg.data(), msg.size());
  if (plain) FUZZ_CHECK(*plain == msg.size() - crypto::kMinTransportSize);
}

void cookie_checker(std::span<const uint8_t> rest) {
  if (rest.empty()) return;
  // First byte: source address family (an IPv4 or IPv6 address plus port, as the device binds).
  const size_t source_len = (rest[0] & 1) ? 18 : 6;
  rest = rest.subspan(1);
  std::vector<uint8_t> source(source_len, 0);
  std::copy_n(rest.begin(), std::min(source_len, rest.size()), source.begin());
  auto msg = fuzz::exact_copy(rest);
  crypto::CookieChecker checker;
  checker.init(fixture->responder.public_key);
  (void)checker.check_mac1(msg);
  FUZZ_CHECK(!checker.check_mac2(msg, source, 0));  // no cookie was ever handed out
  std::array<uint8_t, crypto::kCookieReplySize> reply;
  reply.fill(0xaa);
  checker.create_reply(msg, 9, source, 0, reply);
  const bool handshake_size =
      msg.size() == crypto::kHandshakeInitiationSize || msg.size() == crypto::kHandshakeResponseSize;
  if (!handshake_size) {
    FUZZ_CHECK(std::all_of(reply.begin(), reply.end(), [](uint8_t b) { return b == 0; }));
    return;
  }
  FUZZ_CHECK(crypto::classify_message(reply) == crypto::MessageType::CookieReply);
  FUZZ_CHECK(crypto::receiver_index_of(reply) == 9);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_deterministic_process();
  fixture = new fuzz::CryptoFixture(fuzz::make_crypto_fixture());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  fuzz::reseed_random(size);  // cookie secrets and nonces: reproducible per input
  std::span<const uint8_t> rest(data + 1, size - 1);
  switch (static_cast<CryptoOp>(data[0] % static_cast<uint8_t>(CryptoOp::Count))) {
    case CryptoOp::Classify: classify(rest); break;
    case CryptoOp::Initiation: initiation(rest); break;
    case CryptoOp::Response: response(rest); break;
    case CryptoOp::CookieReply: cookie_reply(rest); break;
    case CryptoOp::Transport: transport(rest); break;
    case CryptoOp::CookieChecker: cookie_checker(rest); break;
    case CryptoOp::Count: break;
  }
  return 0;
}
