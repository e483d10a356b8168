#include "tunnel/replay_window.h"

#include <algorithm>

namespace sluice {

// Internally a counter c is tracked as c + 1 (it cannot overflow: c < reject_after_messages),
// which is what next_ holds for the greatest accepted counter. Bit (c + 1) % 64 of ring word
// ((c + 1) / 64) % kWords records whether c was seen.

bool ReplayWindow::check(uint64_t counter, uint64_t reject_after_messages) const {
  if (counter >= reject_after_messages) return false;
  uint64_t shifted = counter + 1;
  if (shifted > next_) return true;
  if (next_ > kWindowSize && shifted < next_ - kWindowSize) return false;
  uint64_t word = ring_[(shifted / 64) & (kWords - 1)];
  return (word >> (shifted % 64) & 1) == 0;
}

bool ReplayWindow::check_and_update(uint64_t counter, uint64_t reject_after_messages) {
  if (counter >= reject_after_messages) return false;
  uint64_t shifted = counter + 1;
  if (next_ > kWindowSize && shifted < next_ - kWindowSize) return false;
  if (shifted > next_) {
    // Slide: words between the old top and the new one now stand for counters never seen.
    // A jump of a whole ring or more clears every word once, not the jump's length.
    uint64_t current_word = next_ / 64;
    uint64_t words = std::min<uint64_t>(shifted / 64 - current_word, kWords);
    for (uint64_t i = 1; i <= words; ++i) ring_[(current_word + i) & (kWords - 1)] = 0;
    next_ = shifted;
  }
  uint64_t& word = ring_[(shifted / 64) & (kWords - 1)];
  uint64_t bit = uint64_t{1} << (shifted % 64);
  if (word & bit) return false;
  word |= bit;
  return true;
}

void ReplayWindow::reset() {
  next_ = 0;
  ring_.fill(0);
}

}  // namespace sluice
