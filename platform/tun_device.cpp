#include "platform/tun_device.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::platform {

Result<std::unique_ptr<TunDevice>> TunDevice::create(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return Error{"interface name \"" + name + "\" must be 1 to " + std::to_string(IFNAMSIZ - 1) +
                     " bytes long",
                 EINVAL};
  }
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return Error::from_errno("opening /dev/net/tun", errno);

  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    // EBUSY: another process has the TUN open; EPERM: no CAP_NET_ADMIN.
    return Error::from_errno("creating TUN interface " + name, err);
  }
  std::string actual(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  const unsigned ifindex = if_nametoindex(actual.c_str());
  if (ifindex == 0) return Error::from_errno("looking up ifindex of " + actual, errno);

  spdlog::debug("tun: created {} (ifindex {})", actual, ifindex);
  return std::unique_ptr<TunDevice>(
      new TunDevice(std::move(fd), std::move(actual), static_cast<int>(ifindex)));
}

int TunDevice::read_batch(std::span<PacketBuffer* const> buffers) {
  int count = 0;
  for (PacketBuffer* buffer : buffers) {
    const size_t room = buffer->room();
    const size_t max = room > PacketBuffer::kTailroom ? room - PacketBuffer::kTailroom : 0;
    ssize_t n;
    do {
      n = ::read(fd_.get(), buffer->data(), max);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // Report what was read; the error comes back on the next call if it persists.
      return count > 0 ? count : -errno;
    }
    buffer->set_size(static_cast<size_t>(n));
    ++count;
  }
  return count;
}

int TunDevice::write_batch(std::span<PacketBuffer* const> packets) {
  int written = 0;
  for (PacketBuffer* packet : packets) {
    ssize_t n;
    do {
      n = ::write(fd_.get(), packet->data(), packet->size());
    } while (n < 0 && errno == EINTR);
    if (n >= 0) {
      ++written;
      continue;
    }
    const int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK || err == EBADFD || err == EBADF) {
      spdlog::debug("tun {}: write stopped: {}", name_, std::strerror(err));
      break;
    }
    spdlog::trace("tun {}: kernel refused a {}-byte packet: {}", name_, packet->size(),
                  std::strerror(err));
  }
  return written;
}

}  // namespace sluice::platform
