// The daemon's own pieces: log levels, daemonize's readiness pipe, the `sluice up` helpers, and
// TunnelDaemon's UAPI handling and stop conditions inside a private network namespace.
#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>

#include "netns_check.h"
#include "platform/daemonize.h"
#include "platform/interface_config.h"
#include "platform/logging.h"
#include "platform/netlink.h"
#include "platform/tunnel_daemon.h"
#include "platform/udp_socket.h"
#include "tunnel/uapi.h"
#include "tunnel/wg_quick_config.h"

#include <spdlog/spdlog.h>

using namespace sluice;
using namespace sluice::platform;

TEST_CASE("log level from the command line and from LOG_LEVEL as wireguard-go reads it") {
  CHECK(parse_log_level("trace") == spdlog::level::trace);
  CHECK(parse_log_level("warn") == spdlog::level::warn);
  CHECK(parse_log_level("error") == spdlog::level::err);
  CHECK(parse_log_level("off") == spdlog::level::off);
  CHECK_FALSE(parse_log_level("loud"));
  CHECK(log_level_from_env("verbose") == spdlog::level::debug);
  CHECK(log_level_from_env("debug") == spdlog::level::debug);
  CHECK(log_level_from_env("error") == spdlog::level::err);
  CHECK(log_level_from_env("silent") == spdlog::level::off);
  CHECK_FALSE(log_level_from_env(nullptr));
  CHECK_FALSE(log_level_from_env(""));
  CHECK(choose_log_level(std::nullopt, nullptr) == spdlog::level::info);
  CHECK(choose_log_level(std::nullopt, "silent") == spdlog::level::off);
  CHECK(choose_log_level(spdlog::level::trace, "silent") == spdlog::level::trace);
}

TEST_CASE("foreground is -f or WG_PROCESS_FOREGROUND=1") {
  CHECK(foreground_requested(true, nullptr));
  CHECK(foreground_requested(false, "1"));
  CHECK_FALSE(foreground_requested(false, "0"));
  CHECK_FALSE(foreground_requested(false, nullptr));
}

TEST_CASE("daemonize: the parent exits 0 only when the child reports ready") {
  {
    DaemonizeResult r = daemonize(false, true);
    if (r.role == DaemonizeResult::Role::Child) {
      r.readiness.ready();
      _exit(0);
    }
    REQUIRE(r.role == DaemonizeResult::Role::Parent);
    CHECK(r.parent_exit_code == 0);
    CHECK(r.child_error.empty());
  }
  {
    DaemonizeResult r = daemonize(false, true);
    if (r.role == DaemonizeResult::Role::Child) {
      r.readiness.failed("creating TUN interface x: Operation not permitted");
      _exit(1);
    }
    REQUIRE(r.role == DaemonizeResult::Role::Parent);
    CHECK(r.parent_exit_code == 1);
    CHECK(r.child_error == "creating TUN interface x: Operation not permitted");
  }
  {
    DaemonizeResult r = daemonize(false, true);
    if (r.role == DaemonizeResult::Role::Child) _exit(7);  // dies without a word
    REQUIRE(r.role == DaemonizeResult::Role::Parent);
    CHECK(r.parent_exit_code == 1);
    CHECK(r.child_error.find("status 7") != std::string::npos);
  }
  CHECK(daemonize(true, false).role == DaemonizeResult::Role::Foreground);
}

TEST_CASE("interface names come from the config file name as in wg-quick") {
  CHECK(interface_name_from_config_path("/etc/wireguard/wg0.conf") == "wg0");
  CHECK(interface_name_from_config_path("a=b+c.d-e_f.conf") == "a=b+c.d-e_f");
  CHECK(interface_name_from_config_path("123456789012345.conf") == "123456789012345");
  CHECK_FALSE(interface_name_from_config_path("1234567890123456.conf"));
  CHECK_FALSE(interface_name_from_config_path("/etc/wireguard/.conf"));
  CHECK_FALSE(interface_name_from_config_path("wg0.cfg"));
  CHECK_FALSE(interface_name_from_config_path("wg 0.conf"));
  CHECK_FALSE(interface_name_from_config_path("/etc/wireguard/"));
}

namespace {

WgQuickConfig parse_config(const std::string& text) {
  auto parsed = parse_wg_quick_config(text, "test.conf");
  if (auto* e = std::get_if<ConfigError>(&parsed)) FAIL(e->to_string());
  return std::get<WgQuickConfig>(parsed);
}

constexpr const char* kInterface =
    "[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
    "Address = 10.9.0.2/24\n";
constexpr const char* kPeerA = "[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n";
constexpr const char* kPeerB = "[Peer]\nPublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\n";

}  // namespace

TEST_CASE("routes for sluice up: every AllowedIP once, longest prefix first") {
  WgQuickConfig c = parse_config(std::string(kInterface) + kPeerA +
                                 "AllowedIPs = 10.9.0.0/24, 192.168.7.0/24\n" + kPeerB +
                                 "AllowedIPs = 192.168.7.5/32, fd00::/64, 10.9.0.0/24\n");
  auto routes = routes_for(c);
  REQUIRE(routes.size() == 4);
  CHECK(routes[0].to_string() == "fd00::/64");
  CHECK(routes[1].to_string() == "192.168.7.5/32");
  CHECK(routes[2].to_string() == "10.9.0.0/24");
  CHECK(routes[3].to_string() == "192.168.7.0/24");
  CHECK_FALSE(check_interface_config(c));
}

TEST_CASE("sluice up refuses default routes with a message that names wg-quick") {
  WgQuickConfig c =
      parse_config(std::string(kInterface) + kPeerA + "AllowedIPs = 10.0.0.0/8, ::/0\n");
  auto problem = check_interface_config(c);
  REQUIRE(problem);
  CHECK(problem->find("::/0") != std::string::npos);
  CHECK(problem->find("policy routing") != std::string::npos);
  CHECK(problem->find("wg-quick") != std::string::npos);
}

TEST_CASE("prepare_up reports config errors as FILE:LINE: KEY: message and creates nothing") {
  char dir[] = "/tmp/sluice-test-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/sltbad0.conf";
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fputs("[Interface]\nPrivateKey = nope\n", f);
  std::fclose(f);
  chmod(path.c_str(), 0600);
  auto r = prepare_up(path);
  REQUIRE(std::holds_alternative<std::string>(r));
  CHECK(std::get<std::string>(r).rfind(path + ":2: PrivateKey: ", 0) == 0);
  std::remove(path.c_str());
  auto missing = prepare_up(std::string(dir) + "/absent0.conf");
  REQUIRE(std::holds_alternative<std::string>(missing));
  CHECK(std::get<std::string>(missing).find("cannot open") != std::string::npos);
  auto badname = prepare_up(std::string(dir) + "/bad name.conf");
  REQUIRE(std::holds_alternative<std::string>(badname));
  CHECK(std::get<std::string>(badname).find("not a valid config file name") != std::string::npos);
  rmdir(dir);
}

TEST_CASE("buffers fit a padded packet of the MTU plus header and tag") {
  for (uint32_t mtu : {576u, 1280u, 1420u, 1500u, 9000u}) {
    const size_t capacity = buffer_capacity_for_mtu(mtu);
    const size_t padded = (std::max(mtu, kMinBufferMtu) + 15) / 16 * 16;
    CHECK(capacity >= PacketBuffer::kHeadroom + padded + PacketBuffer::kTailroom);
    CHECK(capacity % 64 == 0);
  }
}

// ---------------------------------------------------------------------------------------------
// TunnelDaemon, each in a private network namespace (the UAPI socket directory is still the
// host's /var/run/wireguard, so names carry the PID).

namespace {

std::string test_interface_name(const char* prefix) {
  return (prefix + std::to_string(getpid())).substr(0, 15);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string socket_path(const std::string& name) { return "/var/run/wireguard/" + name + ".sock"; }

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("TunnelDaemon answers UAPI get and set, and a refused set changes nothing") {
  run_netns([]() -> std::string {
    spdlog::set_level(spdlog::level::off);
    TunnelDaemonOptions options;
    options.interface_name = test_interface_name("sltd");
    options.buffer_count = 512;
    auto created = TunnelDaemon::create(options);
    if (!created) return "create: " + created.error().message;
    TunnelDaemon& d = **created;
    EXPECT(exists(socket_path(options.interface_name)));
    EXPECT(d.listen_port() != 0);

    std::string get = d.handle_uapi_request("get=1\n\n");
    EXPECT(contains(get, "listen_port=" + std::to_string(d.listen_port()) + "\n"));
    EXPECT(get.size() >= 9 && get.substr(get.size() - 9) == "errno=0\n\n");

    // A port another socket holds: EADDRINUSE, nothing changes (not even the private key).
    auto holder = UdpSocket::open(0, 0);
    if (!holder) return "holder socket: " + holder.error().message;
    const uint16_t taken = (*holder)->port();
    const uint16_t before = d.listen_port();
    std::string reply = d.handle_uapi_request(
        "set=1\nprivate_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
        "listen_port=" + std::to_string(taken) + "\n\n");
    EXPECT(reply == format_uapi_errno(EADDRINUSE));
    EXPECT(d.listen_port() == before);
    EXPECT(!contains(d.handle_uapi_request("get=1\n\n"), "private_key="));

    // A malformed request: an errno, nothing applied.
    reply = d.handle_uapi_request("set=1\nprivate_key=e84b\n\n");
    EXPECT(reply != format_uapi_errno(0));
    EXPECT(!contains(d.handle_uapi_request("get=1\n\n"), "private_key="));

    // Unknown operation.
    EXPECT(d.handle_uapi_request("frob=1\n\n") == format_uapi_errno(EINVAL));

    // A good set: new port, a key, a peer.
    holder->reset();
    reply = d.handle_uapi_request(
        "set=1\nprivate_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"
        "listen_port=" + std::to_string(taken) + "\n"
        "public_key=b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33\n"
        "allowed_ip=10.1.2.0/24\n\n");
    EXPECT(reply == format_uapi_errno(0));
    EXPECT(d.listen_port() == taken);
    get = d.handle_uapi_request("get=1\n\n");
    EXPECT(contains(get, "listen_port=" + std::to_string(taken) + "\n"));
    EXPECT(contains(get, "private_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n"));
    EXPECT(contains(get, "allowed_ip=10.1.2.0/24\n"));

    // listen_port=0 asks for a fresh port.
    EXPECT(d.handle_uapi_request("set=1\nlisten_port=0\n\n") == format_uapi_errno(0));
    EXPECT(d.listen_port() != 0 && d.listen_port() != taken);

    created->reset();
    EXPECT(!exists(socket_path(options.interface_name)));
    return "";
  });
}

TEST_CASE("TunnelDaemon stops when its interface is deleted, and on SIGTERM") {
  run_netns([]() -> std::string {
    spdlog::set_level(spdlog::level::off);
    TunnelDaemonOptions options;
    options.interface_name = test_interface_name("sltl");
    options.buffer_count = 512;
    {
      auto created = TunnelDaemon::create(options);
      if (!created) return "create: " + created.error().message;
      auto netlink = Netlink::open();
      if (!netlink) return "netlink: " + netlink.error().message;
      auto deleted = (*netlink)->delete_link((*created)->ifindex());
      if (!deleted) return "delete_link: " + deleted.error().message;
      const StopReason reason = (*created)->run();
      EXPECT(reason == StopReason::LinkDeleted);
    }
    EXPECT(!exists(socket_path(options.interface_name)));
    {
      auto created = TunnelDaemon::create(options);
      if (!created) return "create again: " + created.error().message;
      ::kill(::getpid(), SIGTERM);  // blocked by the daemon's SignalSet: arrives on its fd
      EXPECT((*created)->run() == StopReason::Signal);
    }
    EXPECT(!exists(socket_path(options.interface_name)));
    return "";
  });
}

TEST_CASE("TunnelDaemon keeps its packet memory under --memory-limit, or refuses to start") {
  run_netns([]() -> std::string {
    spdlog::set_level(spdlog::level::off);
    TunnelDaemonOptions options;
    options.interface_name = test_interface_name("sltm");
    options.memory_limit = 6 << 20;
    {
      auto created = TunnelDaemon::create(options);
      if (!created) return "create: " + created.error().message;
      const std::string stats = (*created)->stats_text();
      const auto value = [&](const std::string& key) -> uint64_t {
        const size_t at = stats.find("\n" + key + "=");
        return at == std::string::npos ? UINT64_MAX : std::stoull(stats.substr(at + key.size() + 2));
      };
      EXPECT(value("packet_memory_bytes") <= options.memory_limit);
      // Most of the ceiling goes to the pool, not to scratch space.
      EXPECT(value("pool_buffers") * value("pool_buffer_bytes") >= options.memory_limit / 2);
    }
    options.memory_limit = 256 << 10;
    auto refused = TunnelDaemon::create(options);
    EXPECT(!refused);
    if (!refused) EXPECT(contains(refused.error().message, "memory limit"));
    return "";
  });
}
