// How the embedded stack hands its outgoing IP packets to the pipeline.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace sluice::ipstack {

// One whole IPv4 or IPv6 packet sent by the stack. `packet` is borrowed for the call only (it
// is lwIP's buffer or the stack's scratch buffer): copy it into a pool buffer to keep it.
using PacketSink = std::function<void(std::span<const uint8_t> packet)>;

}  // namespace sluice::ipstack
