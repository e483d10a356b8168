#include "tunnel/uapi_framer.h"

#include <cerrno>

#include "tunnel/key_value.h"

namespace sluice {

namespace {

constexpr std::string_view kGet = "get=1\n";
constexpr std::string_view kSet = "set=1\n";
constexpr std::string_view kStats = "stats=1\n";  // Sluice's own; wg never sends it
constexpr std::string_view kCapture = "capture=1\n";  // Sluice's own, with a body like set

std::string too_large_message() {
  return "request larger than " + std::to_string(kMaxUapiRequestBytes) + " bytes";
}

}  // namespace

void UapiFramer::feed(std::string_view bytes) {
  if (broken_) return;
  pending_.append(bytes);
  while (!broken_ && frame_one()) {
  }
  if (broken_) {
    pending_.clear();
    start_ = 0;
    return;
  }
  pending_.erase(0, start_);
  start_ = 0;
  if (pending_.size() > kMaxUapiRequestBytes) {
    // EMSGSIZE makes wg(8) print "Message too long", which says what happened.
    ready_.push_back(UapiError{EMSGSIZE, too_large_message()});
    fail(too_large_message());
    pending_.clear();
  }
}

std::optional<UapiRequest> UapiFramer::next() {
  if (ready_.empty()) return std::nullopt;
  UapiRequest request = std::move(ready_.front());
  ready_.pop_front();
  return request;
}

void UapiFramer::fail(std::string reason) {
  broken_ = true;
  broken_reason_ = std::move(reason);
}

bool UapiFramer::frame_one() {
  std::string_view rest = std::string_view(pending_).substr(start_);
  if (rest.empty()) return false;

  // The operation line is matched byte by byte, so a wrong one is refused at once instead of
  // after a newline that a hostile client may never send.
  auto starts = [&](std::string_view op) {
    const size_t n = std::min(rest.size(), op.size());
    return rest.substr(0, n) == op.substr(0, n);
  };
  const bool is_get = starts(kGet);
  const bool is_set = starts(kSet);
  const bool is_stats = starts(kStats);
  const bool is_capture = starts(kCapture);
  if (!is_get && !is_set && !is_stats && !is_capture) {
    fail("invalid UAPI operation " + text::quoted(rest.substr(0, rest.find('\n'))));
    return false;
  }
  if (is_set && is_stats) return false;  // only "s" so far

  if (is_get || is_stats) {
    const std::string_view op = is_get ? kGet : kStats;
    if (rest.size() <= op.size()) return false;
    char after = rest[op.size()];
    if (after == '\n') {
      ready_.push_back(is_get ? UapiRequest{UapiGetRequest{}} : UapiRequest{UapiStatsRequest{}});
    } else {
      // As wireguard-go: answer EINVAL, drop that one byte and go on with the next.
      ready_.push_back(UapiError{EINVAL, "trailing character in UAPI " +
                                             std::string(op.substr(0, op.find('='))) + ": " +
                                             text::quoted(std::string_view(&after, 1))});
    }
    start_ += op.size() + 1;
    return true;
  }
  const std::string_view op = is_set ? kSet : kCapture;
  if (rest.size() < op.size()) return false;

  // A body ends at the first empty line; "\r\n" counts as empty, as for Go's Scanner.
  if (scan_ < op.size()) scan_ = searched_ = op.size();
  while (true) {
    // Searching on from searched_ keeps a long line fed byte by byte from costing O(n^2).
    auto newline = rest.find('\n', searched_);
    if (newline == std::string_view::npos) {
      searched_ = rest.size();
      return false;
    }
    auto line = rest.substr(scan_, newline - scan_);
    if (line.empty() || line == "\r") {
      size_t request_size = newline + 1;
      if (request_size > kMaxUapiRequestBytes) {
        ready_.push_back(UapiError{EMSGSIZE, too_large_message()});
      } else {
        std::string body(rest.substr(op.size(), scan_ - op.size()));
        ready_.push_back(is_set ? UapiRequest{UapiSetRequest{std::move(body)}}
                                : UapiRequest{UapiCaptureRequest{std::move(body)}});
      }
      start_ += request_size;
      scan_ = searched_ = 0;
      return true;
    }
    scan_ = searched_ = newline + 1;
  }
}

}  // namespace sluice
