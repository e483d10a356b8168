// DNS messages over a TCP byte stream (RFC 1035 4.2.2, RFC 7766 8): each message is preceded
// by its length as a two-byte big-endian integer. The framer takes the stream in whatever
// pieces TCP delivers and hands out whole messages; only a message split across pieces is
// copied, into one buffer of max_message_size bytes allocated at construction.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sluice::ipstack {

inline constexpr size_t kDnsTcpLengthPrefix = 2;
inline constexpr size_t kDnsTcpMaxMessage = 65535;

// Writes the two-byte length prefix of a message of `length` bytes (<= kDnsTcpMaxMessage).
inline void put_dns_tcp_length(uint8_t* out, size_t length) {
  out[0] = static_cast<uint8_t>(length >> 8);
  out[1] = static_cast<uint8_t>(length);
}

class DnsTcpFramer {
 public:
  enum class Status {
    Ok,               // all bytes consumed (a partial message may be buffered)
    Stopped,          // the callback asked to stop; unconsumed bytes are discarded
    MessageTooLarge,  // a length prefix above max_message_size: the stream cannot go on
    EmptyMessage,     // a length prefix of zero, which no DNS message has
  };

  explicit DnsTcpFramer(size_t max_message_size) : body_(max_message_size) {}

  // Consumes `bytes` (borrowed for the call) and calls `on_message(std::span<const uint8_t>)`
  // for each message completed, in order. The span is valid only during the call (it points
  // into `bytes` or into the framer's buffer). `on_message` returns false to stop. After an
  // error status the framer must be reset() before further use.
  template <class OnMessage>
  Status feed(std::span<const uint8_t> bytes, OnMessage&& on_message);

  // Forgets any partial message.
  void reset() {
    header_filled_ = 0;
    body_filled_ = 0;
  }
  // Bytes of a partial message (prefix included) held between calls.
  size_t buffered() const { return header_filled_ + body_filled_; }
  size_t max_message_size() const { return body_.size(); }

 private:
  std::vector<uint8_t> body_;
  uint8_t header_[kDnsTcpLengthPrefix] = {};
  size_t header_filled_ = 0;
  size_t body_filled_ = 0;
};

template <class OnMessage>
DnsTcpFramer::Status DnsTcpFramer::feed(std::span<const uint8_t> bytes, OnMessage&& on_message) {
  while (!bytes.empty()) {
    if (header_filled_ < kDnsTcpLengthPrefix) {
      header_[header_filled_++] = bytes.front();
      bytes = bytes.subspan(1);
      if (header_filled_ < kDnsTcpLengthPrefix) continue;
    }
    const size_t length = static_cast<size_t>(header_[0]) << 8 | header_[1];
    if (length == 0) return Status::EmptyMessage;
    if (length > body_.size()) return Status::MessageTooLarge;
    std::span<const uint8_t> message;
    if (body_filled_ == 0 && bytes.size() >= length) {
      message = bytes.first(length);  // whole in this piece: no copy
      bytes = bytes.subspan(length);
    } else {
      const size_t take = std::min(length - body_filled_, bytes.size());
      std::copy_n(bytes.begin(), take, body_.begin() + static_cast<std::ptrdiff_t>(body_filled_));
      body_filled_ += take;
      bytes = bytes.subspan(take);
      if (body_filled_ < length) return Status::Ok;
      message = std::span<const uint8_t>(body_.data(), length);
    }
    header_filled_ = 0;
    body_filled_ = 0;
    if (!on_message(message)) return Status::Stopped;
  }
  return Status::Ok;
}

}  // namespace sluice::ipstack
