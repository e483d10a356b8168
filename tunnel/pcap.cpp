#include "tunnel/pcap.h"

#include <cstring>

namespace sluice {

namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kLinkNull = 0;
constexpr uint32_t kLinkEthernet = 1;
constexpr uint32_t kLinkRawBsd = 12;
constexpr uint32_t kLinkRawOpenBsd = 14;
constexpr uint32_t kLinkLinuxSll = 113;
constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr size_t kSllHeader = 16;
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;

uint32_t bswap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

uint32_t load_native32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void store_native32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
void store_native16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// An IP packet starts with its version; anything else in a record is not ours to replay.
std::span<const uint8_t> if_ip(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return {};
  const uint8_t version = bytes[0] >> 4;
  return version == 4 || version == 6 ? bytes : std::span<const uint8_t>{};
}

}  // namespace

PcapReader::PcapReader(std::span<const uint8_t> file) : file_(file) {
  if (file.size() < kPcapFileHeaderLength) {
    error_ = "file header: " + std::to_string(file.size()) + " bytes, a pcap file starts with 24";
    return;
  }
  const uint32_t magic = load_native32(file.data());
  if (magic == kMagicMicro || magic == kMagicNano) {
    nanoseconds_ = magic == kMagicNano;
  } else if (bswap32(magic) == kMagicMicro || bswap32(magic) == kMagicNano) {
    swapped_ = true;
    nanoseconds_ = bswap32(magic) == kMagicNano;
  } else {
    error_ = "file header: not a pcap file (pcapng is not read: convert it with `editcap -F pcap`)";
    return;
  }
  link_type_ = read32(20) & 0x0fffffff;  // the top bits may carry FCS information
  switch (link_type_) {
    case kLinkNull: case kLinkEthernet: case kLinkRawBsd: case kLinkRawOpenBsd:
    case kPcapLinkTypeRaw: case kLinkLinuxSll:
      break;
    default:
      error_ = "file header: link type " + std::to_string(link_type_) +
               " is not read (raw IP, Ethernet, BSD loopback/utun and Linux cooked are)";
      return;
  }
  offset_ = kPcapFileHeaderLength;
}

uint32_t PcapReader::read32(size_t at) const {
  const uint32_t v = load_native32(file_.data() + at);
  return swapped_ ? bswap32(v) : v;
}

uint16_t PcapReader::read16_be(size_t at) const {
  return static_cast<uint16_t>(file_[at] << 8 | file_[at + 1]);
}

std::span<const uint8_t> PcapReader::strip_link_header(std::span<const uint8_t> frame) const {
  switch (link_type_) {
    case kLinkNull:
      // The address family in the capturing host's order; the IP version says the rest.
      return frame.size() > 4 ? if_ip(frame.subspan(4)) : std::span<const uint8_t>{};
    case kLinkEthernet: {
      if (frame.size() < kEthernetHeader) return {};
      size_t at = 12;
      uint16_t type = static_cast<uint16_t>(frame[at] << 8 | frame[at + 1]);
      for (int tags = 0; (type == kEtherTypeVlan || type == kEtherTypeQinQ) && tags < 2; ++tags) {
        at += kVlanTag;
        if (frame.size() < at + 2) return {};
        type = static_cast<uint16_t>(frame[at] << 8 | frame[at + 1]);
      }
      if (type != kEtherTypeIpv4 && type != kEtherTypeIpv6) return {};
      return if_ip(frame.subspan(at + 2));
    }
    case kLinkLinuxSll: {
      if (frame.size() < kSllHeader) return {};
      const uint16_t type = static_cast<uint16_t>(frame[14] << 8 | frame[15]);
      if (type != kEtherTypeIpv4 && type != kEtherTypeIpv6) return {};
      return if_ip(frame.subspan(kSllHeader));
    }
    default:
      return if_ip(frame);
  }
}

std::optional<PcapPacket> PcapReader::next() {
  while (error_.empty() && offset_ < file_.size()) {
    const uint64_t number = records_ + 1;
    if (file_.size() - offset_ < kPcapRecordHeaderLength) {
      error_ = "record " + std::to_string(number) + ": header cut off at the end of the file";
      return std::nullopt;
    }
    const uint32_t seconds = read32(offset_);
    const uint32_t fraction = read32(offset_ + 4);
    const uint32_t captured = read32(offset_ + 8);
    const uint32_t original = read32(offset_ + 12);
    if (captured > kPcapMaxSnapLength) {
      error_ = "record " + std::to_string(number) + ": captured length " + std::to_string(captured) +
               " is beyond any snap length";
      return std::nullopt;
    }
    if (fraction >= (nanoseconds_ ? 1000000000u : 1000000u)) {
      error_ = "record " + std::to_string(number) + ": sub-second field out of range";
      return std::nullopt;
    }
    const size_t body = offset_ + kPcapRecordHeaderLength;
    if (file_.size() - body < captured) {
      error_ = "record " + std::to_string(number) + ": " + std::to_string(captured) +
               " captured bytes, the file ends first";
      return std::nullopt;
    }
    offset_ = body + captured;
    ++records_;
    const std::span<const uint8_t> frame = file_.subspan(body, captured);
    const std::span<const uint8_t> ip = strip_link_header(frame);
    if (ip.empty()) {
      ++skipped_;
      continue;
    }
    const size_t link_header = frame.size() - ip.size();
    PcapPacket p;
    p.timestamp_ns = int64_t{seconds} * 1000000000 + int64_t{fraction} * (nanoseconds_ ? 1 : 1000);
    p.ip = ip;
    p.original_length = original > link_header ? original - static_cast<uint32_t>(link_header) : 0;
    if (p.original_length < ip.size()) p.original_length = static_cast<uint32_t>(ip.size());
    return p;
  }
  return std::nullopt;
}

void write_pcap_file_header(std::span<uint8_t> out) {
  uint8_t* p = out.data();
  store_native32(p, kMagicNano);
  store_native16(p + 4, 2);
  store_native16(p + 6, 4);
  store_native32(p + 8, 0);   // thiszone
  store_native32(p + 12, 0);  // sigfigs
  store_native32(p + 16, kPcapMaxSnapLength);
  store_native32(p + 20, kPcapLinkTypeRaw);
}

void write_pcap_record_header(std::span<uint8_t> out, int64_t timestamp_ns, uint32_t captured,
                              uint32_t original_length) {
  const int64_t t = timestamp_ns < 0 ? 0 : timestamp_ns;
  uint8_t* p = out.data();
  store_native32(p, static_cast<uint32_t>(t / 1000000000));
  store_native32(p + 4, static_cast<uint32_t>(t % 1000000000));
  store_native32(p + 8, captured);
  store_native32(p + 12, original_length);
}

}  // namespace sluice
