// Block and allow lists: a set of domain rules, each either exact ("only this name") or a
// suffix rule ("this name and every name below it"), matched case-insensitively.
//
// A list may hold millions of rules (public block lists do), and on iOS the whole network
// extension has 50 MB, so a rule is kept as a 64-bit keyed hash of the name rather than as its
// text: 8 bytes per rule. The price is a false positive when an unrelated name hashes to a
// stored value: with n rules a lookup probes at most 127 suffixes, each matching by chance
// with probability n / 2^63 (63 hash bits are kept, the 64th marks exact vs suffix), so for
// n = 10^6 the chance that a lookup is wrongly matched is below 127 * 10^6 / 2^63 ~ 1.4e-11.
// The hash is SipHash-2-4 (libsodium's crypto_shorthash) under a key drawn at random per set,
// so nobody who can put names in a list or send queries can aim for a collision.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::dns {

// A domain name in the form every policy table matches on: RFC 4034 section 6.2's canonical
// form, that is uncompressed wire format (length-prefixed labels ending with the root's zero
// byte) with ASCII letters lowercased (RFC 4343: only ASCII letters compare case-insensitively).
// A fixed 256-byte value, so building one on the query path never allocates.
class CanonicalName {
 public:
  static constexpr size_t kMaxWireBytes = 255;  // RFC 1035 section 2.3.4
  static constexpr size_t kMaxLabelBytes = 63;

  // The root name (a single zero byte).
  CanonicalName() = default;

  // Presentation text as block lists and config files write names: labels of letters, digits,
  // '-' and '_' separated by dots, an optional final dot. No escapes, no wildcards, no empty
  // labels; the root itself ("." or "") is refused because no rule or route may name it.
  static std::optional<CanonicalName> from_text(std::string_view text);

  // An uncompressed name as it appears in a message, exactly `wire.size()` bytes long (the
  // final zero included). Any label bytes are accepted, as DNS allows; compression pointers
  // and lengths above 63 are not (the wire parser has already followed pointers).
  static std::optional<CanonicalName> from_wire(std::span<const uint8_t> wire);

  // The canonical bytes, owned by this object and valid while it lives and is not modified
  // (hence not available on a temporary).
  std::span<const uint8_t> wire() const& { return {bytes_.data(), size_}; }
  std::span<const uint8_t> wire() const&& = delete;
  // The same bytes as chars, for ordered containers keyed by name.
  std::string_view key() const& { return {reinterpret_cast<const char*>(bytes_.data()), size_}; }
  std::string_view key() const&& = delete;

  bool is_root() const { return size_ == 1; }
  size_t label_count() const;
  // Dotted text without the final dot ("." for the root); bytes other than letters, digits,
  // '-' and '_' are written as \DDD (RFC 1035 section 5.1), so the result is unambiguous.
  std::string to_text() const;

  // Calls f(tail) for the whole name and then for each ancestor down to the top-level domain
  // (the root is not visited); each tail is a canonical wire name inside wire(). Stops early
  // when f returns true, and returns whether it did.
  template <typename F>
  bool any_suffix(F&& f) const {
    size_t offset = 0;
    while (offset < size_ && bytes_[offset] != 0) {
      if (f(std::span<const uint8_t>(bytes_.data() + offset, size_ - offset))) return true;
      offset += 1 + bytes_[offset];
    }
    return false;
  }

  bool operator==(const CanonicalName& other) const { return key() == other.key(); }

 private:
  uint8_t size_ = 1;
  std::array<uint8_t, kMaxWireBytes> bytes_{};
};

enum class DomainMatch : uint8_t { exact, suffix };

// The set, read-only once built; lookups neither allocate nor lock.
class DomainSet {
 public:
  DomainSet() = default;

  // True if an exact rule names `name`, or a suffix rule names `name` or one of its ancestors.
  bool matches(const CanonicalName& name) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Heap and object bytes this set holds: the accounting behind "bytes per domain".
  size_t memory_bytes() const { return sizeof(*this) + entries_.capacity() * sizeof(uint64_t); }

 private:
  friend class DomainSetBuilder;
  // Sorted, unique. Bit 0 is 1 for a suffix rule; bits 1-63 are the name's hash.
  std::vector<uint64_t> entries_;
  std::array<uint8_t, 16> key_{};
};

// Collects rules, then sorts them into a DomainSet. Adding the same rule twice is harmless.
class DomainSetBuilder {
 public:
  using HashKey = std::array<uint8_t, 16>;

  // `max_rules` bounds the memory a list can take (8 bytes a rule); add() refuses beyond it.
  explicit DomainSetBuilder(size_t max_rules = kDefaultMaxRules);
  // A fixed hash key, for tests and fuzzing that need a reproducible set.
  DomainSetBuilder(size_t max_rules, const HashKey& key);

  static constexpr size_t kDefaultMaxRules = 4'000'000;

  // False (and nothing added) once max_rules rules have been added.
  bool add(const CanonicalName& name, DomainMatch match);
  void reserve(size_t rules) { entries_.reserve(rules < max_rules_ ? rules : max_rules_); }
  size_t added() const { return entries_.size(); }
  size_t max_rules() const { return max_rules_; }

  // Leaves the builder empty (and reusable with the same key).
  DomainSet build();

 private:
  std::vector<uint64_t> entries_;
  size_t max_rules_;
  HashKey key_{};
};

}  // namespace sluice::dns
