// Hand-assembled DNS wire bytes for the tests: malformed messages cannot come from our own
// builder, so they are written field by field here.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dns/message.h"
#include "dns/name.h"

namespace sluice::dns::test {

struct WireBytes {
  std::vector<uint8_t> b;

  WireBytes& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  WireBytes& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  WireBytes& u32(uint32_t v) { return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v)); }
  WireBytes& raw(std::initializer_list<uint8_t> bytes) {
    b.insert(b.end(), bytes);
    return *this;
  }
  // Uncompressed labels of a dotted name, root byte included ("" is the root).
  WireBytes& name(std::string_view dotted) {
    while (!dotted.empty()) {
      size_t dot = dotted.find('.');
      std::string_view label = dotted.substr(0, dot);
      u8(static_cast<uint8_t>(label.size()));
      b.insert(b.end(), label.begin(), label.end());
      dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
    }
    return u8(0);
  }
  WireBytes& pointer(uint16_t offset) { return u16(static_cast<uint16_t>(0xc000 | offset)); }
  WireBytes& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
    return u16(id).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  // Type, class, TTL and RDLENGTH after an owner name.
  WireBytes& fixed(uint16_t type, uint16_t rclass, uint32_t ttl, uint16_t rdlength) {
    return u16(type).u16(rclass).u32(ttl).u16(rdlength);
  }
  size_t size() const { return b.size(); }
  void set16(size_t at, uint16_t v) {
    b.at(at) = static_cast<uint8_t>(v >> 8);
    b.at(at + 1) = static_cast<uint8_t>(v);
  }
};

inline Name N(std::string_view text) {
  auto r = Name::from_text(text);
  REQUIRE(std::holds_alternative<Name>(r));
  return std::get<Name>(r);
}

// The parse result or a failed REQUIRE naming the error.
inline Message parsed(std::span<const uint8_t> bytes) {
  auto r = parse_message(bytes);
  if (auto* e = std::get_if<WireError>(&r)) FAIL("parse_message: " << describe(*e));
  return std::get<Message>(std::move(r));
}

template <class T>
WireError error_of(const std::variant<T, WireError>& r) {
  auto* e = std::get_if<WireError>(&r);
  return e ? *e : WireError::None;
}

inline uint32_t load32(std::span<const uint8_t> m, size_t at) {
  return uint32_t{m[at]} << 24 | uint32_t{m[at + 1]} << 16 | uint32_t{m[at + 2]} << 8 | m[at + 3];
}

}  // namespace sluice::dns::test

namespace Catch {
template <>
struct StringMaker<sluice::dns::WireError> {
  static std::string convert(sluice::dns::WireError e) { return std::string(sluice::dns::describe(e)); }
};
}  // namespace Catch
