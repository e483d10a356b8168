#include "platform/embed_handoff_queue.h"

#include <array>
#include <cstdint>

#include "platform/wake_pipe.h"

namespace sluice::platform {

namespace {
// Host batches are taken in chunks of this many, so the scratch list lives on the stack.
constexpr size_t kChunk = 64;
}  // namespace

HandoffQueue::HandoffQueue(size_t capacity) : capacity_(capacity) {
  spares_.reserve(capacity);
  queued_.reserve(capacity);
}

long HandoffQueue::push(size_t count, Fill fill, void* context, size_t& dropped) {
  size_t taken_total = 0;
  while (taken_total < count) {
    std::array<PacketBuffer*, kChunk> buffers;
    size_t taken = 0;
    {
      std::lock_guard lock(mutex_);
      if (!open_) return taken_total == 0 ? -1 : static_cast<long>(taken_total);
      const size_t want = std::min(count - taken_total, kChunk);
      while (taken < want && !spares_.empty()) {
        buffers[taken++] = spares_.back();
        spares_.pop_back();
      }
      in_flight_ += taken;
    }
    if (taken == 0) break;  // full: the worker has not restocked yet

    // The copy runs outside the lock so host threads and the worker do not wait on it.
    std::array<Item, kChunk> items;
    std::array<bool, kChunk> valid;
    for (size_t i = 0; i < taken; ++i) {
      items[i].buffer = buffers[i];
      valid[i] = fill(context, taken_total + i, items[i]);
    }

    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      const bool was_empty = queued_.empty();
      for (size_t i = 0; i < taken; ++i) {
        if (valid[i]) {
          queued_.push_back(items[i]);
        } else {
          spares_.push_back(items[i].buffer);
          ++dropped;
        }
      }
      in_flight_ -= taken;
      wake = was_empty && !queued_.empty() && open_;
      if (wake) {
        // Written under the lock, so close_and_release() cannot close the fd in between.
        WakePipe::notify(wake_fd_);
      }
      if (in_flight_ == 0) idle_.notify_all();
    }
    taken_total += taken;
  }
  return static_cast<long>(taken_total);
}

void HandoffQueue::drain(std::vector<Item>& out) {
  std::lock_guard lock(mutex_);
  out.swap(queued_);
}

void HandoffQueue::restock(BufferPool& pool, bool for_inner) {
  std::lock_guard lock(mutex_);
  while (spares_.size() + queued_.size() + in_flight_ < capacity_) {
    PacketBuffer* b = pool.acquire();
    if (b == nullptr) return;
    if (!for_inner) b->reset_for_outer();
    spares_.push_back(b);
  }
}

void HandoffQueue::open(int wake_fd) {
  std::lock_guard lock(mutex_);
  open_ = true;
  wake_fd_ = wake_fd;
}

void HandoffQueue::close_and_release(BufferPool& pool) {
  std::unique_lock lock(mutex_);
  open_ = false;
  wake_fd_ = -1;
  idle_.wait(lock, [this] { return in_flight_ == 0; });
  for (PacketBuffer* b : spares_) pool.release(b);
  for (const Item& item : queued_) pool.release(item.buffer);
  spares_.clear();
  queued_.clear();
}

}  // namespace sluice::platform
