// The outer socket of an embedded tunnel that owns its transport. Darwin's is UdpBatchSocket
// (recvmsg_x/sendmsg_x, or plain loops for App Store builds); Linux's is UdpSocket (recvmmsg/
// sendmmsg with GSO/GRO). SLUICE_EMBED_DARWIN_UDP picks the Darwin one, and can do so on Linux
// too, over the socket_x shim, so that the path an iOS app runs is tested here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "platform/result.h"

#if SLUICE_EMBED_DARWIN_UDP
#include "platform/darwin/udp_batch_socket.h"
#else
#include "platform/udp_socket.h"
#endif

namespace sluice::platform {

#if SLUICE_EMBED_DARWIN_UDP
using EmbedUdp = UdpBatchSocket;

// Darwin has no fwmark (SO_MARK); the config's FwMark is ignored there.
inline Result<std::unique_ptr<EmbedUdp>> open_embed_udp(uint16_t port, uint32_t /*fwmark*/) {
  return UdpBatchSocket::open(port);
}
// No GRO: nothing is ever left over between receives, and no scratch beyond the socket.
inline bool has_pending(const EmbedUdp&) { return false; }
inline size_t scratch_bytes(const EmbedUdp&) { return 0; }
#else
using EmbedUdp = UdpSocket;

// GRO reads per receive. Each reserves 64 KiB, so the daemon's 128 would take 8 MiB, twice a
// phone's whole default budget.
inline constexpr size_t kEmbedGroReads = 4;

inline Result<std::unique_ptr<EmbedUdp>> open_embed_udp(uint16_t port, uint32_t fwmark) {
  UdpSocketOptions options;
  options.gro_reads = kEmbedGroReads;
  return UdpSocket::open(port, fwmark, options);
}
inline bool has_pending(const EmbedUdp& udp) { return udp.has_pending(); }
inline size_t scratch_bytes(const EmbedUdp& udp) { return udp.scratch_bytes(); }
#endif

}  // namespace sluice::platform
