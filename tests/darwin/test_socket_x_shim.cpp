// The Linux shim itself: it must hold callers to XNU's documented input rules, or code that
// passes here could still fail on a Mac.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "platform/darwin_shim/socket_x.h"
#include "platform/darwin_shim/socket_x_faults.h"
#include "platform/unique_fd.h"

using sluice::platform::UniqueFd;
namespace shim = sluice::darwin_shim;

namespace {

struct DatagramPair {
  UniqueFd a;
  UniqueFd b;
};

DatagramPair make_pair() {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
  return DatagramPair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

}  // namespace

TEST_CASE("shim: recvmsg_x reports each datagram's length and MSG_TRUNC", "[shim]") {
  DatagramPair pair = make_pair();
  const char first[] = "twelve bytes";
  const char second[] = "a datagram longer than sixteen bytes";
  REQUIRE(send(pair.a.get(), first, 12, 0) == 12);
  REQUIRE(send(pair.a.get(), second, sizeof second, 0) == static_cast<ssize_t>(sizeof second));

  std::array<std::array<char, 16>, 3> storage{};
  std::array<iovec, 3> iov{};
  std::array<msghdr_x, 3> m{};
  for (size_t i = 0; i < 3; ++i) {
    iov[i] = iovec{storage[i].data(), storage[i].size()};
    m[i].msg_iov = &iov[i];
    m[i].msg_iovlen = 1;
  }
  const shim::CallCounts before = shim::call_counts();
  REQUIRE(recvmsg_x(pair.b.get(), m.data(), 3, MSG_DONTWAIT) == 2);
  CHECK(shim::call_counts().recvmsg_x == before.recvmsg_x + 1);
  CHECK(m[0].msg_datalen == 12);
  CHECK((m[0].msg_flags & MSG_TRUNC) == 0);
  CHECK(std::memcmp(storage[0].data(), first, 12) == 0);
  CHECK(m[1].msg_datalen == 16);
  CHECK((m[1].msg_flags & MSG_TRUNC) != 0);
  CHECK(std::memcmp(storage[1].data(), second, 16) == 0);

  errno = 0;
  CHECK(recvmsg_x(pair.b.get(), &m[1], 1, MSG_DONTWAIT) == -1);  // MSG_TRUNC still in msg_flags
  CHECK(errno == EINVAL);
  m[1].msg_flags = 0;
  CHECK(recvmsg_x(pair.b.get(), &m[1], 1, MSG_DONTWAIT) == -1);
  CHECK(errno == EAGAIN);
  CHECK(recvmsg_x(pair.b.get(), &m[1], 1, MSG_PEEK) == -1);  // only MSG_DONTWAIT is allowed
  CHECK(errno == EINVAL);
}

TEST_CASE("shim: sendmsg_x sends a batch and checks its inputs", "[shim]") {
  DatagramPair pair = make_pair();
  char bytes[3][8] = {"one", "two", "three"};
  std::array<iovec, 3> iov{};
  std::array<msghdr_x, 3> m{};
  for (size_t i = 0; i < 3; ++i) {
    iov[i] = iovec{bytes[i], std::strlen(bytes[i])};
    m[i].msg_iov = &iov[i];
    m[i].msg_iovlen = 1;
  }
  CHECK(sendmsg_x(pair.a.get(), m.data(), 3, MSG_DONTWAIT) == 3);
  char got[8] = {};
  CHECK(recv(pair.b.get(), got, sizeof got, 0) == 3);
  CHECK(recv(pair.b.get(), got, sizeof got, 0) == 3);
  CHECK(recv(pair.b.get(), got, sizeof got, 0) == 5);
  CHECK(std::memcmp(got, "three", 5) == 0);

  m[1].msg_datalen = 3;  // must be zero on input
  errno = 0;
  CHECK(sendmsg_x(pair.a.get(), m.data(), 3, MSG_DONTWAIT) == -1);
  CHECK(errno == EINVAL);
  CHECK(recv(pair.b.get(), got, sizeof got, MSG_DONTWAIT) == -1);  // nothing went out
}

TEST_CASE("shim: faults apply from the chosen call and are cleared", "[shim]") {
  DatagramPair pair = make_pair();
  char byte = 'x';
  iovec iov{&byte, 1};
  msghdr_x m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;

  shim::Faults f;
  f.send_errno = ENOSYS;
  f.errno_after_calls = 1;
  shim::set_faults(f);
  CHECK(sendmsg_x(pair.a.get(), &m, 1, 0) == 1);
  errno = 0;
  CHECK(sendmsg_x(pair.a.get(), &m, 1, 0) == -1);
  CHECK(errno == ENOSYS);
  shim::clear_faults();
  CHECK(sendmsg_x(pair.a.get(), &m, 1, 0) == 1);

  f = shim::Faults{};
  f.swallow_sends = true;
  shim::set_faults(f);
  CHECK(sendmsg_x(pair.a.get(), &m, 1, 0) == 1);
  shim::clear_faults();
  char got[4];
  CHECK(recv(pair.b.get(), got, sizeof got, 0) == 1);
  CHECK(recv(pair.b.get(), got, sizeof got, 0) == 1);
  CHECK(recv(pair.b.get(), got, sizeof got, MSG_DONTWAIT) == -1);  // the swallowed one is gone
}
