#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <climits>

#include "platform/clock.h"
#include "platform/event_loop.h"
#include "platform/unique_fd.h"

using namespace sluice::platform;

namespace {
struct Pipe {
  UniqueFd read_end, write_end;
  Pipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  void poke() { REQUIRE(::write(write_end.get(), "x", 1) == 1); }
};
constexpr int64_t kMs = 1'000'000;
}  // namespace

TEST_CASE("EventLoop waits until the deadline when nothing is ready", "[event_loop]") {
  auto loop = EventLoop::create();
  REQUIRE(loop.has_value());
  const int64_t start = monotonic_ns();
  REQUIRE((*loop)->run_once(start + 30 * kMs));
  const int64_t waited = monotonic_ns() - start;
  CHECK(waited >= 30 * kMs);
  CHECK(waited < 500 * kMs);

  // A deadline in the past only polls.
  const int64_t again = monotonic_ns();
  REQUIRE((*loop)->run_once(again - 1000 * kMs));
  CHECK(monotonic_ns() - again < 20 * kMs);
}

TEST_CASE("EventLoop runs callbacks of ready fds", "[event_loop]") {
  auto loop = std::move(*EventLoop::create());
  Pipe p;
  uint32_t seen = 0;
  int calls = 0;
  REQUIRE(loop->add(p.read_end.get(), EPOLLIN, [&](uint32_t ev) {
    seen = ev;
    ++calls;
  }));
  CHECK_FALSE(loop->add(p.read_end.get(), EPOLLIN, [](uint32_t) {}));  // already registered
  REQUIRE(loop->run_once(monotonic_ns() + 10 * kMs));
  CHECK(calls == 0);

  p.poke();
  const int64_t start = monotonic_ns();
  REQUIRE(loop->run_once(start + 1000 * kMs));
  CHECK(calls == 1);
  CHECK((seen & EPOLLIN) != 0);
  CHECK(monotonic_ns() - start < 500 * kMs);  // woke for the fd, not the deadline

  // modify: the write end is always writable.
  bool writable = false;
  REQUIRE(loop->add(p.write_end.get(), 0, [&](uint32_t ev) { writable = (ev & EPOLLOUT) != 0; }));
  REQUIRE(loop->modify(p.write_end.get(), EPOLLOUT));
  loop->remove(p.read_end.get());
  REQUIRE(loop->run_once(monotonic_ns() + 1000 * kMs));
  CHECK(writable);
  CHECK(calls == 1);
  CHECK_FALSE(loop->modify(12345, EPOLLIN));
  loop->remove(p.write_end.get());
  CHECK(loop->size() == 0);
}

TEST_CASE("EventLoop remove and stop from inside callbacks", "[event_loop]") {
  auto loop = std::move(*EventLoop::create());
  Pipe a, b, c;
  a.poke();
  b.poke();
  int a_calls = 0, b_calls = 0;
  // Whichever runs first removes the other, which must then not run although it was ready.
  REQUIRE(loop->add(a.read_end.get(), EPOLLIN, [&](uint32_t) {
    ++a_calls;
    loop->remove(b.read_end.get());
    loop->remove(a.read_end.get());  // and itself: its std::function must survive this
  }));
  REQUIRE(loop->add(b.read_end.get(), EPOLLIN, [&](uint32_t) {
    ++b_calls;
    loop->remove(a.read_end.get());
    loop->remove(b.read_end.get());
  }));
  REQUIRE(loop->run_once(monotonic_ns() + 1000 * kMs));
  CHECK(a_calls + b_calls == 1);
  CHECK(loop->size() == 0);

  a.poke();
  c.poke();
  int calls = 0;
  REQUIRE(loop->add(a.read_end.get(), EPOLLIN, [&](uint32_t) {
    ++calls;
    loop->stop();
  }));
  REQUIRE(loop->add(c.read_end.get(), EPOLLIN, [&](uint32_t) {
    ++calls;
    loop->stop();
  }));
  REQUIRE(loop->run_once(monotonic_ns() + 1000 * kMs));
  CHECK(loop->stopped());
  CHECK(calls == 1);
}
