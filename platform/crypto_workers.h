// A pool of threads that runs the Device's transport crypto (tunnel/crypto_executor.h). The
// event-loop thread keeps the protocol state; each batch's seals or opens are split into
// chunks that the workers and the calling thread claim until none are left. run() returns
// when every job has finished, so the Device sees a batch exactly as if it ran inline.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <thread>
#include <vector>

#include "tunnel/crypto_executor.h"

namespace sluice::platform {

class CryptoWorkers final : public CryptoExecutor {
 public:
  // `threads` workers besides the caller (0: everything inline). Batches smaller than
  // `min_parallel_jobs` run inline: waking a worker costs more than a few seals.
  explicit CryptoWorkers(size_t threads, size_t min_parallel_jobs = 8);
  ~CryptoWorkers() override;  // stops and joins the workers
  CryptoWorkers(const CryptoWorkers&) = delete;
  CryptoWorkers& operator=(const CryptoWorkers&) = delete;

  // Not reentrant: one caller thread at a time (the event loop).
  void run(std::span<crypto::TransportJob> jobs) override;

  size_t threads() const { return threads_.size(); }
  uint64_t parallel_batches() const { return parallel_batches_; }

  // Workers to start for this machine: one per core beyond the caller's.
  static size_t default_threads();

 private:
  // The claim word packs the batch generation (32 bits), the next unclaimed index (16) and
  // the batch size (16), so a worker that wakes late can never claim from a newer batch with
  // an older view of it: its compare-and-swap fails on the generation.
  static constexpr size_t kMaxBatch = 0xffff;
  void run_batch(std::span<crypto::TransportJob> jobs);
  // Claims and runs chunks of generation `generation`; returns when none are left.
  void work(uint32_t generation);
  void worker_main();

  std::vector<std::thread> threads_;
  size_t min_parallel_jobs_;
  std::atomic<uint64_t> claim_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<bool> stopping_{false};
  crypto::TransportJob* jobs_ = nullptr;  // valid while the current batch is unfinished
  uint32_t generation_ = 0;
  uint64_t parallel_batches_ = 0;
};

}  // namespace sluice::platform
