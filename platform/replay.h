// `sluice replay`: runs the packets of a capture through a Device configured from a wg-quick
// file, in virtual time taken from the capture's timestamps, and writes what comes out to pcap
// files. For reproducing a fuzz finding or a user's capture without a TUN, a socket or a peer.
//
// Each IP packet of the capture is either an outer datagram for the Device (UDP to the config's
// ListenPort when it sets one; otherwise UDP whose payload is shaped like a WireGuard message)
// or an inner packet from the host (everything else). Before each packet, every timer due by
// its timestamp runs at its own due time; replay ends at the last packet's time (no timer runs
// past it). Outputs: PREFIX-inner.pcap (decrypted packets the Device delivers to the host) and
// PREFIX-outer.pcap (the datagrams it sends, framed as IP/UDP from the local side's address,
// taken from the capture where it shows one, else 192.0.2.1 / 2001:db8::1, to the peer's
// endpoint), both raw IP with the virtual timestamps, for tshark and Wireshark.
//
// Handshakes use fresh randomness, as a live device does: a capture of the local side's own
// initiation cannot be replayed into the same session (the peer's response answers another
// ephemeral key), while the peer's initiations and the transport packets of sessions begun in
// the replay can.
#pragma once

#include <cstdint>
#include <string>

#include "platform/result.h"
#include "tunnel/counters.h"

namespace sluice::platform {

struct ReplayOptions {
  std::string config_path;    // wg-quick config of the local side (endpoints as IP literals)
  std::string capture_path;   // pcap: raw IP, Ethernet, BSD loopback/utun or Linux cooked
  std::string output_prefix;  // PREFIX-inner.pcap and PREFIX-outer.pcap
};

struct ReplayReport {
  uint64_t records = 0;          // in the capture
  uint64_t not_ip = 0;           // records without an IP packet (ARP, ...)
  uint64_t truncated = 0;        // IP packets cut short by the snap length: not replayed
  uint64_t inner_in = 0;         // replayed as packets from the host
  uint64_t outer_in = 0;         // replayed as datagrams from the network
  uint64_t inner_out = 0;        // written to PREFIX-inner.pcap
  uint64_t outer_out = 0;        // written to PREFIX-outer.pcap
  uint64_t timer_runs = 0;
  int64_t virtual_ns = 0;        // from the first packet to the last
  DeviceCounters counters;       // the Device's, drops by reason included
  std::string inner_path;
  std::string outer_path;
};

// Errors: the config (FILE:LINE: KEY: message), a capture that cannot be read or is malformed
// (with the record number), an output file that cannot be written.
Result<ReplayReport> replay_capture(const ReplayOptions& options);

// The report as "key=value" lines, as `sluice stats` prints counters.
std::string format_replay_report(const ReplayReport& report);

}  // namespace sluice::platform
