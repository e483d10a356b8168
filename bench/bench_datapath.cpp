// bench_datapath: the in-process data path against its bound, on one core and on all cores.
//
// The device path is device A's handle_inner (seal) followed by device B's handle_outer
// (open), batches of 128 pool buffers, after an in-memory handshake. The bound is libsodium's
// ChaCha20-Poly1305 sealing and opening the same buffers at the same sizes. "All cores" is
// measured twice: as independent device pairs, one per thread, and as the daemon runs one
// device, with its crypto on platform::CryptoWorkers. Device and bound are timed in
// alternating phases of the same run, so the ratio holds on a shared, noisy machine where an
// absolute figure would not. Prints packets/s and Gbit/s of inner IP packets, the ratios
// against the target (device >= 0.85 of the bound), heap allocations in the measured device
// loops (target 0) and peak RSS.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <latch>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/aead_bound.h"
#include "bench/allocation_count.h"
#include "bench/device_pair.h"
#include "crypto/transport.h"
#include "platform/crypto_workers.h"

namespace {

using namespace sluice;
using namespace sluice::bench;
using Clock = std::chrono::steady_clock;

constexpr size_t kBatch = 128;
constexpr size_t kPoolBuffers = 2 * kBatch;  // one batch in flight, and spare for handshakes
constexpr uint32_t kMtu = 1420;
constexpr size_t kSizes[] = {1420, 64};
constexpr double kTargetRatio = 0.85;

constexpr const char* kUsage =
    "Usage: bench_datapath [--seconds S] [--rounds N] [--threads N]\n"
    "\n"
    "Seal (device A handle_inner) then open (device B handle_outer) of 1420- and 64-byte IPv4\n"
    "packets in batches of 128, against raw ChaCha20-Poly1305 seal+open of the same buffers, on\n"
    "one thread, on N threads (independent device pairs), and as one device pair whose crypto\n"
    "runs on CryptoWorkers(N - 1), in alternating phases.\n"
    "\n"
    "  --seconds S   measuring time in all, split over every phase (default 4)\n"
    "  --rounds N    alternations of device and bound per size and mode (default 3)\n"
    "  --threads N   N for \"all cores\" (default std::thread::hardware_concurrency())\n"
    "\n"
    "Exit status: 0 measured (whether or not targets were met), 1 error, 2 usage error.\n";

struct Options {
  double seconds = 4.0;
  unsigned rounds = 3;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
};

std::optional<double> parse_number(std::string_view text, double min, double max) {
  std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(v >= min && v <= max)) return std::nullopt;
  return v;
}

// Returns the exit code when the program should stop (help or usage error).
std::optional<int> parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const bool known = arg == "--seconds" || arg == "--rounds" || arg == "--threads";
    if (!known || i + 1 >= argc) {
      std::fprintf(stderr, "bench_datapath: %s %s\n\n%s", known ? "missing value for" : "unknown option",
                   argv[i], kUsage);
      return 2;
    }
    const std::string_view value = argv[++i];
    std::optional<double> v;
    if (arg == "--seconds") {
      v = parse_number(value, 0.01, 3600);
      if (v) o.seconds = *v;
    } else if (arg == "--rounds") {
      v = parse_number(value, 1, 1000);
      if (v) o.rounds = static_cast<unsigned>(*v);
    } else {
      v = parse_number(value, 1, 256);
      if (v) o.threads = static_cast<unsigned>(*v);
    }
    if (!v) {
      std::fprintf(stderr, "bench_datapath: bad value '%s' for %s\n\n%s", argv[i], argv[i - 1], kUsage);
      return 2;
    }
  }
  return std::nullopt;
}

enum class Path { Device, Aead };

// Everything one thread measures with: a device pair, the bound, and one batch of buffers
// taken from the pair's pool at start-up.
struct Worker {
  explicit Worker(CryptoExecutor* executor = nullptr) : pair(kPoolBuffers, executor) {
    for (size_t i = 0; i < kBatch; ++i) {
      PacketBuffer* b = pair.pool().acquire();
      if (b == nullptr) throw std::runtime_error("buffer pool smaller than one batch");
      batch.push_back(b);
    }
  }
  void prepare(size_t ip_length) {
    for (PacketBuffer* b : batch) {
      b->reset_for_inner();
      pair.build_packet(*b, ip_length);
    }
  }

  DevicePair pair;
  AeadBound bound;
  std::vector<PacketBuffer*> batch;
};

using Workers = std::span<const std::unique_ptr<Worker>>;

// How the cores are used: which workers run the device path, and which the bound it is
// compared with, each worker on its own thread.
struct Mode {
  const char* name;
  Workers device;
  Workers bound;
};

struct Measurement {
  uint64_t packets = 0;
  double seconds = 0;
  uint64_t allocations = 0;
  std::string error;  // set if a packet did not make it through
};

std::string describe_drops(const Device& d) {
  std::string s;
  const DeviceCounters& c = d.counters();
  for (size_t r = 0; r < c.drops.size(); ++r)
    if (c.drops[r]) s += " " + std::string(drop_reason_name(static_cast<DropReason>(r))) + "=" + std::to_string(c.drops[r]);
  return s.empty() ? " none" : s;
}

// Runs whole batches until `duration` has passed. The worker's batch holds packets of
// `ip_length` bytes before and after.
Measurement measure(Worker& w, Path path, size_t ip_length, std::chrono::duration<double> duration) {
  Measurement m;
  const size_t sealed_length = crypto::padded_length(ip_length, kMtu);
  const uint64_t allocations_before = thread_allocations();
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(duration);
  auto now = start;
  do {
    if (path == Path::Device) {
      const size_t delivered = w.pair.round_trip(w.batch);
      if (delivered != kBatch) {
        m.error = "device pair delivered " + std::to_string(delivered) + " of " + std::to_string(kBatch) +
                  " packets; drops at a:" + describe_drops(w.pair.a()) + "; at b:" + describe_drops(w.pair.b());
        break;
      }
    } else if (!w.bound.round_trip(w.batch, sealed_length)) {
      m.error = "raw AEAD open failed to authenticate";
      break;
    }
    m.packets += kBatch;
    now = Clock::now();
  } while (now < deadline);
  m.allocations = thread_allocations() - allocations_before;
  m.seconds = std::chrono::duration<double>(now - start).count();
  return m;
}

// One phase on `workers.size()` threads that start together (one thread: the caller's own).
std::vector<Measurement> run_phase(Workers workers, Path path, size_t ip_length,
                                   std::chrono::duration<double> duration) {
  std::vector<Measurement> results(workers.size());
  if (workers.size() == 1) {
    results[0] = measure(*workers[0], path, ip_length, duration);
    return results;
  }
  std::latch start(static_cast<std::ptrdiff_t>(workers.size()));
  std::vector<std::thread> threads;
  threads.reserve(workers.size());
  for (size_t i = 0; i < workers.size(); ++i)
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      results[i] = measure(*workers[i], path, ip_length, duration);
    });
  for (std::thread& t : threads) t.join();
  return results;
}

// Per thread, summed over rounds; the rate of a kind of phase is the sum of the threads' rates.
struct Tally {
  std::vector<uint64_t> packets;
  std::vector<double> seconds;
  uint64_t allocations = 0;
  void add(const std::vector<Measurement>& ms) {
    packets.resize(ms.size());
    seconds.resize(ms.size());
    for (size_t i = 0; i < ms.size(); ++i) {
      packets[i] += ms[i].packets;
      seconds[i] += ms[i].seconds;
      allocations += ms[i].allocations;
    }
  }
  double packets_per_second() const {
    double r = 0;
    for (size_t i = 0; i < packets.size(); ++i) r += seconds[i] > 0 ? packets[i] / seconds[i] : 0;
    return r;
  }
  uint64_t total_packets() const {
    uint64_t n = 0;
    for (uint64_t p : packets) n += p;
    return n;
  }
};

const char* met(bool ok) { return ok ? "met" : "NOT met"; }

double gbits(double pps, size_t ip_length) { return pps * static_cast<double>(ip_length) * 8 / 1e9; }

// A counter that never moves would report "0 allocations" whatever the device does.
bool allocation_counter_works() {
  const uint64_t before = thread_allocations();
  void* p = ::operator new(64);  // a direct call: the compiler may not elide it
  ::operator delete(p);
  return thread_allocations() == before + 1;
}

int run(const Options& o) {
  spdlog::set_level(spdlog::level::warn);  // handshake lines would interleave with the table
  if (!allocation_counter_works()) {
    std::fprintf(stderr, "bench_datapath: error: the operator new counter is not linked in\n");
    return 1;
  }

  std::vector<std::unique_ptr<Worker>> independent;
  for (unsigned i = 0; i < o.threads; ++i) independent.push_back(std::make_unique<Worker>());
  // The daemon's arrangement: one event-loop thread, the other cores as crypto workers.
  platform::CryptoWorkers crypto_workers(o.threads - 1);
  std::vector<std::unique_ptr<Worker>> pooled;
  pooled.push_back(std::make_unique<Worker>(&crypto_workers));
  const Mode modes[] = {
      {"one", Workers(independent).first(1), Workers(independent).first(1)},
      {"all", Workers(independent), Workers(independent)},
      {"workers", Workers(pooled), Workers(independent)},
  };
  constexpr size_t kModes = std::size(modes), kPaths = 2;

  const size_t phases = o.rounds * std::size(kSizes) * kModes * kPaths;
  const std::chrono::duration<double> phase(o.seconds / static_cast<double>(phases));
  const std::chrono::duration<double> warmup(std::min(0.05, phase.count()));

  std::printf("bench_datapath: device seal+open (A handle_inner -> B handle_outer) vs raw ChaCha20-Poly1305 seal+open\n");
  std::printf("  batches of %zu pool buffers; %u rounds x %.3f s per phase; hardware_concurrency %u\n", kBatch,
              o.rounds, phase.count(), std::thread::hardware_concurrency());
  std::printf("  one:     1 device pair, inline crypto, 1 thread      vs 1 raw AEAD loop\n");
  std::printf("  all:     %u device pairs, inline crypto, 1 thread each vs %u raw AEAD loops in parallel\n",
              o.threads, o.threads);
  std::printf("  workers: 1 device pair on 1 thread + CryptoWorkers(%u) vs %u raw AEAD loops in parallel\n",
              o.threads - 1, o.threads);

  Tally tally[std::size(kSizes)][kModes][kPaths];
  for (unsigned round = 0; round <= o.rounds; ++round) {
    const bool warming = round == 0;
    for (size_t s = 0; s < std::size(kSizes); ++s) {
      for (auto& w : independent) w->prepare(kSizes[s]);
      for (auto& w : pooled) w->prepare(kSizes[s]);
      for (size_t m = 0; m < kModes; ++m) {
        // Alternate which path goes first, so a drift in machine load favours neither.
        for (size_t k = 0; k < kPaths; ++k) {
          const size_t p = (k + round) % kPaths;
          const Path path = p == 0 ? Path::Device : Path::Aead;
          auto results = run_phase(path == Path::Device ? modes[m].device : modes[m].bound, path, kSizes[s],
                                   warming ? warmup : phase);
          for (const Measurement& r : results) {
            if (!r.error.empty()) {
              std::fprintf(stderr, "bench_datapath: error (%s): %s\n", modes[m].name, r.error.c_str());
              return 1;
            }
          }
          if (!warming) tally[s][m][p].add(results);
        }
      }
    }
  }

  std::printf("\n  %-6s %-8s %-9s %14s %9s\n", "size", "cores", "path", "packets/s", "Gbit/s");
  for (size_t s = 0; s < std::size(kSizes); ++s)
    for (size_t m = 0; m < kModes; ++m)
      for (size_t p = 0; p < kPaths; ++p) {
        const double pps = tally[s][m][p].packets_per_second();
        std::printf("  %-6zu %-8s %-9s %14.0f %9.2f\n", kSizes[s], modes[m].name, p == 0 ? "device" : "raw AEAD",
                    pps, gbits(pps, kSizes[s]));
      }
  std::printf("  (Gbit/s counts inner IP packet bytes; the bound seals the same padded length the device does)\n");

  std::printf("\nratio device / raw AEAD (target >= %.2f):\n", kTargetRatio);
  for (size_t s = 0; s < std::size(kSizes); ++s)
    for (size_t m = 0; m < kModes; ++m) {
      const double device = tally[s][m][0].packets_per_second();
      const double bound = tally[s][m][1].packets_per_second();
      const double ratio = bound > 0 ? device / bound : 0;
      std::printf("  %4zu B, %-8s %6.3f  %s\n", kSizes[s], modes[m].name, ratio, met(ratio >= kTargetRatio));
    }

  std::printf("\nscaling over one core (%u threads; for information):\n", o.threads);
  for (size_t s = 0; s < std::size(kSizes); ++s) {
    auto scale = [&](size_t m, size_t p) {
      const double one_core = tally[s][0][p].packets_per_second();
      return one_core > 0 ? tally[s][m][p].packets_per_second() / one_core : 0;
    };
    std::printf("  %4zu B: all: device %.2fx, raw AEAD %.2fx; workers: device %.2fx\n", kSizes[s], scale(1, 0),
                scale(1, 1), scale(2, 0));
  }

  uint64_t allocations = 0, packets = 0;
  for (auto& by_size : tally)
    for (auto& by_mode : by_size) {
      allocations += by_mode[0].allocations;
      packets += by_mode[0].total_packets();
    }
  std::printf("\nheap allocations on the device threads in the measured loops: %llu over %llu packets (%.6f per packet; "
              "target 0) %s\n",
              static_cast<unsigned long long>(allocations), static_cast<unsigned long long>(packets),
              packets ? static_cast<double>(allocations) / static_cast<double>(packets) : 0.0, met(allocations == 0));

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::printf("peak RSS: %.1f MiB (getrusage ru_maxrss; %u device pairs of %zu x %zu-byte buffers)\n",
              static_cast<double>(usage.ru_maxrss) / 1024.0, o.threads + 1, kPoolBuffers,
              DevicePair::kBufferCapacity);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (auto code = parse_options(argc, argv, options)) return *code;
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_datapath: error: %s\n", e.what());
    return 1;
  }
}
