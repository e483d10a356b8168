#include <catch2/catch.hpp>

#include <vector>

#include "crypto/transport.h"
#include "crypto/x25519.h"
#include "test_support.h"

using namespace sluice::crypto;

TEST_CASE("padded_length rounds up to 16", "[transport]") {
  CHECK(padded_length(0) == 0);
  CHECK(padded_length(1) == 16);
  CHECK(padded_length(16) == 16);
  CHECK(padded_length(17) == 32);
  CHECK(padded_length(1420) == 1424);
}

TEST_CASE("transport seal/open round trip with padding", "[transport]") {
  REQUIRE(crypto_init());
  const Key key = generate_private_key();
  for (size_t len : {0, 1, 15, 16, 17, 31, 100, 1420}) {
    INFO("len " << len);
    const size_t padded = padded_length(len);
    std::vector<uint8_t> packet(kTransportHeaderSize + padded + kAuthTagSize, 0xcc);  // 0xcc: stale bytes
    for (size_t i = 0; i < len; ++i) packet[kTransportHeaderSize + i] = static_cast<uint8_t>(i * 7 + 1);
    const uint64_t counter = 0x0102030405060708 + len;

    const size_t total = seal_transport(key, 0xa1b2c3d4, counter, packet.data(), len);
    REQUIRE(total == packet.size());
    CHECK(classify_message(packet) == MessageType::TransportData);
    CHECK(receiver_index_of(packet) == 0xa1b2c3d4);
    CHECK(transport_counter_of(packet.data()) == counter);

    auto opened = packet;
    const auto plain_len = open_transport(key, counter, opened.data(), opened.size());
    REQUIRE(plain_len);
    CHECK(*plain_len == padded);
    for (size_t i = 0; i < len; ++i) CHECK(opened[kTransportHeaderSize + i] == static_cast<uint8_t>(i * 7 + 1));
    for (size_t i = len; i < padded; ++i) CHECK(opened[kTransportHeaderSize + i] == 0);

    // Authentication covers every byte after the header, and the counter via the nonce.
    for (size_t i = kTransportHeaderSize; i < packet.size(); i += 3) {
      auto bad = packet;
      bad[i] ^= 1;
      CHECK_FALSE(open_transport(key, counter, bad.data(), bad.size()));
    }
    auto copy = packet;
    CHECK_FALSE(open_transport(key, counter + 1, copy.data(), copy.size()));
    copy = packet;
    CHECK_FALSE(open_transport(generate_private_key(), counter, copy.data(), copy.size()));
  }
}

TEST_CASE("open_transport refuses datagrams shorter than a keepalive", "[transport]") {
  const Key key = generate_private_key();
  std::vector<uint8_t> packet(kMinTransportSize);
  REQUIRE(seal_transport(key, 1, 0, packet.data(), 0) == kMinTransportSize);
  for (size_t len = 0; len < kMinTransportSize; ++len) CHECK_FALSE(open_transport(key, 0, packet.data(), len));
  CHECK(open_transport(key, 0, packet.data(), packet.size()) == size_t{0});
}

TEST_CASE("MTU-capped padding, as wireguard-go pads", "[transport]") {
  CHECK(padded_length(1419, 1420) == 1420);
  CHECK(padded_length(1420, 1420) == 1420);
  CHECK(padded_length(1400, 1420) == 1408);
  CHECK(padded_length(1, 1420) == 16);
  CHECK(padded_length(0, 1420) == 0);
  CHECK(padded_length(1500, 1420) == 1500);  // longer than the MTU: never truncated
  CHECK(padded_length(1419, 0) == 1424);     // no MTU: plain rounding

  const Key key = generate_private_key();
  std::vector<uint8_t> packet(kTransportHeaderSize + 1420 + kAuthTagSize, 0xcc);
  const size_t total = seal_transport(key, 1, 9, packet.data(), 1419, padded_length(1419, 1420));
  CHECK(total == packet.size());
  const auto plain_len = open_transport(key, 9, packet.data(), total);
  REQUIRE(plain_len);
  CHECK(*plain_len == 1420);
  CHECK(packet[kTransportHeaderSize + 1419] == 0);
}
