// dns/interceptor.h: packets from the TUN and from the tunnel, TCP queries, direct and TCP
// replies and the passing of time, in any order. Beyond staying in bounds:
//  - every packet the interceptor writes (answers for the TUN, queries into the tunnel) is a
//    whole IPv4/IPv6 UDP packet whose lengths agree and whose checksums verify, checked by
//    tests/tunnel/packet_builder.h's naive code (independent of tunnel/inet_checksum.cpp);
//  - answers go from an intercepted address's port 53 back to the query's source, hold a DNS
//    response (QR set) whose framing find_ttl_fields() accepts, and fit the client's limit;
//  - queries into the tunnel leave from the tunnel address to port 53 from one of our ports,
//    and parse as one-question queries;
//  - every buffer comes back: after the input, the pool is full again.
//
// Input: records of one op byte and its operands (fuzz_support.h's Reader; short reads are 0):
//   0 query:    flags u8, payload (u16 length + bytes) as a UDP DNS query from the client to
//               an intercepted address (flag bit 0: IPv6, bit 1: the override/block/split name
//               picked by bits 2-3 replaces the question when the payload is short)
//   1 raw:      u16 length + bytes, a raw packet from the TUN
//   2 reply:    flags u8, payload: an upstream's reply to the last query sent into the tunnel
//               (its id and question patched in unless flag bit 0), from its server to our port
//   3 inbound:  u16 length + bytes, a raw packet from the tunnel
//   4 stream:   u16 length + bytes, a query over TCP
//   5 direct:   payload: a reply from the direct server (id patched to the last direct query)
//   6 tcp:      ok u8, payload: the end of the last TCP attempt asked for
//   7 time:     u16 milliseconds (times 8) forward, then the timers
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dns/interceptor.h"
#include "fuzz_support.h"
#include "tunnel/packet_builder.h"

using namespace sluice;
using namespace sluice::dns;

namespace {

constexpr const char* kPolicy = R"(
[Intercept]
Address = 10.64.0.1, fd00::1
[Block]
Action = null
Domain = *.ads.example
[Allow]
Domain = ok.ads.example
[Override]
Host = printer.lan 192.168.1.20, fd00::20
[Upstream]
Server = 10.64.0.1, [fd00::53]:53
Timeout = 200ms
Retries = 2
[Upstream]
Domain = lan.example
Server = 192.168.1.1:53 direct
[Cache]
Entries = 16
Size = 16K
)";

const char* const kNames[] = {"printer.lan", "x.ads.example", "ok.ads.example", "a.lan.example"};

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

std::shared_ptr<const DnsPolicy> make_policy() {
  auto config = parse_dns_config(kPolicy, "fuzz.conf");
  const std::vector<IpAddress> dns{ip("10.64.0.1")};
  auto policy = build_dns_policy(std::get<DnsConfig>(config), "/nonexistent/fuzz.conf", dns);
  return std::make_shared<const DnsPolicy>(std::move(std::get<DnsPolicy>(policy)));
}

struct Harness {
  BufferPool pool{64, 2048};
  InterceptorOutput out{64 * 1024};
  std::unique_ptr<DnsInterceptor> dns;
  Now now{seconds(100), seconds(1'700'000'000)};
  std::vector<uint8_t> last_tunnel_query;  // the last packet sent into the tunnel
  std::vector<uint8_t> last_direct_query;
  uint64_t last_token = 0;

  explicit Harness(const std::shared_ptr<const DnsPolicy>& policy) {
    InterceptorOptions o;
    o.tunnel_addresses = {ip("10.88.0.2"), ip("fd88::2")};
    o.mtu = 1420;
    o.max_in_flight = 4;
    o.source_ports = 4;
    dns = std::make_unique<DnsInterceptor>(o, policy, pool);
  }

  PacketBuffer* buffer(std::span<const uint8_t> bytes) {
    PacketBuffer* b = pool.acquire();
    if (b == nullptr) return nullptr;
    b->reset_for_inner();
    const size_t n = std::min(bytes.size(), b->room());
    std::copy_n(bytes.begin(), n, b->data());
    b->set_size(n);
    return b;
  }

  void check_answer(const PacketBuffer* b) {
    const std::span<const uint8_t> p(b->data(), b->size());
    FUZZ_CHECK(test::check_packet(p) == "");
    const TransportView v = read_transport(p);
    FUZZ_CHECK(v.kind == TransportView::Kind::udp);
    FUZZ_CHECK(v.flow.source_port == 53);
    FUZZ_CHECK(dns->policy().intercepts(v.flow.source, 53));
    FUZZ_CHECK(v.payload.size() >= kHeaderLength);
    FUZZ_CHECK((v.payload[2] & 0x80) != 0);
    const size_t headers = udp_headers_length(v.ip.family);
    FUZZ_CHECK(v.payload.size() <= 1420 - headers);
    static std::array<uint16_t, kMaxRecordsPerMessage> offsets;
    FUZZ_CHECK(std::holds_alternative<TtlFields>(find_ttl_fields(v.payload, offsets)));
  }

  void check_tunnel_query(const PacketBuffer* b) {
    const std::span<const uint8_t> p(b->data(), b->size());
    FUZZ_CHECK(test::check_packet(p) == "");
    const TransportView v = read_transport(p);
    FUZZ_CHECK(v.kind == TransportView::Kind::udp);
    FUZZ_CHECK(v.flow.source == ip("10.88.0.2") || v.flow.source == ip("fd88::2"));
    FUZZ_CHECK(dns->is_source_port(v.flow.source_port));
    FUZZ_CHECK(v.flow.destination_port == 53);
    FUZZ_CHECK(std::holds_alternative<QueryQuestion>(parse_query_question(v.payload)));
    last_tunnel_query.assign(p.begin(), p.end());
  }

  // Checks and releases everything in `out`, remembering what later records answer.
  void settle() {
    std::set<const PacketBuffer*> seen;
    auto once = [&](const PacketBuffer* b) { FUZZ_CHECK(b != nullptr && seen.insert(b).second); };
    for (PacketBuffer* b : out.to_tun) {
      once(b);
      check_answer(b);
      pool.release(b);
    }
    for (PacketBuffer* b : out.to_tunnel) {
      once(b);
      check_tunnel_query(b);
      pool.release(b);
    }
    for (PacketBuffer* b : out.to_stack) {
      once(b);
      pool.release(b);
    }
    for (const DirectQuery& d : out.direct) {
      once(d.message);
      FUZZ_CHECK(std::holds_alternative<QueryQuestion>(
          parse_query_question(std::span<const uint8_t>(d.message->data(), d.message->size()))));
      last_direct_query.assign(d.message->data(), d.message->data() + d.message->size());
      pool.release(d.message);
    }
    for (const TcpQuery& t : out.tcp_queries) {
      once(t.message);
      last_token = t.token;
      pool.release(t.message);
    }
    for (const StreamAnswer& a : out.stream_answers) {
      const auto bytes = out.bytes_of(a);
      FUZZ_CHECK(bytes.size() >= kHeaderLength && (bytes[2] & 0x80) != 0);
    }
    out.clear();
  }
};

// A DNS message from the fuzz bytes, or, when `named` and they are too short to be one, a query
// for one of the policy's names.
std::vector<uint8_t> query_payload(std::span<const uint8_t> bytes, bool named, uint8_t which) {
  if (!named || bytes.size() >= kHeaderLength) return {bytes.begin(), bytes.end()};
  QuerySpec spec;
  spec.id = static_cast<uint16_t>(bytes.empty() ? 7 : bytes[0]);
  spec.question = Question{std::get<Name>(Name::from_text(kNames[which % 4])),
                           bytes.size() > 1 && (bytes[1] & 1) ? RecordType::AAAA : RecordType::A, RecordClass::IN};
  std::vector<uint8_t> out(512);
  out.resize(std::get<size_t>(write_query(spec, out)));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_deterministic_process();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::shared_ptr<const DnsPolicy> policy = make_policy();
  fuzz::reseed_random(size);
  Harness h(policy);
  fuzz::Reader in(data, size);
  std::vector<PacketBuffer*> batch;
  for (int records = 0; !in.empty() && records < 64; ++records) {
    const uint8_t op = in.u8() % 8;
    switch (op) {
      case 0: {
        const uint8_t flags = in.u8();
        const auto payload = query_payload(in.bytes(in.u16() % 1500), (flags & 2) != 0, flags >> 2);
        const bool v6 = (flags & 1) != 0;
        const UdpFlow flow = v6 ? UdpFlow{ip("fd88::2"), ip("fd00::1"), 40000, 53}
                                : UdpFlow{ip("10.88.0.2"), ip("10.64.0.1"), 40000, 53};
        std::vector<uint8_t> packet(udp_headers_length(flow.source.family) + payload.size());
        std::copy(payload.begin(), payload.end(), packet.begin() + static_cast<ptrdiff_t>(udp_headers_length(flow.source.family)));
        if (write_udp_packet(packet, flow, payload.size()) == 0) break;
        if (PacketBuffer* b = h.buffer(packet)) batch.push_back(b);
        h.dns->handle_outbound(batch, h.now, h.out);
        break;
      }
      case 1: {
        if (PacketBuffer* b = h.buffer(in.bytes(in.u16() % 1600))) batch.push_back(b);
        h.dns->handle_outbound(batch, h.now, h.out);
        break;
      }
      case 2: {
        const uint8_t flags = in.u8();
        std::vector<uint8_t> payload = fuzz::exact_copy(in.bytes(in.u16() % 1500));
        if (h.last_tunnel_query.empty()) break;
        const TransportView q = read_transport(h.last_tunnel_query);
        if ((flags & 1) == 0) {
          // Start from the query itself (QR set) so the reply matches, then overlay the bytes
          // after the question.
          std::vector<uint8_t> reply(q.payload.begin(), q.payload.end());
          reply[2] |= 0x80;
          if (payload.size() > 4) {
            reply[2] = static_cast<uint8_t>(reply[2] | (payload[0] & 0x02));  // TC
            reply[3] = payload[1];                                            // RA, rcode
            reply[6] = payload[2];
            reply[7] = payload[3];  // ANCOUNT
            reply[10] = 0;
            reply[11] = 0;  // drop the OPT count: the overlay replaces what follows the question
            size_t question_end = kHeaderLength;
            while (question_end < reply.size() && reply[question_end] != 0) question_end += 1 + reply[question_end];
            reply.resize(std::min(reply.size(), question_end + 5));
            reply.insert(reply.end(), payload.begin() + 4, payload.end());
          }
          payload = std::move(reply);
        } else if (payload.size() >= 2) {
          payload[0] = q.payload[0];
          payload[1] = q.payload[1];
        }
        const UdpFlow back = q.flow.reversed();
        std::vector<uint8_t> packet(udp_headers_length(back.source.family) + payload.size());
        std::copy(payload.begin(), payload.end(), packet.begin() + static_cast<ptrdiff_t>(udp_headers_length(back.source.family)));
        if (write_udp_packet(packet, back, payload.size()) == 0) break;
        if (PacketBuffer* b = h.buffer(packet)) batch.push_back(b);
        h.dns->handle_inbound(batch, h.now, h.out);
        break;
      }
      case 3: {
        if (PacketBuffer* b = h.buffer(in.bytes(in.u16() % 1600))) batch.push_back(b);
        h.dns->handle_inbound(batch, h.now, h.out);
        break;
      }
      case 4: {
        const auto bytes = fuzz::exact_copy(in.bytes(in.u16() % 4096));
        h.dns->handle_stream_query(in.u8(), bytes, h.now, h.out);
        break;
      }
      case 5: {
        std::vector<uint8_t> bytes = fuzz::exact_copy(in.bytes(in.u16() % 1500));
        if (bytes.size() >= 2 && h.last_direct_query.size() >= 2) {
          bytes[0] = h.last_direct_query[0];
          bytes[1] = h.last_direct_query[1];
        }
        h.dns->handle_direct_reply(*Endpoint::parse("192.168.1.1:53"), bytes, h.now, h.out);
        break;
      }
      case 6: {
        const bool ok = (in.u8() & 1) != 0;
        const auto bytes = fuzz::exact_copy(in.bytes(in.u16() % 4096));
        h.dns->handle_tcp_reply(h.last_token, ok, bytes, h.now, h.out);
        break;
      }
      case 7: {
        const int64_t step = millis(int64_t{in.u16()} * 8);
        h.now.mono_ns += step;
        h.now.wall_ns += step;
        h.dns->handle_timers(h.now, h.out);
        FUZZ_CHECK(h.dns->next_deadline() > h.now.mono_ns);
        break;
      }
      default:
        break;
    }
    // Whatever stayed in the batch is traffic that is not ours: the caller (here) keeps it.
    for (PacketBuffer* b : batch) h.pool.release(b);
    batch.clear();
    h.settle();
  }
  // Let every pending query run out, then every buffer must be home.
  for (int i = 0; i < 8 && h.dns->in_flight() > 0; ++i) {
    h.now.mono_ns += seconds(1);
    h.dns->handle_timers(h.now, h.out);
    h.settle();
  }
  FUZZ_CHECK(h.dns->in_flight() == 0);
  FUZZ_CHECK(h.pool.available() == h.pool.count());
  return 0;
}
