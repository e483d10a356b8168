// Protocol constants, named as in the WireGuard whitepaper (section 6.1).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tunnel/time.h"

namespace sluice {

inline constexpr uint64_t kRekeyAfterMessages = uint64_t{1} << 60;
inline constexpr uint64_t kRejectAfterMessages = UINT64_MAX - (uint64_t{1} << 13);
inline constexpr int64_t kRekeyAfterTime = seconds(120);
inline constexpr int64_t kRejectAfterTime = seconds(180);
inline constexpr int64_t kRekeyAttemptTime = seconds(90);
inline constexpr int64_t kRekeyTimeout = seconds(5);
inline constexpr int64_t kKeepaliveTimeout = seconds(10);
// Retransmits of one handshake before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT.
inline constexpr unsigned kMaxTimerHandshakes = kRekeyAttemptTime / kRekeyTimeout;
// Random extra delay on handshake timers so that peers do not retry in lockstep.
inline constexpr int64_t kRekeyTimeoutJitterMax = millis(334);
// The Linux module accepts at most 50 initiations a second from one peer.
inline constexpr int64_t kMinInitiationInterval = kNanosPerSecond / 50;
// Once load is seen, keep demanding cookies for this long.
inline constexpr int64_t kUnderLoadAfterTime = seconds(1);
// Packets held per peer while a handshake is in flight (as the Linux module's staged queue).
inline constexpr size_t kMaxStagedPackets = 128;

}  // namespace sluice
