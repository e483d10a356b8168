// The Device hands its seals and opens to a CryptoExecutor. Whatever order and threads the
// executor runs them on, a run must be exactly the run with inline crypto: same deliveries,
// same drops, same handshakes. Batched delivery puts duplicates, replays, session
// confirmations and handshake messages inside one handle_outer call.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "common/deterministic_random.h"
#include "sim/sim_network.h"

using namespace sluice;
using namespace sluice::test;

namespace {

// Runs the second half of the jobs on another thread and the first half backwards here.
class SplitExecutor : public CryptoExecutor {
 public:
  void run(std::span<crypto::TransportJob> jobs) override {
    ++calls;
    jobs_run += jobs.size();
    const size_t half = jobs.size() < 8 ? jobs.size() : jobs.size() / 2;
    std::thread other;
    if (half < jobs.size()) other = std::thread([&] { run_inline(jobs.subspan(half)); });
    for (size_t i = half; i-- > 0;) crypto::run_transport_job(jobs[i]);
    if (other.joinable()) other.join();
  }
  uint64_t calls = 0;
  uint64_t jobs_run = 0;
};

struct Outcome {
  std::vector<uint32_t> a_received, b_received;
  DeviceCounters a_counters, b_counters;
};

Outcome run_scenario(CryptoExecutor* executor) {
  use_deterministic_randombytes();
  reseed_randombytes(42);
  SimNetwork net(42);
  DeviceOptions options;
  options.crypto_executor = executor;
  SimNode& a = net.add_node("a", *Endpoint::parse("192.0.2.1:51820"), *IpAddress::parse("10.0.0.1"), options);
  SimNode& b = net.add_node("b", *Endpoint::parse("192.0.2.2:51820"), *IpAddress::parse("10.0.0.2"), options);
  net.add_peer(a, b, true);
  net.add_peer(b, a, false);
  net.batch_delivery = true;
  net.link = LinkConditions{millis(5), 0.02, 0.05, 0.10, millis(20), -1, -1};
  uint32_t seq = 0;
  // Bursts of 16 packets each way every 100 ms for 6 simulated minutes (three rekeys).
  net.run_until(seconds(360), millis(100), [&](int64_t) {
    for (int i = 0; i < 16; ++i, ++seq) {
      net.send_inner(a, b, seq);
      net.send_inner(b, a, seq);
    }
  });
  return {a.received, b.received, a.device.counters(), b.device.counters()};
}

}  // namespace

TEST_CASE("a threaded, reordering crypto executor changes nothing about a run", "[sim][executor]") {
  const Outcome inline_run = run_scenario(nullptr);
  SplitExecutor executor;
  const Outcome threaded_run = run_scenario(&executor);

  CHECK(executor.calls > 0);
  CHECK(executor.jobs_run > 100'000);
  REQUIRE(inline_run.b_received.size() > 50'000);
  CHECK(threaded_run.a_received == inline_run.a_received);
  CHECK(threaded_run.b_received == inline_run.b_received);
  for (size_t r = 0; r < static_cast<size_t>(DropReason::Count); ++r) {
    const auto reason = static_cast<DropReason>(r);
    INFO(drop_reason_name(reason));
    CHECK(threaded_run.a_counters.dropped(reason) == inline_run.a_counters.dropped(reason));
    CHECK(threaded_run.b_counters.dropped(reason) == inline_run.b_counters.dropped(reason));
  }
  CHECK(threaded_run.a_counters.handshakes_completed == inline_run.a_counters.handshakes_completed);
  CHECK(threaded_run.b_counters.handshakes_completed == inline_run.b_counters.handshakes_completed);
  // The batched path itself is right: nothing delivered twice, and duplicates were seen.
  for (const auto* received : {&inline_run.a_received, &inline_run.b_received})
    CHECK(std::set<uint32_t>(received->begin(), received->end()).size() == received->size());
  // Batches carried duplicates that only the second (post-decryption) replay check could see.
  CHECK(inline_run.b_counters.dropped(DropReason::ReplayedCounter) > 0);
  CHECK(inline_run.a_counters.handshakes_completed + inline_run.b_counters.handshakes_completed >= 6);
}
