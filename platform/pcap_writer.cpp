#include "platform/pcap_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "tunnel/pcap.h"

namespace sluice::platform {

namespace {
constexpr size_t kBufferBytes = 64 * 1024;
}

PcapWriter::PcapWriter(std::string path, std::FILE* file, uint64_t max_bytes)
    : path_(std::move(path)), file_(file), max_bytes_(max_bytes), buffer_(new char[kBufferBytes]) {
  std::setvbuf(file_, buffer_.get(), _IOFBF, kBufferBytes);
}

Result<std::unique_ptr<PcapWriter>> PcapWriter::create(const std::string& path, uint64_t max_bytes) {
  if (max_bytes != 0 && max_bytes < kPcapFileHeaderLength) {
    return Error{"capture size limit of " + std::to_string(max_bytes) + " bytes is below the 24-byte file header",
                 EINVAL};
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Error{"opening " + path + ": " + std::strerror(errno), errno};
  std::FILE* file = ::fdopen(fd, "wb");
  if (file == nullptr) {
    const int e = errno;
    ::close(fd);
    return Error{"opening " + path + ": " + std::strerror(e), e};
  }
  std::unique_ptr<PcapWriter> w(new PcapWriter(path, file, max_bytes));
  std::array<uint8_t, kPcapFileHeaderLength> header{};
  write_pcap_file_header(header);
  if (std::fwrite(header.data(), 1, header.size(), file) != header.size() || !w->flush()) {
    return Error{"writing " + path + ": " + w->error(), EIO};
  }
  w->bytes_ = header.size();
  return w;
}

PcapWriter::~PcapWriter() {
  flush();
  std::fclose(file_);
}

void PcapWriter::write(int64_t timestamp_ns, std::span<const uint8_t> packet) {
  const uint32_t captured = static_cast<uint32_t>(std::min<size_t>(packet.size(), kPcapMaxSnapLength));
  const uint64_t record = kPcapRecordHeaderLength + captured;
  if (!error_.empty() || (max_bytes_ != 0 && bytes_ + record > max_bytes_)) {
    ++dropped_;
    return;
  }
  std::array<uint8_t, kPcapRecordHeaderLength> header{};
  write_pcap_record_header(header, timestamp_ns, captured, static_cast<uint32_t>(packet.size()));
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size() ||
      std::fwrite(packet.data(), 1, captured, file_) != captured) {
    error_ = std::strerror(errno);
    ++dropped_;
    return;
  }
  bytes_ += record;
  ++packets_;
}

bool PcapWriter::flush() {
  if (std::fflush(file_) != 0 && error_.empty()) error_ = std::strerror(errno);
  return error_.empty();
}

}  // namespace sluice::platform
