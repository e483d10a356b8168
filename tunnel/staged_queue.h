// Inner packets held for a peer while its handshake is in flight. Fixed capacity: when full,
// the oldest packet is dropped, as the Linux module does, because the newest is the most
// likely to still matter to the application.
#pragma once

#include <array>
#include <cstddef>

#include "tunnel/constants.h"
#include "tunnel/packet_buffer.h"

namespace sluice {

class StagedQueue {
 public:
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // Takes ownership of `packet`. Returns the packet evicted to make room (now owned by the
  // caller), or nullptr.
  PacketBuffer* push(PacketBuffer* packet) {
    PacketBuffer* evicted = nullptr;
    if (size_ == ring_.size()) evicted = pop();
    ring_[(head_ + size_) % ring_.size()] = packet;
    ++size_;
    return evicted;
  }

  // Returns the oldest packet (ownership passes to the caller), or nullptr when empty.
  PacketBuffer* pop() {
    if (size_ == 0) return nullptr;
    PacketBuffer* p = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return p;
  }

 private:
  std::array<PacketBuffer*, kMaxStagedPackets> ring_{};
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace sluice
