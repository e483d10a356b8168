// The sliding window that rejects replayed transport messages (whitepaper section 5.4.6).
// Packets may arrive reordered by the network or by parallel decryption, so rather than
// demanding increasing counters we remember which of the most recent counters were seen.
#pragma once

#include <array>
#include <cstdint>

// kRejectAfterMessages (REJECT_AFTER_MESSAGES, 2^64 - 2^13 - 1) lives with the other protocol
// constants: no counter at or above it is ever accepted.
#include "tunnel/constants.h"

namespace sluice {

class ReplayWindow {
 public:
  // The ring is cleared one 64-bit word at a time as the window slides, so one word's worth
  // of it is always being recycled: the usable window is the ring less one word, the same
  // 8128 counters as the Linux module and wireguard-go. A receiving keypair carries 1 KiB.
  static constexpr unsigned kRingBits = 8192;
  static constexpr uint64_t kWindowSize = kRingBits - 64;

  // Accepts `counter` at most once. Rejects a counter already accepted, one more than
  // kWindowSize below the greatest accepted so far, or one >= reject_after_messages.
  // Call only after the message authenticated: an unauthenticated counter must not move the
  // window. Not thread-safe: the caller serialises calls per keypair.
  bool check_and_update(uint64_t counter, uint64_t reject_after_messages = kRejectAfterMessages);

  // What check_and_update() would answer now, without recording anything: lets the receive
  // path drop obvious replays before paying for decryption.
  bool check(uint64_t counter, uint64_t reject_after_messages = kRejectAfterMessages) const;

  // Forgets everything, as for a fresh keypair.
  void reset();

  // One past the greatest counter accepted so far; 0 while nothing has been accepted.
  uint64_t next_expected() const { return next_; }

 private:
  static constexpr unsigned kWords = kRingBits / 64;
  static_assert((kWords & (kWords - 1)) == 0, "the ring is indexed by masking");

  // Kept one above the greatest accepted counter so that 0 can mean "nothing yet" and
  // counter 0 needs no special case.
  uint64_t next_ = 0;
  std::array<uint64_t, kWords> ring_{};
};

}  // namespace sluice
