#include <catch2/catch.hpp>

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "dns/block_list_loader.h"
#include "dns/domain_set.h"

using namespace sluice::dns;

namespace {

CanonicalName name(const std::string& text) {
  auto n = CanonicalName::from_text(text);
  if (!n) FAIL("not a name: " << text);
  return *n;
}

std::vector<uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<uint8_t> out;
  for (int b : list) out.push_back(static_cast<uint8_t>(b));
  return out;
}

constexpr DomainSetBuilder::HashKey kKey = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif

// Resident memory after handing freed heap pages back to the kernel, so that memory freed by
// earlier tests (and by the builder) neither hides nor inflates the growth.
size_t resident_bytes() {
  malloc_trim(0);
  std::ifstream statm("/proc/self/statm");
  size_t total = 0, resident = 0;
  statm >> total >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// CPU time of this thread: the machine running the tests may be shared, so the time bound is
// on the work done, and the wall time is only reported.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

TEST_CASE("CanonicalName from text: lowercase wire form, final dot optional") {
  auto n = name("WWW.Example.COM.");
  auto expected = bytes({3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0});
  CHECK(std::vector<uint8_t>(n.wire().begin(), n.wire().end()) == expected);
  CHECK(name("www.example.com") == n);
  CHECK(n.label_count() == 3);
  CHECK(n.to_text() == "www.example.com");
  CHECK(name("_dmarc.a-b.example").to_text() == "_dmarc.a-b.example");
}

TEST_CASE("CanonicalName from text refuses what no rule can mean") {
  for (const char* bad : {"", ".", "..", "a..b", ".a", "a b", "*.a", "a*", "a\\.b", "exa mple.com", "a/b",
                          "\xc3\xa9.example", "a.b\x01"}) {
    INFO(bad);
    CHECK_FALSE(CanonicalName::from_text(bad));
  }
  const std::string label63(63, 'a');
  CHECK(CanonicalName::from_text(label63 + ".com"));
  CHECK_FALSE(CanonicalName::from_text(label63 + "a.com"));
  // 253 characters of text is the 255-byte wire limit; one more is too long.
  std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(longest.size() == 253);
  auto n = CanonicalName::from_text(longest);
  REQUIRE(n);
  CHECK(n->wire().size() == 255);
  CHECK(CanonicalName::from_text(longest + "."));
  CHECK_FALSE(CanonicalName::from_text(longest + "b"));
}

TEST_CASE("CanonicalName from wire: any label bytes, no pointers, exact length") {
  auto wire = bytes({3, 'W', 0x00, 0xff, 2, 'C', 'o', 0});
  auto n = CanonicalName::from_wire(wire);
  REQUIRE(n);
  CHECK(std::vector<uint8_t>(n->wire().begin(), n->wire().end()) == bytes({3, 'w', 0x00, 0xff, 2, 'c', 'o', 0}));
  CHECK(n->to_text() == "w\\000\\255.co");
  CHECK(CanonicalName::from_wire(bytes({0}))->is_root());
  CHECK(CanonicalName::from_wire(bytes({0}))->to_text() == ".");

  CHECK_FALSE(CanonicalName::from_wire({}));
  CHECK_FALSE(CanonicalName::from_wire(bytes({3, 'a', 'b'})));               // truncated label
  CHECK_FALSE(CanonicalName::from_wire(bytes({1, 'a'})));                    // no root byte
  CHECK_FALSE(CanonicalName::from_wire(bytes({1, 'a', 0, 0})));              // bytes after the root
  CHECK_FALSE(CanonicalName::from_wire(bytes({0xc0, 0x0c})));                // compression pointer
  CHECK_FALSE(CanonicalName::from_wire(bytes({64})));                        // label length 64
  std::vector<uint8_t> too_long;
  for (int i = 0; i < 4; ++i) {
    too_long.push_back(63);
    too_long.insert(too_long.end(), 63, 'a');
  }
  too_long.push_back(0);  // 257 bytes
  CHECK_FALSE(CanonicalName::from_wire(too_long));
}

TEST_CASE("CanonicalName::any_suffix walks from the whole name to the top-level domain") {
  std::vector<std::string> seen;
  name("a.b.example.com").any_suffix([&](std::span<const uint8_t> tail) {
    seen.push_back(CanonicalName::from_wire(tail)->to_text());
    return false;
  });
  CHECK(seen == std::vector<std::string>{"a.b.example.com", "b.example.com", "example.com", "com"});
  CHECK_FALSE(CanonicalName().any_suffix([](auto) { return true; }));
}

TEST_CASE("DomainSet: exact rules match only the name, suffix rules the name and below") {
  DomainSetBuilder builder(100, kKey);
  builder.add(name("example.com"), DomainMatch::suffix);
  builder.add(name("ads.example.net"), DomainMatch::exact);
  DomainSet set = builder.build();
  CHECK(set.size() == 2);

  CHECK(set.matches(name("example.com")));
  CHECK(set.matches(name("a.example.com")));
  CHECK(set.matches(name("a.b.EXAMPLE.com.")));
  CHECK_FALSE(set.matches(name("badexample.com")));
  CHECK_FALSE(set.matches(name("com")));
  CHECK_FALSE(set.matches(name("example.org")));

  CHECK(set.matches(name("ads.example.net")));
  CHECK(set.matches(name("ADS.example.NET.")));
  CHECK_FALSE(set.matches(name("x.ads.example.net")));
  CHECK_FALSE(set.matches(name("example.net")));

  CHECK_FALSE(set.matches(CanonicalName()));
  CHECK_FALSE(DomainSet().matches(name("example.com")));
}

TEST_CASE("DomainSet: both kinds for one name, duplicates and the rule limit") {
  DomainSetBuilder builder(3, kKey);
  CHECK(builder.add(name("a.example"), DomainMatch::exact));
  CHECK(builder.add(name("a.example"), DomainMatch::exact));
  CHECK(builder.add(name("a.example"), DomainMatch::suffix));
  CHECK_FALSE(builder.add(name("b.example"), DomainMatch::exact));
  DomainSet set = builder.build();
  CHECK(set.size() == 2);  // the duplicate is stored once
  CHECK(set.matches(name("a.example")));
  CHECK(set.matches(name("x.a.example")));
  CHECK_FALSE(set.matches(name("b.example")));

  // The builder starts over empty after build().
  CHECK(builder.added() == 0);
  builder.add(name("b.example"), DomainMatch::exact);
  DomainSet second = builder.build();
  CHECK(second.matches(name("b.example")));
  CHECK_FALSE(second.matches(name("a.example")));
}

TEST_CASE("DomainSet agrees with a naive set of strings on random rules and names") {
  const char* labels[] = {"a", "b", "ads", "cdn", "example", "com", "net", "x-1", "tracker"};
  std::mt19937 rng(7);
  auto random_name = [&] {
    std::string s;
    int count = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < count; ++i) {
      if (i) s += '.';
      s += labels[rng() % std::size(labels)];
    }
    return s;
  };
  std::set<std::string> exact, suffix;
  DomainSetBuilder builder;  // random key
  for (int i = 0; i < 300; ++i) {
    std::string rule = random_name();
    bool is_suffix = rng() % 2;
    (is_suffix ? suffix : exact).insert(rule);
    builder.add(name(rule), is_suffix ? DomainMatch::suffix : DomainMatch::exact);
  }
  DomainSet set = builder.build();
  for (int i = 0; i < 5000; ++i) {
    std::string query = random_name();
    bool expected = exact.count(query) > 0;
    for (std::string tail = query; !expected;) {
      if (suffix.count(tail)) expected = true;
      auto dot = tail.find('.');
      if (dot == std::string::npos) break;
      tail = tail.substr(dot + 1);
    }
    INFO(query);
    REQUIRE(set.matches(name(query)) == expected);
  }
}

// The budget: 1,000,000 domains in a few seconds, at most 24 bytes each, measured both by the
// set's own accounting and by the process's resident memory. The names go through the real
// loader (hosts lines fed in 64 KiB chunks), generated on the fly so that only the set stays.
TEST_CASE("DomainSet: a million domains load in seconds at under 24 bytes each") {
  const size_t count = kUnderAsan ? 200'000 : 1'000'000;
  auto domain = [](size_t i) {
    return "host-" + std::to_string(i * 2654435761u % 1000003) + ".cdn" + std::to_string(i % 977) + ".tracker-" +
           std::to_string(i % 31) + ".example.com";
  };
  const size_t rss_before = resident_bytes();
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = thread_cpu_seconds();
  DomainSet set;
  {
    DomainSetBuilder builder;
    BlockListParser parser(builder);
    std::string chunk;
    for (size_t i = 0; i < count; ++i) {
      chunk += "0.0.0.0 " + domain(i) + "\n";
      if (chunk.size() > 64 * 1024) {
        parser.feed(chunk);
        chunk.clear();
      }
    }
    parser.feed(chunk);
    parser.finish();
    REQUIRE(parser.stats().rules == count);
    REQUIRE(parser.stats().invalid == 0);
    set = builder.build();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double cpu_seconds = thread_cpu_seconds() - cpu_start;
  const size_t rss_after = resident_bytes();
  const double accounted = static_cast<double>(set.memory_bytes()) / static_cast<double>(count);
  const double resident = static_cast<double>(rss_after > rss_before ? rss_after - rss_before : 0) /
                          static_cast<double>(count);
  std::printf("DomainSet load: %zu domains in %.2f s CPU (%.2f s wall); %.2f bytes/domain (accounted), "
              "%.2f bytes/domain (RSS growth)%s\n",
              count, cpu_seconds, seconds, accounted, resident,
              kUnderAsan ? " [ASan: smaller count, RSS and time not checked]" : "");

  CHECK(set.size() == count);
  CHECK(accounted <= 24.0);
  if (!kUnderAsan) {
    CHECK(resident <= 24.0);
  }
  for (size_t i = 0; i < count; i += 997) REQUIRE(set.matches(name(domain(i))));
  size_t false_hits = 0;
  for (size_t i = 0; i < 10'000; ++i) false_hits += set.matches(name("other-" + std::to_string(i) + ".example.org"));
  CHECK(false_hits == 0);
}
