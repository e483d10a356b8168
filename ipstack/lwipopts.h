// lwIP options for Sluice: the raw API without an OS (NO_SYS=1), IPv4 and IPv6, TCP and UDP,
// every byte from static pools sized here, and nothing that needs a link layer. The stack
// only serves a few local endpoints (DNS over TCP, its upstream fallback), so it is sized
// for tens of small connections, not for throughput.
//
// Static memory (x86-64), as lwip_memory() (ipstack/lwip_memory.h) reports it and
// tests/ipstack/test_ip_stack.cpp bounds it (< 192 KiB):
//   heap, MEM_SIZE: TCP send data and other PBUF_RAM              65,536 B
//   pools: PBUF_POOL 24 x ~1.55 KB (input packets), TCP_PCB 56,
//          TCP_SEG 128, SYS_TIMEOUT, listeners, UDP                 58,176 B
//   total lwIP                                                    123,712 B
// plus lwIP's small fixed tables (ND6 caches, statistics: about 2 KB). lwIP allocates nothing
// else. Sluice's own per-connection buffers (ipstack/dns_tcp_server.h,
// dns_tcp_client.h) are allocated at IpStack creation on top of this, sized by IpStackConfig
// (defaults: 16 DNS connections x 20 KiB, 4 upstream queries x 68 KiB).
#pragma once

// --- System -------------------------------------------------------------------------------
#define NO_SYS 1                // one thread, callbacks; the caller owns the clock and loop
#define SYS_LIGHTWEIGHT_PROT 0  // IpStack is used from one thread only
#define LWIP_TIMERS 1           // lwIP's timeout list, driven by IpStack::handle_timers
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_ALTCP 0
#define LWIP_NETIF_API 0
#define LWIP_RAW 0
#define LWIP_DNS 0  // DNS is ours (dns/), not lwIP's resolver
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_LOOPBACK 0
#define LWIP_SINGLE_NETIF 0  // one netif per served IPv4 address (ipstack/tunnel_netif.h)
#define LWIP_NETIF_TX_SINGLE_PBUF 1  // TCP segments in one pbuf: output rarely needs a copy
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
// lwIP would otherwise define htons() & co. as macros, clashing with <arpa/inet.h>.
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

// --- Memory: static pools only (no malloc after start-up) --------------------------------------
#define MEM_LIBC_MALLOC 0
#define MEMP_MEM_MALLOC 0
#define MEM_ALIGNMENT 8
#define MEM_SIZE (64 * 1024)
#define PBUF_POOL_SIZE 24
#define PBUF_POOL_BUFSIZE 1536  // one input packet up to this size fits a single pbuf
#define MEMP_NUM_PBUF 16        // PBUF_REF/ROM: only used by lwIP internally (ICMP errors)
#define MEMP_NUM_UDP_PCB 4
#define MEMP_NUM_TCP_PCB_LISTEN 8

// Compile-time ceilings for IpStackConfig: lwIP's pools below are sized from them, so a
// configuration may ask for fewer, never more.
#define SLUICE_IPSTACK_MAX_DNS_CONNECTIONS 32
#define SLUICE_IPSTACK_MAX_TCP_QUERIES 8
// Our connections plus room for closed ones lingering in FIN_WAIT/TIME_WAIT (lwIP reclaims
// those first when the pool runs dry) and for handshakes not yet accepted.
#define MEMP_NUM_TCP_PCB (SLUICE_IPSTACK_MAX_DNS_CONNECTIONS + SLUICE_IPSTACK_MAX_TCP_QUERIES + 16)
#define MEMP_NUM_TCP_SEG 128
// lwIP's cyclic timers plus one idle or deadline timer per connection of ours.
#define MEMP_NUM_SYS_TIMEOUT \
  (LWIP_NUM_SYS_TIMEOUT_INTERNAL + SLUICE_IPSTACK_MAX_DNS_CONNECTIONS + SLUICE_IPSTACK_MAX_TCP_QUERIES)

// --- IPv4 ---------------------------------------------------------------------------------
#define LWIP_IPV4 1
#define LWIP_ICMP 1  // echo replies from the served addresses; errors for closed UDP ports
#define IP_FORWARD 0
#define IP_REASSEMBLY 0  // DNS over TCP never needs fragments; they are dropped and counted
#define IP_FRAG 0        // we never send more than the MTU (IpStack::input enforces it)
#define IP_DEFAULT_TTL 64

// --- IPv6 ---------------------------------------------------------------------------------
#define LWIP_IPV6 1
#define LWIP_ICMP6 1
#define LWIP_IPV6_NUM_ADDRESSES 4
#define LWIP_IPV6_SCOPES 0  // only global/ULA addresses are served; no zones needed
#define LWIP_IPV6_FORWARD 0
#define LWIP_IPV6_FRAG 0
#define LWIP_IPV6_REASS 0
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0  // addresses are ours by configuration
#define LWIP_IPV6_DHCP6 0
#define LWIP_ND6_QUEUEING 0
#define LWIP_ND6_NUM_NEIGHBORS 4
#define LWIP_ND6_NUM_DESTINATIONS 8
#define LWIP_ND6_NUM_PREFIXES 2
#define LWIP_ND6_NUM_ROUTERS 2
#define LWIP_ND6_ALLOW_RA_UPDATES 0  // a packet from the tunnel must not change our MTU
#define LWIP_ND6_TCP_REACHABILITY_HINTS 0

// --- UDP and TCP --------------------------------------------------------------------------
#define LWIP_UDP 1
#define LWIP_TCP 1
// MTU 1420 (WireGuard's default) minus IPv6 and TCP headers; a smaller netif MTU lowers the
// effective MSS per connection (TCP_CALCULATE_EFF_SEND_MSS).
#define TCP_MSS 1360
#define TCP_WND (4 * TCP_MSS)      // queries are small; this is also the per-connection
                                   // receive bound lwIP enforces on the peer
#define TCP_SND_BUF (4 * TCP_MSS)  // a typical DNS answer in one go; more waits in our buffer
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
#define TCP_QUEUE_OOSEQ 1
#define TCP_OOSEQ_MAX_PBUFS 4
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 16  // handshakes in progress per listener
#define LWIP_TCP_KEEPALIVE 0
#define LWIP_TCP_TIMESTAMPS 0
#define LWIP_WND_SCALE 0
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_SACK_OUT 0
#define LWIP_CALLBACK_API 1
#define LWIP_EVENT_API 0
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1
// RFC 6528 initial sequence numbers: a keyed hash of the connection's addresses and ports
// plus a clock, so an off-path host cannot predict them (lwIP's default is a counter).
#define LWIP_HOOK_FILENAME "lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
  sluice_lwip_tcp_isn(local_ip, local_port, remote_ip, remote_port)

// --- Checksums: generate and check all of them in software ---------------------------------
#define LWIP_CHECKSUM_CTRL_PER_NETIF 0
#define LWIP_CHECKSUM_ON_COPY 1

// --- Statistics: lwIP's own drop and memory counters, read by IpStack::counters() ----------
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define LWIP_STATS_LARGE 1  // 32-bit counters; IpStack folds them into 64-bit ones
#define LINK_STATS 0
#define ETHARP_STATS 0
#define IPFRAG_STATS 0
#define IGMP_STATS 0
#define MLD6_STATS 0
#define SYS_STATS 0
#define MIB2_STATS 0

// --- Debugging: off; assertions stay on (see arch/cc.h: an assertion aborts) ---------------
#define LWIP_DBG_TYPES_ON 0
