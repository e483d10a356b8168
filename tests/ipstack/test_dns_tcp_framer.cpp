// DnsTcpFramer: length-prefixed DNS messages out of a TCP byte stream cut at every possible
// place.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "ipstack/dns_tcp_framer.h"
#include "tcp_peer.h"

using sluice::ipstack::DnsTcpFramer;
using sluice::test::dns_tcp_frame;

namespace {

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<uint8_t> concat(const std::vector<std::vector<uint8_t>>& parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST_CASE("DnsTcpFramer yields the same messages however the stream is cut", "[framer]") {
  const std::vector<std::vector<uint8_t>> messages{bytes("first query"), bytes("q2"),
                                                   std::vector<uint8_t>(300, 0xab), bytes("z")};
  std::vector<std::vector<uint8_t>> framed;
  for (const auto& m : messages) framed.push_back(dns_tcp_frame(m));
  const std::vector<uint8_t> stream = concat(framed);

  // Every cut into two pieces, and pieces of every fixed size.
  std::vector<std::vector<size_t>> cuttings;
  for (size_t cut = 0; cut <= stream.size(); ++cut) cuttings.push_back({cut, stream.size() - cut});
  for (size_t step = 1; step <= 7; ++step) {
    std::vector<size_t> sizes;
    for (size_t at = 0; at < stream.size(); at += step) sizes.push_back(std::min(step, stream.size() - at));
    cuttings.push_back(sizes);
  }
  for (const auto& sizes : cuttings) {
    DnsTcpFramer framer(300);
    std::vector<std::vector<uint8_t>> seen;
    size_t at = 0;
    for (size_t n : sizes) {
      auto status = framer.feed(std::span<const uint8_t>(stream.data() + at, n), [&](auto m) {
        seen.emplace_back(m.begin(), m.end());
        return true;
      });
      REQUIRE(status == DnsTcpFramer::Status::Ok);
      at += n;
    }
    REQUIRE(seen == messages);
    CHECK(framer.buffered() == 0);
  }
}

TEST_CASE("DnsTcpFramer holds a partial message and reports how much", "[framer]") {
  DnsTcpFramer framer(100);
  const auto frame = dns_tcp_frame(bytes("hello"));
  int calls = 0;
  auto count = [&](auto) {
    ++calls;
    return true;
  };
  CHECK(framer.feed(std::span(frame).first(1), count) == DnsTcpFramer::Status::Ok);
  CHECK(framer.buffered() == 1);
  CHECK(framer.feed(std::span(frame).subspan(1, 4), count) == DnsTcpFramer::Status::Ok);
  CHECK(framer.buffered() == 5);
  CHECK(calls == 0);
  CHECK(framer.feed(std::span(frame).subspan(5), count) == DnsTcpFramer::Status::Ok);
  CHECK(calls == 1);
  CHECK(framer.buffered() == 0);
}

TEST_CASE("DnsTcpFramer refuses oversized and empty messages", "[framer]") {
  DnsTcpFramer framer(10);
  auto never = [](auto) {
    FAIL("no message expected");
    return true;
  };
  const std::vector<uint8_t> eleven{0, 11, 1, 2, 3};
  CHECK(framer.feed(eleven, never) == DnsTcpFramer::Status::MessageTooLarge);
  framer.reset();
  const std::vector<uint8_t> empty{0, 0, 1};
  CHECK(framer.feed(empty, never) == DnsTcpFramer::Status::EmptyMessage);
  framer.reset();
  // Exactly the limit is fine, and so is 65535 with a big enough framer.
  const auto ten = dns_tcp_frame(std::vector<uint8_t>(10, 7));
  int calls = 0;
  CHECK(framer.feed(ten, [&](auto m) {
    ++calls;
    CHECK(m.size() == 10);
    return true;
  }) == DnsTcpFramer::Status::Ok);
  CHECK(calls == 1);
  DnsTcpFramer big(65535);
  const auto max = dns_tcp_frame(std::vector<uint8_t>(65535, 1));
  CHECK(big.feed(max, [&](auto m) {
    ++calls;
    CHECK(m.size() == 65535);
    return true;
  }) == DnsTcpFramer::Status::Ok);
  CHECK(calls == 2);
}

TEST_CASE("DnsTcpFramer stops when the callback says so", "[framer]") {
  DnsTcpFramer framer(50);
  const auto stream = concat({dns_tcp_frame(bytes("a")), dns_tcp_frame(bytes("b"))});
  int calls = 0;
  CHECK(framer.feed(stream, [&](auto) {
    ++calls;
    return false;
  }) == DnsTcpFramer::Status::Stopped);
  CHECK(calls == 1);
}
