// Test control for the Linux recvmsg_x/sendmsg_x shim (socket_x.h): make the calls fail with a
// chosen errno, move fewer datagrams than asked, or lie about what they did, the ways a kernel
// without working batch calls (or a future XNU that changed their private contract) could.
// Faults are process-wide and take effect at the next call; tests set them before opening a
// socket to exercise its start-up self-test, or after to exercise its runtime fallback.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::darwin_shim {

struct Faults {
  int receive_errno = 0;          // recvmsg_x fails with this errno (0: it works)
  int send_errno = 0;             // sendmsg_x fails with this errno (0: it works)
  unsigned errno_after_calls = 0; // the errnos above apply only after this many calls of that kind
  unsigned max_per_call = 0;      // each call moves at most this many datagrams (0: no cap)
  size_t send_byte_limit = 0;     // sendmsg_x: EMSGSIZE when a batch has more bytes (0: no limit)
  bool overstate_length = false;  // recvmsg_x reports msg_datalen one byte longer than received
  bool hide_truncation = false;   // recvmsg_x clears MSG_TRUNC
  bool hide_source = false;       // recvmsg_x reports msg_namelen 0
  bool swallow_sends = false;     // sendmsg_x reports every datagram sent but sends none
};

// Replaces the current faults; the per-kind call counts that errno_after_calls uses restart.
void set_faults(const Faults& faults);
void clear_faults();

// How many times each call has been made since the process started (failed calls included).
struct CallCounts {
  uint64_t recvmsg_x = 0;
  uint64_t sendmsg_x = 0;
};
CallCounts call_counts();

}  // namespace sluice::darwin_shim
