/* A host app for the embedding API, run against a real peer in a network namespace: a Linux
 * TUN stands in for NEPacketTunnelProvider's packetFlow. A reader thread plays the readPackets
 * loop (batches of up to 64 packets with their address families, handed to
 * sluice_tunnel_write_packets); the packets_to_host callback plays writePackets. The outer
 * transport is the library's own UDP socket, or with --host-transport the program's, as an app
 * carrying datagrams over its own NWConnection would.
 *
 * Built as C99 with -Wall -Wextra -Werror -pedantic against sluice.h and libsluice-embed alone.
 *
 * Usage: embed_packetflow_host CONFIG_FILE TUN_NAME [--memory-limit BYTES]
 *          [--crypto-threads N] [--host-transport PORT]
 * The TUN is created here (IFF_TUN | IFF_NO_PI); the caller gives it addresses and routes.
 * Commands on standard input, one per line, each answered with one line on standard output:
 *   network-changed | sleep | wake | stats | quit
 * "stats" answers with key=value pairs for the tunnel, its first peer and this process's peak
 * resident memory (VmHWM). Liveness changes are printed as "liveness up|degraded|down".
 * Standard input closing is the same as quit. Before the tunnel starts, the network settings
 * read back through the API are printed as "settings mtu=N addresses=A/L,... routes=...". */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice.h"

#define BATCH 64
#define PACKET_MAX 2048

static void die(const char *what) {
  fprintf(stderr, "embed_packetflow_host: %s\n", what);
  exit(2);
}

static void die_errno(const char *what) {
  fprintf(stderr, "embed_packetflow_host: %s: %s\n", what, strerror(errno));
  exit(2);
}

static pthread_mutex_t output_lock = PTHREAD_MUTEX_INITIALIZER;

/* Lines on stdout come from the command loop and the worker's liveness callback. */
static void say(const char *line) {
  pthread_mutex_lock(&output_lock);
  fputs(line, stdout);
  fputc('\n', stdout);
  fflush(stdout);
  pthread_mutex_unlock(&output_lock);
}

static void on_log(void *context, int level, const char *message) {
  static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
  (void)context;
  fprintf(stderr, "[%s] %s\n", level >= 0 && level <= 4 ? names[level] : "?", message);
}

static void on_liveness(void *context, int state) {
  (void)context;
  say(state == SLUICE_LIVENESS_UP         ? "liveness up"
      : state == SLUICE_LIVENESS_DEGRADED ? "liveness degraded"
                                          : "liveness down");
}

static int tun_fd = -1;

/* Failures counted on the worker thread and read by the command loop. Rare: behind a lock. */
static pthread_mutex_t failures_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long tun_write_failures, udp_send_failures;

static void count_failure(unsigned long *counter) {
  pthread_mutex_lock(&failures_lock);
  ++*counter;
  pthread_mutex_unlock(&failures_lock);
}

/* writePackets: the library's buffers are only valid during this call, and the write copies. */
static void on_packets(void *context, const uint8_t *const *packets, const size_t *lengths,
                       const int *families, size_t count) {
  size_t i;
  (void)context;
  (void)families;
  for (i = 0; i < count; ++i) {
    if (write(tun_fd, packets[i], lengths[i]) != (ssize_t)lengths[i]) {
      count_failure(&tun_write_failures);
    }
  }
}

static int open_tun(const char *name) {
  struct ifreq ifr;
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die_errno("/dev/net/tun");
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (strlen(name) >= sizeof ifr.ifr_name) die("TUN name too long");
  strcpy(ifr.ifr_name, name);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die_errno("TUNSETIFF");
  if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) die_errno("O_NONBLOCK");
  return fd;
}

static sluice_tunnel *tunnel;

static pthread_mutex_t stopping_lock = PTHREAD_MUTEX_INITIALIZER;
static int stopping_flag;

static int stopping(void) {
  int s;
  pthread_mutex_lock(&stopping_lock);
  s = stopping_flag;
  pthread_mutex_unlock(&stopping_lock);
  return s;
}

/* The readPackets loop: whatever the TUN has, up to BATCH packets, in one call. A packet the
 * tunnel did not take (its queue is full) is offered again, as an app would rather than drop
 * a TCP segment; the loop yields meanwhile. */
static void *read_packets_loop(void *unused) {
  static uint8_t storage[BATCH][PACKET_MAX];
  const uint8_t *packets[BATCH];
  size_t lengths[BATCH];
  int families[BATCH];
  (void)unused;
  while (!stopping()) {
    struct pollfd p;
    size_t n = 0, done = 0;
    p.fd = tun_fd;
    p.events = POLLIN;
    if (poll(&p, 1, 100) <= 0) continue;
    while (n < BATCH) {
      ssize_t got = read(tun_fd, storage[n], PACKET_MAX);
      if (got <= 0) break;
      packets[n] = storage[n];
      lengths[n] = (size_t)got;
      families[n] = (storage[n][0] >> 4) == 6 ? AF_INET6 : AF_INET;
      ++n;
    }
    while (done < n && !stopping()) {
      int taken = sluice_tunnel_write_packets(tunnel, packets + done, lengths + done,
                                              families + done, n - done);
      if (taken < 0) break;
      done += (size_t)taken;
      if (done < n) usleep(100);
    }
  }
  return NULL;
}

/* --host-transport: the program's own dual-stack UDP socket carries the outer datagrams. */
static int host_udp = -1;

static void to_sockaddr(const sluice_endpoint *e, struct sockaddr_in6 *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sin6_family = AF_INET6;
  sa->sin6_port = htons(e->port);
  if (e->family == SLUICE_ENDPOINT_IPV6) {
    memcpy(&sa->sin6_addr, e->address, 16);
  } else {
    sa->sin6_addr.s6_addr[10] = 0xff;
    sa->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&sa->sin6_addr.s6_addr[12], e->address, 4);
  }
}

static void from_sockaddr(const struct sockaddr_in6 *sa, sluice_endpoint *e) {
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  memset(e, 0, sizeof *e);
  e->port = ntohs(sa->sin6_port);
  if (memcmp(sa->sin6_addr.s6_addr, mapped, 12) == 0) {
    e->family = SLUICE_ENDPOINT_IPV4;
    memcpy(e->address, &sa->sin6_addr.s6_addr[12], 4);
  } else {
    e->family = SLUICE_ENDPOINT_IPV6;
    memcpy(e->address, sa->sin6_addr.s6_addr, 16);
  }
}

static void on_datagrams(void *context, const uint8_t *const *datagrams, const size_t *lengths,
                         const sluice_endpoint *destinations, size_t count) {
  size_t i;
  (void)context;
  for (i = 0; i < count; ++i) {
    struct sockaddr_in6 sa;
    to_sockaddr(&destinations[i], &sa);
    if (sendto(host_udp, datagrams[i], lengths[i], 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
      count_failure(&udp_send_failures);
    }
  }
}

static int open_host_udp(int port) {
  struct sockaddr_in6 sa;
  int off = 0;
  int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) die_errno("socket");
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0) die_errno("IPV6_V6ONLY");
  memset(&sa, 0, sizeof sa);
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons((uint16_t)port);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die_errno("bind");
  return fd;
}

static void *receive_datagrams_loop(void *unused) {
  static uint8_t storage[BATCH][PACKET_MAX];
  const uint8_t *datagrams[BATCH];
  size_t lengths[BATCH];
  sluice_endpoint sources[BATCH];
  (void)unused;
  while (!stopping()) {
    struct pollfd p;
    size_t n = 0;
    p.fd = host_udp;
    p.events = POLLIN;
    if (poll(&p, 1, 100) <= 0) continue;
    while (n < BATCH) {
      struct sockaddr_in6 sa;
      socklen_t sa_len = sizeof sa;
      ssize_t got = recvfrom(host_udp, storage[n], PACKET_MAX, 0, (struct sockaddr *)&sa, &sa_len);
      if (got < 0) break;
      datagrams[n] = storage[n];
      lengths[n] = (size_t)got;
      from_sockaddr(&sa, &sources[n]);
      ++n;
    }
    /* What the tunnel does not take is lost, as a datagram the network dropped would be. */
    if (n > 0) sluice_tunnel_receive_datagrams(tunnel, datagrams, lengths, sources, n);
  }
  return NULL;
}

static long peak_rss_kb(void) {
  char line[256];
  long kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmHWM:", 6) == 0) kb = strtol(line + 6, NULL, 10);
  }
  fclose(f);
  return kb;
}

static void print_stats(void) {
  sluice_tunnel_stats s;
  sluice_peer_stats peer;
  char line[1024];
  int peers;
  uint64_t dropped = 0;
  unsigned long tun_failures, udp_failures;
  int i;
  pthread_mutex_lock(&failures_lock);
  tun_failures = tun_write_failures;
  udp_failures = udp_send_failures;
  pthread_mutex_unlock(&failures_lock);
  if (sluice_tunnel_get_stats(tunnel, &s) != SLUICE_OK) die("sluice_tunnel_get_stats failed");
  peers = sluice_tunnel_get_peer_stats(tunnel, &peer, 1);
  if (peers < 1) die("sluice_tunnel_get_peer_stats: no peer");
  for (i = 0; i < SLUICE_DROP_REASONS_MAX; ++i) dropped += s.drops[i];
  snprintf(line, sizeof line,
           "stats handshakes=%llu from_host=%llu to_host=%llu datagrams_received=%llu "
           "datagrams_sent=%llu device_drops=%llu liveness=%d peer_rx=%llu peer_tx=%llu "
           "last_handshake=%lld rtt_ns=%lld listen_port=%d tun_write_failures=%lu "
           "udp_send_failures=%lu vmhwm_kb=%ld",
           (unsigned long long)s.handshakes_completed, (unsigned long long)s.packets_from_host,
           (unsigned long long)s.packets_to_host, (unsigned long long)s.datagrams_received,
           (unsigned long long)s.datagrams_sent, (unsigned long long)dropped, s.liveness,
           (unsigned long long)peer.rx_bytes, (unsigned long long)peer.tx_bytes,
           (long long)peer.last_handshake_sec, (long long)peer.rtt_ns,
           sluice_tunnel_listen_port(tunnel), tun_failures, udp_failures,
           peak_rss_kb());
  say(line);
}

/* Appends " KEY=a,b,c" for a list of prefixes to `line`. */
static void append_prefixes(char *line, size_t size, const char *key, const sluice_prefix *p,
                            int count) {
  int i;
  size_t used = strlen(line);
  snprintf(line + used, size - used, " %s=", key);
  for (i = 0; i < count && i < 16; ++i) {
    char address[INET6_ADDRSTRLEN];
    inet_ntop(p[i].family == SLUICE_ENDPOINT_IPV4 ? AF_INET : AF_INET6, p[i].address, address,
              sizeof address);
    used = strlen(line);
    snprintf(line + used, size - used, "%s%s/%u", i == 0 ? "" : ",", address,
             (unsigned)p[i].prefix_length);
  }
}

/* What an app gives NEPacketTunnelNetworkSettings; here the test script applies it to the
 * TUN, as the app's network settings would be applied. */
static void print_settings(void) {
  sluice_prefix prefixes[16];
  char line[2048];
  snprintf(line, sizeof line, "settings mtu=%d", sluice_tunnel_mtu(tunnel));
  append_prefixes(line, sizeof line, "addresses", prefixes,
                  sluice_tunnel_addresses(tunnel, prefixes, 16));
  append_prefixes(line, sizeof line, "routes", prefixes,
                  sluice_tunnel_routes(tunnel, prefixes, 16));
  say(line);
}

static char *read_file(const char *path, size_t *length) {
  static char text[65536];
  FILE *f = fopen(path, "rb");
  if (f == NULL) die_errno(path);
  *length = fread(text, 1, sizeof text, f);
  if (ferror(f) || !feof(f)) die("config file unreadable or over 64 KiB");
  fclose(f);
  return text;
}

int main(int argc, char **argv) {
  sluice_tunnel_options options;
  char error[512], command[128];
  const char *config;
  size_t config_length;
  int host_port = -1, i, rc;
  pthread_t reader, receiver;

  if (argc < 3) die("usage: embed_packetflow_host CONFIG_FILE TUN_NAME [options]");
  sluice_tunnel_options_init(&options);
  for (i = 3; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--memory-limit") == 0) {
      options.memory_limit = (size_t)strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--crypto-threads") == 0) {
      options.crypto_threads = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--host-transport") == 0) {
      host_port = atoi(argv[i + 1]);
    } else {
      die("unknown option");
    }
  }
  if (i != argc) die("an option lacks its value");

  sluice_set_log_callback(on_log, NULL, SLUICE_LOG_INFO);
  config = read_file(argv[1], &config_length);
  tun_fd = open_tun(argv[2]);
  options.packets_to_host = on_packets;
  options.liveness = on_liveness;
  options.log_prefix = "embed: ";
  if (host_port >= 0) {
    host_udp = open_host_udp(host_port);
    options.datagrams_to_network = on_datagrams;
  }
  rc = sluice_tunnel_create(config, config_length, &options, &tunnel, error, sizeof error);
  if (rc != SLUICE_OK) die(error);
  print_settings();
  rc = sluice_tunnel_start(tunnel, error, sizeof error);
  if (rc != SLUICE_OK) die(error);
  if (pthread_create(&reader, NULL, read_packets_loop, NULL) != 0) die("pthread_create");
  if (host_udp >= 0 && pthread_create(&receiver, NULL, receive_datagrams_loop, NULL) != 0) {
    die("pthread_create");
  }
  say("started");

  while (fgets(command, sizeof command, stdin) != NULL) {
    command[strcspn(command, "\r\n")] = '\0';
    if (strcmp(command, "quit") == 0) break;
    if (strcmp(command, "stats") == 0) {
      print_stats();
      continue;
    }
    if (strcmp(command, "network-changed") == 0) {
      rc = sluice_tunnel_network_changed(tunnel);
    } else if (strcmp(command, "sleep") == 0) {
      rc = sluice_tunnel_sleep(tunnel);
    } else if (strcmp(command, "wake") == 0) {
      rc = sluice_tunnel_wake(tunnel);
    } else {
      say("error unknown command");
      continue;
    }
    say(rc == SLUICE_OK ? "ok" : "error");
  }

  pthread_mutex_lock(&stopping_lock);
  stopping_flag = 1;
  pthread_mutex_unlock(&stopping_lock);
  pthread_join(reader, NULL);
  if (host_udp >= 0) pthread_join(receiver, NULL);
  if (sluice_tunnel_stop(tunnel) != SLUICE_OK) die("sluice_tunnel_stop failed");
  sluice_tunnel_destroy(tunnel);
  close(tun_fd);
  if (host_udp >= 0) close(host_udp);
  say("stopped");
  return 0;
}
