// Start/stop cycles: a daemon that leaks one fd, thread or buffer per interface it brings up
// dies after enough `wg-quick up/down` rounds. Each cycle creates a TunnelDaemon in a private
// netns (TUN, UDP socket, netlink, signalfd, crypto workers, UAPI socket), answers a get=1 over
// the real UAPI socket from its own event loop, and stops on SIGTERM; after the cycles the
// process must hold the same fds and threads as before and only a bounded amount more memory.
#include <catch2/catch.hpp>
#include <dirent.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "crypto/x25519.h"
#include "platform/netns_check.h"
#include "platform/tunnel_daemon.h"
#include "tunnel/device.h"

#include <spdlog/spdlog.h>

using namespace sluice;
using namespace sluice::platform;

namespace {

constexpr int kCycles = 1000;
constexpr int kWarmUpCycles = 20;  // first-use allocations (spdlog, sodium, malloc arenas)
// AddressSanitizer keeps freed memory in quarantine (up to 256 MB) so that it can catch uses
// after free, which makes RSS grow by design; there LeakSanitizer checks memory instead.
#if defined(__SANITIZE_ADDRESS__)
constexpr long kMaxRssGrowthKb = 256 * 1024;
#else
constexpr long kMaxRssGrowthKb = 4096;
#endif

size_t entries_in(const char* dir) {
  size_t n = 0;
  if (DIR* d = opendir(dir)) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

long vm_rss_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

struct Usage {
  size_t fds = entries_in("/proc/self/fd");
  size_t threads = entries_in("/proc/self/task");
  long rss_kb = vm_rss_kb();
};

// One UAPI round trip through the socket file, as `wg show` makes it.
std::string uapi_get(const std::string& interface_name) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket failed";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = "/var/run/wireguard/" + interface_name + ".sock";
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      write(fd, "get=1\n\n", 7) == 7) {
    char buffer[4096];
    while (reply.size() < 2 || reply.compare(reply.size() - 2, 2, "\n\n") != 0) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      reply.append(buffer, static_cast<size_t>(n));
    }
  }
  close(fd);
  return reply;
}

std::string one_daemon_cycle(const TunnelDaemonOptions& options, const std::string& private_key_hex) {
  auto created = TunnelDaemon::create(options);
  if (!created) return "create: " + created.error().message;
  TunnelDaemon& d = **created;
  const std::string set = d.handle_uapi_request("set=1\nprivate_key=" + private_key_hex + "\n\n");
  if (set != "errno=0\n\n") return "set: " + set;
  StopReason reason = StopReason::None;
  std::thread loop([&] { reason = d.run(); });
  const std::string reply = uapi_get(options.interface_name);
  // The daemon's signalfd takes process-directed signals, so this stops its loop.
  ::kill(::getpid(), SIGTERM);
  loop.join();
  if (reply.find("private_key=" + private_key_hex) == std::string::npos ||
      reply.size() < 9 || reply.compare(reply.size() - 9, 9, "errno=0\n\n") != 0)
    return "get=1 over the socket: '" + reply + "'";
  if (reason != StopReason::Signal) return "run() did not stop on SIGTERM";
  return "";
}

std::string one_device_cycle(const crypto::PrivateKey& key, const crypto::PublicKey& peer) {
  BufferPool pool(64, 2048);
  Device device({}, pool);
  DeviceChange change;
  change.private_key = key;
  PeerChange pc;
  pc.public_key = peer;
  pc.endpoint = *Endpoint::parse("192.0.2.9:51820");
  pc.allowed_ips.push_back(IpPrefix{*IpAddress::parse("10.9.0.0"), 16});
  change.peers.push_back(pc);
  DeviceOutput out;
  device.apply(change, Now{1, 1}, out);
  if (device.peer_count() != 1) return "device did not take the peer";
  return "";
}

}  // namespace

TEST_CASE("1000 daemon start/stop cycles leak no fds, threads or memory", "[hostile][lifecycle]") {
  run_netns([]() -> std::string {
    spdlog::set_level(spdlog::level::off);
    TunnelDaemonOptions options;
    options.interface_name = ("slcy" + std::to_string(getpid())).substr(0, 15);
    options.buffer_count = 256;
    options.crypto_threads = 1;  // so every cycle starts and joins a worker thread
    const crypto::PrivateKey key = crypto::generate_private_key();
    const crypto::PublicKey peer = crypto::public_key_of(crypto::generate_private_key());
    const std::string key_hex = crypto::key_to_hex(key);

    for (int i = 0; i < kWarmUpCycles; ++i) {
      const std::string failure = one_daemon_cycle(options, key_hex);
      if (!failure.empty()) return "warm-up cycle " + std::to_string(i) + ": " + failure;
    }
    const Usage before;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCycles; ++i) {
      std::string failure = one_daemon_cycle(options, key_hex);
      if (failure.empty()) failure = one_device_cycle(key, peer);
      if (!failure.empty()) return "cycle " + std::to_string(i) + ": " + failure;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Usage after;
    std::fprintf(stderr,
                 "lifecycle: %d cycles in %.1f s (%.1f ms each); fds %zu -> %zu, threads %zu -> %zu, "
                 "VmRSS %ld -> %ld kB\n",
                 kCycles, seconds, 1000 * seconds / kCycles, before.fds, after.fds, before.threads,
                 after.threads, before.rss_kb, after.rss_kb);
    EXPECT(after.fds == before.fds);
    EXPECT(after.threads == before.threads);
    EXPECT(after.rss_kb - before.rss_kb <= kMaxRssGrowthKb);
    // Only lo is left in the namespace: every TUN went with its daemon.
    struct if_nameindex* links = ::if_nameindex();
    size_t link_count = 0;
    while (links && links[link_count].if_index != 0) ++link_count;
    if (links) if_freenameindex(links);
    EXPECT(link_count == 1);
    return "";
  });
}
