// One transport-data seal or open as a self-contained unit of work: a copy of the key, the
// counter and a pointer into a caller-owned buffer. Jobs share nothing mutable, so a batch of
// them can be split across threads while the protocol state stays on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/keys.h"
#include "crypto/messages.h"

namespace sluice::crypto {

struct TransportJob {
  enum class Kind : uint8_t { Seal, Open };

  Kind kind = Kind::Seal;
  // Seal: [header space][plaintext_len bytes][room for padding and tag]; the sealed datagram
  // of sealed_length(padded_len) bytes replaces it. Open: the received datagram of
  // message_len bytes, opened in place. The buffer belongs to whoever queued the job and must
  // stay valid, and untouched by anyone else, until the job has run.
  uint8_t* message = nullptr;
  size_t message_len = 0;    // Open: datagram length
  size_t plaintext_len = 0;  // Seal: input. Open: padded plaintext length when `ok`
  size_t padded_len = 0;     // Seal: what the plaintext is zero-padded to
  uint64_t counter = 0;
  uint32_t receiver_index = 0;  // Seal: written into the header
  bool ok = false;              // Open: authentic. Seal: always true once run
  Key key{};
};

// Runs one job (seal_transport or open_transport on its buffer).
void run_transport_job(TransportJob& job);

// Length of the datagram a seal of `padded_len` plaintext bytes produces.
constexpr size_t sealed_length(size_t padded_len) {
  return kTransportHeaderSize + padded_len + kAuthTagSize;
}

}  // namespace sluice::crypto
