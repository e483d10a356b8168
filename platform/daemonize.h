// Going to the background the way wireguard-go does: unless asked to stay in the foreground,
// `sluice IFNAME` returns only once the interface and its UAPI socket exist, so that wg-quick
// can configure it with `wg` and `ip` right after. Here that is fork + a readiness pipe: the
// parent waits on the pipe and exits 0 when the child reports ready, or prints the child's
// error and exits 1. Fork happens before any socket, TUN or thread exists.
#pragma once

#include <string>
#include <string_view>

namespace sluice::platform {

// True when the process must stay in the foreground: -f/--foreground was given or
// WG_PROCESS_FOREGROUND=1 is in the environment (as for wireguard-go).
bool foreground_requested(bool flag, const char* env_value);

// The child's end of the readiness pipe. A default-constructed one (foreground) does nothing.
class Readiness {
 public:
  Readiness() = default;
  explicit Readiness(int fd, bool keep_output) : fd_(fd), keep_output_(keep_output) {}
  Readiness(Readiness&& other) noexcept;
  Readiness& operator=(Readiness&& other) noexcept;
  Readiness(const Readiness&) = delete;
  Readiness& operator=(const Readiness&) = delete;
  ~Readiness();

  // Tells the waiting parent that the interface and UAPI socket are up, then detaches the
  // standard output and error (to /dev/null unless output was to be kept). Idempotent.
  void ready();
  // Tells the parent start-up failed with `message`; the parent prints it and exits 1.
  void failed(std::string_view message);
  bool pending() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
  bool keep_output_ = false;
};

struct DaemonizeResult {
  enum class Role { Foreground, Child, Parent } role = Role::Foreground;
  int parent_exit_code = 0;  // for Role::Parent: what the parent must exit with
  std::string child_error;   // for Role::Parent: the child's start-up error, for the caller to print
  Readiness readiness;       // for Role::Child
  std::string error;         // when fork itself failed (role stays Foreground, exit 1)
};

// Forks into the background unless `foreground`. In the parent, blocks until the child reports
// and returns Role::Parent with the exit code and, if it failed, child_error. In the
// child: new session (setsid), stdin from /dev/null, umask kept; stdout/stderr stay open until
// ready() so start-up errors are visible, then go to /dev/null unless `keep_output` (as
// wireguard-go keeps them when LOG_LEVEL is set).
DaemonizeResult daemonize(bool foreground, bool keep_output);

}  // namespace sluice::platform
