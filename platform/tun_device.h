// A Linux TUN interface (IFF_TUN | IFF_NO_PI): each read or write is exactly one IP packet.
// Nonblocking, so the event loop drives it. Offloads (IFF_VNET_HDR, TUNSETOFFLOAD) are a later
// step: the batch API already lets one read yield several packets.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "platform/result.h"
#include "platform/unique_fd.h"
#include "tunnel/packet_buffer.h"

namespace sluice::platform {

class TunDevice {
 public:
  // Creates (or attaches to an unused existing) TUN interface called `name`. The name must
  // be 1..15 bytes (IFNAMSIZ - 1); a "%d" in it lets the kernel pick the number. The interface
  // lives until this object is destroyed or someone deletes the link.
  static Result<std::unique_ptr<TunDevice>> create(const std::string& name);

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }  // as the kernel named it
  int ifindex() const { return ifindex_; }

  // Reads up to buffers.size() packets, one per buffer. The buffers stay owned by the caller,
  // who has reset them (reset_for_inner) so data() leaves headroom; at most
  // room() - PacketBuffer::kTailroom bytes land in each (a longer packet is cut short by the
  // kernel, so size buffers for the MTU). Sets each filled buffer's size.
  // Returns the number read (0 if none was ready), or -errno on a fatal error, e.g. -EBADFD
  // once the interface has been deleted.
  int read_batch(std::span<PacketBuffer* const> buffers);

  // Writes each packet (data(), size()) as one IP packet; the buffers stay caller-owned and
  // untouched. A packet the kernel refuses (malformed, EINVAL) is skipped; writing stops at
  // EAGAIN or when the interface is gone. Returns how many were written, so the caller counts
  // packets.size() - result as dropped.
  int write_batch(std::span<PacketBuffer* const> packets);

 private:
  TunDevice(UniqueFd fd, std::string name, int ifindex)
      : fd_(std::move(fd)), name_(std::move(name)), ifindex_(ifindex) {}

  UniqueFd fd_;
  std::string name_;
  int ifindex_;
};

}  // namespace sluice::platform
