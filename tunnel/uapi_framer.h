// Splits the byte stream of one UAPI connection into requests. The socket code in platform/
// feeds whatever it read and answers each request in order:
//
//   framer.feed(bytes);
//   while (auto request = framer.next()) answer(*request);
//   if (framer.broken()) close the connection;
//
// Memory is bounded: the incomplete request is kept, never more than kMaxUapiRequestBytes,
// and complete ones wait in a queue that holds no more than the caller fed since it last
// drained it.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "tunnel/uapi.h"

namespace sluice {

// "get=1\n\n": answer with format_uapi_get(...) + format_uapi_errno(0).
struct UapiGetRequest {};

// "set=1\n" + lines + "\n": answer with format_uapi_errno() of parse_uapi_set(body) and of
// applying it. `body` is the lines without "set=1\n" and without the blank line.
struct UapiSetRequest {
  std::string body;
};

// "stats=1\n\n" (Sluice's own operation, for `sluice stats`): answer with the daemon's
// counters as key=value lines + format_uapi_errno(0).
struct UapiStatsRequest {};

// "capture=1\n" + lines + "\n" (Sluice's own, for `sluice capture`): "path=FILE" (absolute; empty
// stops the capture) and "max_bytes=N". `body` as for set.
struct UapiCaptureRequest {
  std::string body;
};

// A UapiError in the queue is a request that was refused while framing: answer it with
// format_uapi_errno(error.errno_value). Framing goes on after it unless broken() is true.
using UapiRequest =
    std::variant<UapiGetRequest, UapiSetRequest, UapiStatsRequest, UapiCaptureRequest, UapiError>;

class UapiFramer {
 public:
  // Bytes after the stream broke are ignored.
  void feed(std::string_view bytes);
  // The next complete request, in stream order.
  std::optional<UapiRequest> next();
  // True once the stream cannot be framed any further: an operation other than get/set/stats/capture
  // (wireguard-go closes such a connection without answering), or a request over
  // kMaxUapiRequestBytes (answered with EMSGSIZE first; the queue holds that error).
  bool broken() const { return broken_; }
  // Why the stream broke, for the log.
  const std::string& broken_reason() const { return broken_reason_; }

 private:
  bool frame_one();  // false when the pending bytes do not yet hold a whole request
  void fail(std::string reason);

  std::string pending_;  // bytes of requests not yet complete
  size_t start_ = 0;     // where the current request begins in pending_
  size_t scan_ = 0;      // set body: start of the first line not yet seen whole, from start_
  size_t searched_ = 0;  // set body: no '\n' between scan_ and this, from start_
  std::deque<UapiRequest> ready_;
  bool broken_ = false;
  std::string broken_reason_;
};

}  // namespace sluice
