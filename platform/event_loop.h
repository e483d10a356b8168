// A single-threaded epoll loop: fd readiness callbacks plus one deadline per wait, which the
// daemon takes from Device::next_deadline(). Timers live in the sans-IO core, not here.
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "platform/result.h"
#include "platform/unique_fd.h"

namespace sluice::platform {

class EventLoop {
 public:
  static Result<std::unique_ptr<EventLoop>> create();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Receives the ready epoll events (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP...).
  using Callback = std::function<void(uint32_t epoll_events)>;

  // Level-triggered. The loop does not own `fd`: the caller closes it, and must remove() it
  // first, or a reused fd number could reach the old callback. False if already added or the
  // kernel refuses it (details logged).
  bool add(int fd, uint32_t events, Callback cb);
  bool modify(int fd, uint32_t events);
  // Safe from inside any callback, including fd's own: a removed fd gets no further callback,
  // even if it was already reported ready in the current wait.
  void remove(int fd);

  // Waits for readiness at most until `deadline_mono_ns` (CLOCK_MONOTONIC ns; INT64_MAX =
  // forever; a past deadline just polls), then runs the callbacks of ready fds. Returns false
  // only on a fatal epoll error; a signal interrupting the wait (EINTR) is not one.
  bool run_once(int64_t deadline_mono_ns);

  // Makes the current run_once() skip the callbacks it has not run yet; stopped() stays true.
  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

  size_t size() const { return registrations_.size(); }

 private:
  explicit EventLoop(UniqueFd epoll_fd) : epoll_fd_(std::move(epoll_fd)) {}

  struct Registration {
    uint32_t generation;  // distinguishes a re-added fd from events reported for its old self
    std::shared_ptr<Callback> callback;  // shared so a callback survives its own remove()
  };

  UniqueFd epoll_fd_;
  std::unordered_map<int, Registration> registrations_;
  uint32_t next_generation_ = 1;
  bool stopped_ = false;
  std::array<epoll_event, 64> events_{};
};

}  // namespace sluice::platform
