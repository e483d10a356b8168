// The bound bench_datapath compares the device with: libsodium's ChaCha20-Poly1305 (IETF)
// sealing and then opening packets in place, one call each per packet, with none of the
// protocol's work around them (no header, lookup, replay window or timers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/keys.h"
#include "tunnel/packet_buffer.h"

namespace sluice::bench {

class AeadBound {
 public:
  AeadBound();

  // Seals the first `length` bytes at data() of every buffer in `batch` in place (the tag
  // goes into the tailroom) and opens them again, so each buffer ends as it started. The
  // buffers stay the caller's; each needs room() >= length + 16. Returns false if any open
  // failed to authenticate, which would mean the bound measured something else.
  bool round_trip(std::span<PacketBuffer* const> batch, size_t length);

 private:
  crypto::Key key_{};
  uint64_t counter_ = 0;  // a fresh nonce per packet, as the transport counter gives
};

}  // namespace sluice::bench
