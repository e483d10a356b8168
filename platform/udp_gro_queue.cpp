#include "platform/udp_gro_queue.h"

#include <netinet/udp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "platform/socket_address.h"

namespace sluice::platform {

namespace {

// The segment size from a UDP_GRO cmsg, or 0 when the read was not coalesced.
size_t gro_segment_size(msghdr& h) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size = 0;
      std::memcpy(&size, CMSG_DATA(c), sizeof size);
      return size > 0 ? static_cast<size_t>(size) : 0;
    }
  }
  return 0;
}

}  // namespace

GroReceiveQueue::GroReceiveQueue(size_t slots)
    : slots_(std::clamp<size_t>(slots, 1, kMaxSlots)),
      // Deliberately not value-initialised: touching it all here would make it all resident.
      scratch_(new uint8_t[slots_ * kSlotBytes]),
      messages_(new mmsghdr[slots_]),
      iovecs_(new iovec[slots_]),
      names_(new sockaddr_storage[slots_]),
      controls_(new uint64_t[slots_ * kControlBytes / sizeof(uint64_t)]),
      reads_(new Read[slots_]) {}

size_t GroReceiveQueue::allocated_bytes() const {
  return slots_ * (kSlotBytes + sizeof(mmsghdr) + sizeof(iovec) + sizeof(sockaddr_storage) +
                   kControlBytes + sizeof(Read));
}

int GroReceiveQueue::receive(int fd, size_t max_reads, uint64_t& gro_reads,
                             uint64_t& gro_segments) {
  read_count_ = next_read_ = next_offset_ = 0;
  const size_t n = std::min(max_reads, slots_);
  if (n == 0) return 0;
  for (size_t i = 0; i < n; ++i) {
    iovecs_[i] = iovec{scratch_.get() + i * kSlotBytes, kSlotBytes};
    msghdr& h = messages_[i].msg_hdr;
    messages_[i] = mmsghdr{};
    h.msg_name = &names_[i];
    h.msg_namelen = sizeof names_[i];
    h.msg_iov = &iovecs_[i];
    h.msg_iovlen = 1;
    h.msg_control = controls_.get() + i * kControlBytes / sizeof(uint64_t);
    h.msg_controllen = kControlBytes;
  }
  int got;
  do {
    got = recvmmsg(fd, messages_.get(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return -errno;

  for (int i = 0; i < got; ++i) {
    msghdr& h = messages_[i].msg_hdr;
    Read& r = reads_[i];
    r.source = to_endpoint(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen)
                   .value_or(Endpoint{});
    if ((h.msg_flags & MSG_TRUNC) != 0) {
      // Cannot happen with 64 KiB slots; if it does, hand out one empty datagram to drop.
      r.length = r.segment = 0;
      continue;
    }
    r.length = std::min<size_t>(messages_[i].msg_len, kSlotBytes);
    const size_t segment = gro_segment_size(h);
    if (segment > 0 && segment < r.length) {
      r.segment = segment;
      ++gro_reads;
      gro_segments += (r.length + segment - 1) / segment;
    } else {
      r.segment = r.length;
    }
  }
  read_count_ = static_cast<size_t>(got);
  return got;
}

size_t GroReceiveQueue::take(std::span<PacketBuffer* const> buffers, std::span<Endpoint> sources) {
  const size_t n = std::min(buffers.size(), sources.size());
  size_t k = 0;
  while (k < n && next_read_ < read_count_) {
    const Read& r = reads_[next_read_];
    // segment > 0 whenever length > 0, so each step either moves on or closes the read.
    const size_t piece = std::min(r.segment, r.length - next_offset_);
    PacketBuffer* b = buffers[k];
    b->reset_for_outer();
    if (piece <= b->room()) {
      std::memcpy(b->data(), scratch_.get() + next_read_ * kSlotBytes + next_offset_, piece);
      b->set_size(piece);
    } else {
      b->set_size(0);
    }
    sources[k] = r.source;
    ++k;
    next_offset_ += piece;
    if (next_offset_ >= r.length) {
      ++next_read_;
      next_offset_ = 0;
    }
  }
  return k;
}

}  // namespace sluice::platform
