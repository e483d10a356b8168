// Where the Darwin backend gets XNU's private batch calls recvmsg_x/sendmsg_x. They are in
// libSystem but not in any public SDK header, so on Apple platforms we declare them ourselves
// (layout from XNU's bsd/sys/socket_private.h); elsewhere the Linux shim provides the same
// declarations and an implementation over recvmmsg/sendmmsg (platform/darwin_shim/socket_x.h,
// which also documents the calls' contract).
//
// SLUICE_DARWIN_BATCH_IO (set by CMake to 0 or 1) decides whether the calls are referenced at
// all: it must be 0 for App Store builds, where App Review rejects private API use. Without a
// value from the build we assume 0, the safe choice.
#pragma once

#ifndef SLUICE_DARWIN_BATCH_IO
#define SLUICE_DARWIN_BATCH_IO 0
#endif

#if SLUICE_DARWIN_BATCH_IO

#if defined(__APPLE__)
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

extern "C" {

struct msghdr_x {
  void* msg_name;
  socklen_t msg_namelen;
  struct iovec* msg_iov;
  int msg_iovlen;
  void* msg_control;
  socklen_t msg_controllen;
  int msg_flags;
  size_t msg_datalen;
};

ssize_t recvmsg_x(int s, struct msghdr_x* msgp, u_int cnt, int flags);
ssize_t sendmsg_x(int s, const struct msghdr_x* msgp, u_int cnt, int flags);

}  // extern "C"
#else
#include "platform/darwin_shim/socket_x.h"
#endif

#endif  // SLUICE_DARWIN_BATCH_IO
