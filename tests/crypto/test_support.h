// Helpers shared by the crypto known-answer tests.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/keys.h"

namespace sluice::crypto::test {

inline std::vector<uint8_t> unhex(std::string_view hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  size_t len = 0;
  if (hex.size() % 2 != 0 ||
      sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != out.size())
    throw std::invalid_argument("bad hex in test vector");
  return out;
}

template <size_t N>
std::array<uint8_t, N> unhex_array(std::string_view hex) {
  const auto bytes = unhex(hex);
  if (bytes.size() != N) throw std::invalid_argument("test vector has the wrong length");
  std::array<uint8_t, N> out;
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

inline std::string hex(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

inline std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Makes libsodium's randombytes_buf return scripted bytes (then zeros), so that ephemeral
// keys and cookie nonces are known and whole messages can be compared byte for byte.
// Restores the system generator when destroyed. Not thread-safe; Catch2 runs serially.
class ScriptedRandom {
 public:
  ScriptedRandom() {
    queue().clear();
    randombytes_set_implementation(&implementation_);
  }
  ~ScriptedRandom() {
    randombytes_set_implementation(&randombytes_sysrandom_implementation);
    queue().clear();
  }
  ScriptedRandom(const ScriptedRandom&) = delete;
  ScriptedRandom& operator=(const ScriptedRandom&) = delete;

  void push(std::span<const uint8_t> bytes) { queue().insert(queue().end(), bytes.begin(), bytes.end()); }
  size_t remaining() const { return queue().size(); }

 private:
  static std::deque<uint8_t>& queue() {
    static std::deque<uint8_t> q;
    return q;
  }
  static const char* name() { return "scripted"; }
  static uint32_t random() {
    uint8_t b[4];
    buf(b, sizeof b);
    return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
  }
  static void buf(void* out, size_t n) {
    auto* p = static_cast<uint8_t*>(out);
    for (size_t i = 0; i < n; ++i) {
      if (queue().empty()) {
        p[i] = 0;
      } else {
        p[i] = queue().front();
        queue().pop_front();
      }
    }
  }
  static inline randombytes_implementation implementation_ = {&name, &random, nullptr, nullptr, &buf, nullptr};
};

}  // namespace sluice::crypto::test
