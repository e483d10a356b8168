#include <catch2/catch.hpp>

#include <sodium.h>

#include <vector>

#include "crypto/transport.h"
#include "platform/crypto_workers.h"

using namespace sluice;
using sluice::platform::CryptoWorkers;

namespace {

// Seals `count` packets of `size` bytes with counters 0..count-1 into separate buffers.
struct Batch {
  Batch(size_t count, size_t size) : buffers(count, std::vector<uint8_t>(size + 64)), jobs(count) {
    randombytes_buf(key.data(), key.size());
    for (size_t i = 0; i < count; ++i) {
      randombytes_buf(buffers[i].data() + 16, size);
      auto& j = jobs[i];
      j.kind = crypto::TransportJob::Kind::Seal;
      j.message = buffers[i].data();
      j.plaintext_len = size;
      j.padded_len = crypto::padded_length(size);
      j.counter = i;
      j.receiver_index = 7;
      j.key = key;
    }
  }
  crypto::Key key{};
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<crypto::TransportJob> jobs;
};

}  // namespace

TEST_CASE("crypto workers seal exactly what inline sealing does, batch after batch", "[crypto_workers]") {
  REQUIRE(sodium_init() >= 0);
  CryptoWorkers workers(3, 4);
  REQUIRE(workers.threads() == 3);
  for (size_t round = 0; round < 200; ++round) {
    const size_t count = 1 + (round * 37) % 300;  // small batches run inline, larger in parallel
    Batch parallel(count, 100 + round), serial(0, 0);
    serial.buffers = parallel.buffers;
    serial.jobs = parallel.jobs;
    for (size_t i = 0; i < count; ++i) serial.jobs[i].message = serial.buffers[i].data();
    workers.run(parallel.jobs);
    run_inline(serial.jobs);
    REQUIRE(parallel.buffers == serial.buffers);
    for (const auto& j : parallel.jobs) REQUIRE(j.ok);
  }
  CHECK(workers.parallel_batches() > 100);
}

TEST_CASE("crypto workers open a batch with forged packets in it", "[crypto_workers]") {
  REQUIRE(sodium_init() >= 0);
  CryptoWorkers workers(1);
  Batch b(256, 1420);
  workers.run(b.jobs);
  const size_t sealed = crypto::sealed_length(b.jobs[0].padded_len);
  for (size_t i = 0; i < b.jobs.size(); ++i) {
    auto& j = b.jobs[i];
    j.kind = crypto::TransportJob::Kind::Open;
    j.message_len = sealed;
    if (i % 5 == 0) b.buffers[i][40] ^= 1;  // forged
  }
  workers.run(b.jobs);
  for (size_t i = 0; i < b.jobs.size(); ++i) {
    INFO(i);
    CHECK(b.jobs[i].ok == (i % 5 != 0));
    if (b.jobs[i].ok) CHECK(b.jobs[i].plaintext_len == b.jobs[i].padded_len);
  }
}

TEST_CASE("crypto workers start and stop cleanly, with and without work", "[crypto_workers]") {
  for (int i = 0; i < 50; ++i) {
    CryptoWorkers idle(2);
  }
  CryptoWorkers none(0);
  Batch b(64, 64);
  none.run(b.jobs);
  for (const auto& j : b.jobs) CHECK(j.ok);
  CHECK(none.parallel_batches() == 0);
}
