#include <catch2/catch.hpp>

#include <vector>

#include "crypto/messages.h"

using namespace sluice::crypto;

namespace {

std::vector<uint8_t> message(uint8_t type, size_t size) {
  std::vector<uint8_t> m(size, 0x5a);
  if (size > 0) m[0] = type;
  for (size_t i = 1; i < 4 && i < size; ++i) m[i] = 0;
  return m;
}

}  // namespace

TEST_CASE("classify_message accepts exactly the four wire formats", "[messages]") {
  CHECK(classify_message(message(1, 148)) == MessageType::HandshakeInitiation);
  CHECK(classify_message(message(2, 92)) == MessageType::HandshakeResponse);
  CHECK(classify_message(message(3, 64)) == MessageType::CookieReply);
  CHECK(classify_message(message(4, 32)) == MessageType::TransportData);
  CHECK(classify_message(message(4, 1500)) == MessageType::TransportData);

  CHECK_FALSE(classify_message(message(1, 147)));
  CHECK_FALSE(classify_message(message(1, 149)));
  CHECK_FALSE(classify_message(message(2, 91)));
  CHECK_FALSE(classify_message(message(2, 93)));
  CHECK_FALSE(classify_message(message(3, 63)));
  CHECK_FALSE(classify_message(message(3, 65)));
  CHECK_FALSE(classify_message(message(4, 31)));
  CHECK_FALSE(classify_message(message(4, 16)));
  CHECK_FALSE(classify_message(message(0, 148)));
  CHECK_FALSE(classify_message(message(5, 148)));
  CHECK_FALSE(classify_message(message(0xff, 32)));
  CHECK_FALSE(classify_message({}));
  CHECK_FALSE(classify_message(message(4, 3)));

  for (size_t reserved = 1; reserved < 4; ++reserved) {
    auto m = message(1, 148);
    m[reserved] = 1;
    CHECK_FALSE(classify_message(m));
  }
  // The type is one byte, not a little-endian u32 with garbage above it.
  auto m = message(4, 40);
  m[3] = 4;
  CHECK_FALSE(classify_message(m));
}

TEST_CASE("little-endian helpers", "[messages]") {
  uint8_t buf[8] = {};
  write_le32(buf, 0x01020304);
  CHECK(buf[0] == 0x04);
  CHECK(buf[3] == 0x01);
  CHECK(read_le32(buf) == 0x01020304);
  write_le64(buf, 0x0102030405060708);
  CHECK(buf[0] == 0x08);
  CHECK(buf[7] == 0x01);
  CHECK(read_le64(buf) == 0x0102030405060708);
  write_le64(buf, ~uint64_t{0});
  CHECK(read_le64(buf) == ~uint64_t{0});
}

TEST_CASE("receiver and sender indices", "[messages]") {
  auto init = message(1, 148);
  write_le32(init.data() + kInitiationSenderOffset, 0xdeadbeef);
  CHECK(sender_index_of(init) == 0xdeadbeef);
  CHECK(receiver_index_of(init) == 0);

  auto resp = message(2, 92);
  write_le32(resp.data() + kResponseSenderOffset, 11);
  write_le32(resp.data() + kResponseReceiverOffset, 22);
  CHECK(sender_index_of(resp) == 11);
  CHECK(receiver_index_of(resp) == 22);

  auto cookie = message(3, 64);
  write_le32(cookie.data() + kCookieReplyReceiverOffset, 33);
  CHECK(receiver_index_of(cookie) == 33);
  CHECK(sender_index_of(cookie) == 0);

  auto data = message(4, 32);
  write_le32(data.data() + kTransportReceiverOffset, 44);
  CHECK(receiver_index_of(data) == 44);

  // Truncated input is never read past its end.
  CHECK(receiver_index_of(std::span<const uint8_t>(resp).first(10)) == 0);
  CHECK(receiver_index_of(std::span<const uint8_t>(data).first(7)) == 0);
  CHECK(sender_index_of(std::span<const uint8_t>(init).first(5)) == 0);
  CHECK(receiver_index_of({}) == 0);
  CHECK(sender_index_of({}) == 0);
}

TEST_CASE("layout constants agree with each other", "[messages]") {
  STATIC_REQUIRE(kInitiationMac2Offset + 16 == kHandshakeInitiationSize);
  STATIC_REQUIRE(kResponseMac2Offset + 16 == kHandshakeResponseSize);
  STATIC_REQUIRE(kCookieReplyCookieOffset + kCookieSize + kAuthTagSize == kCookieReplySize);
  STATIC_REQUIRE(kCookieReplyNonceOffset + kCookieNonceSize == kCookieReplyCookieOffset);
  STATIC_REQUIRE(kMinTransportSize == 32);
}
