// The send path of the sans-IO Device (tunnel/device.h): handle_inner with arbitrary "IP
// packets" as the TUN would deliver them, in batches, plus timers. Input: a config byte
// (device_fixture.h; kEstablishSession gives A a live session with B, so packets are sealed
// rather than staged), then records:
//   op bit 7 set:   advance the clock by (op & 0x7f) * 100 ms, running timers
//   op bit 7 clear: a packet: u16 length (mod room - tailroom), bytes; op & 3 picks a fix-up:
//                   0 none, 1 IPv4 to 10.0.0.2 (peer B), 2 IPv6 to fd00::2 (B),
//                   3 IPv4 to 198.51.100.1 (peer C, no endpoint: staged)
// Checked besides the sanitizers: buffers stay inside their pool buffers, no buffer is lost
// or released twice, and every transport message A seals for B opens with B's session key
// and holds an IP packet (or nothing: a keepalive).
#include <vector>

#include "device_fixture.h"

using namespace sluice;
using namespace sluice::fuzz;

namespace {

void fix_up(uint8_t* p, size_t n, unsigned mode) {
  if (mode == 0) return;
  if (mode == 2) {
    if (n < 40) return;
    p[0] = static_cast<uint8_t>(0x60 | (p[0] & 0x0f));
    p[4] = static_cast<uint8_t>((n - 40) >> 8);
    p[5] = static_cast<uint8_t>(n - 40);
    const uint8_t dst[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(p + 24, dst, 16);
    return;
  }
  if (n < 20) return;
  unsigned ihl = p[0] & 0xf;
  if (ihl < 5 || ihl * 4 > n) ihl = 5;
  p[0] = static_cast<uint8_t>(0x40 | ihl);
  p[2] = static_cast<uint8_t>(n >> 8);
  p[3] = static_cast<uint8_t>(n);
  const uint8_t to_b[4] = {10, 0, 0, 2};
  const uint8_t to_c[4] = {198, 51, 100, 1};
  std::memcpy(p + 16, mode == 1 ? to_b : to_c, 4);
}

// B's view of what A sends: a transport message on B's session must open and hold a packet.
void check_sealed(Rig& rig, const OutboundDatagram& d) {
  const auto& session = rig.b.session();
  if (!session) return;
  std::span<const uint8_t> msg(d.buffer->data(), d.buffer->size());
  if (crypto::classify_message(msg) != crypto::MessageType::TransportData ||
      crypto::receiver_index_of(msg) != session->local_index)
    return;
  std::vector<uint8_t> copy(msg.begin(), msg.end());
  auto plain = crypto::open_transport(session->receiving, crypto::transport_counter_of(copy.data()), copy.data(),
                                      copy.size());
  FUZZ_CHECK(plain.has_value());
  ++rig.opened_by_b;
  // Padded to a multiple of 16, except where that would pass the MTU (transport.h).
  const size_t mtu = device_options(rig.config).mtu;
  FUZZ_CHECK(*plain % crypto::kTransportPaddingMultiple == 0 || *plain >= mtu);
  if (*plain == 0) return;  // keepalive
  std::span<const uint8_t> inner(copy.data() + crypto::kTransportHeaderSize, *plain);
  auto info = parse_ip_packet(inner);
  FUZZ_CHECK(info.has_value());
  // Only zero padding follows the packet.
  for (size_t i = info->total_length; i < inner.size(); ++i) FUZZ_CHECK(inner[i] == 0);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_deterministic_process();
  identities();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  reseed_random(kRandomSeed);
  Rig rig(data[0]);
  auto on_datagram = [&rig](const OutboundDatagram& d) { check_sealed(rig, d); };
  Reader in(data + 1, size - 1);
  std::vector<PacketBuffer*> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    rig.device->handle_inner(batch, rig.now, rig.out);
    batch.clear();
    rig.drain(on_datagram);
  };

  while (!in.empty()) {
    const uint8_t op = in.u8();
    if (op & 0x80) {
      flush();
      rig.advance((op & 0x7f) * millis(100), on_datagram);
      continue;
    }
    PacketBuffer* b = rig.pool.acquire();
    if (b == nullptr) {
      flush();
      b = rig.pool.acquire();
      if (b == nullptr) break;  // all buffers staged inside the device: nothing more to send
    }
    // As the TUN reader does: the packet at the headroom offset, at most room - tailroom long.
    const size_t max = b->room() - PacketBuffer::kTailroom;
    auto bytes = in.bytes(in.u16() % (max + 1));
    if (!bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
    fix_up(b->data(), bytes.size(), op & 3);
    b->set_size(bytes.size());
    batch.push_back(b);
    if (batch.size() == kMaxBatch) flush();
  }
  flush();
  rig.finish();
  return 0;
}
