// Turns a configured peer endpoint host into an address, the way wg(8) does.
#pragma once

#include <cstdint>
#include <string>

#include "platform/result.h"
#include "tunnel/ip_address.h"

namespace sluice::platform {

// An IPv4 or IPv6 literal (brackets allowed: "[2001:db8::1]") is returned without any lookup.
// Otherwise getaddrinfo(AF_UNSPEC, AI_ADDRCONFIG) is asked and, as in wg(8), its first answer
// wins: that is the system's RFC 6724 order (tunable in /etc/gai.conf), which usually puts
// IPv6 first when the host has global IPv6 connectivity and IPv4 first otherwise; with
// AI_ADDRCONFIG a family the host has no address for is never returned. v4-mapped answers
// become plain IPv4.
// Blocks on DNS: call it before the event loop runs or off its thread. A temporary failure
// (EAI_AGAIN) has Error::code == EAGAIN so the caller can retry, as wg does.
Result<Endpoint> resolve_endpoint(const std::string& host, uint16_t port);

}  // namespace sluice::platform
