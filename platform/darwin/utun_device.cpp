// See utun_device.h. The family header is read into and written from its own 4-byte iovec, so
// packets sit at data() exactly as on the Linux TUN and the caller's buffers are never shifted.
#include "platform/darwin/utun_device.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "platform/darwin/descriptor_flags.h"
#include "tunnel/ip_packet.h"

#if SLUICE_UTUN_CAN_OPEN
#include <sys/ioctl.h>
#include <sys/kern_control.h>
#include <sys/sys_domain.h>
#endif

namespace sluice::platform {

namespace {

// From XNU's net/if_utun.h, which the iOS SDK lacks: the control's name and the getsockopt
// level/option that report the interface name ("utun3").
[[maybe_unused]] constexpr char kUtunControlName[] = "com.apple.net.utun_control";
[[maybe_unused]] constexpr int kSysprotoControl = 2;
[[maybe_unused]] constexpr int kUtunOptIfname = 2;

enum class Framing { ok, bad_family, truncated };

uint32_t load_be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

void store_be32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// `read` is what readv returned: the family header plus the packet bytes at `packet`.
Framing check_framing(const uint8_t* header, const uint8_t* packet, size_t read) {
  if (read <= UtunDevice::kFamilyHeaderLength) return Framing::truncated;
  const size_t length = read - UtunDevice::kFamilyHeaderLength;
  const uint32_t family = load_be32(header);
  const unsigned version = packet[0] >> 4;
  const bool matches = (family == UtunDevice::kDarwinAfInet && version == 4) ||
                       (family == UtunDevice::kDarwinAfInet6 && version == 6);
  if (!matches) return Framing::bad_family;
  // A packet longer than our buffer was cut by the kernel without telling us; its IP header
  // then claims more bytes than arrived.
  if (!ip_packet_length(std::span<const uint8_t>(packet, length))) return Framing::truncated;
  return Framing::ok;
}

uint32_t family_for(const PacketBuffer& packet) {
  if (packet.size() == 0) return 0;
  switch (packet.data()[0] >> 4) {
    case 4:
      return UtunDevice::kDarwinAfInet;
    case 6:
      return UtunDevice::kDarwinAfInet6;
    default:
      return 0;
  }
}

// Errors after which no later packet in the batch can be written either.
bool stops_writing(int err) {
  return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EBADF || err == EPIPE ||
         err == ENOTCONN || err == ECONNREFUSED || err == ENXIO;
}

std::string interface_name([[maybe_unused]] int fd) {
#if defined(__APPLE__)
  char name[64] = {};
  socklen_t length = sizeof name - 1;
  if (getsockopt(fd, kSysprotoControl, kUtunOptIfname, name, &length) == 0) {
    return std::string(name, strnlen(name, sizeof name - 1));
  }
  spdlog::debug("utun: reading the interface name: {}", std::strerror(errno));
#endif
  return {};
}

}  // namespace

#if SLUICE_UTUN_CAN_OPEN
Result<std::unique_ptr<UtunDevice>> UtunDevice::open(int unit) {
  if (unit < kAnyUnit) return Error{"utun unit must be >= 0 (or any)", EINVAL};
  UniqueFd fd(socket(PF_SYSTEM, SOCK_DGRAM, SYSPROTO_CONTROL));
  if (!fd.valid()) return Error::from_errno("utun: control socket", errno);

  ctl_info info{};
  static_assert(sizeof kUtunControlName <= sizeof info.ctl_name);
  std::memcpy(info.ctl_name, kUtunControlName, sizeof kUtunControlName);
  if (ioctl(fd.get(), CTLIOCGINFO, &info) != 0) {
    return Error::from_errno("utun: looking up the utun control", errno);
  }

  sockaddr_ctl address{};
  address.sc_len = sizeof address;
  address.sc_family = AF_SYSTEM;
  address.ss_sysaddr = AF_SYS_CONTROL;
  address.sc_id = info.ctl_id;
  // sc_unit counts from 1 for utun0; 0 lets the kernel pick the next free unit.
  address.sc_unit = unit == kAnyUnit ? 0 : static_cast<uint32_t>(unit) + 1;
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int err = errno;
    return Error::from_errno(
        unit == kAnyUnit ? std::string("utun: creating an interface")
                         : "utun: creating utun" + std::to_string(unit),
        err);
  }
  return adopt(std::move(fd));
}
#endif

Result<std::unique_ptr<UtunDevice>> UtunDevice::adopt(UniqueFd fd) {
  if (!fd.valid()) return Error{"utun: no descriptor to adopt", EBADF};
  if (!set_nonblocking(fd.get())) return Error::from_errno("utun: making descriptor nonblocking", errno);
  if (!set_cloexec(fd.get())) return Error::from_errno("utun: setting close-on-exec", errno);
  std::string name = interface_name(fd.get());
  spdlog::debug("utun: using descriptor {} ({})", fd.get(), name.empty() ? "unnamed" : name);
  return std::unique_ptr<UtunDevice>(new UtunDevice(std::move(fd), std::move(name)));
}

int UtunDevice::read_batch(std::span<PacketBuffer* const> buffers) {
  if (ended_) return -EPIPE;
  size_t count = 0;
  for (size_t attempt = 0; attempt < buffers.size(); ++attempt) {
    PacketBuffer* buffer = buffers[count];
    const size_t room = buffer->room();
    const size_t max = room > PacketBuffer::kTailroom ? room - PacketBuffer::kTailroom : 0;
    uint8_t header[kFamilyHeaderLength];
    iovec iov[2] = {{header, sizeof header}, {buffer->data(), max}};
    ssize_t n;
    do {
      n = readv(fd_.get(), iov, 2);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      // Report what was read; the error comes back on the next call if it persists.
      if (count > 0) break;
      return -err;
    }
    if (n == 0) {
      ended_ = true;
      break;
    }
    switch (check_framing(header, buffer->data(), static_cast<size_t>(n))) {
      case Framing::ok:
        buffer->set_size(static_cast<size_t>(n) - kFamilyHeaderLength);
        ++count;
        break;
      case Framing::bad_family:
        ++stats_.bad_family;
        spdlog::trace("utun: dropping a packet whose family header does not match it");
        break;
      case Framing::truncated:
        ++stats_.truncated;
        spdlog::trace("utun: dropping a {}-byte read cut short", n);
        break;
    }
  }
  stats_.packets_read += count;
  if (count == 0 && ended_) return -EPIPE;
  return static_cast<int>(count);
}

int UtunDevice::write_batch(std::span<PacketBuffer* const> packets) {
  int written = 0;
  for (PacketBuffer* packet : packets) {
    const uint32_t family = family_for(*packet);
    if (family == 0) {
      ++stats_.write_refused;
      spdlog::trace("utun: not writing a {}-byte packet that is neither IPv4 nor IPv6",
                    packet->size());
      continue;
    }
    uint8_t header[kFamilyHeaderLength];
    store_be32(header, family);
    iovec iov[2] = {{header, sizeof header}, {packet->data(), packet->size()}};
    ssize_t n;
    do {
      n = writev(fd_.get(), iov, 2);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
      ++written;
      continue;
    }
    const int err = errno;
    if (stops_writing(err)) {
      spdlog::debug("utun {}: write stopped: {}", name_, std::strerror(err));
      break;
    }
    ++stats_.write_refused;
    spdlog::trace("utun {}: kernel refused a {}-byte packet: {}", name_, packet->size(),
                  std::strerror(err));
  }
  stats_.packets_written += static_cast<uint64_t>(written);
  return written;
}

}  // namespace sluice::platform
