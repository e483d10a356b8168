#include "platform/uapi_connection.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::platform {

namespace {
constexpr size_t kReadChunk = 16 * 1024;
// Reads per wake-up before yielding to the rest of the loop; epoll is level-triggered, so
// the remainder is picked up on the next round.
constexpr int kMaxReadsPerWake = 16;
}  // namespace

std::string UapiConnection::answer(const UapiRequest& request, const Handler& handler) {
  if (std::holds_alternative<UapiGetRequest>(request)) return handler("get=1\n\n");
  if (std::holds_alternative<UapiStatsRequest>(request)) return handler("stats=1\n\n");
  if (const auto* set = std::get_if<UapiSetRequest>(&request)) {
    // The framer strips the operation line and the blank line; the handler gets them back.
    std::string text;
    text.reserve(set->body.size() + 7);
    text.append("set=1\n").append(set->body).append("\n");
    return handler(text);
  }
  if (const auto* capture = std::get_if<UapiCaptureRequest>(&request)) {
    return handler("capture=1\n" + capture->body + "\n");
  }
  const UapiError& error = std::get<UapiError>(request);
  spdlog::debug("uapi: refusing request: {}", error.message);
  return format_uapi_errno(error.errno_value);
}

bool UapiConnection::flush() {
  while (written_ < output_.size()) {
    // MSG_NOSIGNAL: a client that hung up gives EPIPE here, not a process-killing SIGPIPE.
    const ssize_t n = send(fd_.get(), output_.data() + written_, output_.size() - written_,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      written_ += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    spdlog::debug("uapi: writing answer: {}", std::strerror(errno));
    return false;
  }
  output_.clear();
  written_ = 0;
  return true;
}

UapiConnection::Next UapiConnection::pump(const Handler& handler) {
  char chunk[kReadChunk];
  int reads = 0;
  for (;;) {
    if (!output_.empty()) {
      if (!flush()) return Next::Close;
      if (!output_.empty()) return Next::WantWrite;
    }
    if (std::optional<UapiRequest> request = framer_.next()) {
      output_ = answer(*request, handler);
      continue;
    }
    if (framer_.broken()) {
      spdlog::debug("uapi: closing connection: {}", framer_.broken_reason());
      return Next::Close;
    }
    if (eof_) return Next::Close;
    if (reads++ == kMaxReadsPerWake) return Next::WantRead;
    const ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
    if (n > 0) {
      framer_.feed(std::string_view(chunk, static_cast<size_t>(n)));
    } else if (n == 0) {
      eof_ = true;  // answer what is already framed, then close
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return Next::WantRead;
    } else if (errno != EINTR) {
      spdlog::debug("uapi: reading request: {}", std::strerror(errno));
      return Next::Close;
    }
  }
}

}  // namespace sluice::platform
