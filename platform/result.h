// The error-as-value type every platform/ call returns. GCC 12 has no std::expected in C++20,
// so this is a deliberately small stand-in with the same member names (has_value, value,
// error, operator*, operator->), so moving to std::expected later is a type alias away.
#pragma once

#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sluice::platform {

struct Error {
  std::string message;  // what failed, for a log line or a UAPI/CLI message
  int code = 0;         // the errno behind it (EADDRINUSE, ENOENT, ...), 0 if none applies

  // "what: strerror(code)", keeping `code` so callers can branch on it.
  static Error from_errno(const std::string& what, int code) {
    return Error{what + ": " + std::strerror(code), code};
  }
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  bool ok() const { return has_value(); }
  // True when a value is held. Beware Result<bool>: this says "succeeded", not the bool.
  explicit operator bool() const { return has_value(); }

  // Only valid when has_value().
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Only valid when !has_value().
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace sluice::platform
