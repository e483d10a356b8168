// What the daemon counts beside the Device's own counters: drops the Device cannot see and
// the shape of the batches each system call moved, so `sluice stats` shows how well the hot
// path batches at a given load.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::platform {

// Batch sizes in power-of-two buckets: 1, 2-3, 4-7, ..., 64-127, 128 and more.
class BatchHistogram {
 public:
  static constexpr size_t kBuckets = 8;
  void record(size_t batch) {
    if (batch == 0) return;
    ++buckets_[std::min<size_t>(std::bit_width(batch) - 1, kBuckets - 1)];
    ++batches_;
    items_ += batch;
  }
  uint64_t batches() const { return batches_; }
  uint64_t items() const { return items_; }
  uint64_t bucket(size_t i) const { return buckets_[i]; }
  // "1", "2-3", ..., "128+"
  static std::string bucket_name(size_t i);

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t batches_ = 0;
  uint64_t items_ = 0;
};

struct DaemonCounters {
  uint64_t udp_send_dropped = 0;     // send buffer full (EAGAIN/ENOBUFS) or unroutable
  uint64_t tun_write_dropped = 0;    // refused by the kernel or queue full
  uint64_t udp_truncated = 0;        // datagram larger than a pool buffer
  uint64_t pool_exhausted = 0;       // wake-ups that found no free buffer to read into
  uint64_t udp_receive_errors = 0;
  uint64_t tun_bytes_in = 0;     // plaintext read from the TUN
  uint64_t tun_bytes_out = 0;    // plaintext written to the TUN
  uint64_t udp_bytes_in = 0;     // datagrams received
  uint64_t udp_bytes_out = 0;    // datagrams handed to the kernel
  // Packets per call into the Device, by source.
  BatchHistogram tun_read_batches;
  BatchHistogram udp_receive_batches;
  BatchHistogram udp_send_batches;
  BatchHistogram tun_write_batches;
};

// Appends "key=value\n"; the stats text is a flat list of such lines, like UAPI's.
void append_stat(std::string& out, std::string_view key, uint64_t value);
void append_histogram(std::string& out, std::string_view prefix, const BatchHistogram& h);

}  // namespace sluice::platform
