// The whole receive path of the sans-IO Device (tunnel/device.h): handle_outer with datagrams
// in batches, handle_timers on a virtual clock, and handle_inner to make A start handshakes of
// its own. The input is a config byte and a list of records (device_fixture.h). Random bytes
// rarely get past mac1, so most records are built by the harness playing peer B with the real
// keys and then mutated: B's initiations (macs recomputed after mutating, unless asked not
// to), responses to A's initiations, cookie replies to A's handshake messages, and transport
// messages sealed under B's current session with a fuzzer-chosen counter and payload.
//
// Every input starts from a fresh device and the same random stream, so it replays exactly.
// Checked: the sanitizers; every output buffer inside its pool buffer and handed out once;
// delivered packets well formed and from B's addresses; timers that move on once run; and,
// at the end, every pool buffer back exactly once (no leak, no double release).
#include <vector>

#include "device_fixture.h"

using namespace sluice;
using namespace sluice::fuzz;

namespace {

void mutate(std::span<uint8_t> msg, Reader& in) {
  const unsigned count = in.u8() % 5;
  for (unsigned i = 0; i < count; ++i) {
    const uint8_t offset = in.u8();
    const uint8_t mask = in.u8();
    if (!msg.empty()) msg[offset % msg.size()] ^= mask;
  }
}

// Makes a decrypted plaintext an IP packet that A will deliver: lengths that match the
// plaintext and a source address routed to B. The rest stays as the fuzzer wrote it.
void fix_ip(std::vector<uint8_t>& p) {
  if (p.size() >= 40 && (p[0] >> 4) == 6) {
    const size_t payload = std::min<size_t>(p.size() - 40, 0xffff);
    p[4] = static_cast<uint8_t>(payload >> 8);
    p[5] = static_cast<uint8_t>(payload);
    const uint8_t source[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(&p[8], source, 16);
  } else if (p.size() >= 20) {
    unsigned ihl = p[0] & 0xf;
    if (ihl < 5 || ihl * 4 > p.size()) ihl = 5;
    p[0] = static_cast<uint8_t>(0x40 | ihl);
    p[2] = static_cast<uint8_t>(p.size() >> 8);
    p[3] = static_cast<uint8_t>(p.size());
    const uint8_t source[4] = {10, 0, 0, 2};
    std::memcpy(&p[12], source, 4);
  }
}

class OuterHarness {
 public:
  explicit OuterHarness(uint8_t config) : rig_(config) {}

  void run(Reader& in) {
    while (!in.empty()) step(in);
    flush();
    rig_.finish();
  }

 private:
  void step(Reader& in) {
    const uint8_t op = in.u8();
    const Endpoint source = source_endpoint(op >> 3);
    const bool flag5 = op & 0x20;
    const bool flag6 = op & 0x40;
    switch (static_cast<OuterOp>(op & 7)) {
      case OuterOp::Raw: {
        auto bytes = in.bytes(in.u16() % (kBufferCapacity + 1));
        queue(bytes, source);
        break;
      }
      case OuterOp::Initiation: {
        const int64_t wall = rig_.now.wall_ns - (flag6 ? seconds(10) : 0);
        auto msg = rig_.b.initiation(0x100 + in.u8(), wall);
        mutate(msg, in);
        if (!flag5) rig_.b.fix_macs(msg, rig_.now.mono_ns);
        queue(msg, source);
        break;
      }
      case OuterOp::Response: {
        auto msg = rig_.b.response(0x200 + in.u8());
        std::array<uint8_t, crypto::kHandshakeResponseSize> none{};
        mutate(msg ? std::span<uint8_t>(*msg) : std::span<uint8_t>(none), in);  // read the same bytes either way
        if (!msg) break;
        if (!flag5) rig_.b.fix_macs(*msg, rig_.now.mono_ns);
        queue(*msg, source);
        break;
      }
      case OuterOp::CookieReply: {
        auto msg = rig_.b.cookie_reply(rig_.now.mono_ns);
        std::array<uint8_t, crypto::kCookieReplySize> none{};
        mutate(msg ? std::span<uint8_t>(*msg) : std::span<uint8_t>(none), in);
        if (msg) queue(*msg, source);
        break;
      }
      case OuterOp::Transport: {
        std::optional<uint64_t> counter;
        if (flag5) counter = in.u64();
        const size_t length = in.u16() % (kMaxSealedPlaintext + 1);
        auto bytes = in.bytes(length);
        std::vector<uint8_t> plaintext(bytes.begin(), bytes.end());
        if (flag6) fix_ip(plaintext);
        std::vector<uint8_t> datagram(kBufferCapacity);
        datagram.resize(rig_.b.seal(plaintext, counter, datagram.data()));
        mutate(datagram, in);
        queue(datagram, source);
        break;
      }
      case OuterOp::Time: {
        flush();
        static constexpr int64_t kUnits[4] = {millis(1), millis(100), seconds(1), seconds(10)};
        const int64_t delta = in.u8() * kUnits[(op >> 3) & 3];
        rig_.advance(delta, [](const OutboundDatagram&) {});
        break;
      }
      case OuterOp::Inner: {
        flush();
        const size_t payload = in.u8();
        PacketBuffer* b = rig_.pool.acquire();
        if (b == nullptr) break;
        b->set_size(build_inner_packet(b->data(), op & 0x08, payload, /*from_b=*/false));
        PacketBuffer* batch[1] = {b};
        rig_.device->handle_inner(batch, rig_.now, rig_.out);
        rig_.drain();
        break;
      }
      case OuterOp::Flush:
        flush();
        break;
    }
  }

  // Copies a datagram into a pool buffer and adds it to the pending batch.
  void queue(std::span<const uint8_t> bytes, const Endpoint& source) {
    PacketBuffer* b = rig_.pool.acquire();
    if (b == nullptr) {
      flush();  // the batch holds buffers that A will give back
      b = rig_.pool.acquire();
      if (b == nullptr) return;
    }
    b->reset_for_outer();
    if (!bytes.empty()) std::memcpy(b->data(), bytes.data(), bytes.size());
    b->set_size(bytes.size());
    batch_.push_back({source, b});
    if (batch_.size() == kMaxBatch) flush();
  }

  void flush() {
    if (batch_.empty()) return;
    rig_.device->handle_outer(batch_, rig_.now, rig_.out);
    batch_.clear();
    rig_.drain();
  }

  Rig rig_;
  std::vector<InboundDatagram> batch_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  init_deterministic_process();
  identities();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  reseed_random(kRandomSeed);
  Reader in(data + 1, size - 1);
  OuterHarness harness(data[0]);
  harness.run(in);
  return 0;
}
