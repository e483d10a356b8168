#include "ipstack/lwip_address.h"

#include <cstring>

namespace sluice::ipstack {

ip_addr_t to_lwip(const IpAddress& a) {
  ip_addr_t out;
  if (a.family == IpFamily::v4) {
    ip_addr_set_zero_ip4(&out);
    std::memcpy(&ip_2_ip4(&out)->addr, a.bytes.data(), 4);
  } else {
    ip_addr_set_zero_ip6(&out);
    std::memcpy(ip_2_ip6(&out)->addr, a.bytes.data(), 16);
  }
  return out;
}

IpAddress from_lwip(const ip_addr_t& a) {
  if (IP_IS_V6_VAL(a)) {
    return IpAddress::v6(reinterpret_cast<const uint8_t*>(ip_2_ip6(&a)->addr));
  }
  return IpAddress::v4(reinterpret_cast<const uint8_t*>(&ip_2_ip4(&a)->addr));
}

}  // namespace sluice::ipstack
