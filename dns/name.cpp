#include "dns/name.h"

#include <algorithm>

namespace sluice::dns {

namespace {

uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c | 0x20) : c; }

// Suffix hash used by the compressor: FNV-1a over the lowercase wire bytes. Both the
// dictionary and the lookup hash uncompressed suffixes of Name objects, so equal suffixes
// always hash equal whatever their case.
uint32_t suffix_hash(std::span<const uint8_t> wire) {
  uint32_t h = 2166136261u;
  for (uint8_t b : wire) h = (h ^ lower(b)) * 16777619u;
  return h;
}

bool needs_escape(uint8_t b) { return b == '.' || b == '\\' || b < 0x21 || b > 0x7e; }

}  // namespace

std::string_view describe(WireError error) {
  switch (error) {
    case WireError::None: return "no error";
    case WireError::TruncatedHeader: return "message shorter than the 12-byte header";
    case WireError::MessageTooLarge: return "message longer than 65535 bytes";
    case WireError::CountsExceedData: return "section counts promise more entries than the message holds";
    case WireError::TruncatedQuestion: return "question cut off before its type and class";
    case WireError::TruncatedRecord: return "resource record cut off before the end of its fixed fields";
    case WireError::TruncatedRdata: return "RDLENGTH runs past the end of the message";
    case WireError::TruncatedName: return "domain name runs past the end of the message or its RDATA";
    case WireError::LabelTooLong: return "label longer than 63 bytes";
    case WireError::BadLabelType: return "unsupported extended label type (length byte 0x80-0xbf)";
    case WireError::NameTooLong: return "domain name longer than 255 bytes";
    case WireError::EmptyLabel: return "empty label in a domain name";
    case WireError::BadEscape: return "bad escape in a domain name (\\ at the end, or \\DDD not a byte)";
    case WireError::PointerOutOfRange: return "compression pointer into the header or past the end";
    case WireError::ForwardPointer: return "compression pointer to a later offset";
    case WireError::PointerLoop: return "compression pointer leads back into its own name or pointer";
    case WireError::TooManyPointers: return "too many compression pointers in one name";
    case WireError::BadPointerTarget: return "compression pointer to where no earlier name has a label";
    case WireError::BadRdata: return "RDATA does not match its record type or RDLENGTH";
    case WireError::BadOpt: return "OPT record with a non-root owner or outside the additional section";
    case WireError::DuplicateOpt: return "more than one OPT record";
    case WireError::NotAQuery: return "QR flag set: a response, not a query";
    case WireError::NotOneQuestion: return "query does not have exactly one question";
    case WireError::NoSpace: return "output buffer too small";
    case WireError::SectionOrder: return "message built out of order";
    case WireError::TooManyRecords: return "more than 65535 entries in one section";
    case WireError::RdataMismatch: return "RDATA kind does not match the record's type and class";
    case WireError::RdataTooLong: return "TXT string over 255 bytes or RDATA over 65535 bytes";
    case WireError::BadRcode: return "rcode or opcode out of range (rcode over 15 needs EDNS)";
  }
  return "unknown error";
}

std::variant<Name, WireError> Name::from_text(std::string_view text) {
  Name name;
  if (text == ".") return name;
  if (text.empty()) return WireError::EmptyLabel;
  size_t out = 0;  // next free byte in name.wire_; the root byte is written last
  size_t i = 0;
  while (i < text.size()) {
    size_t length_at = out++;
    size_t length = 0;
    while (i < text.size() && text[i] != '.') {
      uint8_t byte = static_cast<uint8_t>(text[i]);
      if (byte == '\\') {
        if (i + 1 >= text.size()) return WireError::BadEscape;
        char c = text[i + 1];
        if (c >= '0' && c <= '9') {
          if (i + 3 >= text.size()) return WireError::BadEscape;
          unsigned value = 0;
          for (size_t k = 1; k <= 3; ++k) {
            char d = text[i + k];
            if (d < '0' || d > '9') return WireError::BadEscape;
            value = value * 10 + static_cast<unsigned>(d - '0');
          }
          if (value > 255) return WireError::BadEscape;
          byte = static_cast<uint8_t>(value);
          i += 4;
        } else {
          byte = static_cast<uint8_t>(c);
          i += 2;
        }
      } else {
        ++i;
      }
      if (++length > kMaxLabelLength) return WireError::LabelTooLong;
      // Room must remain for this byte and the root byte.
      if (out + 1 >= kMaxNameLength) return WireError::NameTooLong;
      name.wire_[out++] = byte;
    }
    if (length == 0) return WireError::EmptyLabel;
    name.wire_[length_at] = static_cast<uint8_t>(length);
    if (i < text.size()) ++i;  // the '.'; a final '.' ends the loop here
  }
  name.wire_[out++] = 0;
  name.size_ = static_cast<uint8_t>(out);
  return name;
}

size_t Name::label_count() const {
  size_t count = 0;
  for (size_t i = 0; wire_[i] != 0; i += size_t{wire_[i]} + 1) ++count;
  return count;
}

std::optional<size_t> Name::write_text(std::span<char> out) const {
  size_t n = 0;
  auto put = [&](char c) {
    if (n >= out.size()) return false;
    out[n++] = c;
    return true;
  };
  if (is_root()) return put('.') ? std::optional<size_t>(n) : std::nullopt;
  for (size_t i = 0; wire_[i] != 0; i += size_t{wire_[i]} + 1) {
    if (i != 0 && !put('.')) return std::nullopt;
    for (size_t k = 1; k <= wire_[i]; ++k) {
      uint8_t b = wire_[i + k];
      bool ok;
      if (b == '.' || b == '\\') {
        ok = put('\\') && put(static_cast<char>(b));
      } else if (needs_escape(b)) {
        ok = put('\\') && put(static_cast<char>('0' + b / 100)) && put(static_cast<char>('0' + b / 10 % 10)) &&
             put(static_cast<char>('0' + b % 10));
      } else {
        ok = put(static_cast<char>(b));
      }
      if (!ok) return std::nullopt;
    }
  }
  return n;
}

std::string Name::to_text() const {
  std::array<char, kMaxNameTextLength> buffer;
  size_t n = write_text(buffer).value_or(0);  // the buffer always suffices
  return std::string(buffer.data(), n);
}

Name Name::lowercased() const {
  Name copy = *this;
  // Length bytes are at most 63, below 'A', so lowering every byte leaves them alone.
  for (size_t i = 0; i < size_; ++i) copy.wire_[i] = lower(wire_[i]);
  return copy;
}

bool Name::is_within(const Name& zone) const {
  if (zone.size_ > size_) return false;
  // Walk our labels until the rest is exactly as long as the zone; the remaining bytes must
  // then start on a label boundary, which the walk guarantees.
  size_t i = 0;
  while (size_ - i > zone.size_) i += size_t{wire_[i]} + 1;
  if (size_ - i != zone.size_) return false;
  for (size_t k = 0; k < zone.size_; ++k)
    if (lower(wire_[i + k]) != lower(zone.wire_[k])) return false;
  return true;
}

bool Name::operator==(const Name& other) const {
  if (size_ != other.size_) return false;
  for (size_t i = 0; i < size_; ++i)
    if (lower(wire_[i]) != lower(other.wire_[i])) return false;
  return true;
}

size_t Name::hash() const {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size_; ++i) h = (h ^ lower(wire_[i])) * 1099511628211ull;
  return static_cast<size_t>(h);
}

WireError read_name(std::span<const uint8_t> message, size_t offset, size_t limit, Name& out,
                    size_t& next, PriorLabels* prior) {
  size_t pos = offset;
  size_t end = std::min(limit, message.size());
  size_t run_start = offset;  // where the current run of labels began: pointers must go below it
  size_t jumps = 0;
  bool jumped = false;
  size_t length = 0;
  // Past the end: the message (or RDATA) is cut short, or, after a jump, the labels pointed
  // to run into the pointer that led there.
  const auto overrun = [&] { return jumped ? WireError::PointerLoop : WireError::TruncatedName; };
  for (;;) {
    if (pos >= end) return overrun();
    uint8_t b = message[pos];
    switch (b & 0xc0) {
      case 0x00: {
        if (b == 0) {
          out.wire_[length++] = 0;  // length <= 254 here: each label left room for this byte
          out.size_ = static_cast<uint8_t>(length);
          if (!jumped) next = pos + 1;
          return WireError::None;
        }
        if (pos + 1 + b > end) return overrun();
        if (length + 1 + b + 1 > kMaxNameLength) return WireError::NameTooLong;
        // Labels reached through a pointer were recorded when their own name was read.
        if (prior && !jumped) prior->add(pos);
        std::copy_n(message.begin() + static_cast<ptrdiff_t>(pos), 1 + b, out.wire_.begin() + static_cast<ptrdiff_t>(length));
        length += size_t{b} + 1;
        pos += size_t{b} + 1;
        break;
      }
      case 0xc0: {
        if (pos + 2 > end) return overrun();
        size_t target = size_t{b & 0x3fu} << 8 | message[pos + 1];
        if (target < kHeaderLength || target >= message.size()) return WireError::PointerOutOfRange;
        if (target >= run_start) return target <= pos ? WireError::PointerLoop : WireError::ForwardPointer;
        if (prior && !prior->contains(target)) return WireError::BadPointerTarget;
        if (++jumps > kMaxPointerJumps) return WireError::TooManyPointers;
        if (!jumped) next = pos + 2;
        jumped = true;
        // What a pointer leads to must end before the pointer, as a name written earlier does.
        // So a name only ever uses bytes before its own end, which is what lets
        // truncate_message() cut a message after any record.
        end = pos;
        pos = run_start = target;
        break;
      }
      case 0x40:
        return WireError::LabelTooLong;
      default:
        return WireError::BadLabelType;
    }
  }
}

bool NameCompressor::suffix_at(std::span<const uint8_t> message, uint16_t at,
                               std::span<const uint8_t> suffix) const {
  // Reads back what this compressor wrote, so pointers are well formed; the checks against
  // `message` and the jump bound only keep a mistake from becoming an out-of-bounds read.
  size_t pos = at;
  size_t i = 0;
  size_t jumps = 0;
  while (pos < message.size()) {
    uint8_t b = message[pos];
    if ((b & 0xc0) == 0xc0) {
      if (pos + 1 >= message.size() || ++jumps > kMaxPointerJumps) return false;
      pos = size_t{b & 0x3fu} << 8 | message[pos + 1];
      continue;
    }
    if (i >= suffix.size() || b != suffix[i]) return false;
    if (b == 0) return i + 1 == suffix.size();
    if (pos + 1 + b > message.size() || i + 1 + b > suffix.size()) return false;
    for (size_t k = 1; k <= b; ++k)
      if (lower(message[pos + k]) != lower(suffix[i + k])) return false;
    pos += size_t{b} + 1;
    i += size_t{b} + 1;
  }
  return false;
}

WireError NameCompressor::write(const Name& name, std::span<uint8_t> message, size_t& offset,
                                bool compress, bool remember) {
  std::span<const uint8_t> wire = name.wire();
  // Label starts of the name, longest suffix first; the root (last byte) is never pointed to,
  // since a pointer is longer than the root byte.
  std::array<uint8_t, kMaxNameLength / 2 + 1> starts;
  size_t label_count = 0;
  for (size_t i = 0; wire[i] != 0; i += size_t{wire[i]} + 1) starts[label_count++] = static_cast<uint8_t>(i);

  size_t match_label = label_count;  // index of the first label covered by a pointer
  uint16_t match_offset = 0;
  if (compress) {
    for (size_t l = 0; l < label_count && match_label == label_count; ++l) {
      std::span<const uint8_t> suffix = wire.subspan(starts[l]);
      uint32_t h = suffix_hash(suffix);
      for (size_t e = 0; e < count_; ++e) {
        const Entry& entry = entries_[e];
        if (entry.hash == h && entry.length == suffix.size() && suffix_at(message, entry.offset, suffix)) {
          match_label = l;
          match_offset = entry.offset;
          break;
        }
      }
    }
  }

  size_t literal = match_label == label_count ? wire.size() : starts[match_label];
  size_t total = literal + (match_label == label_count ? 0 : 2);
  if (offset > message.size() || message.size() - offset < total) return WireError::NoSpace;
  std::copy_n(wire.begin(), literal, message.begin() + static_cast<ptrdiff_t>(offset));
  if (match_label != label_count) {
    message[offset + literal] = static_cast<uint8_t>(0xc0 | match_offset >> 8);
    message[offset + literal + 1] = static_cast<uint8_t>(match_offset);
  }
  if (remember) {
    for (size_t l = 0; l < match_label && count_ < kMaxEntries; ++l) {
      size_t at = offset + starts[l];
      if (at > 0x3fff) break;
      std::span<const uint8_t> suffix = wire.subspan(starts[l]);
      entries_[count_++] = Entry{suffix_hash(suffix), static_cast<uint16_t>(at), static_cast<uint8_t>(suffix.size())};
    }
  }
  offset += total;
  return WireError::None;
}

}  // namespace sluice::dns
