#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "platform/clock.h"
#include "platform/uapi_server.h"
#include "tunnel/uapi.h"

using namespace sluice;
using namespace sluice::platform;

namespace {

constexpr int64_t kMs = 1'000'000;

struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/sluice-uapi-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// What a client sees: answers read while the loop runs, and whether the server hung up.
struct Reply {
  std::string text;
  bool closed = false;
};

// Writes `request` (all of it, running the loop whenever the socket is full), then runs the
// loop until `answers` complete answers arrived, the server closed, or a second passed.
Reply exchange(EventLoop& loop, int fd, std::string_view request, int answers) {
  Reply reply;
  size_t sent = 0;
  const int64_t give_up = monotonic_ns() + 2000 * kMs;
  auto complete = [&] {
    int n = 0;
    for (size_t at = reply.text.find("errno="); at != std::string::npos;
         at = reply.text.find("errno=", at + 1)) {
      if (reply.text.find("\n\n", at) != std::string::npos) ++n;
    }
    return n >= answers;
  };
  while (monotonic_ns() < give_up) {
    if (sent < request.size()) {
      const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<size_t>(n);
    }
    REQUIRE(loop.run_once(monotonic_ns() + 5 * kMs));
    char buffer[4096];
    for (;;) {
      const ssize_t n = read(fd, buffer, sizeof buffer);
      if (n > 0) {
        reply.text.append(buffer, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) reply.closed = true;
      break;
    }
    if (reply.closed || (sent == request.size() && complete())) break;
  }
  return reply;
}

struct Stub {
  std::vector<std::string> requests;
  UapiServer::Handler handler() {
    return [this](std::string_view request) {
      requests.emplace_back(request);
      if (request.rfind("get=1\n", 0) == 0) return std::string("listen_port=51820\nerrno=0\n\n");
      return std::string("errno=0\n\n");
    };
  }
};

}  // namespace

TEST_CASE("UapiServer answers get and set requests in sequence", "[uapi]") {
  TempDir dir;
  auto loop = std::move(*EventLoop::create());
  Stub stub;
  const std::string socket_dir = dir.path + "/run/wireguard";
  auto server = UapiServer::create(*loop, "wgtest0", stub.handler(), socket_dir);
  REQUIRE(server.has_value());
  CHECK((*server)->path() == socket_dir + "/wgtest0.sock");

  struct stat st {};
  REQUIRE(stat(socket_dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(lstat((*server)->path().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);

  UniqueFd client = connect_to((*server)->path());
  Reply r = exchange(*loop, client.get(), "get=1\n\n", 1);
  CHECK(r.text == "listen_port=51820\nerrno=0\n\n");
  CHECK_FALSE(r.closed);

  r = exchange(*loop, client.get(), "set=1\nlisten_port=5\nreplace_peers=true\n\n", 1);
  CHECK(r.text == "errno=0\n\n");
  // Several requests in one write, answered in order.
  r = exchange(*loop, client.get(), "get=1\n\nset=1\n\nget=1\n\n", 3);
  CHECK(r.text == "listen_port=51820\nerrno=0\n\nerrno=0\n\nlisten_port=51820\nerrno=0\n\n");
  REQUIRE(stub.requests.size() == 5);
  CHECK(stub.requests[0] == "get=1\n\n");
  CHECK(stub.requests[1] == "set=1\nlisten_port=5\nreplace_peers=true\n\n");
  CHECK(stub.requests[3] == "set=1\n\n");
  CHECK((*server)->connection_count() == 1);

  // A client that half-closes after its request still gets the answer, then EOF.
  UniqueFd second = connect_to((*server)->path());
  REQUIRE(send(second.get(), "get=1\n\n", 7, 0) == 7);
  REQUIRE(shutdown(second.get(), SHUT_WR) == 0);
  r = exchange(*loop, second.get(), "", 1);
  CHECK(r.text == "listen_port=51820\nerrno=0\n\n");
  if (!r.closed) r = exchange(*loop, second.get(), "", 2);
  CHECK(r.closed);

  // Dropping the server unlinks its socket.
  const std::string path = (*server)->path();
  server = Error{"dropped", 0};
  CHECK(access(path.c_str(), F_OK) != 0);
  CHECK(loop->size() == 0);
}

TEST_CASE("UapiServer refuses oversize and malformed requests", "[uapi]") {
  TempDir dir;
  auto loop = std::move(*EventLoop::create());
  Stub stub;
  auto server = std::move(*UapiServer::create(*loop, "wgtest1", stub.handler(), dir.path));

  UniqueFd client = connect_to(server->path());
  std::string huge = "set=1\n";
  while (huge.size() <= kMaxUapiRequestBytes + 64 * 1024) huge += "allowed_ip=10.0.0.0/8\n";
  Reply r = exchange(*loop, client.get(), huge, 1);
  CHECK(r.text == format_uapi_errno(EMSGSIZE));
  if (!r.closed) r = exchange(*loop, client.get(), "", 2);
  CHECK(r.closed);
  CHECK(stub.requests.empty());

  // An unknown operation: closed without an answer, as wireguard-go does.
  UniqueFd other = connect_to(server->path());
  r = exchange(*loop, other.get(), "bogus=1\n\n", 1);
  CHECK(r.text.empty());
  CHECK(r.closed);
  CHECK(server->connection_count() == 0);
}

TEST_CASE("UapiServer limits concurrent connections", "[uapi]") {
  TempDir dir;
  auto loop = std::move(*EventLoop::create());
  Stub stub;
  auto server = std::move(*UapiServer::create(*loop, "wgtest2", stub.handler(), dir.path));
  std::vector<UniqueFd> clients;
  for (size_t i = 0; i < UapiServer::kMaxConnections; ++i)
    clients.push_back(connect_to(server->path()));
  for (int i = 0; i < 5; ++i) REQUIRE(loop->run_once(monotonic_ns() + 5 * kMs));
  CHECK(server->connection_count() == UapiServer::kMaxConnections);

  UniqueFd extra = connect_to(server->path());
  Reply r = exchange(*loop, extra.get(), "get=1\n\n", 1);
  CHECK(r.closed);
  CHECK(r.text.empty());

  r = exchange(*loop, clients.front().get(), "get=1\n\n", 1);
  CHECK(r.text == "listen_port=51820\nerrno=0\n\n");
  clients.front().reset();
  for (int i = 0; i < 5; ++i) REQUIRE(loop->run_once(monotonic_ns() + 5 * kMs));
  CHECK(server->connection_count() == UapiServer::kMaxConnections - 1);
}

TEST_CASE("UapiServer replaces a stale socket and refuses a live one", "[uapi]") {
  TempDir dir;
  auto loop = std::move(*EventLoop::create());
  Stub stub;
  const std::string path = dir.path + "/wgtest3.sock";
  {
    // A socket file whose owner is gone: bound, never listened on, closed.
    UniqueFd dead(socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(bind(dead.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  REQUIRE(access(path.c_str(), F_OK) == 0);
  auto first = UapiServer::create(*loop, "wgtest3", stub.handler(), dir.path);
  REQUIRE(first.has_value());

  auto second = UapiServer::create(*loop, "wgtest3", stub.handler(), dir.path);
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == EADDRINUSE);
  CHECK(second.error().message.find("in use") != std::string::npos);

  // The first is untouched and still serves.
  UniqueFd client = connect_to((*first)->path());
  Reply r = exchange(*loop, client.get(), "get=1\n\n", 1);
  CHECK(r.text == "listen_port=51820\nerrno=0\n\n");

  // A regular file in the way is not ours to delete.
  const std::string plain = dir.path + "/wgtest4.sock";
  std::ofstream(plain) << "keep me";
  auto blocked = UapiServer::create(*loop, "wgtest4", stub.handler(), dir.path);
  REQUIRE_FALSE(blocked.has_value());
  CHECK(blocked.error().code == EEXIST);
  CHECK(access(plain.c_str(), F_OK) == 0);

  CHECK_FALSE(UapiServer::create(*loop, "../x", stub.handler(), dir.path).has_value());
}
