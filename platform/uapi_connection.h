// One client of the UAPI socket: reads its byte stream into tunnel/'s UapiFramer, answers the
// requests one at a time in order, and writes each answer fully before reading on, so a
// client that sends but never reads cannot make us buffer more than one answer.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "platform/unique_fd.h"
#include "tunnel/uapi_framer.h"

namespace sluice::platform {

class UapiConnection {
 public:
  // Builds the full answer text for one request text ("get=1\n\n" or "set=1\n...\n\n").
  using Handler = std::function<std::string(std::string_view request)>;
  enum class Next { WantRead, WantWrite, Close };

  explicit UapiConnection(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }

  // Makes as much progress as the socket allows without blocking and says what to wait for.
  // `handler` is called once per complete request and must not destroy this connection.
  Next pump(const Handler& handler);

 private:
  std::string answer(const UapiRequest& request, const Handler& handler);
  bool flush();  // false on a write error (the client went away)

  UniqueFd fd_;
  UapiFramer framer_;
  std::string output_;
  size_t written_ = 0;
  bool eof_ = false;
};

}  // namespace sluice::platform
