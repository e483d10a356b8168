// Conversions between our IpAddress and lwIP's ip_addr_t (both hold network byte order).
#pragma once

#include "lwip/ip_addr.h"
#include "tunnel/ip_address.h"

namespace sluice::ipstack {

ip_addr_t to_lwip(const IpAddress& a);
IpAddress from_lwip(const ip_addr_t& a);

}  // namespace sluice::ipstack
