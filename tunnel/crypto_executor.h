// Where the Device's transport crypto runs. The Device stays single-threaded and sans-IO: it
// queues the seals and opens of one call as independent jobs and hands them to an executor,
// which the embedding supplies (a worker pool in the Linux daemon) or leaves out (inline).
#pragma once

#include <span>

#include "crypto/transport_job.h"

namespace sluice {

class CryptoExecutor {
 public:
  virtual ~CryptoExecutor() = default;
  // Runs every job exactly once and returns only when all have finished. Jobs are
  // independent; they may run concurrently on any threads. The span and the buffers the jobs
  // point to stay owned by the caller (the Device) and valid for the whole call.
  virtual void run(std::span<crypto::TransportJob> jobs) = 0;
};

// Runs the jobs one after another on the calling thread.
void run_inline(std::span<crypto::TransportJob> jobs);

}  // namespace sluice
