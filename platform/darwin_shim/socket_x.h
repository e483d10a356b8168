// Linux stand-in for XNU's private batch socket calls, so the Darwin backend's batch logic is
// compiled and tested here. XNU declares these in bsd/sys/socket_private.h, which the public
// SDK does not ship; platform/darwin/socket_x.h declares them itself on Apple platforms and
// includes this header everywhere else. The layout and contract follow XNU's comments:
//
// recvmsg_x(s, msgp, cnt, flags): receives up to cnt datagrams, one per msghdr_x. On input
//   msg_iov/msg_iovlen say where to put the datagram, msg_name/msg_namelen where to put the
//   sender, and msg_flags must be 0. On output msg_datalen is the datagram's length, msg_flags
//   may carry MSG_TRUNC (the datagram did not fit and its tail was discarded) and msg_namelen
//   the sender's length. Returns the number of datagrams received, or -1 with errno.
// sendmsg_x(s, msgp, cnt, flags): sends up to cnt datagrams from msg_iov, to msg_name when
//   given. msg_flags and msg_datalen must be 0 on input. Returns the number sent (possibly
//   fewer than cnt), or -1 with errno. XNU fails the whole call with EMSGSIZE when the batch's
//   bytes exceed the socket's send high-water mark.
// Both accept only MSG_DONTWAIT in flags.
//
// Here they are built on recvmmsg/sendmmsg, checking their inputs as XNU documents, and can be
// told to fail or misbehave (socket_x_faults.h) so the caller's self-test and fallback run.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>

extern "C" {

struct msghdr_x {
  void* msg_name;             // optional address
  socklen_t msg_namelen;      // size of address
  struct iovec* msg_iov;      // scatter/gather array
  int msg_iovlen;             // number of elements in msg_iov
  void* msg_control;          // ancillary data
  socklen_t msg_controllen;   // ancillary data buffer length
  int msg_flags;              // flags on the received message
  size_t msg_datalen;         // byte length of the received datagram
};

// The arrays are borrowed for the call; the iovecs' buffers are the caller's throughout.
ssize_t recvmsg_x(int s, struct msghdr_x* msgp, u_int cnt, int flags);
ssize_t sendmsg_x(int s, const struct msghdr_x* msgp, u_int cnt, int flags);

}  // extern "C"
