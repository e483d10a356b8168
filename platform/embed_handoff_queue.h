// Carries packets from host threads to an embedded tunnel's worker thread without letting a
// host thread touch the BufferPool, which is single-threaded. The worker keeps a stock of
// empty pool buffers here ("spares"); a host thread takes some, copies its packets into them
// outside the lock and queues them; the worker drains the queue and restocks. Spares, buffers
// being filled and queued buffers together never exceed `capacity`, so a host writing faster
// than the worker drains is told "full" instead of the queue growing.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <vector>

#include "tunnel/ip_address.h"
#include "tunnel/packet_buffer.h"

namespace sluice::platform {

class HandoffQueue {
 public:
  struct Item {
    PacketBuffer* buffer = nullptr;
    Endpoint source;  // for datagrams; unused for inner packets
  };
  // Copies packet `index` of the host's batch into item.buffer (and sets item.source). False
  // drops the packet: the buffer goes back to the spares and `dropped` is incremented. A plain
  // function pointer, so a push never allocates.
  using Fill = bool (*)(void* context, size_t index, Item& item);

  explicit HandoffQueue(size_t capacity);
  HandoffQueue(const HandoffQueue&) = delete;
  HandoffQueue& operator=(const HandoffQueue&) = delete;

  // Host side, any thread. Takes up to `count` spares, fills them and queues the valid ones;
  // returns how many of the batch were taken (filled or dropped), or -1 when closed. Notifies
  // `wake_fd` (a WakePipe's write end) when the queue goes from empty to non-empty.
  long push(size_t count, Fill fill, void* context, size_t& dropped);

  // Worker side. Moves every queued item into `out` (which must be empty; its capacity is
  // reused, so it should have been reserved to capacity()).
  void drain(std::vector<Item>& out);
  // Worker side. Tops the spares up from `pool`, as far as the pool has buffers.
  void restock(BufferPool& pool, bool for_inner);

  // Accepts pushes from now on; `wake_fd` is notified on each empty-to-non-empty transition.
  void open(int wake_fd);
  // Refuses further pushes, waits for pushes in progress to finish, then gives every spare and
  // queued buffer back to `pool`. Called with the worker stopped.
  void close_and_release(BufferPool& pool);

  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::vector<PacketBuffer*> spares_;
  std::vector<Item> queued_;
  size_t in_flight_ = 0;  // spares a host thread is filling outside the lock
  bool open_ = false;
  int wake_fd_ = -1;
};

}  // namespace sluice::platform
