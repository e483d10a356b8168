// Domain names (RFC 1035 §3.1, §4.1.4): the wire form, the presentation form, decompression
// on read and compression on write. Also the error vocabulary of the whole DNS wire layer,
// because the name reader is where most malformed messages are caught.
//
// A Name holds its uncompressed wire form inline (at most 255 bytes), so names are plain
// values: copying one or parsing one never touches the heap. Case is preserved as received;
// equality, hashing and is_within() ignore ASCII case (RFC 4343).
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace sluice::dns {

// Everything the parsers and builders can refuse. Parsers stop at the first problem, change
// nothing outside their result, and say which problem it was.
enum class WireError : uint8_t {
  None,                // success, for the functions that return a bare WireError
  TruncatedHeader,     // fewer than 12 bytes
  MessageTooLarge,     // more than 65535 bytes: no DNS transport carries that
  CountsExceedData,    // a section count promises more entries than the message holds
  TruncatedQuestion,   // a question's type or class is cut off
  TruncatedRecord,     // a record's type, class, TTL or RDLENGTH is cut off
  TruncatedRdata,      // RDLENGTH runs past the end of the message
  TruncatedName,       // a name runs past the end of the message (or of its RDATA)
  LabelTooLong,        // a label over 63 bytes (length byte 0x40-0x7f on the wire)
  BadLabelType,        // length byte 0x80-0xbf: an extended label type, unsupported
  NameTooLong,         // more than 255 bytes once decompressed
  EmptyLabel,          // presentation form: "a..b", ".a", or an empty string
  BadEscape,           // presentation form: "\" at the end, "\DDD" over 255, or "\1x"
  PointerOutOfRange,   // compression pointer into the header or past the end
  ForwardPointer,      // compression pointer to a later offset
  PointerLoop,         // compression pointer back into its own run of labels, or to labels
                       // that run into the pointer itself
  TooManyPointers,     // more than kMaxPointerJumps pointers in one name
  BadPointerTarget,    // compression pointer to where no label of an earlier name starts
  BadRdata,            // RDATA of a known type does not match its RDLENGTH or format
  BadOpt,              // OPT with a non-root owner or outside the additional section
  DuplicateOpt,        // more than one OPT record (RFC 6891 §6.1.1)
  NotAQuery,           // parse_query_question(): QR is set
  NotOneQuestion,      // parse_query_question(): QDCOUNT is not 1
  NoSpace,             // builder: the output buffer (or 65535 bytes) is too small
  SectionOrder,        // builder: a call out of order (questions, answers, ... then finish)
  TooManyRecords,      // builder: a section count would exceed 65535
  RdataMismatch,       // builder: the RDATA alternative does not fit the record's type/class
  RdataTooLong,        // builder: a TXT string over 255 bytes, or RDATA over 65535 bytes
  BadRcode,            // builder: rcode over 15 without EDNS, or over 4095; opcode over 15
};

// A short human sentence for logs and test output ("compression pointer to a later offset").
std::string_view describe(WireError error);

inline constexpr size_t kHeaderLength = 12;
inline constexpr size_t kMaxMessageLength = 65535;
inline constexpr size_t kMaxNameLength = 255;  // wire form, root byte included (RFC 1035 §2.3.4)
inline constexpr size_t kMaxLabelLength = 63;
// A valid name has at most 127 labels, and each pointer must be followed by at least one new
// label to be useful, so more jumps than this can only be an attack on our CPU time.
inline constexpr size_t kMaxPointerJumps = 127;
// Longest presentation form: four 63/63/63/61-byte labels with every byte written as "\DDD".
inline constexpr size_t kMaxNameTextLength = 1003;

// Where the labels of the names read so far in a message start: the only places a compression
// pointer may lead ("a prior occurrence of the same name", RFC 1035 §4.1.4). A pointer to any
// other byte would make a name out of bytes that are also something else, a TTL or an
// address, and the name would change whenever they do (when a cache ages TTLs in place). One
// bit per offset a pointer can reach, 2 KB, held inline.
class PriorLabels {
 public:
  static constexpr size_t kReach = 0x4000;  // a pointer's 14 bits

  bool contains(size_t offset) const { return offset < kReach && bits_[offset]; }
  void add(size_t offset) {
    if (offset < kReach) bits_[offset] = true;
  }

 private:
  std::bitset<kReach> bits_;
};

class Name {
 public:
  Name() = default;  // the root name "."

  // Presentation form: labels separated by '.', an optional final '.', "\X" for a literal X
  // and "\DDD" (three decimal digits) for any byte. "." alone is the root.
  static std::variant<Name, WireError> from_text(std::string_view text);

  // The uncompressed wire form, ending in the root byte. Borrowed from this Name.
  std::span<const uint8_t> wire() const { return {wire_.data(), size_}; }
  size_t wire_length() const { return size_; }
  size_t label_count() const;
  bool is_root() const { return size_ == 1; }

  // Presentation form without a final '.' ("time.apple.com"; the root is "."), escaping '.',
  // '\' and every byte outside 0x21-0x7e, so from_text(to_text()) gives back the same bytes.
  std::string to_text() const;
  // The same into a caller-owned buffer, for paths that must not allocate. Returns the
  // number of chars written (no terminating NUL), or nothing if `out` is too small
  // (kMaxNameTextLength always suffices).
  std::optional<size_t> write_text(std::span<char> out) const;

  Name lowercased() const;

  // True if this name is `zone` or lies below it ("a.example.com" is within "example.com";
  // "badexample.com" is not). Every name is within the root.
  bool is_within(const Name& zone) const;

  // Case-insensitive, as DNS compares names.
  bool operator==(const Name& other) const;
  // Case-insensitive FNV-1a over the wire form, consistent with operator==.
  size_t hash() const;

 private:
  friend WireError read_name(std::span<const uint8_t>, size_t, size_t, Name&, size_t&, PriorLabels*);
  friend class NameCompressor;

  std::array<uint8_t, kMaxNameLength> wire_{};  // wire_[0] == 0: the root
  uint8_t size_ = 1;
};

// Reads the name that starts at `offset` in `message` (the whole DNS message, borrowed for the
// call), following compression pointers. The name's own bytes, up to and including its first
// pointer or its root byte, must end at or before `limit` (<= message.size(); RDATA passes its
// end here). Each pointer must point into the body (at or after the header) and strictly
// before the run of labels that contains it, and the labels it leads to must end before the
// pointer itself, as those of an earlier name do. That makes loops impossible and means a name
// only uses bytes before its own end. At most kMaxPointerJumps are followed. With `prior`
// (borrowed for the call), every pointer must also lead to a label start recorded there, and
// the starts of this name's own labels are added to it; a parser that reads a message's names
// in order through one PriorLabels accepts only pointers to earlier names. On success fills
// `out` and sets `next` to the offset after the name's own bytes; on error leaves `out`,
// `next` and `prior` unspecified.
WireError read_name(std::span<const uint8_t> message, size_t offset, size_t limit, Name& out,
                    size_t& next, PriorLabels* prior = nullptr);

// The dictionary for name compression on write: remembers where the suffixes of names already
// written start (only offsets a 14-bit pointer can reach, and at most kMaxEntries of them) and
// writes a later name as its new labels plus one pointer to the longest known suffix. Suffixes
// match case-insensitively, as in other servers, so a compressed name may take the case of the
// earlier one.
class NameCompressor {
 public:
  static constexpr size_t kMaxEntries = 64;

  // Writes `name` into `message` (the message being built, borrowed for the call) at `offset`,
  // compressed if `compress`, never past message.size(), and advances `offset`. If `remember`,
  // the new labels become targets for later names. Returns NoSpace (nothing remembered) if
  // the name does not fit; the bytes from `offset` on may then have been overwritten.
  WireError write(const Name& name, std::span<uint8_t> message, size_t& offset, bool compress,
                  bool remember = true);

  // For undoing a record that did not fit: entries added after mark() are forgotten.
  size_t mark() const { return count_; }
  void rollback(size_t mark) { count_ = mark; }
  void clear() { count_ = 0; }

 private:
  struct Entry {
    uint32_t hash;       // of the lowercase suffix's wire form
    uint16_t offset;     // where it starts in the message
    uint8_t length;      // its uncompressed wire length
  };
  bool suffix_at(std::span<const uint8_t> message, uint16_t at, std::span<const uint8_t> suffix) const;

  std::array<Entry, kMaxEntries> entries_{};
  size_t count_ = 0;
};

}  // namespace sluice::dns

template <>
struct std::hash<sluice::dns::Name> {
  size_t operator()(const sluice::dns::Name& name) const { return name.hash(); }
};
