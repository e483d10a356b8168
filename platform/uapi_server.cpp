#include "platform/uapi_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::platform {

namespace {

// mkdir -p with mode 0755 for what it creates.
Result<bool> make_directories(const std::string& dir) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string part = dir.substr(0, slash);
    if (!part.empty() && mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      return Error::from_errno("creating " + part, errno);
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return Error::from_errno("checking " + dir, errno);
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory", ENOTDIR};
  return true;
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return Error{"socket path too long: " + path, ENAMETOOLONG};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// Removes a socket file left by a process that died without unlinking it. A live listener
// is detected by connecting to it, as wireguard-go does.
Result<bool> clear_stale_socket(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    return Error::from_errno("checking " + path, errno);
  }
  if (!S_ISSOCK(st.st_mode)) return Error{path + " exists and is not a socket", EEXIST};
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!probe.valid()) return Error::from_errno("unix socket", errno);
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
      errno == EAGAIN) {  // EAGAIN: a listener whose backlog is full is still alive
    return Error{"interface in use: " + path + " has a listener", EADDRINUSE};
  }
  if (errno != ECONNREFUSED) return Error::from_errno("probing " + path, errno);
  spdlog::debug("uapi: removing stale socket {}", path);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Error::from_errno("removing stale " + path, errno);
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<UapiServer>> UapiServer::create(EventLoop& loop,
                                                       const std::string& interface_name,
                                                       Handler handler, std::string socket_dir) {
  if (interface_name.empty() || interface_name.find('/') != std::string::npos ||
      interface_name == "." || interface_name == "..") {
    return Error{"invalid interface name for a UAPI socket: \"" + interface_name + "\"", EINVAL};
  }
  if (auto made = make_directories(socket_dir); !made) return made.error();
  const std::string path = socket_dir + "/" + interface_name + ".sock";
  auto addr = unix_address(path);
  if (!addr) return addr.error();
  if (auto cleared = clear_stale_socket(path, *addr); !cleared) return cleared.error();

  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listener.valid()) return Error::from_errno("unix socket", errno);
  const mode_t old_umask = umask(0177);  // socket files are created 0777 & ~umask: 0600
  const int bound = bind(listener.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  const int bind_errno = errno;
  umask(old_umask);
  if (bound != 0) return Error::from_errno("binding " + path, bind_errno);
  struct stat st {};
  if (listen(listener.get(), SOMAXCONN) != 0 || lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    unlink(path.c_str());
    return Error::from_errno("listening on " + path, err);
  }

  std::unique_ptr<UapiServer> server(
      new UapiServer(loop, std::move(handler), path, std::move(listener), st.st_dev, st.st_ino));
  UapiServer* self = server.get();
  if (!loop.add(self->listener_.get(), EPOLLIN, [self](uint32_t) { self->accept_clients(); })) {
    return Error{"uapi: registering the listener with the event loop", EINVAL};  // dtor unlinks
  }
  spdlog::debug("uapi: listening on {}", path);
  return server;
}

UapiServer::~UapiServer() {
  for (auto& [fd, client] : connections_) loop_.remove(fd);
  connections_.clear();
  loop_.remove(listener_.get());
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
    unlink(path_.c_str());
  }
}

void UapiServer::accept_clients() {
  for (;;) {
    UniqueFd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        spdlog::warn("uapi: accept: {}", std::strerror(errno));
      }
      return;
    }
    if (connections_.size() >= kMaxConnections) {
      spdlog::debug("uapi: refusing a client: {} connections open", connections_.size());
      continue;  // fd closes here
    }
    const int raw = fd.get();
    if (!loop_.add(raw, EPOLLIN, [this, raw](uint32_t events) { serve(raw, events); })) continue;
    connections_.emplace(raw, Client{std::make_unique<UapiConnection>(std::move(fd)), EPOLLIN});
  }
}

void UapiServer::serve(int fd, uint32_t events) {
  auto it = connections_.find(fd);
  if (it == connections_.end()) return;
  Client& client = it->second;
  if ((events & EPOLLERR) != 0) {
    close_connection(fd);
    return;
  }
  uint32_t want = 0;
  switch (client.connection->pump(handler_)) {
    case UapiConnection::Next::WantRead:
      want = EPOLLIN;
      break;
    case UapiConnection::Next::WantWrite:
      want = EPOLLOUT;
      break;
    case UapiConnection::Next::Close:
      close_connection(fd);
      return;
  }
  if (want != client.interest) {
    if (!loop_.modify(fd, want)) {
      close_connection(fd);
      return;
    }
    client.interest = want;
  }
}

void UapiServer::close_connection(int fd) {
  loop_.remove(fd);
  connections_.erase(fd);  // closes the fd, after remove() as EventLoop requires
}

}  // namespace sluice::platform
