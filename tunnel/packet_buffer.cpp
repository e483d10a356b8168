#include "tunnel/packet_buffer.h"

#include <algorithm>
#include <cassert>

namespace sluice {

namespace {
size_t round_up(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }
}  // namespace

size_t buffer_capacity_for_mtu(uint32_t mtu) {
  const size_t inner = round_up(std::max(mtu, kMinBufferMtu), 16);
  return round_up(PacketBuffer::kHeadroom + inner + PacketBuffer::kTailroom, 64);
}

BufferPool::BufferPool(size_t count, size_t buffer_capacity)
    : buffer_capacity_(buffer_capacity),
      storage_(new uint8_t[count * buffer_capacity]),
      buffers_(count) {
  free_.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    buffers_[i].base_ = storage_.get() + i * buffer_capacity;
    buffers_[i].capacity_ = static_cast<uint32_t>(buffer_capacity);
    free_.push_back(&buffers_[count - 1 - i]);
  }
}

PacketBuffer* BufferPool::acquire() {
  if (free_.empty()) return nullptr;
  PacketBuffer* b = free_.back();
  free_.pop_back();
  b->reset_for_inner();
  return b;
}

void BufferPool::release(PacketBuffer* buffer) {
  if (buffer == nullptr) return;
  assert(free_.size() < buffers_.size());
  free_.push_back(buffer);
}

}  // namespace sluice
