// A pcap file being written: raw IP records (tunnel/pcap.h) into a file of bounded size. Used
// for live capture of a running daemon's inner traffic and for the output of `sluice replay`.
// Once the next record would pass the size bound, records are counted as dropped instead of
// written, so a capture left on cannot fill the disk.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "platform/result.h"

namespace sluice::platform {

class PcapWriter {
 public:
  // Creates (or truncates) `path`, mode 0600 (it holds plaintext traffic), and writes the file
  // header. `max_bytes` bounds the file, header included; 0 means no bound.
  static Result<std::unique_ptr<PcapWriter>> create(const std::string& path, uint64_t max_bytes);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // Appends one record holding `packet` (borrowed for the call). Buffered: nothing allocates.
  void write(int64_t timestamp_ns, std::span<const uint8_t> packet);
  // Hands buffered records to the kernel; false (and error() set) if writing failed.
  bool flush();

  const std::string& path() const { return path_; }
  uint64_t packets() const { return packets_; }
  uint64_t dropped() const { return dropped_; }   // past the size bound, or after a write error
  uint64_t bytes() const { return bytes_; }
  const std::string& error() const { return error_; }

 private:
  PcapWriter(std::string path, std::FILE* file, uint64_t max_bytes);

  std::string path_;
  std::FILE* file_;
  uint64_t max_bytes_;
  uint64_t bytes_ = 0;
  uint64_t packets_ = 0;
  uint64_t dropped_ = 0;
  std::string error_;
  std::unique_ptr<char[]> buffer_;
};

}  // namespace sluice::platform
