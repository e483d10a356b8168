#include "platform/tun_device.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace sluice::platform {

namespace {

// Debian 12's <linux/if_tun.h> predates USO (Linux 6.2); the values are the kernel ABI's.
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

constexpr unsigned kTcpOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
constexpr unsigned kUdpOffloads = TUN_F_USO4 | TUN_F_USO6;

// A TUN read is at most one skb of the device's GSO limit, 64 KiB by default; the prefix holds
// the part of a super-packet that landed in the caller's buffer.
constexpr size_t kScratchPrefix = 65536;
constexpr size_t kScratchRead = 65536;

bool stops_writing(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == EBADFD || err == EBADF;
}

// Bytes a caller's buffer takes from data() on: its room less the tailroom sealing needs.
size_t usable(const PacketBuffer* b) {
  const size_t room = b->room();
  return room > PacketBuffer::kTailroom ? room - PacketBuffer::kTailroom : 0;
}

Result<UniqueFd> open_tun(const std::string& name, short flags, std::string* actual) {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("opening /dev/net/tun", errno);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = flags;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    // EBUSY: another process has the TUN open; EPERM: no CAP_NET_ADMIN.
    return Error::from_errno("creating TUN interface " + name, errno);
  }
  *actual = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return fd;
}

// Turns on the virtio header and offloads on a TUN opened with IFF_VNET_HDR. False if the
// kernel refuses what we need, and then the caller reopens without IFF_VNET_HDR.
bool negotiate_offloads(int fd, TunOffloads& offloads) {
  int size = static_cast<int>(VirtioNetHdr::kSize);
  if (ioctl(fd, TUNSETVNETHDRSZ, &size) != 0) {
    spdlog::debug("tun: TUNSETVNETHDRSZ refused: {}", std::strerror(errno));
    return false;
  }
  // VirtioNetHdr is little-endian; a big-endian host must ask for that order.
  if constexpr (std::endian::native != std::endian::little) {
    int le = 1;
    if (ioctl(fd, TUNSETVNETLE, &le) != 0) {
      spdlog::debug("tun: TUNSETVNETLE refused: {}", std::strerror(errno));
      return false;
    }
  }
  if (ioctl(fd, TUNSETOFFLOAD, kTcpOffloads | kUdpOffloads) == 0) {
    offloads = TunOffloads{true, true, true};
    return true;
  }
  // EINVAL here is a kernel without USO (before 6.2): TCP offloads alone still pay.
  if (ioctl(fd, TUNSETOFFLOAD, kTcpOffloads) == 0) {
    offloads = TunOffloads{true, true, false};
    return true;
  }
  spdlog::debug("tun: TUNSETOFFLOAD refused: {}", std::strerror(errno));
  return false;
}

}  // namespace

TunDevice::TunDevice(UniqueFd fd, std::string name, int ifindex, TunOffloads offloads,
                     const TunOptions& options)
    : fd_(std::move(fd)), name_(std::move(name)), ifindex_(ifindex), offloads_(offloads) {
  if (offloads_.vnet_hdr) {
    read_scratch_.reset(new uint8_t[kScratchPrefix + kScratchRead]);
    write_scratch_.reset(new uint8_t[Coalescer::kMaxBuildSize]);
    coalescer_ = std::make_unique<Coalescer>(
        CoalescingOptions{std::max<size_t>(options.max_write_batch, 1), offloads_.uso});
  }
}

size_t TunDevice::scratch_bytes() const {
  if (!offloads_.vnet_hdr) return 0;
  return kScratchPrefix + kScratchRead + Coalescer::kMaxBuildSize + coalescer_->table_bytes();
}

Result<std::unique_ptr<TunDevice>> TunDevice::create(const std::string& name,
                                                     const TunOptions& options) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Error{"interface name \"" + name + "\" must be 1 to " + std::to_string(IFNAMSIZ - 1) +
                     " bytes long",
                 EINVAL};
  }
  std::string actual;
  TunOffloads offloads;
  std::optional<UniqueFd> fd;
  if (options.offload) {
    auto vnet = open_tun(name, IFF_TUN | IFF_NO_PI | IFF_VNET_HDR, &actual);
    if (!vnet) return vnet.error();
    if (negotiate_offloads(vnet->get(), offloads)) {
      fd.emplace(std::move(*vnet));
    } else {
      // The header cannot be switched off on an attached fd: start over without it, under the
      // name the kernel gave, so a "%d" pattern keeps its number if the slot is still free.
      spdlog::info("tun: offloads unavailable, reading and writing single packets");
      offloads = TunOffloads{};
      vnet->reset();
    }
  }
  if (!fd) {
    auto plain = open_tun(actual.empty() ? name : actual, IFF_TUN | IFF_NO_PI, &actual);
    if (!plain) return plain.error();
    fd.emplace(std::move(*plain));
  }
  const unsigned ifindex = if_nametoindex(actual.c_str());
  if (ifindex == 0) return Error::from_errno("looking up ifindex of " + actual, errno);

  spdlog::debug("tun: created {} (ifindex {}), offloads: vnet_hdr {} tso {} uso {}", actual,
                ifindex, offloads.vnet_hdr, offloads.tso, offloads.uso);
  return std::unique_ptr<TunDevice>(new TunDevice(std::move(*fd), std::move(actual),
                                                  static_cast<int>(ifindex), offloads, options));
}

// --- Reading ------------------------------------------------------------------------------

int TunDevice::read_plain(std::span<PacketBuffer* const> buffers) {
  size_t count = 0;
  while (count < buffers.size()) {
    PacketBuffer* buffer = buffers[count];
    const size_t max = usable(buffer);
    ssize_t n;
    do {
      n = ::read(fd_.get(), buffer->data(), max);
    } while (n < 0 && errno == EINTR);
    ++stats_.read_calls;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // Report what was read; the error comes back on the next call if it persists.
      return count > 0 ? static_cast<int>(count) : -errno;
    }
    // The kernel reports the whole packet's length even when it copied only `max` bytes.
    if (static_cast<size_t>(n) > max) {
      ++stats_.read_dropped_too_big;
      continue;
    }
    buffer->set_size(static_cast<size_t>(n));
    ++stats_.packets_read;
    ++count;
  }
  return static_cast<int>(count);
}

size_t TunDevice::hand_out_pending(std::span<PacketBuffer* const> buffers) {
  size_t filled = 0;
  while (pending_ && filled < buffers.size()) {
    PacketBuffer* b = buffers[filled];
    const size_t written =
        pending_->write_segment(pending_next_, std::span<uint8_t>(b->data(), usable(b)));
    if (written == 0) {
      // The kernel's segments are MTU-sized; only buffers smaller than the MTU get here. The
      // rest of the super-packet would not fit either.
      stats_.read_dropped_too_big += pending_->segment_count() - pending_next_;
      pending_.reset();
      break;
    }
    b->set_size(written);
    ++filled;
    ++stats_.segments_produced;
    ++stats_.packets_read;
    if (++pending_next_ == pending_->segment_count()) pending_.reset();
  }
  return filled;
}

int TunDevice::read_batch(std::span<PacketBuffer* const> buffers) {
  if (!offloads_.vnet_hdr) return read_plain(buffers);
  size_t count = hand_out_pending(buffers);
  while (count < buffers.size()) {
    PacketBuffer* b = buffers[count];
    const size_t max = std::min(usable(b), kScratchPrefix);
    uint8_t* spill = read_scratch_.get() + kScratchPrefix;
    iovec iov[3] = {{read_header_.data(), read_header_.size()},
                    {b->data(), max},
                    {spill, kScratchRead}};
    ssize_t n;
    do {
      n = ::readv(fd_.get(), iov, 3);
    } while (n < 0 && errno == EINTR);
    ++stats_.read_calls;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return count > 0 ? static_cast<int>(count) : -errno;
    }
    const size_t total = static_cast<size_t>(n);
    if (total < VirtioNetHdr::kSize || total - VirtioNetHdr::kSize > max + kScratchRead) {
      ++stats_.read_dropped_truncated;
      continue;
    }
    const size_t length = total - VirtioNetHdr::kSize;
    const VirtioNetHdr hdr = VirtioNetHdr::decode(read_header_);

    if (hdr.gso_type == VirtioNetHdr::kGsoNone) {
      if (length > max) {
        ++stats_.read_dropped_too_big;
        continue;
      }
      const GsoError error = complete_checksum(hdr, std::span<uint8_t>(b->data(), length));
      if (error != GsoError::none) {
        ++stats_.read_dropped_malformed[static_cast<size_t>(error)];
        spdlog::trace("tun {}: dropped a {}-byte packet: {}", name_, length, to_string(error));
        continue;
      }
      b->set_size(length);
      ++stats_.packets_read;
      ++count;
      continue;
    }

    // A super-packet: make it contiguous in front of the spilled part, then cut it into the
    // caller's buffers starting with this one (its bytes are a copy now).
    const size_t head = std::min(length, max);
    uint8_t* start = spill - head;
    std::memcpy(start, b->data(), head);
    GsoError error = GsoError::none;
    auto gso = GsoPacket::parse(hdr, std::span<const uint8_t>(start, length), &error);
    if (!gso) {
      ++stats_.read_dropped_malformed[static_cast<size_t>(error)];
      spdlog::trace("tun {}: dropped a {}-byte GSO packet: {}", name_, length, to_string(error));
      continue;
    }
    ++stats_.super_packets_read;
    pending_.emplace(*gso);
    pending_next_ = 0;
    count += hand_out_pending(buffers.subspan(count));
  }
  return static_cast<int>(count);
}

// --- Writing ------------------------------------------------------------------------------

TunDevice::WriteOutcome TunDevice::write_bytes(const uint8_t* data, size_t size) {
  ssize_t n;
  do {
    n = ::write(fd_.get(), data, size);
  } while (n < 0 && errno == EINTR);
  ++stats_.write_calls;
  if (n >= 0) return WriteOutcome::written;
  const int err = errno;
  if (stops_writing(err)) {
    spdlog::debug("tun {}: write stopped: {}", name_, std::strerror(err));
    return WriteOutcome::stop;
  }
  spdlog::trace("tun {}: kernel refused a {}-byte write: {}", name_, size, std::strerror(err));
  return WriteOutcome::refused;
}

int TunDevice::write_plain(std::span<PacketBuffer* const> packets) {
  size_t written = 0;
  for (PacketBuffer* packet : packets) {
    const WriteOutcome o = write_bytes(packet->data(), packet->size());
    if (o == WriteOutcome::stop) break;
    if (o == WriteOutcome::written) ++written;
  }
  stats_.packets_written += written;
  return static_cast<int>(written);
}

TunDevice::WriteOutcome TunDevice::write_with_header(PacketBuffer* packet) {
  // An all-zero header: not GSO, checksum complete. In the headroom it costs no copy and one
  // plain write; without headroom writev gathers it from here instead.
  if (packet->offset() >= VirtioNetHdr::kSize) {
    uint8_t* start = packet->data() - VirtioNetHdr::kSize;
    std::memset(start, 0, VirtioNetHdr::kSize);
    return write_bytes(start, packet->size() + VirtioNetHdr::kSize);
  }
  uint8_t zero[VirtioNetHdr::kSize] = {};
  iovec iov[2] = {{zero, sizeof zero}, {packet->data(), packet->size()}};
  ssize_t n;
  do {
    n = ::writev(fd_.get(), iov, 2);
  } while (n < 0 && errno == EINTR);
  ++stats_.write_calls;
  if (n >= 0) return WriteOutcome::written;
  return stops_writing(errno) ? WriteOutcome::stop : WriteOutcome::refused;
}

int TunDevice::write_batch(std::span<PacketBuffer* const> packets) {
  if (!offloads_.vnet_hdr) return write_plain(packets);
  size_t written = 0;
  size_t at = 0;
  bool stopped = false;
  while (at < packets.size() && !stopped) {
    const std::span<PacketBuffer* const> chunk = packets.subspan(at);
    const size_t planned = coalescer_->plan(chunk);
    const auto runs = coalescer_->runs();
    for (size_t r = 0; r < runs.size() && !stopped; ++r) {
      const Coalescer::Run& run = runs[r];
      if (run.count == 1) {
        const WriteOutcome o = write_with_header(chunk[run.first]);
        if (o == WriteOutcome::written) ++written;
        stopped = o == WriteOutcome::stop;
        continue;
      }
      const size_t size = coalescer_->build(
          r, chunk, std::span<uint8_t>(write_scratch_.get(), Coalescer::kMaxBuildSize));
      const WriteOutcome o = size > 0 ? write_bytes(write_scratch_.get(), size)
                                      : WriteOutcome::refused;
      if (o == WriteOutcome::written) {
        written += run.count;
        ++stats_.coalesced_writes;
        stats_.packets_coalesced += run.count;
        continue;
      }
      if (o == WriteOutcome::stop) {
        stopped = true;
        continue;
      }
      // The kernel would not take the merged run; its packets may still be fine one by one.
      ++stats_.coalesced_writes_refused;
      for (uint32_t i = run.first; i != Coalescer::kEnd && !stopped;
           i = coalescer_->next_in_run(i)) {
        const WriteOutcome single = write_with_header(chunk[i]);
        if (single == WriteOutcome::written) ++written;
        stopped = single == WriteOutcome::stop;
      }
    }
    at += planned;
  }
  stats_.packets_written += written;
  return static_cast<int>(written);
}

}  // namespace sluice::platform
