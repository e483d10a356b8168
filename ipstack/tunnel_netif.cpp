#include "ipstack/tunnel_netif.h"

#include <algorithm>

#include "ipstack/lwip_address.h"
#include "lwip/ip.h"
#include "lwip/pbuf.h"

namespace sluice::ipstack {

namespace {
// Room for anything lwIP sends: at most the MTU (input above it is refused, TCP segments follow
// the MSS), but ICMPv6 errors may quote up to the IPv6 minimum MTU.
constexpr size_t kMinScratch = 1280;

bool is_unspecified(const IpAddress& a) {
  return std::all_of(a.bytes.begin(), a.bytes.begin() + static_cast<long>(a.size()),
                     [](uint8_t b) { return b == 0; });
}
}  // namespace

TunnelNetif::TunnelNetif(uint16_t mtu, PacketSink sink, IpStackCounters& counters)
    : mtu_(mtu),
      sink_(std::move(sink)),
      counters_(counters),
      scratch_(std::max<size_t>(mtu, kMinScratch)) {}

TunnelNetif::~TunnelNetif() {
  for (size_t i = netif_count_; i-- > 0;) netif_remove(&netifs_[i]);
}

bool TunnelNetif::configure(const std::vector<IpAddress>& addresses, std::string& error) {
  std::vector<IpAddress> v4, v6;
  for (const IpAddress& a : addresses) {
    if (is_unspecified(a)) {
      error = "cannot serve the unspecified address " + a.to_string();
      return false;
    }
    auto& list = a.family == IpFamily::v4 ? v4 : v6;
    if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
  }
  const size_t v6_netifs = (v6.size() + LWIP_IPV6_NUM_ADDRESSES - 1) / LWIP_IPV6_NUM_ADDRESSES;
  const size_t needed = std::max<size_t>({v4.size(), v6_netifs, 1});
  if (netif_count_ + needed > kMaxNetifs) {
    error = "too many addresses for the stack: at most " + std::to_string(kMaxNetifs) +
            " IPv4 addresses and " + std::to_string(kMaxNetifs * LWIP_IPV6_NUM_ADDRESSES) + " IPv6";
    return false;
  }
  for (size_t i = 0; i < needed; ++i) {
    struct netif* n = &netifs_[netif_count_];
    if (i < v4.size()) {
      const ip_addr_t address = to_lwip(v4[i]);
      ip4_addr_t mask, gateway;
      ip4_addr_set_u32(&mask, 0xffffffffu);  // a host address: nothing else is on-link
      ip4_addr_set_zero(&gateway);
      netif_add(n, ip_2_ip4(&address), &mask, &gateway, this, &TunnelNetif::init_netif, ip_input);
    } else {
      netif_add_noaddr(n, this, &TunnelNetif::init_netif, ip_input);
    }
    for (size_t slot = 0; slot < LWIP_IPV6_NUM_ADDRESSES; ++slot) {
      const size_t k = i * LWIP_IPV6_NUM_ADDRESSES + slot;
      if (k >= v6.size()) break;
      const ip_addr_t address = to_lwip(v6[k]);
      netif_ip6_addr_set(n, static_cast<s8_t>(slot), ip_2_ip6(&address));
      netif_ip6_addr_set_state(n, static_cast<s8_t>(slot), IP6_ADDR_PREFERRED);
    }
    netif_set_up(n);
    netif_set_link_up(n);
    if (netif_count_ == 0) netif_set_default(n);
    ++netif_count_;
  }
  addresses_.insert(addresses_.end(), v4.begin(), v4.end());
  addresses_.insert(addresses_.end(), v6.begin(), v6.end());
  return true;
}

bool TunnelNetif::serves(const IpAddress& a) const {
  return std::find(addresses_.begin(), addresses_.end(), a) != addresses_.end();
}

void TunnelNetif::input(struct pbuf* p) {
  // ip_input() looks at every netif for the destination address, so the first one will do.
  struct netif* n = &netifs_[0];
  if (netif_count_ == 0 || n->input(p, n) != ERR_OK) pbuf_free(p);
}

err_t TunnelNetif::init_netif(struct netif* netif) {
  auto* self = static_cast<TunnelNetif*>(netif->state);
  netif->name[0] = 's';
  netif->name[1] = 'l';
  netif->mtu = self->mtu_;
  netif->output = &TunnelNetif::output_ip4;
  netif->output_ip6 = &TunnelNetif::output_ip6;
  netif->flags = 0;  // point-to-point: no ARP, no broadcast, no multicast
  return ERR_OK;
}

err_t TunnelNetif::output_ip4(struct netif* netif, struct pbuf* p, const ip4_addr_t*) {
  static_cast<TunnelNetif*>(netif->state)->emit(p);
  return ERR_OK;
}

err_t TunnelNetif::output_ip6(struct netif* netif, struct pbuf* p, const ip6_addr_t*) {
  static_cast<TunnelNetif*>(netif->state)->emit(p);
  return ERR_OK;
}

void TunnelNetif::emit(struct pbuf* p) {
  // lwIP keeps ownership of `p` (it may retransmit a TCP segment from it later).
  if (muted_) return;
  if (p->next == nullptr) {
    ++counters_.packets_out;
    sink_(std::span<const uint8_t>(static_cast<const uint8_t*>(p->payload), p->len));
    return;
  }
  if (p->tot_len > scratch_.size()) {
    ++counters_.output_too_big;
    return;
  }
  const u16_t n = pbuf_copy_partial(p, scratch_.data(), p->tot_len, 0);
  ++counters_.packets_out;
  sink_(std::span<const uint8_t>(scratch_.data(), n));
}

}  // namespace sluice::ipstack
