#include <catch2/catch.hpp>

#include "crypto/tai64n.h"
#include "test_support.h"

using namespace sluice::crypto;
using sluice::crypto::test::hex;

TEST_CASE("TAI64N encoding", "[tai64n][kat]") {
  // The Unix epoch is TAI64 label 2^62 + 10.
  CHECK(hex(tai64n_from_unix_ns(0)) == "400000000000000a00000000");
  // 1700000000 s = 0x6553f100; 123456789 ns = 0x075bcd15, rounded down to a multiple of 2^24.
  CHECK(hex(tai64n_from_unix_ns(1'700'000'000'123'456'789)) == "400000006553f10a07000000");
  CHECK(hex(tai64n_from_unix_ns(1'700'000'000'999'999'999)) == "400000006553f10a3b000000");
  // Before 1970 the nanoseconds stay non-negative.
  CHECK(hex(tai64n_from_unix_ns(-1)) == "40000000000000093b000000");
}

TEST_CASE("TAI64N ordering", "[tai64n]") {
  const int64_t t = 1'700'000'000'000'000'000;
  const Tai64n a = tai64n_from_unix_ns(t);
  CHECK_FALSE(tai64n_after(a, a));
  // Within one 2^24 ns granule timestamps are equal, hence not "after".
  CHECK_FALSE(tai64n_after(tai64n_from_unix_ns(t + 1'000'000), a));
  CHECK(tai64n_after(tai64n_from_unix_ns(t + 20'000'000), a));
  CHECK_FALSE(tai64n_after(a, tai64n_from_unix_ns(t + 20'000'000)));
  // Seconds dominate nanoseconds.
  CHECK(tai64n_after(tai64n_from_unix_ns(t + 1'000'000'000), tai64n_from_unix_ns(t + 999'000'000)));
  CHECK(tai64n_after(tai64n_from_unix_ns(0), tai64n_from_unix_ns(-1)));
}
