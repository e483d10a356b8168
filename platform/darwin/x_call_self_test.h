// The start-up check that decides whether a UdpBatchSocket may use recvmsg_x/sendmsg_x. They are
// private XNU calls whose contract Apple may change without notice, so before trusting them we
// send two datagrams with one sendmsg_x over throwaway loopback sockets and receive them with
// recvmsg_x, one into a buffer too small for it, and check everything we later rely on: the
// counts, each msg_datalen, the bytes, the sender (v4-mapped, reported as plain IPv4), MSG_TRUNC
// on the cut datagram and not on the whole one, and that nothing more arrives. Any failure,
// including ENOSYS or EINVAL from either call, means "use the recvmsg/sendmsg fallback".
//
// Only compiled with SLUICE_DARWIN_BATCH_IO: otherwise the calls are never referenced.
#pragma once

#include "platform/darwin/socket_x.h"

#if SLUICE_DARWIN_BATCH_IO

#include <string>

namespace sluice::platform {

struct XCallSelfTest {
  bool passed = false;
  std::string failure;  // what went wrong, for the one log line; empty when passed
};

// Blocks for at most about half a second (waiting for loopback delivery); call at start-up,
// never on the hot path. Opens and closes its own sockets.
XCallSelfTest run_x_call_self_test();

}  // namespace sluice::platform

#endif  // SLUICE_DARWIN_BATCH_IO
