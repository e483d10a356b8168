// The lwIP network interfaces that stand for the tunnel: lwIP's side of the packet pipeline.
// Inbound, IpStack hands each packet to lwIP through here; outbound, every IP packet lwIP sends
// (on any of these netifs) goes to one callback, which the pipeline writes to the TUN or seals
// into the tunnel. There is no link layer: packets are bare IPv4/IPv6.
//
// lwIP 2.1 gives a netif a single IPv4 address, so each IPv4 address served (the tunnel's own,
// a DNS address) gets a netif of its own; IPv6 addresses fill LWIP_IPV6_NUM_ADDRESSES slots per
// netif. The first netif is lwIP's default route: connections we open leave through it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ipstack/ip_stack_counters.h"
#include "ipstack/packet_sink.h"
#include "lwip/netif.h"
#include "tunnel/ip_address.h"

namespace sluice::ipstack {

class TunnelNetif {
 public:
  static constexpr size_t kMaxNetifs = 8;

  // `sink` and `counters` must outlive this object. The scratch buffer for chained pbufs is
  // allocated here, once.
  TunnelNetif(uint16_t mtu, PacketSink sink, IpStackCounters& counters);
  ~TunnelNetif();  // removes every netif from lwIP
  TunnelNetif(const TunnelNetif&) = delete;
  TunnelNetif& operator=(const TunnelNetif&) = delete;

  // Adds netifs serving `addresses` (duplicates ignored). False with `error` set when they
  // need more than kMaxNetifs netifs or one is unspecified (0.0.0.0, ::); nothing is added then.
  bool configure(const std::vector<IpAddress>& addresses, std::string& error);

  bool serves(const IpAddress& a) const;

  // Hands a packet to lwIP's IP input; lwIP takes ownership of `p` in every case.
  void input(struct pbuf* p);

  // While muted, packets lwIP sends are discarded (used while tearing down, when resets would
  // go to a caller that is going away).
  void mute() { muted_ = true; }

 private:
  static err_t init_netif(struct netif* netif);
  static err_t output_ip4(struct netif* netif, struct pbuf* p, const ip4_addr_t* next_hop);
  static err_t output_ip6(struct netif* netif, struct pbuf* p, const ip6_addr_t* next_hop);
  void emit(struct pbuf* p);

  uint16_t mtu_;
  PacketSink sink_;
  IpStackCounters& counters_;
  std::vector<uint8_t> scratch_;
  std::vector<IpAddress> addresses_;
  std::array<struct netif, kMaxNetifs> netifs_{};
  size_t netif_count_ = 0;
  bool muted_ = false;
};

}  // namespace sluice::ipstack
