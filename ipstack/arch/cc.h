// lwIP's compiler and platform glue (lwIP includes it from lwip/arch.h). Types and format
// strings come from <stdint.h>/<inttypes.h>, which lwIP uses by default.
#pragma once

// Byte order from the C library, so BYTE_ORDER is defined once, the same way our C++ code
// and glibc/Darwin headers see it.
#if defined(__APPLE__)
#include <machine/endian.h>
#else
#include <endian.h>
#endif

#if BYTE_ORDER == LITTLE_ENDIAN
#define LWIP_PLATFORM_HTONS(x) __builtin_bswap16(x)
#define LWIP_PLATFORM_HTONL(x) __builtin_bswap32(x)
#endif

#ifdef __cplusplus
extern "C" {
#endif

// Defined in ipstack/lwip_port.cpp.
// Random numbers for lwIP's initial local ports and IPv6 choices: libsodium's generator, so a
// fuzz input or a simulation that seeds it replays exactly.
unsigned int sluice_lwip_rand(void);
// A failed lwIP assertion: an internal invariant is broken, so continuing could corrupt
// memory. Logs and aborts, as assert() would.
void sluice_lwip_assert(const char* message, const char* file, int line) __attribute__((noreturn));
// lwIP's diagnostics (only with LWIP_DEBUG): forwarded to spdlog at debug level.
void sluice_lwip_diag(const char* format, ...) __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif

#define LWIP_RAND() ((u32_t)sluice_lwip_rand())
#define LWIP_PLATFORM_ASSERT(x) sluice_lwip_assert((x), __FILE__, __LINE__)
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
    sluice_lwip_diag x;       \
  } while (0)
