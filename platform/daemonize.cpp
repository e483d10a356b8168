#include "platform/daemonize.h"

#include <fcntl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace sluice::platform {

namespace {

// Readiness pipe protocol: one byte 'R' (ready) or 'E' followed by the error text, then EOF.
constexpr char kReady = 'R';
constexpr char kError = 'E';

void write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void redirect_to_dev_null(int target_fd, int flags) {
  int fd = ::open("/dev/null", flags | O_CLOEXEC);
  if (fd < 0) return;
  if (fd != target_fd) {
    ::dup2(fd, target_fd);  // dup2 clears O_CLOEXEC on the target
    ::close(fd);
  }
}

int parent_wait(pid_t child, int read_fd, std::string& error) {
  std::string message;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(read_fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    message.append(buf, static_cast<size_t>(n));
  }
  ::close(read_fd);
  if (!message.empty() && message[0] == kReady) return 0;
  if (!message.empty() && message[0] == kError) {
    error = message.substr(1);
    // The child exits by itself after reporting; reap it so no zombie outlives us.
    ::waitpid(child, nullptr, 0);
    return 1;
  }
  // The pipe closed without a report: the child died during start-up.
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == child && WIFSIGNALED(status)) {
    error = "background process was killed by signal " + std::to_string(WTERMSIG(status)) +
            " during start-up";
  } else if (r == child && WIFEXITED(status)) {
    error = "background process exited with status " + std::to_string(WEXITSTATUS(status)) +
            " during start-up";
  } else {
    error = "background process ended during start-up";
  }
  return 1;
}

}  // namespace

bool foreground_requested(bool flag, const char* env_value) {
  if (flag) return true;
  return env_value != nullptr && std::string_view(env_value) == "1";
}

Readiness::Readiness(Readiness&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), keep_output_(other.keep_output_) {}

Readiness& Readiness::operator=(Readiness&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    keep_output_ = other.keep_output_;
  }
  return *this;
}

Readiness::~Readiness() {
  // Closing without a report makes the parent say start-up ended; report it properly instead.
  if (fd_ >= 0) failed("start-up ended without reporting readiness");
}

void Readiness::ready() {
  if (fd_ < 0) return;
  std::fflush(stdout);
  std::fflush(stderr);
  if (!keep_output_) {
    redirect_to_dev_null(STDOUT_FILENO, O_WRONLY);
    redirect_to_dev_null(STDERR_FILENO, O_WRONLY);
  }
  write_all(fd_, &kReady, 1);
  ::close(fd_);
  fd_ = -1;
}

void Readiness::failed(std::string_view message) {
  if (fd_ < 0) return;
  std::string report(1, kError);
  report.append(message);
  write_all(fd_, report.data(), report.size());
  ::close(fd_);
  fd_ = -1;
}

DaemonizeResult daemonize(bool foreground, bool keep_output) {
  DaemonizeResult result;
  if (foreground) return result;

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.error = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = std::string("fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return result;
  }
  if (pid > 0) {
    ::close(fds[1]);
    result.role = DaemonizeResult::Role::Parent;
    result.parent_exit_code = parent_wait(pid, fds[0], result.child_error);
    return result;
  }

  // Child: its own session, so the terminal's or wg-quick's process group signals do not reach
  // it, and no controlling terminal.
  ::close(fds[0]);
  ::setsid();
  redirect_to_dev_null(STDIN_FILENO, O_RDONLY);
  if (::chdir("/") != 0) {
    // Not fatal: staying in the start directory only keeps it busy.
  }
  result.role = DaemonizeResult::Role::Child;
  result.readiness = Readiness(fds[1], keep_output);
  return result;
}

}  // namespace sluice::platform
