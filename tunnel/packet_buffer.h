// Packet buffers and the bounded pool they come from. Every packet on the data path lives in a
// PacketBuffer taken from a BufferPool at start-up size; nothing on the hot path allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace sluice {

class BufferPool;

class PacketBuffer {
 public:
  // Room in front of an inner packet for the 16-byte transport header, so sealing is in place.
  static constexpr size_t kHeadroom = 16;
  // Room behind it for padding to a multiple of 16 and the 16-byte Poly1305 tag.
  static constexpr size_t kTailroom = 32;

  uint8_t* data() { return base_ + offset_; }
  const uint8_t* data() const { return base_ + offset_; }
  size_t size() const { return size_; }
  size_t offset() const { return offset_; }
  size_t capacity() const { return capacity_; }
  // Bytes available from data() to the end of the buffer.
  size_t room() const { return capacity_ - offset_; }

  // Moves the start of the packet; the caller guarantees offset + size <= capacity.
  void set_bounds(size_t offset, size_t size) {
    offset_ = static_cast<uint32_t>(offset);
    size_ = static_cast<uint32_t>(size);
  }
  void set_size(size_t size) { size_ = static_cast<uint32_t>(size); }
  // Reserves the default headroom so an inner packet can be read straight into data().
  void reset_for_inner() { set_bounds(kHeadroom, 0); }
  void reset_for_outer() { set_bounds(0, 0); }

 private:
  friend class BufferPool;
  uint8_t* base_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t offset_ = 0;
  uint32_t size_ = 0;
};

// Pool buffers are sized for at least this inner MTU, so that a later MTU change on the
// interface (wg-quick may set 1500) still fits.
inline constexpr uint32_t kMinBufferMtu = 1500;

// Bytes per pool buffer for an inner MTU: headroom for the transport header, the packet padded
// to 16, tailroom for padding and tag; a received datagram (header + padded packet + tag) fits
// the same buffer. Rounded up to 64.
size_t buffer_capacity_for_mtu(uint32_t mtu);

// A fixed set of equal buffers allocated once. acquire() returns nullptr when all are in use:
// callers drop and count rather than grow. Not thread-safe: one pool per thread of use.
class BufferPool {
 public:
  BufferPool(size_t count, size_t buffer_capacity);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // The caller owns the returned buffer until it hands it back with release() (or passes it
  // to a function documented as taking ownership). Returned buffers are reset for inner use.
  PacketBuffer* acquire();
  void release(PacketBuffer* buffer);

  size_t available() const { return free_.size(); }
  size_t count() const { return buffers_.size(); }
  size_t buffer_capacity() const { return buffer_capacity_; }

 private:
  size_t buffer_capacity_;
  std::unique_ptr<uint8_t[]> storage_;
  std::vector<PacketBuffer> buffers_;
  std::vector<PacketBuffer*> free_;
};

}  // namespace sluice
