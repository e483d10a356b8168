#include <catch2/catch.hpp>

#include <string>
#include <unordered_set>
#include <vector>

#include "dns/name.h"
#include "wire_bytes.h"

using namespace sluice::dns;
using sluice::dns::test::N;
using sluice::dns::test::WireBytes;

namespace {

WireError text_error(std::string_view text) {
  auto r = Name::from_text(text);
  auto* e = std::get_if<WireError>(&r);
  return e ? *e : WireError::None;
}

std::vector<uint8_t> wire_of(const Name& n) { return {n.wire().begin(), n.wire().end()}; }

// A message that is only a header, for names placed after it.
WireBytes body() {
  WireBytes w;
  w.header(0, 0, 0, 0, 0, 0);
  return w;
}

struct Read {
  WireError error;
  Name name;
  size_t next = 0;
};
Read read_at(const WireBytes& w, size_t offset, size_t limit = SIZE_MAX) {
  Read r;
  r.error = read_name(w.b, offset, limit == SIZE_MAX ? w.size() : limit, r.name, r.next);
  return r;
}

std::string label(size_t n, char c = 'a') { return std::string(n, c); }

}  // namespace

TEST_CASE("Names from and to presentation form", "[dns][name]") {
  Name n = N("time.apple.com");
  CHECK(wire_of(n) == std::vector<uint8_t>{4, 't', 'i', 'm', 'e', 5, 'a', 'p', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0});
  CHECK(n.label_count() == 3);
  CHECK(n.to_text() == "time.apple.com");
  CHECK(N("time.apple.com.").wire().size() == n.wire().size());
  CHECK(wire_of(N("time.apple.com.")) == wire_of(n));

  Name root = N(".");
  CHECK(root.is_root());
  CHECK(root.wire_length() == 1);
  CHECK(root.label_count() == 0);
  CHECK(root.to_text() == ".");
  CHECK(Name().is_root());

  // Case is preserved.
  CHECK(N("TiMe.Apple.COM").to_text() == "TiMe.Apple.COM");
}

TEST_CASE("Escapes in presentation form round-trip every byte", "[dns][name]") {
  Name dotted = N("a\\.b.c");
  CHECK(dotted.label_count() == 2);
  CHECK(wire_of(dotted) == std::vector<uint8_t>{3, 'a', '.', 'b', 1, 'c', 0});
  CHECK(dotted.to_text() == "a\\.b.c");

  CHECK(wire_of(N("\\000\\255\\\\")) == std::vector<uint8_t>{3, 0, 255, '\\', 0});
  CHECK(N("\\000\\255\\\\").to_text() == "\\000\\255\\\\");
  CHECK(wire_of(N("\\a")) == std::vector<uint8_t>{1, 'a', 0});  // "\X" is X
  CHECK(N("sp\\032ace").to_text() == "sp\\032ace");

  // Every byte value in a label survives to_text() then from_text().
  for (int start = 0; start < 256; start += 63) {
    int end = std::min(start + 63, 256);
    std::vector<uint8_t> wire{static_cast<uint8_t>(end - start)};
    for (int v = start; v < end; ++v) wire.push_back(static_cast<uint8_t>(v));
    wire.push_back(0);
    WireBytes m = body();
    for (uint8_t b : wire) m.u8(b);
    Read r = read_at(m, 12);
    REQUIRE(r.error == WireError::None);
    std::string text = r.name.to_text();
    Name back = N(text);
    CHECK(wire_of(back) == wire);
  }
}

TEST_CASE("Malformed presentation forms are refused with the reason", "[dns][name]") {
  CHECK(text_error("") == WireError::EmptyLabel);
  CHECK(text_error("a..b") == WireError::EmptyLabel);
  CHECK(text_error(".a") == WireError::EmptyLabel);
  CHECK(text_error("a.b..") == WireError::EmptyLabel);
  CHECK(text_error("a\\") == WireError::BadEscape);
  CHECK(text_error("a\\25") == WireError::BadEscape);
  CHECK(text_error("a\\1x2") == WireError::BadEscape);
  CHECK(text_error("a\\256") == WireError::BadEscape);
  CHECK(text_error("a\\255") == WireError::None);

  CHECK(text_error(label(63)) == WireError::None);
  CHECK(text_error(label(64)) == WireError::LabelTooLong);
  CHECK(text_error(label(62) + "\\065\\066") == WireError::LabelTooLong);  // escapes count as one byte

  // 63+1 three times, then 61+1, then the root: exactly 255 bytes.
  std::string longest = label(63) + "." + label(63, 'b') + "." + label(63, 'c') + "." + label(61, 'd');
  REQUIRE(text_error(longest) == WireError::None);
  CHECK(N(longest).wire_length() == 255);
  CHECK(text_error(longest + "d") == WireError::NameTooLong);
  CHECK(text_error(longest + ".e") == WireError::NameTooLong);
  // Many short labels hit the same bound.
  std::string many;
  for (int i = 0; i < 127; ++i) many += "a.";
  CHECK(text_error(many) == WireError::None);
  CHECK(N(many).wire_length() == 255);
  CHECK(text_error(many + "a") == WireError::NameTooLong);
}

TEST_CASE("Text into a fixed buffer", "[dns][name]") {
  Name n = N("time.apple.com");
  std::array<char, 14> exact;
  REQUIRE(n.write_text(exact) == size_t{14});
  CHECK(std::string(exact.data(), 14) == "time.apple.com");
  std::array<char, 13> short_by_one;
  CHECK_FALSE(n.write_text(short_by_one).has_value());
  std::array<char, 0> none;
  CHECK_FALSE(N(".").write_text(none).has_value());

  // The worst case fits kMaxNameTextLength exactly.
  std::string text;
  for (int l = 0; l < 4; ++l) {
    if (l) text += '.';
    for (int i = 0; i < (l == 3 ? 61 : 63); ++i) text += "\\001";
  }
  Name w = N(text);
  CHECK(w.wire_length() == 255);
  CHECK(w.to_text().size() == kMaxNameTextLength);
  std::array<char, kMaxNameTextLength> buffer;
  CHECK(w.write_text(buffer) == kMaxNameTextLength);
}

TEST_CASE("Comparisons ignore ASCII case only", "[dns][name]") {
  CHECK(N("Time.APPLE.com") == N("time.apple.com"));
  CHECK(N("Time.APPLE.com").hash() == N("time.apple.com").hash());
  CHECK_FALSE(N("time.apple.com") == N("time.apple.co"));
  CHECK_FALSE(N("a.bc") == N("ab.c"));
  // Bytes outside A-Z are compared exactly: 0xC4 and 0xE4 differ in Latin-1 case only.
  CHECK_FALSE(N("\\196") == N("\\228"));
  CHECK_FALSE(N("[") == N("{"));  // 0x5B vs 0x7B: not letters

  std::unordered_set<Name> set{N("Example.COM")};
  CHECK(set.count(N("example.com")) == 1);

  Name lower = N("MiXeD.Example.COM").lowercased();
  CHECK(lower.to_text() == "mixed.example.com");
}

TEST_CASE("is_within follows label boundaries", "[dns][name]") {
  CHECK(N("a.example.com").is_within(N("example.com")));
  CHECK(N("A.EXAMPLE.com").is_within(N("Example.COM")));
  CHECK(N("example.com").is_within(N("example.com")));
  CHECK(N("example.com").is_within(N(".")));
  CHECK_FALSE(N("badexample.com").is_within(N("example.com")));
  CHECK_FALSE(N("example.com").is_within(N("a.example.com")));
  CHECK_FALSE(N("com").is_within(N("example.com")));
  // A label that contains the zone's bytes at the right distance from the end must not match.
  CHECK_FALSE(N("x\\007example.com").is_within(N("example.com")));
}

TEST_CASE("read_name decompresses and reports where the name ended", "[dns][name]") {
  WireBytes w = body();
  w.name("time.apple.com");  // 12..27
  size_t second = w.size();
  w.raw({4, 't', 'i', 'm', 'e', 1, 'g', 7, 'a', 'a', 'p', 'l', 'i', 'm', 'g'}).pointer(12 + 11);  // "com" of the first
  size_t third = w.size();
  w.pointer(static_cast<uint16_t>(second));

  Read a = read_at(w, 12);
  REQUIRE(a.error == WireError::None);
  CHECK(a.name.to_text() == "time.apple.com");
  CHECK(a.next == second);

  Read b = read_at(w, second);
  REQUIRE(b.error == WireError::None);
  CHECK(b.name.to_text() == "time.g.aaplimg.com");
  CHECK(b.next == third);

  Read c = read_at(w, third);
  REQUIRE(c.error == WireError::None);
  CHECK(c.name.to_text() == "time.g.aaplimg.com");
  CHECK(c.next == third + 2);

  // `limit` bounds only the name's own bytes, not where its pointer leads.
  CHECK(read_at(w, third, third + 2).error == WireError::None);
  CHECK(read_at(w, third, third + 1).error == WireError::TruncatedName);
  CHECK(read_at(w, second, third - 1).error == WireError::TruncatedName);
}

TEST_CASE("read_name refuses malformed names with the right error", "[dns][name]") {
  SECTION("forward pointer") {
    WireBytes w = body();
    w.pointer(16).raw({0, 0}).name("a");
    CHECK(read_at(w, 12).error == WireError::ForwardPointer);
  }
  SECTION("pointer to itself") {
    WireBytes w = body();
    w.pointer(12);
    CHECK(read_at(w, 12).error == WireError::PointerLoop);
  }
  SECTION("two names pointing at each other") {
    // 12: "a" -> 16; 16: "b" -> 12. Whichever is read first, one of the two pointers goes
    // forward, which is what makes such loops impossible.
    WireBytes w = body();
    w.raw({1, 'a'}).pointer(16).raw({1, 'b'}).pointer(12);
    CHECK(read_at(w, 12).error == WireError::ForwardPointer);
    CHECK(read_at(w, 16).error == WireError::ForwardPointer);
  }
  SECTION("pointer back into its own labels") {
    WireBytes w = body();
    w.raw({1, 'a', 1, 'b'}).pointer(14);
    CHECK(read_at(w, 12).error == WireError::PointerLoop);
  }
  SECTION("labels pointed to run into the pointer") {
    // 12: a 3-byte label whose bytes are "x", then the pointer at 14 and the root at 16...
    WireBytes w = body();
    w.raw({3, 'x'}).pointer(12).u8(0);
    // ...so the name at 14, a pointer to 12, would read its own pointer as label bytes.
    CHECK(read_at(w, 14).error == WireError::PointerLoop);
    // Read from 12 it is an ordinary uncompressed name.
    CHECK(read_at(w, 12).error == WireError::None);
  }
  SECTION("pointer past the end") {
    WireBytes w = body();
    w.name("a").pointer(0x3fff);
    CHECK(read_at(w, 15).error == WireError::PointerOutOfRange);
    WireBytes v = body();
    v.name("a");
    v.pointer(static_cast<uint16_t>(v.size() + 2));  // one past the last byte
    CHECK(read_at(v, 15).error == WireError::PointerOutOfRange);
  }
  SECTION("pointer into the header") {
    WireBytes w = body();
    w.pointer(4);
    CHECK(read_at(w, 12).error == WireError::PointerOutOfRange);
  }
  SECTION("pointer cut in half") {
    WireBytes w = body();
    w.name("a").u8(0xc0);
    CHECK(read_at(w, 15).error == WireError::TruncatedName);
  }
  SECTION("label running past the end") {
    WireBytes w = body();
    w.raw({5, 'a', 'b'});
    CHECK(read_at(w, 12).error == WireError::TruncatedName);
  }
  SECTION("no root label") {
    WireBytes w = body();
    w.raw({1, 'a'});
    CHECK(read_at(w, 12).error == WireError::TruncatedName);
    CHECK(read_at(w, w.size()).error == WireError::TruncatedName);
  }
  SECTION("label length 64") {
    WireBytes w = body();
    w.u8(64);
    for (int i = 0; i < 64; ++i) w.u8('a');
    w.u8(0);
    CHECK(read_at(w, 12).error == WireError::LabelTooLong);
  }
  SECTION("extended label type") {
    WireBytes w = body();
    w.raw({0x81, 'a', 0});
    CHECK(read_at(w, 12).error == WireError::BadLabelType);
  }
  SECTION("name over 255 bytes through pointers") {
    WireBytes w = body();
    std::vector<size_t> starts;
    for (int i = 0; i < 4; ++i) {
      starts.push_back(w.size());
      w.u8(63);
      for (int k = 0; k < 63; ++k) w.u8(static_cast<uint8_t>('a' + i));
      if (i == 0)
        w.u8(0);
      else
        w.pointer(static_cast<uint16_t>(starts[i - 1]));
    }
    CHECK(read_at(w, starts[2]).error == WireError::None);  // 3 * 64 + 1 = 193
    CHECK(read_at(w, starts[3]).error == WireError::NameTooLong);  // 257
  }
  SECTION("too many pointers") {
    // A chain of pointers, each to the one before: strictly backwards, so no loop, but long.
    WireBytes w = body();
    w.name("a");
    size_t previous = 12;
    for (size_t i = 0; i < kMaxPointerJumps + 1; ++i) {
      size_t here = w.size();
      w.pointer(static_cast<uint16_t>(previous));
      previous = here;
    }
    size_t last = previous;
    Read ok = read_at(w, last - 2);  // kMaxPointerJumps jumps
    CHECK(ok.error == WireError::None);
    CHECK(ok.name.to_text() == "a");
    CHECK(read_at(w, last).error == WireError::TooManyPointers);
  }
}

TEST_CASE("With PriorLabels, pointers may only lead to labels of names read before", "[dns][name]") {
  WireBytes w = body();
  w.name("time.apple.com");  // labels at 12, 17, 23; root at 27
  size_t second = w.size();
  w.raw({3, 'w', 'w', 'w'}).pointer(17);  // www.apple.com
  size_t third = w.size();
  w.pointer(static_cast<uint16_t>(second));
  size_t fourth = w.size();
  w.pointer(18);  // inside "apple"
  size_t fifth = w.size();
  w.pointer(27);  // the first name's root byte
  size_t sixth = w.size();
  w.pointer(static_cast<uint16_t>(third));  // a pointer that is itself a whole name

  PriorLabels prior;
  Name n;
  size_t next = 0;
  // Before the first name is read, nothing may be pointed to.
  CHECK(read_name(w.b, second, w.size(), n, next, &prior) == WireError::BadPointerTarget);
  PriorLabels fresh;
  REQUIRE(read_name(w.b, 12, w.size(), n, next, &fresh) == WireError::None);
  for (size_t at : {12, 17, 23}) CHECK(fresh.contains(at));
  for (size_t at : {13, 27, 28}) CHECK_FALSE(fresh.contains(at));
  REQUIRE(read_name(w.b, second, w.size(), n, next, &fresh) == WireError::None);
  CHECK(n.to_text() == "www.apple.com");
  CHECK(fresh.contains(second));
  CHECK_FALSE(fresh.contains(second + 4));  // the pointer is not a label
  REQUIRE(read_name(w.b, third, w.size(), n, next, &fresh) == WireError::None);
  CHECK(n.to_text() == "www.apple.com");
  CHECK(read_name(w.b, fourth, w.size(), n, next, &fresh) == WireError::BadPointerTarget);
  CHECK(read_name(w.b, fifth, w.size(), n, next, &fresh) == WireError::BadPointerTarget);
  CHECK(read_name(w.b, sixth, w.size(), n, next, &fresh) == WireError::BadPointerTarget);
  // Without PriorLabels only the other rules apply: 'a' (0x61) read as a length byte, and a
  // pointer to a pointer.
  CHECK(read_name(w.b, fourth, w.size(), n, next) == WireError::LabelTooLong);
  REQUIRE(read_name(w.b, sixth, w.size(), n, next) == WireError::None);
  CHECK(n.to_text() == "www.apple.com");
}

TEST_CASE("NameCompressor points at the longest suffix already written", "[dns][name]") {
  std::vector<uint8_t> m(512, 0xee);
  NameCompressor names;
  size_t offset = 12;
  REQUIRE(names.write(N("time.apple.com"), m, offset, true) == WireError::None);
  CHECK(offset == 28);

  size_t second = offset;
  REQUIRE(names.write(N("TIME.Apple.com"), m, offset, true) == WireError::None);
  CHECK(offset == second + 2);  // the whole name as one pointer
  CHECK(m[second] == 0xc0);
  CHECK(m[second + 1] == 12);

  size_t third = offset;
  REQUIRE(names.write(N("www.apple.com"), m, offset, true) == WireError::None);
  CHECK(offset == third + 4 + 2);  // "www" then a pointer to "apple.com" at 17
  CHECK(m[third + 4] == 0xc0);
  CHECK(m[third + 5] == 17);

  size_t fourth = offset;
  REQUIRE(names.write(N("a.www.apple.com"), m, offset, true) == WireError::None);
  CHECK(offset == fourth + 2 + 2);  // "a" then a pointer to the previous name
  CHECK(m[fourth + 3] == third);

  // Uncompressed when asked (SRV targets), and the root is always one byte.
  size_t fifth = offset;
  REQUIRE(names.write(N("time.apple.com"), m, offset, false) == WireError::None);
  CHECK(offset == fifth + 16);
  size_t sixth = offset;
  REQUIRE(names.write(N("."), m, offset, true) == WireError::None);
  CHECK(offset == sixth + 1);

  // Everything reads back as written.
  WireBytes w;
  w.b.assign(m.begin(), m.begin() + static_cast<ptrdiff_t>(offset));
  CHECK(read_at(w, second).name == N("time.apple.com"));
  CHECK(read_at(w, third).name.to_text() == "www.apple.com");
  CHECK(read_at(w, fourth).name.to_text() == "a.www.apple.com");
  CHECK(read_at(w, fifth).name.to_text() == "time.apple.com");
}

TEST_CASE("NameCompressor: no space, rollback, and the 14-bit pointer range", "[dns][name]") {
  NameCompressor names;
  std::vector<uint8_t> m(20, 0);
  size_t offset = 12;
  CHECK(names.write(N("abcdefgh.com"), m, offset, true) == WireError::NoSpace);
  CHECK(offset == 12);
  CHECK(names.mark() == 0);

  std::vector<uint8_t> big(0x4000 + 64, 0);
  offset = 12;
  REQUIRE(names.write(N("example.com"), big, offset, true) == WireError::None);
  size_t mark = names.mark();
  CHECK(mark == 2);
  REQUIRE(names.write(N("other.net"), big, offset, true) == WireError::None);
  names.rollback(mark);
  size_t again = offset;
  REQUIRE(names.write(N("other.net"), big, offset, true) == WireError::None);
  CHECK(offset == again + 11);  // forgotten, so written in full

  // Names written beyond 0x3fff cannot be pointed to and are not remembered.
  offset = 0x4000;
  REQUIRE(names.write(N("far.org"), big, offset, true) == WireError::None);
  size_t after = offset;
  REQUIRE(names.write(N("far.org"), big, offset, true) == WireError::None);
  CHECK(offset == after + 9);
  // But they may point back into range.
  size_t pointing = offset;
  REQUIRE(names.write(N("example.com"), big, offset, true) == WireError::None);
  CHECK(offset == pointing + 2);
}

TEST_CASE("describe() names every error", "[dns][name]") {
  std::unordered_set<std::string> seen;
  for (int e = 0; e <= static_cast<int>(WireError::BadRcode); ++e) {
    std::string text(describe(static_cast<WireError>(e)));
    CHECK_FALSE(text.empty());
    CHECK(text != "unknown error");
    CHECK(seen.insert(text).second);
  }
}
