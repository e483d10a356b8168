#include "platform/uapi_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/clock.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

namespace {

// The answer ends with "errno=N\n\n"; everything before it is key=value lines.
bool answer_complete(const std::string& answer) {
  if (answer.size() < 2 || answer.compare(answer.size() - 2, 2, "\n\n") != 0) return false;
  const size_t line = answer.rfind('\n', answer.size() - 3);
  const size_t start = line == std::string::npos ? 0 : line + 1;
  return answer.compare(start, 6, "errno=") == 0;
}

}  // namespace

Result<std::string> uapi_request(const std::string& interface_name, std::string_view request,
                                 int timeout_ms, const std::string& socket_dir) {
  const std::string path = socket_dir + "/" + interface_name + ".sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return Error{"socket path too long: " + path, ENAMETOOLONG};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Error::from_errno("unix socket", errno);
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Error::from_errno("connecting to " + path + " (is sluice running for " + interface_name + "?)", errno);
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("writing to " + path, errno);
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  const int64_t deadline = monotonic_ns() + int64_t{timeout_ms} * 1'000'000;
  char chunk[4096];
  while (!answer_complete(answer)) {
    const int64_t left_ms = (deadline - monotonic_ns()) / 1'000'000;
    if (left_ms <= 0) return Error{"no complete answer from " + path + " in time", ETIMEDOUT};
    pollfd p{fd.get(), POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left_ms)) < 0 && errno != EINTR)
      return Error::from_errno("waiting for " + path, errno);
    const ssize_t n = recv(fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0) return Error{"the daemon closed " + path + " without a complete answer", EPIPE};
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Error::from_errno("reading from " + path, errno);
    }
    answer.append(chunk, static_cast<size_t>(n));
  }
  return answer;
}

}  // namespace sluice::platform
