// recvmsg_x/sendmsg_x for Linux over recvmmsg/sendmmsg, with the input checks XNU documents and
// the injectable faults of socket_x_faults.h. Test-only: the Linux daemon never links this.
#include "platform/darwin_shim/socket_x.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <mutex>

#include "platform/darwin_shim/socket_x_faults.h"

namespace sluice::darwin_shim {

namespace {

// XNU clips cnt to a sysctl limit (kern.ipc.maxrecvmsgx / maxsendmsgx); callers must already
// cope with short counts, so a fixed cap keeps the translation arrays on the stack.
constexpr unsigned kMaxPerCall = 256;

struct State {
  std::mutex mutex;
  Faults faults;
  unsigned receive_calls_since_set = 0;
  unsigned send_calls_since_set = 0;
};

State& state() {
  static State s;
  return s;
}

std::atomic<uint64_t> total_receive_calls{0};
std::atomic<uint64_t> total_send_calls{0};

// The faults in force for this call, and whether its errno fault has come due.
struct CallFaults {
  Faults faults;
  bool errno_due = false;
};

CallFaults begin_call(bool receive) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  unsigned& count = receive ? s.receive_calls_since_set : s.send_calls_since_set;
  ++count;
  return CallFaults{s.faults, count > s.faults.errno_after_calls};
}

unsigned batch_size(unsigned cnt, const Faults& faults) {
  unsigned n = std::min(cnt, kMaxPerCall);
  if (faults.max_per_call != 0) n = std::min(n, faults.max_per_call);
  return n;
}

ssize_t fail(int err) {
  errno = err;
  return -1;
}

}  // namespace

void set_faults(const Faults& faults) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  s.faults = faults;
  s.receive_calls_since_set = 0;
  s.send_calls_since_set = 0;
}

void clear_faults() { set_faults(Faults{}); }

CallCounts call_counts() {
  return CallCounts{total_receive_calls.load(), total_send_calls.load()};
}

}  // namespace sluice::darwin_shim

using sluice::darwin_shim::CallFaults;

extern "C" ssize_t recvmsg_x(int s, struct msghdr_x* msgp, u_int cnt, int flags) {
  using namespace sluice::darwin_shim;
  ++total_receive_calls;
  const CallFaults call = begin_call(true);
  if (call.faults.receive_errno != 0 && call.errno_due) return fail(call.faults.receive_errno);
  if ((flags & ~MSG_DONTWAIT) != 0) return fail(EINVAL);
  if (cnt == 0) return 0;
  if (msgp == nullptr) return fail(EFAULT);

  const unsigned n = batch_size(cnt, call.faults);
  std::array<mmsghdr, kMaxPerCall> m{};
  for (unsigned i = 0; i < n; ++i) {
    const msghdr_x& x = msgp[i];
    if (x.msg_flags != 0 || x.msg_iovlen < 0) return fail(EINVAL);
    m[i].msg_hdr.msg_name = x.msg_name;
    m[i].msg_hdr.msg_namelen = x.msg_namelen;
    m[i].msg_hdr.msg_iov = x.msg_iov;
    m[i].msg_hdr.msg_iovlen = static_cast<size_t>(x.msg_iovlen);
    m[i].msg_hdr.msg_control = x.msg_control;
    m[i].msg_hdr.msg_controllen = x.msg_controllen;
  }
  const int got = recvmmsg(s, m.data(), n, flags, nullptr);
  if (got < 0) return -1;
  for (int i = 0; i < got; ++i) {
    msghdr_x& x = msgp[i];
    const msghdr& h = m[static_cast<size_t>(i)].msg_hdr;
    x.msg_datalen = m[static_cast<size_t>(i)].msg_len;
    x.msg_flags = h.msg_flags;
    x.msg_namelen = h.msg_namelen;
    x.msg_controllen = static_cast<socklen_t>(h.msg_controllen);
    if (call.faults.overstate_length) ++x.msg_datalen;
    if (call.faults.hide_truncation) x.msg_flags &= ~MSG_TRUNC;
    if (call.faults.hide_source) x.msg_namelen = 0;
  }
  return got;
}

extern "C" ssize_t sendmsg_x(int s, const struct msghdr_x* msgp, u_int cnt, int flags) {
  using namespace sluice::darwin_shim;
  ++total_send_calls;
  const CallFaults call = begin_call(false);
  if (call.faults.send_errno != 0 && call.errno_due) return fail(call.faults.send_errno);
  if ((flags & ~MSG_DONTWAIT) != 0) return fail(EINVAL);
  if (cnt == 0) return 0;
  if (msgp == nullptr) return fail(EFAULT);

  const unsigned n = batch_size(cnt, call.faults);
  std::array<mmsghdr, kMaxPerCall> m{};
  size_t bytes = 0;
  for (unsigned i = 0; i < n; ++i) {
    const msghdr_x& x = msgp[i];
    if (x.msg_flags != 0 || x.msg_datalen != 0 || x.msg_iovlen < 0) return fail(EINVAL);
    for (int v = 0; v < x.msg_iovlen; ++v) bytes += x.msg_iov[v].iov_len;
    m[i].msg_hdr.msg_name = x.msg_name;
    m[i].msg_hdr.msg_namelen = x.msg_namelen;
    m[i].msg_hdr.msg_iov = x.msg_iov;
    m[i].msg_hdr.msg_iovlen = static_cast<size_t>(x.msg_iovlen);
    m[i].msg_hdr.msg_control = x.msg_control;
    m[i].msg_hdr.msg_controllen = x.msg_controllen;
  }
  if (call.faults.send_byte_limit != 0 && bytes > call.faults.send_byte_limit) {
    return fail(EMSGSIZE);
  }
  if (call.faults.swallow_sends) return n;
  return sendmmsg(s, m.data(), n, flags);
}
