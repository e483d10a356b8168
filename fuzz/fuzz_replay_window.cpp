// tunnel/replay_window.h against an obviously correct model: the set of accepted counters plus
// the window rule "reject anything more than kWindowSize below the greatest accepted". The
// ring's word recycling is where an off-by-one would hide, so counters are mostly produced as
// small steps around the current top and around the window's lower edge.
#include <optional>
#include <set>

#include "fuzz_support.h"
#include "tunnel/replay_window.h"

using namespace sluice;

namespace {

class Model {
 public:
  bool check(uint64_t c, uint64_t reject_after) const {
    if (c >= reject_after) return false;
    if (max_ && c < *max_ && *max_ - c > ReplayWindow::kWindowSize) return false;
    return seen_.count(c) == 0;
  }
  bool check_and_update(uint64_t c, uint64_t reject_after) {
    if (!check(c, reject_after)) return false;
    seen_.insert(c);
    if (!max_ || c > *max_) {
      max_ = c;
      // Keep the model small: counters below the window can never be accepted again.
      if (c > ReplayWindow::kWindowSize) seen_.erase(seen_.begin(), seen_.lower_bound(c - ReplayWindow::kWindowSize));
    }
    return true;
  }
  void reset() {
    seen_.clear();
    max_.reset();
  }
  uint64_t top() const { return max_.value_or(0); }
  uint64_t next_expected() const { return max_ ? *max_ + 1 : 0; }

 private:
  std::set<uint64_t> seen_;
  std::optional<uint64_t> max_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Reader in(data, size);
  ReplayWindow window;
  Model model;
  while (!in.empty()) {
    const uint8_t op = in.u8();
    uint64_t c = 0;
    switch (op & 7) {
      case 0: c = model.top() + in.u8(); break;                 // just above the top
      case 1: c = model.top() - in.u8(); break;                 // just below (wraps near 0)
      case 2: c = model.top() - ReplayWindow::kWindowSize + (in.u8() - 128); break;  // lower edge
      case 3: c = model.top() + in.u16(); break;                // slide by up to a whole ring
      case 4: c = in.u64(); break;                              // anywhere
      case 5: c = kRejectAfterMessages - 1 - in.u8() + (op >> 7 ? 256 : 0); break;  // the ceiling
      case 6: c = model.top() + ReplayWindow::kRingBits * (in.u8() & 3) + (in.u8() - 128); break;
      case 7:
        window.reset();
        model.reset();
        FUZZ_CHECK(window.next_expected() == 0);
        continue;
    }
    // Mostly the real limit; sometimes a small one, as a keypair near its message limit.
    const uint64_t reject_after = (op & 0x40) ? model.top() + 64 : kRejectAfterMessages;
    FUZZ_CHECK(window.check(c, reject_after) == model.check(c, reject_after));
    FUZZ_CHECK(window.check_and_update(c, reject_after) == model.check_and_update(c, reject_after));
    FUZZ_CHECK(window.next_expected() == model.next_expected());
    // A counter just accepted is now a replay.
    FUZZ_CHECK(!window.check(c, reject_after));
  }
  return 0;
}
