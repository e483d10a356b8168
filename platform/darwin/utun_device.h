// A Darwin utun descriptor: the kernel-control socket behind a utunN interface. Each datagram on
// it is one IP packet preceded by a 4-byte address family in network byte order, with Darwin's
// numbering (AF_INET 2, AF_INET6 30). The descriptor is either opened here (macOS:
// PF_SYSTEM/SYSPROTO_CONTROL socket, CTLIOCGINFO for "com.apple.net.utun_control", connect with
// sc_unit) or adopted from the host, which is the only way in a NEPacketTunnelProvider. Adopting
// is compiled everywhere, so the framing is tested on Linux over a socketpair.
//
// read_batch/write_batch follow platform/tun_device.h's contract so the daemon can drive either;
// the family header never reaches the rest of Sluice.
#pragma once

#if defined(__APPLE__)
#include <TargetConditionals.h>
#endif

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "platform/result.h"
#include "platform/unique_fd.h"
#include "tunnel/packet_buffer.h"

// Opening a utun needs <sys/kern_control.h>, which only the macOS SDK ships; iOS gets its
// descriptor from NetworkExtension instead.
#if defined(__APPLE__) && TARGET_OS_OSX
#define SLUICE_UTUN_CAN_OPEN 1
#else
#define SLUICE_UTUN_CAN_OPEN 0
#endif

namespace sluice::platform {

// Packets dropped or refused, by cause. Read drops never reach the caller.
struct UtunStats {
  uint64_t packets_read = 0;     // delivered by read_batch
  uint64_t packets_written = 0;  // accepted by the kernel in write_batch
  uint64_t bad_family = 0;       // read: family header unknown or not matching the IP version
  uint64_t truncated = 0;        // read: shorter than the family header or than its IP header
                                 // says (an IP header that cannot be read counts here too)
  uint64_t write_refused = 0;    // write: not IPv4/IPv6, or refused by the kernel (EINVAL, ...)
};

class UtunDevice {
 public:
  static constexpr size_t kFamilyHeaderLength = 4;
  // Darwin's values, not the build host's: Linux's AF_INET6 is 10.
  static constexpr uint32_t kDarwinAfInet = 2;
  static constexpr uint32_t kDarwinAfInet6 = 30;
  static constexpr int kAnyUnit = -1;

#if SLUICE_UTUN_CAN_OPEN
  // Creates utun<unit>, or the next free utunN for kAnyUnit. Needs root. EBUSY if the unit is
  // taken. The interface lives until this object is destroyed.
  static Result<std::unique_ptr<UtunDevice>> open(int unit);
#endif

  // Takes ownership of `fd`, a connected utun control socket (or, in tests, anything that
  // moves datagrams), and makes it nonblocking and close-on-exec. A host that keeps using the
  // descriptor itself (NEPacketTunnelProvider's packetFlow) must pass a dup(); O_NONBLOCK
  // belongs to the open file, so the host's copy becomes nonblocking too. EBADF if `fd` is not
  // open. The name is read from the descriptor on Apple platforms, empty elsewhere.
  static Result<std::unique_ptr<UtunDevice>> adopt(UniqueFd fd);

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

  // Reads up to buffers.size() packets and returns how many it delivered, in buffers[0, n).
  // The buffers stay owned by the caller, who has reset them (reset_for_inner) so data() leaves
  // headroom; each packet lands at data() with no copy (the family header is read into a
  // separate iovec) and at most room() - PacketBuffer::kTailroom bytes of it are read. Packets
  // with a wrong family header or cut short are dropped and counted; their buffer is reused,
  // and at most buffers.size() datagrams are read per call. Buffers past n may have been
  // written. Returns 0 if none was ready, -errno on a fatal error, or -EPIPE from the first
  // call that has nothing to deliver after an empty read: end of file, the utun was torn down
  // (the kernel never sends an empty datagram). End of file is sticky.
  int read_batch(std::span<PacketBuffer* const> buffers);

  // Writes each packet (data(), size()) behind the family header its IP version calls for. The
  // buffers stay caller-owned and untouched: the header goes out from a separate iovec, so no
  // headroom is needed. Packets that are not IPv4/IPv6, or that the kernel refuses, are skipped
  // and counted; writing stops at EAGAIN/ENOBUFS or when the descriptor is gone. Returns how
  // many were written: the caller counts packets.size() - result as dropped.
  int write_batch(std::span<PacketBuffer* const> packets);

  const UtunStats& stats() const { return stats_; }

 private:
  UtunDevice(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

  UniqueFd fd_;
  std::string name_;
  UtunStats stats_;
  bool ended_ = false;  // a read returned 0
};

}  // namespace sluice::platform
