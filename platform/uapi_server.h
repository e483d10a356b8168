// The UAPI unix socket (/var/run/wireguard/NAME.sock) that wg(8) and wg-quick talk to. It
// accepts clients on the event loop and frames their requests; the handler (the daemon)
// parses and answers them.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "platform/event_loop.h"
#include "platform/result.h"
#include "platform/uapi_connection.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

class UapiServer {
 public:
  // Called with one complete request: "get=1\n\n", or "set=1\n" + its lines + "\n"; returns
  // the whole answer including the "errno=N\n\n" trailer. Requests the framer refuses
  // (oversize: EMSGSIZE; a get with trailing bytes: EINVAL) are answered here without it.
  using Handler = UapiConnection::Handler;

  // Most clients served at once; further ones are accepted and closed at once.
  static constexpr size_t kMaxConnections = 16;

  // Creates `socket_dir` (0755, with parents) and listens on socket_dir/interface_name.sock
  // with mode 0600 (the umask is narrowed around bind(); the umask is process-wide, so do
  // this before starting threads that create files). A socket file left by a dead process is
  // replaced; if something still accepts on it, fails with "interface in use" and code
  // EADDRINUSE; a non-socket file there is left alone and fails with EEXIST.
  // `loop` must outlive the server.
  static Result<std::unique_ptr<UapiServer>> create(EventLoop& loop,
                                                    const std::string& interface_name,
                                                    Handler handler,
                                                    std::string socket_dir = "/var/run/wireguard");
  // Closes every connection and unlinks the socket file, unless another process has
  // replaced it meanwhile. Not to be called from within the handler.
  ~UapiServer();
  UapiServer(const UapiServer&) = delete;
  UapiServer& operator=(const UapiServer&) = delete;

  const std::string& path() const { return path_; }
  size_t connection_count() const { return connections_.size(); }

 private:
  UapiServer(EventLoop& loop, Handler handler, std::string path, UniqueFd listener, dev_t dev,
             ino_t ino)
      : loop_(loop),
        handler_(std::move(handler)),
        path_(std::move(path)),
        listener_(std::move(listener)),
        socket_dev_(dev),
        socket_ino_(ino) {}
  void accept_clients();
  void serve(int fd, uint32_t events);
  void close_connection(int fd);

  struct Client {
    std::unique_ptr<UapiConnection> connection;
    uint32_t interest;  // what the loop currently waits for on it
  };

  EventLoop& loop_;
  Handler handler_;
  std::string path_;
  UniqueFd listener_;
  dev_t socket_dev_;  // identify our socket file, so we never unlink a successor's
  ino_t socket_ino_;
  std::map<int, Client> connections_;
};

}  // namespace sluice::platform
