#include "dns/domain_set.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>

namespace sluice::dns {

namespace {

uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c - 'A' + 'a') : c; }

bool is_rule_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

constexpr uint64_t kSuffixBit = 1;

uint64_t name_hash(std::span<const uint8_t> wire, const std::array<uint8_t, 16>& key) {
  static_assert(crypto_shorthash_BYTES == 8 && crypto_shorthash_KEYBYTES == 16);
  uint8_t out[8];
  crypto_shorthash(out, wire.data(), wire.size(), key.data());
  uint64_t h = 0;
  for (int i = 7; i >= 0; --i) h = h << 8 | out[i];
  return h & ~kSuffixBit;
}

}  // namespace

std::optional<CanonicalName> CanonicalName::from_text(std::string_view text) {
  if (!text.empty() && text.back() == '.') text.remove_suffix(1);
  // Labels plus their length bytes plus the root byte: text.size() + 2.
  if (text.empty() || text.size() + 2 > kMaxWireBytes) return std::nullopt;
  CanonicalName name;
  size_t out = 0;
  size_t length_at = out++;
  size_t label = 0;
  for (char c : text) {
    if (c == '.') {
      if (label == 0) return std::nullopt;
      name.bytes_[length_at] = static_cast<uint8_t>(label);
      length_at = out++;
      label = 0;
      continue;
    }
    if (!is_rule_char(c) || ++label > kMaxLabelBytes) return std::nullopt;
    name.bytes_[out++] = ascii_lower(static_cast<uint8_t>(c));
  }
  if (label == 0) return std::nullopt;
  name.bytes_[length_at] = static_cast<uint8_t>(label);
  name.bytes_[out++] = 0;
  name.size_ = static_cast<uint8_t>(out);
  return name;
}

std::optional<CanonicalName> CanonicalName::from_wire(std::span<const uint8_t> wire) {
  if (wire.empty() || wire.size() > kMaxWireBytes) return std::nullopt;
  CanonicalName name;
  size_t offset = 0;
  while (true) {
    if (offset >= wire.size()) return std::nullopt;
    uint8_t length = wire[offset];
    if (length == 0) break;
    if (length > kMaxLabelBytes || wire.size() - offset - 1 < length) return std::nullopt;
    name.bytes_[offset] = length;
    for (size_t i = 1; i <= length; ++i) name.bytes_[offset + i] = ascii_lower(wire[offset + i]);
    offset += 1 + length;
  }
  if (offset + 1 != wire.size()) return std::nullopt;  // bytes after the root label
  name.bytes_[offset] = 0;
  name.size_ = static_cast<uint8_t>(wire.size());
  return name;
}

size_t CanonicalName::label_count() const {
  size_t count = 0;
  any_suffix([&](std::span<const uint8_t>) {
    ++count;
    return false;
  });
  return count;
}

std::string CanonicalName::to_text() const {
  if (is_root()) return ".";
  std::string out;
  size_t offset = 0;
  while (bytes_[offset] != 0) {
    if (offset != 0) out += '.';
    size_t length = bytes_[offset];
    for (size_t i = 1; i <= length; ++i) {
      char c = static_cast<char>(bytes_[offset + i]);
      if (is_rule_char(c)) {
        out += c;
      } else {
        unsigned v = bytes_[offset + i];
        out += '\\';
        out += static_cast<char>('0' + v / 100);
        out += static_cast<char>('0' + v / 10 % 10);
        out += static_cast<char>('0' + v % 10);
      }
    }
    offset += 1 + length;
  }
  return out;
}

bool DomainSet::matches(const CanonicalName& name) const {
  if (entries_.empty()) return false;
  bool whole = true;
  return name.any_suffix([&](std::span<const uint8_t> tail) {
    const uint64_t h = name_hash(tail, key_);
    if (whole) {
      whole = false;
      // Either kind of rule matches the name itself; the two candidates sort next to each other.
      auto it = std::lower_bound(entries_.begin(), entries_.end(), h);
      return it != entries_.end() && (*it & ~kSuffixBit) == h;
    }
    return std::binary_search(entries_.begin(), entries_.end(), h | kSuffixBit);
  });
}

DomainSetBuilder::DomainSetBuilder(size_t max_rules) : max_rules_(max_rules) {
  // randombytes_buf is safe without sodium_init, but sodium_init picks the best implementation.
  if (sodium_init() < 0) std::abort();
  randombytes_buf(key_.data(), key_.size());
}

DomainSetBuilder::DomainSetBuilder(size_t max_rules, const HashKey& key) : max_rules_(max_rules), key_(key) {}

bool DomainSetBuilder::add(const CanonicalName& name, DomainMatch match) {
  if (entries_.size() >= max_rules_) return false;
  entries_.push_back(name_hash(name.wire(), key_) | (match == DomainMatch::suffix ? kSuffixBit : 0));
  return true;
}

DomainSet DomainSetBuilder::build() {
  std::sort(entries_.begin(), entries_.end());
  entries_.erase(std::unique(entries_.begin(), entries_.end()), entries_.end());
  DomainSet set;
  set.key_ = key_;
  // An exact copy rather than shrink_to_fit, which the standard lets an implementation ignore:
  // the set must hold 8 bytes a rule, not the builder's doubling slack.
  set.entries_.reserve(entries_.size());
  set.entries_.assign(entries_.begin(), entries_.end());
  entries_ = {};
  return set;
}

}  // namespace sluice::dns
