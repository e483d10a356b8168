#include <catch2/catch.hpp>
#include <vector>

#include "platform/netlink_message.h"

using namespace sluice::platform;

TEST_CASE("NetlinkRequest lays out header, family header and padded attributes", "[netlink]") {
  ifinfomsg link{};
  link.ifi_index = 7;
  NetlinkRequest request(RTM_NEWLINK, NLM_F_ACK, link);
  request.put_attribute(IFLA_IFNAME, "abc", 4);
  request.put_u32(IFLA_MTU, 1420);
  const auto bytes = request.finish(42);
  REQUIRE(bytes.size() == NLMSG_HDRLEN + NLMSG_ALIGN(sizeof link) + RTA_SPACE(4) + RTA_SPACE(4));

  int messages = 0;
  for_each_message(bytes, [&](const NetlinkMessageView& m) {
    ++messages;
    CHECK(m.type == RTM_NEWLINK);
    CHECK(m.sequence == 42);
    CHECK(m.flags == (NLM_F_REQUEST | NLM_F_ACK));
    ifinfomsg parsed{};
    REQUIRE(m.read_header(parsed));
    CHECK(parsed.ifi_index == 7);
    std::vector<uint16_t> types;
    for_each_attribute(attributes_after(m.payload, sizeof parsed),
                       [&](uint16_t type, std::span<const uint8_t> v) {
                         types.push_back(type);
                         if (type == IFLA_MTU) CHECK(v.size() == 4);
                       });
    CHECK(types == std::vector<uint16_t>{IFLA_IFNAME, IFLA_MTU});
  });
  CHECK(messages == 1);
}

TEST_CASE("Netlink reply walking stops at malformed lengths", "[netlink]") {
  ifinfomsg link{};
  NetlinkRequest request(RTM_NEWLINK, 0, link);
  request.put_u32(IFLA_MTU, 1);
  const auto good = request.finish(1);
  std::vector<uint8_t> bytes(good.begin(), good.end());

  // Every truncation is either skipped whole or parsed within bounds (ASan checks the reads).
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    int seen = 0;
    for_each_message(std::span<const uint8_t>(bytes.data(), cut),
                     [&](const NetlinkMessageView&) { ++seen; });
    CHECK(seen == 0);
  }
  // An attribute claiming more than is there is not visited.
  bytes[NLMSG_HDRLEN + NLMSG_ALIGN(sizeof link)] = 200;
  int attributes = 0;
  for_each_message(bytes, [&](const NetlinkMessageView& m) {
    for_each_attribute(attributes_after(m.payload, sizeof link),
                       [&](uint16_t, std::span<const uint8_t>) { ++attributes; });
  });
  CHECK(attributes == 0);
  // A message length below the header size ends the walk.
  bytes[0] = 4;
  bytes[1] = bytes[2] = bytes[3] = 0;
  int seen = 0;
  for_each_message(bytes, [&](const NetlinkMessageView&) { ++seen; });
  CHECK(seen == 0);
}
