#include "ipstack/lwip_port.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "crypto/blake2s.h"
#include "ipstack/lwip_clock.h"
#include "lwip/ip_addr.h"
#include "lwip_hooks.h"

namespace sluice::ipstack {

namespace {
// Key of the RFC 6528 sequence-number hash; drawn once, lives as long as the process because
// lwIP's connections (and TIME_WAIT state) outlive any one IpStack.
std::array<uint8_t, 32> isn_secret{};
bool port_ready = false;

// Appends an address in a fixed 17-byte form (family, then 16 bytes) so that IPv4 and IPv6
// tuples never hash alike.
uint8_t* put_address(uint8_t* out, const ip_addr_t* a) {
  std::memset(out, 0, 17);
  if (a == nullptr) return out + 17;
  if (IP_IS_V6(a)) {
    out[0] = 6;
    std::memcpy(out + 1, ip_2_ip6(a)->addr, 16);
  } else {
    out[0] = 4;
    std::memcpy(out + 1, &ip_2_ip4(a)->addr, 4);
  }
  return out + 17;
}
}  // namespace

void lwip_port_init() {
  if (port_ready) return;
  if (sodium_init() < 0) {
    spdlog::critical("ipstack: libsodium failed to initialise");
    std::abort();
  }
  randombytes_buf(isn_secret.data(), isn_secret.size());
  port_ready = true;
}

}  // namespace sluice::ipstack

extern "C" unsigned int sluice_lwip_rand(void) { return randombytes_random(); }

extern "C" void sluice_lwip_assert(const char* message, const char* file, int line) {
  spdlog::critical("lwIP assertion failed: {} at {}:{}", message, file, line);
  std::fprintf(stderr, "lwIP assertion failed: %s at %s:%d\n", message, file, line);
  std::abort();
}

extern "C" void sluice_lwip_diag(const char* format, ...) {
  char text[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  spdlog::debug("lwIP: {}", text);
}

// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a timer that
// ticks every 4 microseconds (250 per millisecond of lwIP's clock), F a keyed hash.
extern "C" u32_t sluice_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port,
                                     const ip_addr_t* remote_ip, u16_t remote_port) {
  uint8_t tuple[17 + 17 + 4];
  uint8_t* p = sluice::ipstack::put_address(tuple, local_ip);
  p = sluice::ipstack::put_address(p, remote_ip);
  p[0] = static_cast<uint8_t>(local_port >> 8);
  p[1] = static_cast<uint8_t>(local_port);
  p[2] = static_cast<uint8_t>(remote_port >> 8);
  p[3] = static_cast<uint8_t>(remote_port);
  const auto digest = sluice::crypto::mac(sluice::ipstack::isn_secret, tuple);
  uint32_t f = 0;
  std::memcpy(&f, digest.data(), sizeof f);
  return f + sluice::ipstack::lwip_clock_now_ms() * 250u;
}
