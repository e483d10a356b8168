// Declarations for the hooks lwipopts.h installs (lwIP includes this file through
// LWIP_HOOK_FILENAME, after its own headers, so lwIP's types are known here).
#pragma once

#include "lwip/arch.h"
#include "lwip/ip_addr.h"

#ifdef __cplusplus
extern "C" {
#endif

// RFC 6528 initial sequence number for a new connection (ipstack/lwip_port.cpp).
u32_t sluice_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip,
                          u16_t remote_port);

#ifdef __cplusplus
}
#endif
