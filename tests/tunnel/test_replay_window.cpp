#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <set>
#include <vector>

#include "tunnel/replay_window.h"

using namespace sluice;

namespace {

constexpr uint64_t W = ReplayWindow::kWindowSize;
constexpr uint64_t LIM = W + 1;  // the first distance that falls out of the window
constexpr uint64_t R = kRejectAfterMessages;

struct Step {
  uint64_t counter;
  bool accepted;
};

// Runs the steps on a fresh window, checking the read-only check() against each outcome too.
void run(const std::vector<Step>& steps) {
  ReplayWindow w;
  for (size_t i = 0; i < steps.size(); ++i) {
    CAPTURE(i, steps[i].counter);
    CHECK(w.check(steps[i].counter) == steps[i].accepted);
    CHECK(w.check_and_update(steps[i].counter) == steps[i].accepted);
  }
}

// The model: a set of every accepted counter and the window rule spelled out.
struct NaiveWindow {
  std::set<uint64_t> seen;
  std::optional<uint64_t> greatest;

  bool check_and_update(uint64_t c, uint64_t reject_after) {
    if (c >= reject_after) return false;
    if (greatest && *greatest > W && c < *greatest - W) return false;
    if (!seen.insert(c).second) return false;
    if (!greatest || c > *greatest) greatest = c;
    return true;
  }
};

}  // namespace

TEST_CASE("ReplayWindow: constants", "[replay_window]") {
  CHECK(kRejectAfterMessages == 0xffff'ffff'ffff'dfffull);
  CHECK(W >= 2048);
}

// The scenarios of the Linux module's counter self-test, against our window size.
TEST_CASE("ReplayWindow: reordering, duplicates and window edges", "[replay_window]") {
  run({
      {0, true},
      {1, true},
      {1, false},                         // duplicate
      {9, true},                          // gap
      {8, true},                          // fills the gap backwards
      {7, true},
      {7, false},
      {LIM, true},                        // moves the window so 0 is just outside
      {LIM - 1, true},
      {LIM - 1, false},
      {LIM - 2, true},
      {2, true},                          // greatest - W: the oldest counter still inside
      {2, false},
      {LIM + 16, true},
      {3, false},                         // now outside
      {LIM + 16, false},
      {LIM * 4, true},                    // a jump of several windows clears the ring
      {LIM * 4 - (LIM - 1), true},        // exactly greatest - W
      {10, false},                        // far below
      {LIM * 4 - LIM, false},             // greatest - W - 1
      {LIM * 4 - (LIM + 1), false},
      {LIM * 4 - (LIM - 2), true},
      {LIM * 4 + 1 - LIM, false},         // already accepted as greatest - W
      {0, false},
      {R, false},                         // never at or above REJECT_AFTER_MESSAGES
      {R - 1, true},
      {R, false},
      {R - 1, false},
      {R - 2, true},
      {R + 1, false},
      {R + 2, false},
      {R - 2, false},
      {R - 3, true},
      {0, false},
  });
}

TEST_CASE("ReplayWindow: a full window in order, then the oldest", "[replay_window]") {
  std::vector<Step> steps;
  for (uint64_t i = 1; i <= W; ++i) steps.push_back({i, true});
  steps.push_back({0, true});  // greatest is W: 0 is the last counter inside
  steps.push_back({0, false});
  run(steps);
}

TEST_CASE("ReplayWindow: a full window from 2, then 1 and 0", "[replay_window]") {
  std::vector<Step> steps;
  for (uint64_t i = 2; i <= W + 1; ++i) steps.push_back({i, true});
  steps.push_back({1, true});
  steps.push_back({0, false});  // W + 1 below the greatest
  run(steps);
}

TEST_CASE("ReplayWindow: a window's worth strictly backwards", "[replay_window]") {
  std::vector<Step> steps;
  for (uint64_t i = W + 1; i-- > 0;) steps.push_back({i, true});
  run(steps);

  steps.clear();
  for (uint64_t i = W + 2; i-- > 1;) steps.push_back({i, true});
  steps.push_back({0, false});
  run(steps);

  steps.clear();
  for (uint64_t i = W + 1; i-- > 1;) steps.push_back({i, true});
  steps.push_back({W + 1, true});
  steps.push_back({0, false});
  run(steps);

  steps.clear();
  for (uint64_t i = W + 1; i-- > 1;) steps.push_back({i, true});
  steps.push_back({0, true});
  steps.push_back({W + 1, true});
  run(steps);
}

TEST_CASE("ReplayWindow: ring words are recycled, not stale", "[replay_window]") {
  // Advancing by just under a ring at a time reuses words that once held seen bits; every
  // counter newly inside the window must still be accepted exactly once.
  ReplayWindow w;
  uint64_t base = 0;
  for (int round = 0; round < 6; ++round) {
    for (uint64_t i = 0; i < W; i += 7) REQUIRE(w.check_and_update(base + i));
    for (uint64_t i = 0; i < W; i += 7) REQUIRE_FALSE(w.check_and_update(base + i));
    // Offsets of the next round land 3 (mod 7) past this round's, so no counter repeats.
    base += 7 * ((W - 100) / 7) + 3;
  }
}

TEST_CASE("ReplayWindow: caller-chosen reject limit", "[replay_window]") {
  ReplayWindow w;
  CHECK(w.check_and_update(9, 10));
  CHECK_FALSE(w.check_and_update(10, 10));
  CHECK_FALSE(w.check(10, 10));
  // The largest representable limit does not overflow anywhere.
  CHECK(w.check_and_update(UINT64_MAX - 1, UINT64_MAX));
  CHECK_FALSE(w.check_and_update(UINT64_MAX - 1, UINT64_MAX));
  CHECK(w.check_and_update(UINT64_MAX - 1 - W, UINT64_MAX));
  CHECK_FALSE(w.check_and_update(UINT64_MAX - 2 - W, UINT64_MAX));
  CHECK_FALSE(w.check_and_update(UINT64_MAX, UINT64_MAX));
}

TEST_CASE("ReplayWindow: reset forgets everything", "[replay_window]") {
  ReplayWindow w;
  CHECK(w.next_expected() == 0);
  CHECK(w.check_and_update(5));
  CHECK(w.check_and_update(100000));
  CHECK(w.next_expected() == 100001);
  w.reset();
  CHECK(w.next_expected() == 0);
  CHECK(w.check_and_update(5));
  CHECK(w.check_and_update(0));
}

TEST_CASE("ReplayWindow: check() records nothing", "[replay_window]") {
  ReplayWindow w;
  CHECK(w.check(3));
  CHECK(w.check(3));
  CHECK(w.check_and_update(3));
  CHECK_FALSE(w.check(3));
  CHECK(w.check(1'000'000));
  CHECK(w.check(2));
  CHECK(w.next_expected() == 4);
}

TEST_CASE("ReplayWindow: randomised against a set", "[replay_window][random]") {
  for (uint64_t seed : {11u, 12u, 13u, 14u}) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    ReplayWindow w;
    NaiveWindow naive;
    // Start some runs near the reject limit to exercise the top of the counter space.
    uint64_t limit = seed % 2 ? kRejectAfterMessages : 5'000'000;
    uint64_t front = seed % 2 ? 0 : limit - 3 * W;
    for (int step = 0; step < 200'000; ++step) {
      uint64_t c;
      switch (rng() % 10) {
        case 0: c = front + rng() % 64; break;                        // slightly ahead
        case 1: c = front + rng() % (3 * W); break;                   // a jump
        case 2: c = front - std::min<uint64_t>(front, W - 2 + rng() % 6); break;  // edge
        case 3: c = rng() % 16 == 0 ? front + rng() % (20 * W) : front; break;
        default: c = front - std::min<uint64_t>(front, rng() % (W + W / 8)); break;  // reordered or replayed
      }
      if (rng() % 1000 == 0) c = limit - 1 - rng() % 4;
      bool expected = naive.check_and_update(c, limit);
      REQUIRE(w.check(c, limit) == expected);
      REQUIRE(w.check_and_update(c, limit) == expected);
      if (naive.greatest) front = *naive.greatest;
      // Keep the model's memory bounded; what it forgets is below the window anyway.
      if (naive.seen.size() > 4 * W && front > 2 * W)
        naive.seen.erase(naive.seen.begin(), naive.seen.lower_bound(front - 2 * W));
    }
  }
}
