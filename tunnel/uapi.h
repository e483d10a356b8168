// The cross-platform userspace API (https://www.wireguard.com/xplatform/): the text protocol
// that wg(8) speaks over /var/run/wireguard/IFACE.sock. Behaviour follows wireguard-go's
// device/uapi.go, the implementation wg(8) is tested against. Only text is handled here; the
// socket lives in platform/ and the device applies the DeviceChange.
//
// Every parser takes the whole text as a string_view, never throws and never reads outside
// it, so each can be a libFuzzer entry point as is.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "tunnel/device_config.h"

namespace sluice {

// One request ("set=1\n" or "get=1\n", its lines and the blank line) may not exceed this.
// wg(8) sends about 80 bytes per peer and per allowed IP, so this is thousands of peers.
inline constexpr size_t kMaxUapiRequestBytes = 1 << 20;

struct UapiError {
  int errno_value = 0;  // positive errno, e.g. EINVAL; format_uapi_errno() negates it on the wire
  std::string message;  // for the log; never sent to the client (the protocol has no room for it)
};

// Parses the body of a set=1 request: the lines after "set=1", up to and optionally including
// the blank line that ends it (text after that blank line is an error). Lines may end in
// "\r\n", as Go's bufio.Scanner allows. Keys are case-sensitive and nothing is trimmed.
//
// The result is fully validated and nothing is applied. It is the whole request in order, so
// the device applies it as wireguard-go would line by line:
//  - `remove` on a peer wins over everything else in that peer's section;
//  - `replace_allowed_ips` drops the allowed_ip lines that came before it in the section;
//  - a public_key may appear in several sections; they are applied in order;
//  - repeated device keys, and repeated single-valued peer keys in one section: the last wins;
//  - a public_key equal to the device's own public key must be ignored by the device.
// Errno values are wireguard-go's: EPROTO for a line without '=', EINVAL for everything else.
std::variant<DeviceChange, UapiError> parse_uapi_set(std::string_view body);

// The body of a set=1 request for `change` (without "set=1\n" and without the blank line), in
// wg(8)'s key order. parse_uapi_set(format_uapi_set(c)) gives back c.
std::string format_uapi_set(const DeviceChange& change);

// The body of a get=1 answer, without the trailing "errno=0\n\n", exactly as wireguard-go
// writes it: private_key (if set and not zero), listen_port and fwmark (if not zero), then for
// each peer public_key, preshared_key (zeros if none), protocol_version=1, endpoint (if set),
// last_handshake_time_sec/_nsec, tx_bytes, rx_bytes, persistent_keepalive_interval and one
// allowed_ip line per prefix. Keys are lowercase hex.
std::string format_uapi_get(const DeviceStatus& status);

// Reads a get=1 answer, as wg(8) does: the body from format_uapi_get(), optionally followed by
// the "errno=N" line and the blank line. A nonzero errno gives a UapiError with that errno;
// unknown keys are skipped (newer or forked implementations add some); malformed lines give
// EPROTO.
std::variant<DeviceStatus, UapiError> parse_uapi_get(std::string_view answer);

// The trailer of every answer: "errno=N\n\n". wireguard-go writes the errno negated
// ("errno=-22" for EINVAL; ipc/uapi_unix.go defines IpcErrorInvalid = -EINVAL and
// IpcHandle prints it with %d), and wg(8) relies on that: ipc-uapi.h reads it with
// fscanf("errno=%d") and returns it as its negative-errno result. So `errno_value` is the
// positive errno and is written with a minus sign; 0 is written as "errno=0".
std::string format_uapi_errno(int errno_value);

}  // namespace sluice
