#include "platform/event_loop.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "platform/clock.h"

namespace sluice::platform {

namespace {

uint64_t pack(int fd, uint32_t generation) {
  return (uint64_t{generation} << 32) | static_cast<uint32_t>(fd);
}

// epoll_wait takes milliseconds: round up so we never wake before the deadline and spin.
int timeout_ms(int64_t deadline_mono_ns) {
  if (deadline_mono_ns == INT64_MAX) return -1;
  const int64_t now = monotonic_ns();
  if (deadline_mono_ns <= now) return 0;
  const int64_t ms = (deadline_mono_ns - now + 999'999) / 1'000'000;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::create() {
  UniqueFd fd(epoll_create1(EPOLL_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("epoll_create1", errno);
  return std::unique_ptr<EventLoop>(new EventLoop(std::move(fd)));
}

EventLoop::~EventLoop() = default;

bool EventLoop::add(int fd, uint32_t events, Callback cb) {
  if (registrations_.count(fd) != 0) {
    spdlog::error("event loop: fd {} is already registered", fd);
    return false;
  }
  const uint32_t generation = next_generation_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = pack(fd, generation);
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    spdlog::error("event loop: adding fd {}: {}", fd, std::strerror(errno));
    return false;
  }
  registrations_.emplace(fd, Registration{generation, std::make_shared<Callback>(std::move(cb))});
  return true;
}

bool EventLoop::modify(int fd, uint32_t events) {
  auto it = registrations_.find(fd);
  if (it == registrations_.end()) {
    spdlog::error("event loop: modify of unregistered fd {}", fd);
    return false;
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = pack(fd, it->second.generation);
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    spdlog::error("event loop: modifying fd {}: {}", fd, std::strerror(errno));
    return false;
  }
  return true;
}

void EventLoop::remove(int fd) {
  if (registrations_.erase(fd) == 0) return;
  // ENOENT/EBADF here mean the caller closed the fd first; the registration is gone either way.
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
    spdlog::debug("event loop: removing fd {}: {}", fd, std::strerror(errno));
  }
}

bool EventLoop::run_once(int64_t deadline_mono_ns) {
  const int n = epoll_wait(epoll_fd_.get(), events_.data(), static_cast<int>(events_.size()),
                           timeout_ms(deadline_mono_ns));
  if (n < 0) {
    if (errno == EINTR) return true;
    spdlog::error("event loop: epoll_wait: {}", std::strerror(errno));
    return false;
  }
  for (int i = 0; i < n && !stopped_; ++i) {
    const uint64_t key = events_[i].data.u64;
    const int fd = static_cast<int>(static_cast<uint32_t>(key));
    auto it = registrations_.find(fd);
    if (it == registrations_.end() || it->second.generation != static_cast<uint32_t>(key >> 32)) {
      continue;  // removed (and maybe re-added) by an earlier callback in this batch
    }
    std::shared_ptr<Callback> callback = it->second.callback;
    (*callback)(events_[i].events);
  }
  return true;
}

}  // namespace sluice::platform
