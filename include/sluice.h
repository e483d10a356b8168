/* Sluice embedding API: a WireGuard tunnel inside a host process (a VPN app's packet tunnel
 * provider, a test harness) over the same sans-IO core the Linux daemon runs.
 *
 * Plain C99: no C++ types cross this header and no C++ exception escapes a function in it.
 *
 * LIFECYCLE
 *   sluice_tunnel_options_init(&options); fill in callbacks;
 *   sluice_tunnel_create(config_text, &options, &tunnel, error, sizeof error);
 *   sluice_tunnel_start(tunnel, error, sizeof error);
 *   ... sluice_tunnel_write_packets / sluice_tunnel_receive_datagrams; callbacks arrive ...
 *   ... sluice_tunnel_network_changed / sluice_tunnel_sleep / sluice_tunnel_wake ...
 *   sluice_tunnel_stop(tunnel);        (may be followed by another start)
 *   sluice_tunnel_destroy(tunnel);
 *
 * THREADING
 *   - Each started tunnel runs one worker thread of its own (plus `crypto_threads` helpers,
 *     and briefly a resolver thread after a network change when endpoints are host names).
 *     Every tunnel callback (packets_to_host, datagrams_to_network, liveness) runs on that
 *     worker thread, one call at a time per tunnel, never on a thread that called into the
 *     library.
 *   - sluice_tunnel_write_packets, sluice_tunnel_receive_datagrams, the statistics calls,
 *     sluice_tunnel_listen_port, sluice_tunnel_network_changed, sluice_tunnel_sleep and
 *     sluice_tunnel_wake are thread-safe: any thread, concurrently with each other and with
 *     the worker, including from inside a callback of the same tunnel. None may be in flight
 *     when sluice_tunnel_destroy is called, nor called after it.
 *   - create, start, stop and destroy of one tunnel must not run concurrently with each other
 *     (the host serialises them), and must not be called from a callback of that tunnel:
 *     stop waits for the worker thread, so from the worker it fails with SLUICE_ERR_STATE.
 *     Different tunnels are independent.
 *   - The log callback is process-wide. It may run on any thread that calls into the library
 *     and on every worker thread; calls are serialised by the library (never two at once).
 *
 * BUFFERS
 *   - The library never reads from or writes to a host buffer after the call returns.
 *   - Buffers the host passes in (config text, packets, datagrams) are only read during the
 *     call; the library copies what it keeps. The host may reuse them when the call returns.
 *   - Buffers the library passes to a callback belong to the library and are valid only until
 *     the callback returns; a host that needs the bytes later copies them.
 *   - Error strings are written into a buffer the host supplies, always NUL-terminated and
 *     truncated to fit.
 *
 * MEMORY
 *   All packet memory comes from one pool per tunnel, allocated at start and sized by
 *   `memory_limit`. Queues between host threads and the worker hold pool buffers, so they are
 *   bounded by the same ceiling; when the pool is empty packets are dropped and counted,
 *   never queued without bound. Nothing is allocated per packet.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

/* Return codes. Functions returning int return one of these, or a count >= 0 where stated. */
#define SLUICE_OK 0
#define SLUICE_ERR_INVALID_ARGUMENT (-1) /* null pointer, bad family, bad option value */
#define SLUICE_ERR_CONFIG (-2)           /* the config text was rejected (see the error text) */
#define SLUICE_ERR_STATE (-3)            /* e.g. write while stopped, start while started */
#define SLUICE_ERR_SYSTEM (-4)           /* the OS refused a resource (thread, fd, socket, DNS) */
#define SLUICE_ERR_NO_MEMORY (-5)        /* allocation failed, or memory_limit is too small */

/* Log levels, most verbose first. Per-packet events are only logged at SLUICE_LOG_TRACE. */
#define SLUICE_LOG_TRACE 0
#define SLUICE_LOG_DEBUG 1
#define SLUICE_LOG_INFO 2
#define SLUICE_LOG_WARN 3
#define SLUICE_LOG_ERROR 4
#define SLUICE_LOG_OFF 5

/* `message` is NUL-terminated, without a trailing newline, and valid only during the call. */
typedef void (*sluice_log_fn)(void *context, int level, const char *message);

/* Installs the process-wide log callback (NULL: discard all messages) and the least severe
 * level passed to it. Thread-safe. Before the first call, nothing is logged. Returns
 * SLUICE_ERR_INVALID_ARGUMENT, changing nothing, if `min_level` is out of range. */
SLUICE_API int sluice_set_log_callback(sluice_log_fn fn, void *context, int min_level);

/* A UDP endpoint of the outer network. */
#define SLUICE_ENDPOINT_IPV4 4
#define SLUICE_ENDPOINT_IPV6 6
typedef struct sluice_endpoint {
  uint8_t family;      /* SLUICE_ENDPOINT_IPV4 or SLUICE_ENDPOINT_IPV6 */
  uint8_t address[16]; /* network byte order; IPv4 uses the first 4 bytes */
  uint16_t port;       /* host byte order */
} sluice_endpoint;

/* Inner packets for the host (decrypted IP packets), the shape of NEPacketTunnelFlow's
 * writePackets(_:withProtocols:). families[i] is the platform's AF_INET or AF_INET6.
 * The arrays and the bytes they point to belong to the library and are valid only during the
 * call. Runs on the tunnel's worker thread. */
typedef void (*sluice_packets_fn)(void *context, const uint8_t *const *packets,
                                  const size_t *lengths, const int *families, size_t count);

/* Datagrams for the outer network when the host provides the transport: send each datagram
 * (lengths[i] bytes) to destinations[i]. The arrays and bytes belong to the library and are
 * valid only during the call; a host that sends asynchronously copies them. Runs on the
 * tunnel's worker thread. */
typedef void (*sluice_datagrams_fn)(void *context, const uint8_t *const *datagrams,
                                    const size_t *lengths, const sluice_endpoint *destinations,
                                    size_t count);

/* Liveness of a tunnel: the best state over its peers.
 *   DOWN      no session that can send: none yet, or expired (no handshake for 180 s)
 *   DEGRADED  a session exists, but data went out and nothing authenticated came back for
 *             15 s (KEEPALIVE_TIMEOUT + REKEY_TIMEOUT), or a handshake has gone unanswered
 *             for more than 5 s (REKEY_TIMEOUT)
 *   UP        otherwise
 * An idle tunnel without PersistentKeepalive lets its session expire and goes DOWN; it comes
 * UP again with the handshake that the next packet starts. */
#define SLUICE_LIVENESS_DOWN 0
#define SLUICE_LIVENESS_DEGRADED 1
#define SLUICE_LIVENESS_UP 2

/* Called on the tunnel's worker thread when the state changes. A started tunnel is DOWN until
 * the first call says otherwise; stop does not call it. */
typedef void (*sluice_liveness_fn)(void *context, int state);

typedef struct sluice_tunnel_options {
  /* Passed as the first argument of every tunnel callback. Not used by the library. */
  void *context;
  /* Where decrypted inner packets go. Required unless tun_fd is set. */
  sluice_packets_fn packets_to_host;
  /* >= 0: the library reads and writes this utun descriptor itself: one IP packet per
   * datagram behind utun's 4-byte address family in network byte order, with Darwin's numbers
   * (AF_INET 2, AF_INET6 30) on every platform. It is dup()ed at start and the dup closed at
   * stop; the host keeps (and closes) its own descriptor. Both become nonblocking, as
   * O_NONBLOCK belongs to the open file. Inner packets then go to the descriptor, not to
   * packets_to_host; sluice_tunnel_write_packets still works. -1 (the default): none. */
  int tun_fd;
  /* Set: the host carries the outer datagrams (e.g. over its own NWConnection) and hands
   * received ones in through sluice_tunnel_receive_datagrams.
   * NULL: the library owns the transport, one batched UDP socket bound to the config's
   * ListenPort (any port when absent) with the config's FwMark. */
  sluice_datagrams_fn datagrams_to_network;
  /* Optional: liveness changes. */
  sluice_liveness_fn liveness;
  /* Bytes of packet memory the tunnel may use; 0 = the default (4 MiB). Start fails with
   * SLUICE_ERR_NO_MEMORY when it cannot hold the minimum working set (about 0.5 MiB). */
  size_t memory_limit;
  /* Crypto helper threads besides the worker; 0 = seal and open on the worker thread. */
  uint32_t crypto_threads;
  /* Prefix of this tunnel's log lines, e.g. "utun3: "; copied at create. May be NULL. */
  const char *log_prefix;
} sluice_tunnel_options;

/* Fills `options` with the defaults: no callbacks, no tun_fd (-1), default memory, no crypto
 * threads. Always call it first: fields added in later versions get their defaults here. */
SLUICE_API void sluice_tunnel_options_init(sluice_tunnel_options *options);

typedef struct sluice_tunnel sluice_tunnel;

/* Parses and validates wg-quick config text ([Interface] PrivateKey..., [Peer] ...) and the
 * options, and creates a stopped tunnel. Nothing is started: no thread, socket or timer.
 * `config_text` is `config_length` bytes (need not be NUL-terminated) and is only read during
 * the call. On success *out receives the tunnel, owned by the caller until
 * sluice_tunnel_destroy. On failure *out is set to NULL and, when `error` is not NULL, a
 * readable reason ("config:3: PrivateKey: ...", never a key value) is written to `error`.
 * Returns SLUICE_OK, SLUICE_ERR_CONFIG or SLUICE_ERR_INVALID_ARGUMENT. */
SLUICE_API int sluice_tunnel_create(const char *config_text, size_t config_length,
                                    const sluice_tunnel_options *options, sluice_tunnel **out,
                                    char *error, size_t error_size);

/* NETWORK SETTINGS
 * What the host configures on its side of the tunnel (NEPacketTunnelNetworkSettings, or the
 * addresses and routes of a TUN), from the config given at create: wg-quick's Address, DNS and
 * MTU, and the routes its AllowedIPs imply. They never change over a tunnel's life. The calls
 * work on a stopped tunnel and are thread-safe. */

/* An interface address with its prefix (host bits kept: 10.0.0.2/24), a route (host bits
 * clear), or a DNS server (a /32 or /128). */
typedef struct sluice_prefix {
  uint8_t family;        /* SLUICE_ENDPOINT_IPV4 or SLUICE_ENDPOINT_IPV6 */
  uint8_t address[16];   /* network byte order; IPv4 uses the first 4 bytes */
  uint8_t prefix_length; /* 0..32 or 0..128 */
} sluice_prefix;

/* The tunnel MTU: the config's MTU, or 1420 when it has none (as wireguard-go). */
SLUICE_API int sluice_tunnel_mtu(const sluice_tunnel *tunnel);

/* Each fills up to `capacity` entries of `out` (owned by the caller) in config order and
 * returns how many there are, which may exceed `capacity` (call with 0 and NULL to count);
 * SLUICE_ERR_INVALID_ARGUMENT for a null tunnel, or a null `out` with a capacity.
 *   addresses:   the Address entries.
 *   dns_servers: the DNS entries that are IP addresses.
 *   routes:      every peer's AllowedIPs, duplicates left out: the destinations to send into
 *                the tunnel (NEIPv4Settings.includedRoutes and NEIPv6Settings's). */
SLUICE_API int sluice_tunnel_addresses(const sluice_tunnel *tunnel, sluice_prefix *out,
                                       size_t capacity);
SLUICE_API int sluice_tunnel_dns_servers(const sluice_tunnel *tunnel, sluice_prefix *out,
                                         size_t capacity);
SLUICE_API int sluice_tunnel_routes(const sluice_tunnel *tunnel, sluice_prefix *out,
                                    size_t capacity);

/* The DNS entries that are not IP addresses (search domains, as wg-quick treats them), by
 * index in config order: a NUL-terminated string owned by the tunnel and valid until
 * sluice_tunnel_destroy, or NULL for an index at or past the last one (or a null tunnel). */
SLUICE_API const char *sluice_tunnel_dns_search_domain(const sluice_tunnel *tunnel,
                                                       size_t index);

/* Allocates the packet pool, opens the UDP socket of a library-owned transport, resolves
 * endpoints (blocking on DNS; see "Endpoints" below), starts the worker thread and applies the
 * config. On
 * failure nothing is left running and the reason is written to `error`: SLUICE_ERR_STATE if
 * already started, SLUICE_ERR_NO_MEMORY if memory_limit cannot hold the pool and the socket's
 * scratch space, SLUICE_ERR_SYSTEM for the OS refusing (e.g. the ListenPort is taken). */
SLUICE_API int sluice_tunnel_start(sluice_tunnel *tunnel, char *error, size_t error_size);

/* The UDP port a library-owned transport is bound to while started (useful when the config
 * has no ListenPort); 0 when stopped or when the host carries the datagrams. Thread-safe. */
SLUICE_API int sluice_tunnel_listen_port(const sluice_tunnel *tunnel);

/* Stops synchronously: when it returns, the worker and crypto threads have been joined, every
 * timer is gone, every descriptor the tunnel opened is closed and every packet still queued is
 * dropped. No callback of this tunnel runs after it returns. The tunnel may be started again.
 * Stopping a stopped tunnel returns SLUICE_OK. */
SLUICE_API int sluice_tunnel_stop(sluice_tunnel *tunnel);

/* Stops the tunnel if started and frees it. NULL is ignored. */
SLUICE_API void sluice_tunnel_destroy(sluice_tunnel *tunnel);

/* Packets from the host (plaintext IP packets to send through the tunnel), the shape of
 * NEPacketTunnelFlow's readPackets: count packets, packets[i] of lengths[i] bytes, families[i]
 * the platform's AF_INET or AF_INET6. Copied before returning; the host keeps its buffers.
 * Returns how many packets, from the start of the arrays, were taken (>= 0). Fewer than `count`
 * means the tunnel's queue is full: the rest were not taken and the host may drop or retry
 * them. A taken packet that is not a valid IP packet of its family, or is larger than the
 * buffers (MTU), is dropped and counted. A null array or packet pointer returns
 * SLUICE_ERR_INVALID_ARGUMENT and takes nothing; a stopped tunnel returns SLUICE_ERR_STATE.
 * Thread-safe. */
SLUICE_API int sluice_tunnel_write_packets(sluice_tunnel *tunnel, const uint8_t *const *packets,
                                           const size_t *lengths, const int *families,
                                           size_t count);

/* Datagrams the host received from the outer network (host-provided transport): datagrams[i]
 * of lengths[i] bytes, from sources[i]. Same ownership, return value and thread-safety as
 * sluice_tunnel_write_packets; a source with a bad family returns SLUICE_ERR_INVALID_ARGUMENT
 * and takes nothing. */
SLUICE_API int sluice_tunnel_receive_datagrams(sluice_tunnel *tunnel,
                                               const uint8_t *const *datagrams,
                                               const size_t *lengths,
                                               const sluice_endpoint *sources, size_t count);

/* Endpoints: a host name is resolved with the system resolver, whose first answer wins (IPv6
 * first where the host has IPv6 connectivity, as RFC 6724 orders them). An IPv4 address, given
 * or resolved, that has no route on a network whose only way out is IPv6 is rewritten into the
 * network's NAT64 prefix, learnt from the AAAA records of ipv4only.arpa (RFC 7050, RFC 6052).
 *
 * The host's network changed (NWPathMonitor update, interface or address change). Debounced:
 * 0.5 s after the last of a burst of calls, the worker rebinds a library-owned UDP socket
 * (same port when it can still be bound), decides the endpoints again as above on a
 * short-lived thread (host names and IPv4 literals; a literal goes back to its configured
 * address, or its NAT64 form), and starts a handshake with every peer. Thread-safe;
 * SLUICE_ERR_STATE when stopped. A host-provided transport should reconnect its own sockets as
 * well. */
SLUICE_API int sluice_tunnel_network_changed(sluice_tunnel *tunnel);

/* The host is about to sleep (NEPacketTunnelProvider.sleep): timers are parked, so no
 * handshake retry, keepalive or liveness check wakes the device. Packets still flow if the
 * host passes any. Thread-safe; SLUICE_ERR_STATE when stopped. */
SLUICE_API int sluice_tunnel_sleep(sluice_tunnel *tunnel);

/* The host woke (NEPacketTunnelProvider.wake): timers resume, timers that fell due run, and the
 * wake-up is handled as a network change at once (no debounce). Waking an awake tunnel does
 * nothing. Thread-safe; SLUICE_ERR_STATE when stopped. */
SLUICE_API int sluice_tunnel_wake(sluice_tunnel *tunnel);

/* Statistics. Both calls are thread-safe; they ask the worker thread for a consistent
 * snapshot and wait for it (a few microseconds unless the worker is busy with a batch). From a
 * callback of the same tunnel they answer directly. SLUICE_ERR_STATE when stopped. */

/* Names of the drop reasons counted in sluice_tunnel_stats.drops, e.g. "replayed_counter";
 * a static string, or NULL for an index at or past the last reason. */
#define SLUICE_DROP_REASONS_MAX 32
SLUICE_API const char *sluice_drop_reason_name(int reason);

typedef struct sluice_tunnel_stats {
  uint64_t packets_from_host;    /* inner packets taken from the host (or TUN) */
  uint64_t packets_to_host;      /* inner packets delivered to the host (or TUN) */
  uint64_t datagrams_received;   /* outer datagrams handled */
  uint64_t datagrams_sent;       /* outer datagrams produced */
  uint64_t handshakes_completed;
  /* Drops inside the WireGuard device, indexed by reason (sluice_drop_reason_name). */
  uint64_t drops[SLUICE_DROP_REASONS_MAX];
  uint64_t host_packets_dropped;   /* taken but invalid: bad family, not IP, too large */
  uint64_t host_datagrams_dropped; /* taken but empty or larger than a buffer */
  uint64_t udp_send_dropped;       /* library-owned socket: datagrams the kernel refused */
  uint64_t udp_pool_exhausted;     /* library-owned socket: reads skipped, no free buffer */
  uint64_t tun_write_dropped;      /* tun_fd: packets the descriptor refused (full, closed) */
  int liveness;                    /* SLUICE_LIVENESS_* */
} sluice_tunnel_stats;

SLUICE_API int sluice_tunnel_get_stats(sluice_tunnel *tunnel, sluice_tunnel_stats *out);

typedef struct sluice_peer_stats {
  uint8_t public_key[32];
  int64_t last_handshake_sec;  /* Unix time of the last completed handshake; 0 = never */
  int64_t last_handshake_nsec;
  uint64_t rx_bytes;           /* authenticated transport bytes received */
  uint64_t tx_bytes;
  int liveness;                /* this peer's SLUICE_LIVENESS_* */
  /* Round-trip estimate in ns: from sending this side's latest handshake initiation to its
   * response (includes the peer's processing, about 0.1 ms). -1 until a handshake this side
   * initiated has completed; refreshed with every rekey (at least every 2 minutes in use). */
  int64_t rtt_ns;
} sluice_peer_stats;

/* Fills up to `capacity` entries of `peers` (owned by the caller), in config order, and returns
 * the number of peers, which may exceed `capacity`. */
SLUICE_API int sluice_tunnel_get_peer_stats(sluice_tunnel *tunnel, sluice_peer_stats *peers,
                                            size_t capacity);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_H */
