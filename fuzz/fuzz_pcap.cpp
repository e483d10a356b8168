// tunnel/pcap.h: the capture reader behind `sluice replay`, which reads files from users and
// from other tools. Beyond staying in bounds:
//  - every packet is a span inside the input that starts with IP version 4 or 6, and its
//    original length is at least what was captured;
//  - records() counts packets plus skipped records, and after an error nothing more comes;
//  - the packets rewritten with write_pcap_* as a raw-IP capture read back identically, with
//    the same timestamps.
#include <vector>

#include "fuzz_support.h"
#include "tunnel/pcap.h"

using namespace sluice;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  PcapReader reader(input);
  std::vector<PcapPacket> packets;
  while (auto p = reader.next()) {
    FUZZ_CHECK(p->ip.data() >= data && p->ip.data() + p->ip.size() <= data + size);
    FUZZ_CHECK(!p->ip.empty() && (p->ip[0] >> 4 == 4 || p->ip[0] >> 4 == 6));
    FUZZ_CHECK(p->original_length >= p->ip.size());
    FUZZ_CHECK(p->timestamp_ns >= 0);
    packets.push_back(*p);
  }
  FUZZ_CHECK(reader.records() == packets.size() + reader.skipped());
  if (!reader.error().empty()) FUZZ_CHECK(!reader.next());

  std::vector<uint8_t> rewritten(kPcapFileHeaderLength);
  write_pcap_file_header(rewritten);
  for (const PcapPacket& p : packets) {
    const size_t at = rewritten.size();
    rewritten.resize(at + kPcapRecordHeaderLength);
    write_pcap_record_header(std::span<uint8_t>(rewritten).subspan(at), p.timestamp_ns,
                             static_cast<uint32_t>(p.ip.size()), p.original_length);
    rewritten.insert(rewritten.end(), p.ip.begin(), p.ip.end());
  }
  PcapReader again(rewritten);
  FUZZ_CHECK(again.error().empty());
  for (const PcapPacket& p : packets) {
    auto q = again.next();
    FUZZ_CHECK(q.has_value());
    FUZZ_CHECK(q->timestamp_ns == p.timestamp_ns && q->original_length == p.original_length);
    FUZZ_CHECK(std::equal(q->ip.begin(), q->ip.end(), p.ip.begin(), p.ip.end()));
  }
  FUZZ_CHECK(!again.next() && again.error().empty());
  return 0;
}
