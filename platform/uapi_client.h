// The client side of the UAPI socket, for `sluice stats`: one request, one answer.
#pragma once

#include <string>
#include <string_view>

#include "platform/result.h"

namespace sluice::platform {

// Connects to socket_dir/INTERFACE.sock, sends `request` (a whole request, blank line
// included) and returns the answer up to and including its "errno=N" line and blank line.
// Fails if the socket is missing, the daemon closes early, or no answer comes within
// `timeout_ms`.
Result<std::string> uapi_request(const std::string& interface_name, std::string_view request,
                                 int timeout_ms = 5000,
                                 const std::string& socket_dir = "/var/run/wireguard");

}  // namespace sluice::platform
