// The classic pcap file format (the one tcpdump, tshark and Wireshark all read and write):
// reading the IP packets out of a capture, and framing packets as records for writing one.
// Sans-IO: the reader walks bytes the caller holds (a mapped file), the writer formats into the
// caller's buffer; opening, mapping and writing files is the caller's business.
//
// Read: both byte orders, microsecond and nanosecond magics, and the link types an IP-level
// capture comes in: raw IP (101, and the BSD DLT_RAW values 12 and 14), Ethernet (1, with up to
// two 802.1Q/802.1ad tags), BSD loopback/utun (0: a 4-byte address family in host order, which
// is why both orders are accepted) and Linux cooked (113, `tcpdump -i any`). Records of other
// protocols (ARP, ...) are skipped and counted; a malformed file stops the walk with a message.
// Write: nanosecond pcap, link type raw IP (101), so each record is exactly one IP packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sluice {

inline constexpr size_t kPcapFileHeaderLength = 24;
inline constexpr size_t kPcapRecordHeaderLength = 16;
inline constexpr uint32_t kPcapLinkTypeRaw = 101;
inline constexpr uint32_t kPcapMaxSnapLength = 262144;

struct PcapPacket {
  int64_t timestamp_ns = 0;         // as recorded (wall clock, ns since the epoch)
  std::span<const uint8_t> ip;      // the IP packet, borrowed from the reader's bytes
  uint32_t original_length = 0;     // its length on the wire, link header excluded
  bool truncated() const { return original_length > ip.size(); }
};

class PcapReader {
 public:
  // `file` is borrowed and must outlive the reader and every PcapPacket it returns. Reads the
  // file header; on an error, error() says what is wrong and next() returns nothing.
  explicit PcapReader(std::span<const uint8_t> file);

  // The next IP packet, skipping records that hold none; nullopt at the end or on an error.
  std::optional<PcapPacket> next();

  // Empty while the file is well formed; otherwise "record N: what is wrong".
  const std::string& error() const { return error_; }
  uint32_t link_type() const { return link_type_; }
  uint64_t records() const { return records_; }
  uint64_t skipped() const { return skipped_; }  // records without an IPv4/IPv6 packet

 private:
  uint32_t read32(size_t at) const;
  uint16_t read16_be(size_t at) const;
  // The IP packet inside a record's captured bytes, or an empty span.
  std::span<const uint8_t> strip_link_header(std::span<const uint8_t> frame) const;

  std::span<const uint8_t> file_;
  size_t offset_ = 0;
  bool swapped_ = false;
  bool nanoseconds_ = false;
  uint32_t link_type_ = 0;
  uint64_t records_ = 0;
  uint64_t skipped_ = 0;
  std::string error_;
};

// The file header of a nanosecond raw-IP capture, written into `out` (caller-owned, at least
// kPcapFileHeaderLength bytes). Native byte order, as pcap writers do.
void write_pcap_file_header(std::span<uint8_t> out);

// The record header for `captured` bytes of a packet of `original_length`, written into `out`
// (caller-owned, at least kPcapRecordHeaderLength bytes); the packet bytes follow it.
void write_pcap_record_header(std::span<uint8_t> out, int64_t timestamp_ns, uint32_t captured,
                              uint32_t original_length);

}  // namespace sluice
