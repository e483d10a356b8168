#include "platform/crypto_workers.h"

#include <algorithm>

namespace sluice::platform {

namespace {

constexpr uint32_t generation_of(uint64_t claim) { return static_cast<uint32_t>(claim >> 32); }
constexpr uint32_t index_of(uint64_t claim) { return static_cast<uint32_t>(claim >> 16) & 0xffff; }
constexpr uint32_t count_of(uint64_t claim) { return static_cast<uint32_t>(claim) & 0xffff; }

}  // namespace

size_t CryptoWorkers::default_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? cores - 1 : 0;
}

CryptoWorkers::CryptoWorkers(size_t threads, size_t min_parallel_jobs)
    : min_parallel_jobs_(std::max<size_t>(min_parallel_jobs, 2)) {
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { worker_main(); });
}

CryptoWorkers::~CryptoWorkers() {
  stopping_.store(true);
  // A new generation with nothing to claim wakes every worker to see the flag.
  claim_.store(uint64_t{generation_ + 1u} << 32);
  claim_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void CryptoWorkers::run(std::span<crypto::TransportJob> jobs) {
  if (threads_.empty() || jobs.size() < min_parallel_jobs_) return run_inline(jobs);
  while (!jobs.empty()) {
    const size_t n = std::min(jobs.size(), kMaxBatch);
    run_batch(jobs.first(n));
    jobs = jobs.subspan(n);
  }
}

void CryptoWorkers::run_batch(std::span<crypto::TransportJob> jobs) {
  ++parallel_batches_;
  const auto count = static_cast<uint32_t>(jobs.size());
  jobs_ = jobs.data();
  done_.store(0, std::memory_order_relaxed);
  ++generation_;
  claim_.store(uint64_t{generation_} << 32 | count, std::memory_order_release);
  claim_.notify_all();
  work(generation_);
  for (uint32_t d = done_.load(std::memory_order_acquire); d != count;
       d = done_.load(std::memory_order_acquire)) {
    done_.wait(d, std::memory_order_acquire);
  }
}

void CryptoWorkers::work(uint32_t generation) {
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t index = index_of(c);
    const uint32_t count = count_of(c);
    if (generation_of(c) != generation || index >= count) return;
    // Several chunks per thread, so a thread that starts late still finds work to share.
    const uint32_t chunk = std::max<uint32_t>(1, count / static_cast<uint32_t>((threads_.size() + 1) * 4));
    const uint32_t n = std::min(chunk, count - index);
    if (!claim_.compare_exchange_weak(c, c + (uint64_t{n} << 16), std::memory_order_acq_rel))
      continue;
    // The batch cannot finish (and jobs_ cannot change) before this chunk is counted done.
    for (uint32_t i = index; i < index + n; ++i) crypto::run_transport_job(jobs_[i]);
    if (done_.fetch_add(n, std::memory_order_acq_rel) + n == count) done_.notify_one();
    c = claim_.load(std::memory_order_acquire);
  }
}

void CryptoWorkers::worker_main() {
  uint32_t seen = 0;
  for (;;) {
    uint64_t c = claim_.load(std::memory_order_acquire);
    while (generation_of(c) == seen) {
      claim_.wait(c, std::memory_order_acquire);
      c = claim_.load(std::memory_order_acquire);
    }
    if (stopping_.load()) return;
    seen = generation_of(c);
    work(seen);
  }
}

}  // namespace sluice::platform
