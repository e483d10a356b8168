// The `sluice` command: a wireguard-go compatible daemon (`sluice [-f] INTERFACE`, driven by
// wg(8) and wg-quick(8)) and a standalone `sluice up CONFIG`. Arguments only; the work is in
// tunnel_daemon, interface_config, daemonize and logging.
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "platform/daemonize.h"
#include "platform/interface_config.h"
#include "platform/logging.h"
#include "platform/replay.h"
#include "platform/tunnel_daemon.h"
#include "platform/uapi_client.h"

namespace {

using namespace sluice::platform;

constexpr const char* kVersion = SLUICE_VERSION;
constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2;

constexpr const char* kUsage =
    "Usage: sluice [-f|--foreground] [OPTIONS] INTERFACE\n"
    "       sluice up CONFIG [OPTIONS]\n"
    "       sluice stats INTERFACE\n"
    "       sluice replay CONFIG CAPTURE.pcap PREFIX\n"
    "       sluice capture INTERFACE FILE.pcap [--max-mb N] | sluice capture INTERFACE off\n"
    "       sluice --version | --help\n"
    "\n"
    "sluice INTERFACE creates the TUN interface INTERFACE and its UAPI socket\n"
    "(/var/run/wireguard/INTERFACE.sock) for wg(8) to configure, like wireguard-go; it goes to\n"
    "the background once both exist (also as WG_QUICK_USERSPACE_IMPLEMENTATION for wg-quick).\n"
    "It stops on SIGINT, SIGTERM or when the interface is deleted (ip link del INTERFACE).\n"
    "\n"
    "sluice up CONFIG runs a wg-quick config file in the foreground: the interface is named\n"
    "after the file (wg0.conf -> wg0); its keys, peers, Address, MTU and a route for each\n"
    "AllowedIPs are applied, and removed again on SIGINT/SIGTERM. DNS is left to the system\n"
    "unless --dns-config is given; default routes (0.0.0.0/0, ::/0) need wg-quick.\n"
    "\n"
    "sluice replay CONFIG CAPTURE.pcap PREFIX runs the packets of a capture through a device\n"
    "configured from CONFIG in the capture's time, with no TUN or socket: UDP to its ListenPort\n"
    "(or shaped like WireGuard) is taken as from the network, the rest as from the host. What\n"
    "comes out goes to PREFIX-inner.pcap and PREFIX-outer.pcap; counters are printed.\n"
    "\n"
    "sluice capture INTERFACE FILE.pcap makes the running daemon write its inner (plaintext)\n"
    "traffic, both directions, to FILE.pcap (mode 0600), up to --max-mb megabytes (default 64;\n"
    "past it packets are counted, not written); `off` stops it.\n"
    "\n"
    "sluice stats INTERFACE prints the running daemon's counters as key=value lines: packets\n"
    "and bytes each way, drops by reason, batch-size histograms and system calls.\n"
    "\n"
    "Options:\n"
    "  -f, --foreground    stay in the foreground (also WG_PROCESS_FOREGROUND=1)\n"
    "  --log-level LEVEL   trace, debug, info, warn, error or off (default info; without this\n"
    "                      option LOG_LEVEL=verbose|debug|error|silent is read as by wireguard-go)\n"
    "  --crypto-threads N  worker threads for encryption besides the main one (default: one\n"
    "                      per further core; 0 = all on the main thread)\n"
    "  --memory-limit MB   packet memory ceiling: sizes the buffer pool so that it and the\n"
    "                      TUN's and socket's scratch space fit (default: 2048 buffers)\n"
    "  --no-offload        no TUN TSO/USO, UDP GSO or GRO: one packet per system call\n"
    "  --dns-config FILE   (sluice up) answer DNS to the config's DNS= addresses inside Sluice\n"
    "                      with the policy in FILE (docs/DNS.md); SIGHUP reloads it\n"
    "  -h, --help          show this text\n"
    "  --version           show the version\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage error.\n";

struct CommandLine {
  bool help = false;
  bool version = false;
  bool foreground = false;
  std::optional<spdlog::level::level_enum> log_level;
  std::optional<size_t> crypto_threads;
  std::optional<size_t> memory_limit_mb;
  bool no_offload = false;
  std::optional<std::string> dns_config;
  std::optional<size_t> capture_mb;
  std::vector<std::string> positional;
};

constexpr size_t kMaxCryptoThreads = 64;
constexpr size_t kMaxMemoryLimitMb = 1 << 20;

// A decimal number up to `max`, nothing else.
std::optional<size_t> parse_count(std::optional<std::string_view> text, size_t max) {
  if (!text || text->empty()) return std::nullopt;
  size_t n = 0;
  const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc{} || end != text->data() + text->size() || n > max) return std::nullopt;
  return n;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\n\n%s", message.c_str(), kUsage);
  return kExitUsage;
}

// "--name VALUE" or "--name=VALUE": nullopt if `arg` is another option; an empty inner
// optional if the value is missing. Advances `i` past a separate value.
std::optional<std::optional<std::string_view>> option_value(std::string_view arg, std::string_view name,
                                                            int& i, int argc, char** argv) {
  if (arg == name) {
    if (i + 1 >= argc) return std::optional<std::string_view>{};
    return std::optional<std::string_view>{argv[++i]};
  }
  if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=')
    return std::optional<std::string_view>{arg.substr(name.size() + 1)};
  return std::nullopt;
}

// Returns the exit code on a usage error.
std::optional<int> parse_command_line(int argc, char** argv, CommandLine& cl) {
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (options_done || arg.empty() || arg[0] != '-' || arg == "-") {
      cl.positional.emplace_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg == "-h" || arg == "--help") {
      cl.help = true;
    } else if (arg == "--version" || arg == "-v") {
      cl.version = true;
    } else if (arg == "-f" || arg == "--foreground") {
      cl.foreground = true;
    } else if (auto value = option_value(arg, "--log-level", i, argc, argv)) {
      if (!*value) return usage_error("--log-level needs a value");
      cl.log_level = parse_log_level(**value);
      if (!cl.log_level) {
        return usage_error("unknown log level '" + std::string(**value) +
                           "' (trace, debug, info, warn, error, off)");
      }
    } else if (auto value = option_value(arg, "--crypto-threads", i, argc, argv)) {
      cl.crypto_threads = parse_count(*value, kMaxCryptoThreads);
      if (!cl.crypto_threads)
        return usage_error("--crypto-threads takes a number from 0 to " + std::to_string(kMaxCryptoThreads));
    } else if (auto value = option_value(arg, "--memory-limit", i, argc, argv)) {
      cl.memory_limit_mb = parse_count(*value, kMaxMemoryLimitMb);
      if (!cl.memory_limit_mb || *cl.memory_limit_mb == 0)
        return usage_error("--memory-limit takes megabytes from 1 to " + std::to_string(kMaxMemoryLimitMb));
    } else if (auto value = option_value(arg, "--dns-config", i, argc, argv)) {
      if (!*value || (*value)->empty()) return usage_error("--dns-config needs a FILE");
      cl.dns_config = std::string(**value);
    } else if (auto value = option_value(arg, "--max-mb", i, argc, argv)) {
      cl.capture_mb = parse_count(*value, kMaxMemoryLimitMb);
      if (!cl.capture_mb || *cl.capture_mb == 0)
        return usage_error("--max-mb takes megabytes from 1 to " + std::to_string(kMaxMemoryLimitMb));
    } else if (arg == "--no-offload") {
      cl.no_offload = true;
    } else {
      return usage_error("unknown option " + std::string(arg));
    }
  }
  return std::nullopt;
}

int exit_code_for(StopReason reason) {
  return reason == StopReason::Signal || reason == StopReason::LinkDeleted ? kExitOk : kExitError;
}

TunnelDaemonOptions daemon_options(const CommandLine& cl) {
  TunnelDaemonOptions options;
  if (cl.crypto_threads) options.crypto_threads = *cl.crypto_threads;
  if (cl.memory_limit_mb) options.memory_limit = *cl.memory_limit_mb << 20;
  options.offload = !cl.no_offload;
  return options;
}

// `sluice stats INTERFACE`: asks the running daemon over its UAPI socket.
int run_stats(const std::string& name) {
  auto answer = uapi_request(name, "stats=1\n\n");
  if (!answer) {
    std::fprintf(stderr, "sluice: %s\n", answer.error().message.c_str());
    return kExitError;
  }
  // Everything but the final "errno=N" line and the blank line.
  std::string_view text = *answer;
  text.remove_suffix(1);
  const size_t last = text.rfind('\n', text.size() - 2);
  const std::string_view errno_line = text.substr(last == std::string_view::npos ? 0 : last + 1);
  if (errno_line != "errno=0\n") {
    std::fprintf(stderr, "sluice: the daemon refused the stats request (%.*s)\n",
                 static_cast<int>(errno_line.size() - 1), errno_line.data());
    return kExitError;
  }
  const std::string_view lines = text.substr(0, last == std::string_view::npos ? 0 : last + 1);
  std::fwrite(lines.data(), 1, lines.size(), stdout);
  return kExitOk;
}

// Sends one request to the daemon of `name`; prints a refusal. True on errno=0.
bool uapi_call(const std::string& name, const std::string& request, const char* what) {
  auto answer = uapi_request(name, request);
  if (!answer) {
    std::fprintf(stderr, "sluice: %s\n", answer.error().message.c_str());
    return false;
  }
  const size_t at = answer->rfind("errno=");
  const std::string errno_line = at == std::string::npos ? "" : answer->substr(at, answer->find('\n', at) - at);
  if (errno_line == "errno=0") return true;
  const int code = errno_line.empty() ? 0 : std::abs(std::atoi(errno_line.c_str() + 6));
  std::fprintf(stderr, "sluice: the daemon refused %s: %s (its log says more)\n", what,
               code > 0 ? std::strerror(code) : errno_line.c_str());
  return false;
}

// `sluice capture INTERFACE FILE|off`
int run_capture(const std::string& name, const std::string& file, const CommandLine& cl) {
  std::string request = "capture=1\n";
  if (file != "off") {
    // The daemon runs in another directory: hand it an absolute path.
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(file, ec);
    if (ec) return usage_error("cannot make " + file + " absolute: " + ec.message());
    request += "path=" + absolute.string() + "\n";
    request += "max_bytes=" + std::to_string(cl.capture_mb.value_or(64) << 20) + "\n";
  }
  request += "\n";
  if (!uapi_call(name, request, "the capture")) return kExitError;
  return kExitOk;
}

// `sluice replay CONFIG CAPTURE PREFIX`: offline, in virtual time.
int run_replay(const std::vector<std::string>& args, const CommandLine& cl) {
  setup_logging("", choose_log_level(cl.log_level, std::getenv("LOG_LEVEL")));
  auto report = replay_capture(ReplayOptions{args[1], args[2], args[3]});
  if (!report) {
    std::fprintf(stderr, "sluice: %s\n", report.error().message.c_str());
    return kExitError;
  }
  const std::string text = format_replay_report(*report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return kExitOk;
}

// `sluice [-f] INTERFACE`: as wireguard-go.
int run_interface(const std::string& name, const CommandLine& cl) {
  const char* env_level = std::getenv("LOG_LEVEL");
  const auto level = choose_log_level(cl.log_level, env_level);
  setup_logging(name, level);
  if (name.size() > 15) {
    spdlog::error("interface name longer than 15 bytes");
    return kExitError;
  }
  // wireguard-go keeps the daemon's stdout/stderr when LOG_LEVEL is set (and not silent).
  // So do we, and also when --log-level is given explicitly.
  const bool keep_output = level != spdlog::level::off &&
                           ((env_level != nullptr && *env_level != '\0') || cl.log_level);
  DaemonizeResult bg = daemonize(foreground_requested(cl.foreground,
                                                      std::getenv("WG_PROCESS_FOREGROUND")),
                                 keep_output);
  if (!bg.error.empty()) {
    spdlog::error("going to the background failed: {}", bg.error);
    return kExitError;
  }
  if (bg.role == DaemonizeResult::Role::Parent) {
    if (bg.parent_exit_code != 0) spdlog::error("{}", bg.child_error);
    return bg.parent_exit_code;
  }

  spdlog::info("starting sluice {}", kVersion);
  TunnelDaemonOptions options = daemon_options(cl);
  options.interface_name = name;
  auto daemon = TunnelDaemon::create(options);
  if (!daemon) {
    if (bg.readiness.pending()) {
      bg.readiness.failed(daemon.error().message);  // the waiting parent prints it
    } else {
      spdlog::error("{}", daemon.error().message);
    }
    return kExitError;
  }
  if ((*daemon)->interface_name() != name) setup_logging((*daemon)->interface_name(), level);
  bg.readiness.ready();
  return exit_code_for((*daemon)->run());
}

// `sluice up CONFIG`: foreground, configures everything itself.
int run_up(const std::string& path, const CommandLine& cl) {
  const auto level = choose_log_level(cl.log_level, std::getenv("LOG_LEVEL"));
  auto name = interface_name_from_config_path(path);
  setup_logging(name.value_or(""), level);

  auto prepared = prepare_up(path);
  if (auto* message = std::get_if<std::string>(&prepared)) {
    std::fprintf(stderr, "%s\n", message->c_str());
    return kExitError;
  }
  UpPlan& plan = std::get<UpPlan>(prepared);

  spdlog::info("starting sluice {} from {}", kVersion, path);
  TunnelDaemonOptions options = daemon_options(cl);
  options.interface_name = plan.interface_name;
  options.mtu = plan.config.mtu.value_or(kDefaultInterfaceMtu);
  if (cl.dns_config) {
    options.dns.config_path = *cl.dns_config;
    options.dns.tunnel_dns = plan.config.dns_servers;
    for (const auto& a : plan.config.addresses) options.dns.tunnel_addresses.push_back(a.address);
  }
  auto daemon = TunnelDaemon::create(options);
  if (!daemon) {
    spdlog::error("{}", daemon.error().message);
    return kExitError;
  }
  if (auto error = (*daemon)->apply(plan.change)) {
    spdlog::error("applying {}: {}", path, error->message);
    return kExitError;
  }
  auto interface = InterfaceConfiguration::apply(plan.config, plan.interface_name,
                                                 (*daemon)->ifindex());
  if (!interface) {
    spdlog::error("configuring {}: {}", plan.interface_name, interface.error().message);
    return kExitError;
  }
  spdlog::info("{} is up with {} peer(s)", plan.interface_name, plan.config.peers.size());
  const StopReason reason = (*daemon)->run();
  (*interface)->teardown();  // before the TUN goes, so each removal is checked
  return exit_code_for(reason);
}

}  // namespace

int main(int argc, char** argv) {
  CommandLine cl;
  if (auto code = parse_command_line(argc, argv, cl)) return *code;
  if (cl.help) {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (cl.version) {
    std::printf("sluice v%s\nUserspace WireGuard daemon for Linux, wireguard-go compatible.\n",
                kVersion);
    return kExitOk;
  }
  if (!cl.positional.empty() && cl.positional[0] == "up") {
    if (cl.positional.size() != 2) return usage_error("up takes exactly one CONFIG file");
    return run_up(cl.positional[1], cl);
  }
  if (!cl.positional.empty() && cl.positional[0] == "replay") {
    if (cl.positional.size() != 4) return usage_error("replay takes CONFIG CAPTURE.pcap PREFIX");
    return run_replay(cl.positional, cl);
  }
  if (!cl.positional.empty() && cl.positional[0] == "capture") {
    if (cl.positional.size() != 3) return usage_error("capture takes INTERFACE and FILE.pcap or off");
    return run_capture(cl.positional[1], cl.positional[2], cl);
  }
  if (cl.capture_mb) return usage_error("--max-mb goes with sluice capture");
  if (!cl.positional.empty() && cl.positional[0] == "stats") {
    if (cl.positional.size() != 2) return usage_error("stats takes exactly one INTERFACE");
    return run_stats(cl.positional[1]);
  }
  if (cl.dns_config) return usage_error("--dns-config goes with sluice up CONFIG");
  if (cl.positional.size() != 1) {
    return usage_error(cl.positional.empty() ? "missing INTERFACE" : "too many arguments");
  }
  return run_interface(cl.positional[0], cl);
}
