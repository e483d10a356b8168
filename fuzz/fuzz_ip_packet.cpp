// tunnel/ip_packet.h: the header reader every inner packet goes through, in both directions.
// Beyond staying in bounds, the result must describe the buffer honestly, because the device
// trusts total_length to cut padding and header_length to find the transport header.
#include <cstring>

#include "fuzz_support.h"
#include "tunnel/ip_packet.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> packet(data, size);
  auto info = parse_ip_packet(packet);
  auto length = ip_packet_length(packet);

  // The two entry points share one check and must agree.
  FUZZ_CHECK(info.has_value() == length.has_value());
  if (!info) return 0;
  FUZZ_CHECK(*length == info->total_length);

  FUZZ_CHECK(info->header_length <= info->total_length);
  FUZZ_CHECK(info->total_length <= size);
  if (info->family == IpFamily::v4) {
    FUZZ_CHECK(data[0] >> 4 == 4);
    FUZZ_CHECK(info->header_length >= kIpv4MinHeaderLength && info->header_length <= 60);
    FUZZ_CHECK(info->header_length % 4 == 0);
    FUZZ_CHECK(info->total_length == (uint32_t{data[2]} << 8 | data[3]));
    FUZZ_CHECK(info->protocol == data[9]);
    FUZZ_CHECK(std::memcmp(info->source.bytes.data(), data + 12, 4) == 0);
    FUZZ_CHECK(std::memcmp(info->destination.bytes.data(), data + 16, 4) == 0);
  } else {
    FUZZ_CHECK(data[0] >> 4 == 6);
    FUZZ_CHECK(info->header_length == kIpv6HeaderLength);
    FUZZ_CHECK(info->total_length == kIpv6HeaderLength + (uint32_t{data[4]} << 8 | data[5]));
    FUZZ_CHECK(info->protocol == data[6]);
    FUZZ_CHECK(std::memcmp(info->source.bytes.data(), data + 8, 16) == 0);
    FUZZ_CHECK(std::memcmp(info->destination.bytes.data(), data + 24, 16) == 0);
  }
  FUZZ_CHECK(info->source.family == info->family && info->destination.family == info->family);

  // Padding is ignored: the packet cut to its own length reads the same, from an exact-size
  // buffer so that a read past total_length would be caught.
  auto cut = fuzz::exact_copy(packet.first(info->total_length));
  auto again = parse_ip_packet(cut);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->total_length == info->total_length && again->header_length == info->header_length &&
             again->protocol == info->protocol && again->source == info->source &&
             again->destination == info->destination);
  return 0;
}
