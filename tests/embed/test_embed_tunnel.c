/* Two embedded tunnels in one process, with the test as the host on both sides: it plays
 * packetFlow (batched packets in with address families, a batch callback out) and carries the
 * outer datagrams itself (each tunnel's send callback hands them to the other tunnel's
 * receive call). Built as C99 with -Wall -Wextra -Werror -pedantic against include/sluice.h
 * and the embedding library alone, as a host app would be.
 *
 * Checks: config and argument errors come back as codes and text and start nothing; IPv4 and
 * IPv6 packets cross both ways byte for byte with their families; mislabeled packets are
 * dropped; stop/start cycles leave no descriptor or thread behind and traffic flows after a
 * restart. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sluice.h"
#include "check.h"

static const char kConfigA[] =
    "[Interface]\n"
    "PrivateKey = oOCwGU8S21p0gOcoJXFDjXfc+mqVwMJch2bmGMx2G1I=\n"
    "Address = 10.9.0.1/24, fd09::1/64\n"
    "\n"
    "[Peer]\n"
    "PublicKey = h8cFrOVbqtmcAvbA/X2L5Blk5if7GWIPbB3s1Jv9lgM=\n"
    "AllowedIPs = 10.9.0.2/32, fd09::2/128\n"
    "Endpoint = 192.0.2.2:51820\n";

static const char kConfigB[] =
    "[Interface]\n"
    "PrivateKey = CEzrjGkfF6T+jTSlb463K1eit9cJQ2ZcQJSzV9WlJVQ=\n"
    "ListenPort = 51820\n"
    "\n"
    "[Peer]\n"
    "PublicKey = tBMm1jDGcflKAi+PWSI2aKQZt62vvvp2OP/KF5sq+Sw=\n"
    "AllowedIPs = 10.9.0.1/32, fd09::1/128\n";

/* What one host (one side of the tunnel) has received. */
#define MAX_RECEIVED 256
#define MAX_PACKET 2048
struct host {
  const char *name;
  sluice_tunnel *tunnel;
  struct host *peer;            /* where this tunnel's datagrams are delivered */
  sluice_endpoint address;      /* this side's outer address as the peer sees it */
  pthread_mutex_t lock;
  size_t received;
  unsigned char packets[MAX_RECEIVED][MAX_PACKET];
  size_t lengths[MAX_RECEIVED];
  int families[MAX_RECEIVED];
  unsigned long datagrams_sent;
  int liveness;        /* the last state the liveness callback reported */
  int liveness_calls;
};

static void on_liveness(void *context, int state) {
  struct host *h = context;
  pthread_mutex_lock(&h->lock);
  h->liveness = state;
  ++h->liveness_calls;
  pthread_mutex_unlock(&h->lock);
}

static int liveness_of(struct host *h) {
  int state;
  pthread_mutex_lock(&h->lock);
  state = h->liveness;
  pthread_mutex_unlock(&h->lock);
  return state;
}

static void on_packets(void *context, const uint8_t *const *packets, const size_t *lengths,
                       const int *families, size_t count) {
  struct host *h = context;
  size_t i;
  pthread_mutex_lock(&h->lock);
  for (i = 0; i < count; ++i) {
    /* The buffers are the library's and only valid now: copy. */
    if (h->received < MAX_RECEIVED && lengths[i] <= MAX_PACKET) {
      memcpy(h->packets[h->received], packets[i], lengths[i]);
      h->lengths[h->received] = lengths[i];
      h->families[h->received] = families[i];
    }
    ++h->received;
  }
  pthread_mutex_unlock(&h->lock);
}

/* The test's network: every datagram goes straight into the other tunnel, from this side's
 * address. Called on this tunnel's worker; calling the peer's receive from here is allowed. */
static void on_datagrams(void *context, const uint8_t *const *datagrams, const size_t *lengths,
                         const sluice_endpoint *destinations, size_t count) {
  struct host *h = context;
  sluice_endpoint sources[64];
  size_t i;
  CHECK(count <= 64);
  for (i = 0; i < count; ++i) {
    CHECK(destinations[i].family == h->peer->address.family);
    CHECK(memcmp(destinations[i].address, h->peer->address.address, 4) == 0);
    CHECK(destinations[i].port == h->peer->address.port);
    sources[i] = h->address;
  }
  pthread_mutex_lock(&h->lock);
  h->datagrams_sent += count;
  pthread_mutex_unlock(&h->lock);
  if (h->peer->tunnel != NULL) {
    /* A full queue (or a stopped peer) loses datagrams, as a network would. */
    (void)sluice_tunnel_receive_datagrams(h->peer->tunnel, datagrams, lengths, sources, count);
  }
}

static size_t received_count(struct host *h) {
  size_t n;
  pthread_mutex_lock(&h->lock);
  n = h->received;
  pthread_mutex_unlock(&h->lock);
  return n;
}

static unsigned long datagrams_sent_by(struct host *h) {
  unsigned long n;
  pthread_mutex_lock(&h->lock);
  n = h->datagrams_sent;
  pthread_mutex_unlock(&h->lock);
  return n;
}

static void reset_received(struct host *h) {
  pthread_mutex_lock(&h->lock);
  h->received = 0;
  pthread_mutex_unlock(&h->lock);
}

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&t, NULL);
}

static int wait_for(struct host *h, size_t count, long timeout_ms) {
  long waited = 0;
  while (received_count(h) < count) {
    if (waited >= timeout_ms) return 0;
    sleep_ms(5);
    waited += 5;
  }
  return 1;
}

static unsigned short ipv4_checksum(const unsigned char *header) {
  unsigned long sum = 0;
  int i;
  for (i = 0; i < 20; i += 2) sum += (unsigned long)(header[i] << 8 | header[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (unsigned short)~sum;
}

/* A UDP packet from src to dst (last address byte) whose payload carries `tag`. */
static size_t build_ipv4(unsigned char *p, int src, int dst, unsigned tag, size_t payload) {
  const size_t total = 20 + 8 + payload;
  size_t i;
  unsigned short sum;
  memset(p, 0, total);
  p[0] = 0x45;
  p[2] = (unsigned char)(total >> 8);
  p[3] = (unsigned char)total;
  p[8] = 64;
  p[9] = 17;
  p[12] = 10; p[13] = 9; p[14] = 0; p[15] = (unsigned char)src;
  p[16] = 10; p[17] = 9; p[18] = 0; p[19] = (unsigned char)dst;
  sum = ipv4_checksum(p);
  p[10] = (unsigned char)(sum >> 8);
  p[11] = (unsigned char)sum;
  p[20] = 0x30; p[21] = 0x39; p[22] = 0x30; p[23] = 0x39;
  p[24] = (unsigned char)((8 + payload) >> 8);
  p[25] = (unsigned char)(8 + payload);
  for (i = 0; i < payload; ++i) p[28 + i] = (unsigned char)(tag + i);
  p[28] = (unsigned char)(tag >> 8);
  p[29] = (unsigned char)tag;
  return total;
}

static size_t build_ipv6(unsigned char *p, int src, int dst, unsigned tag, size_t payload) {
  const size_t total = 40 + 8 + payload;
  size_t i;
  memset(p, 0, total);
  p[0] = 0x60;
  p[4] = (unsigned char)((8 + payload) >> 8);
  p[5] = (unsigned char)(8 + payload);
  p[6] = 17;
  p[7] = 64;
  p[8] = 0xfd; p[9] = 0x09; p[23] = (unsigned char)src;
  p[24] = 0xfd; p[25] = 0x09; p[39] = (unsigned char)dst;
  p[40] = 0x30; p[41] = 0x39; p[42] = 0x30; p[43] = 0x39;
  p[44] = (unsigned char)((8 + payload) >> 8);
  p[45] = (unsigned char)(8 + payload);
  for (i = 0; i < payload; ++i) p[48 + i] = (unsigned char)(tag + i);
  p[48] = (unsigned char)(tag >> 8);
  p[49] = (unsigned char)tag;
  return total;
}

/* Sends `count` packets (even tags IPv4, odd IPv6) from `from` to `to` in one batch, as
 * packetFlow.readPackets would deliver them, and checks that `to` receives exactly those bytes
 * with their families. The first batch after a start also waits out the handshake. */
static void exchange(struct host *from, struct host *to, int src, int dst, size_t count,
                     unsigned first_tag) {
  static unsigned char sent[64][MAX_PACKET];
  const uint8_t *pointers[64];
  size_t lengths[64];
  int families[64];
  size_t i, j;
  int taken, attempts = 0;
  CHECK(count <= 64);
  for (i = 0; i < count; ++i) {
    const unsigned tag = first_tag + (unsigned)i;
    if (i % 2 == 0) {
      lengths[i] = build_ipv4(sent[i], src, dst, tag, 64 + i * 11);
      families[i] = AF_INET;
    } else {
      lengths[i] = build_ipv6(sent[i], src, dst, tag, 64 + i * 11);
      families[i] = AF_INET6;
    }
    pointers[i] = sent[i];
  }
  reset_received(to);
  taken = 0;
  while ((size_t)taken < count) {
    int n = sluice_tunnel_write_packets(from->tunnel, pointers + taken, lengths + taken,
                                        families + taken, count - (size_t)taken);
    CHECK(n >= 0);
    taken += n;
    if ((size_t)taken < count) {
      CHECK(++attempts < 1000);
      sleep_ms(1);
    }
  }
  if (!wait_for(to, count, 10000)) {
    fprintf(stderr, "%s received %lu of %lu packets\n", to->name,
            (unsigned long)received_count(to), (unsigned long)count);
    exit(1);
  }
  sleep_ms(20); /* nothing beyond the batch may follow */
  pthread_mutex_lock(&to->lock);
  CHECK(to->received == count);
  /* Per-peer order is kept, so packet i is what was sent i-th. */
  for (j = 0; j < count; ++j) {
    CHECK(to->lengths[j] == lengths[j]);
    CHECK(to->families[j] == families[j]);
    CHECK(memcmp(to->packets[j], sent[j], lengths[j]) == 0);
  }
  pthread_mutex_unlock(&to->lock);
}

static int count_entries(const char *path) {
  DIR *dir = opendir(path);
  struct dirent *e;
  int n = 0;
  CHECK(dir != NULL);
  while ((e = readdir(dir)) != NULL) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

/* A joined thread can stay listed in /proc/self/task for a moment after pthread_join returns
 * (the kernel reaps it after clearing the tid join waits on), so allow it a second to go; a
 * leaked thread never does. */
static int threads_settle_at(int expected) {
  int waited;
  for (waited = 0; waited < 1000; ++waited) {
    if (count_entries("/proc/self/task") == expected) return 1;
    sleep_ms(1);
  }
  return 0;
}

static void *no_op_thread(void *arg) { return arg; }

/* Some runtimes start a helper thread of their own at the first pthread_create
 * (ThreadSanitizer does); one thread started and joined first puts it in the baseline. */
static void start_runtime_threads(void) {
  pthread_t t;
  CHECK(pthread_create(&t, NULL, no_op_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
}

static void init_host(struct host *h, const char *name, int last_octet) {
  memset(h, 0, sizeof *h);
  h->name = name;
  pthread_mutex_init(&h->lock, NULL);
  h->address.family = SLUICE_ENDPOINT_IPV4;
  h->address.address[0] = 192;
  h->address.address[1] = 0;
  h->address.address[2] = 2;
  h->address.address[3] = (uint8_t)last_octet;
  h->address.port = 51820;
}

static sluice_tunnel *create_tunnel(const char *config, struct host *h) {
  sluice_tunnel_options options;
  sluice_tunnel *t = NULL;
  char error[256];
  sluice_tunnel_options_init(&options);
  options.context = h;
  options.packets_to_host = on_packets;
  options.datagrams_to_network = on_datagrams;
  options.liveness = on_liveness;
  options.memory_limit = 1 << 20;
  options.log_prefix = h->name;
  if (sluice_tunnel_create(config, strlen(config), &options, &t, error, sizeof error) != SLUICE_OK) {
    fprintf(stderr, "create %s: %s\n", h->name, error);
    exit(1);
  }
  return t;
}

static void start_tunnel(struct host *h) {
  char error[256];
  if (sluice_tunnel_start(h->tunnel, error, sizeof error) != SLUICE_OK) {
    fprintf(stderr, "start %s: %s\n", h->name, error);
    exit(1);
  }
}

static int log_errors;
static void on_log(void *context, int level, const char *message) {
  (void)context;
  if (level >= SLUICE_LOG_ERROR) {
    ++log_errors;
    fprintf(stderr, "sluice error: %s\n", message);
  }
}

static void test_rejected_input(void) {
  struct host h;
  sluice_tunnel_options options;
  sluice_tunnel *t = (sluice_tunnel *)&h; /* must be reset to NULL on failure */
  char error[256];
  const char bad[] = "[Interface]\nPrivateKey = not-a-key\n";
  const char no_interface[] = "[Peer]\nPublicKey = h8cFrOVbqtmcAvbA/X2L5Blk5if7GWIPbB3s1Jv9lgM=\n";
  const int fds = count_entries("/proc/self/fd");

  init_host(&h, "bad: ", 9);
  sluice_tunnel_options_init(&options);
  options.context = &h;
  options.packets_to_host = on_packets;
  options.datagrams_to_network = on_datagrams;

  error[0] = '\0';
  CHECK(sluice_tunnel_create(bad, strlen(bad), &options, &t, error, sizeof error) ==
        SLUICE_ERR_CONFIG);
  CHECK(t == NULL);
  CHECK(strstr(error, "PrivateKey") != NULL);
  CHECK(strstr(error, "not-a-key") == NULL); /* key values are never echoed */

  error[0] = '\0';
  CHECK(sluice_tunnel_create(no_interface, strlen(no_interface), &options, &t, error,
                             sizeof error) == SLUICE_ERR_CONFIG);
  CHECK(t == NULL && error[0] != '\0');

  /* A tiny error buffer still gets a NUL-terminated prefix. */
  memset(error, 'x', sizeof error);
  CHECK(sluice_tunnel_create(bad, strlen(bad), &options, &t, error, 8) == SLUICE_ERR_CONFIG);
  CHECK(strlen(error) == 7);

  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), NULL, &t, error, sizeof error) ==
        SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), &options, NULL, error, sizeof error) ==
        SLUICE_ERR_INVALID_ARGUMENT);
  options.packets_to_host = NULL;
  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), &options, &t, error, sizeof error) ==
        SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(strstr(error, "packets_to_host") != NULL);
  options.packets_to_host = on_packets;
  options.memory_limit = 4096;
  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), &options, &t, error, sizeof error) ==
        SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(strstr(error, "memory_limit") != NULL);
  CHECK(t == NULL);
  options.memory_limit = 0;

  /* A created tunnel is stopped: writes are refused, null arrays are rejected. */
  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), &options, &t, error, sizeof error) ==
        SLUICE_OK);
  CHECK(t != NULL);
  {
    unsigned char packet[128];
    const uint8_t *pointers[1];
    size_t lengths[1];
    int families[1] = {AF_INET};
    pointers[0] = packet;
    lengths[0] = build_ipv4(packet, 1, 2, 1, 20);
    CHECK(sluice_tunnel_write_packets(t, pointers, lengths, families, 1) == SLUICE_ERR_STATE);
    CHECK(sluice_tunnel_write_packets(t, NULL, lengths, families, 1) ==
          SLUICE_ERR_INVALID_ARGUMENT);
    CHECK(sluice_tunnel_write_packets(NULL, pointers, lengths, families, 1) ==
          SLUICE_ERR_INVALID_ARGUMENT);
    pointers[0] = NULL;
    CHECK(sluice_tunnel_write_packets(t, pointers, lengths, families, 1) ==
          SLUICE_ERR_INVALID_ARGUMENT);
  }
  CHECK(sluice_tunnel_stop(t) == SLUICE_OK); /* stopping a stopped tunnel is fine */
  sluice_tunnel_destroy(t);
  sluice_tunnel_destroy(NULL);
  CHECK(sluice_set_log_callback(on_log, NULL, 99) == SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(count_entries("/proc/self/fd") == fds);
}

/* Packets the host mislabels or that are no IP packet at all are taken and dropped: only the
 * valid marker behind them arrives. */
static void test_bad_packets_dropped(struct host *a, struct host *b) {
  unsigned char packets[4][MAX_PACKET];
  const uint8_t *pointers[4];
  size_t lengths[4];
  int families[4];
  size_t i;
  lengths[0] = build_ipv4(packets[0], 1, 2, 100, 40);
  families[0] = AF_INET6; /* wrong family */
  lengths[1] = build_ipv6(packets[1], 1, 2, 101, 40);
  families[1] = 12345; /* no family at all */
  memset(packets[2], 0xff, 64);
  lengths[2] = 64;
  families[2] = AF_INET; /* not IPv4 */
  lengths[3] = build_ipv4(packets[3], 1, 2, 103, 40);
  families[3] = AF_INET;
  for (i = 0; i < 4; ++i) pointers[i] = packets[i];
  reset_received(b);
  CHECK(sluice_tunnel_write_packets(a->tunnel, pointers, lengths, families, 4) == 4);
  CHECK(wait_for(b, 1, 5000));
  sleep_ms(20);
  pthread_mutex_lock(&b->lock);
  CHECK(b->received == 1);
  CHECK(b->lengths[0] == lengths[3] && memcmp(b->packets[0], packets[3], lengths[3]) == 0);
  pthread_mutex_unlock(&b->lock);
}

static uint64_t handshakes_of(struct host *h) {
  sluice_tunnel_stats stats;
  CHECK(sluice_tunnel_get_stats(h->tunnel, &stats) == SLUICE_OK);
  return stats.handshakes_completed;
}

/* Waits up to `ms` for a's handshake count to pass `count`. */
static int handshake_after(struct host *h, uint64_t count, long ms) {
  long waited;
  for (waited = 0; waited <= ms; waited += 10) {
    if (handshakes_of(h) > count) return 1;
    sleep_ms(10);
  }
  return 0;
}

/* Sleep parks timers but not traffic; wake handshakes at once. A burst of network changes
 * leads to one rebind and handshake after the debounce, on the same port. Handshakes are
 * limited to one per REKEY_TIMEOUT (5 s) per peer, hence the waits. */
static void test_sleep_and_network_change(struct host *a, struct host *b) {
  const int port = sluice_tunnel_listen_port(a->tunnel);
  uint64_t before;
  int i;
  CHECK(sluice_tunnel_sleep(a->tunnel) == SLUICE_OK);
  exchange(a, b, 1, 2, 8, 8000);
  sleep_ms(5200);
  before = handshakes_of(a);
  CHECK(sluice_tunnel_wake(a->tunnel) == SLUICE_OK);
  CHECK(handshake_after(a, before, 400)); /* no debounce on wake */
  CHECK(sluice_tunnel_wake(a->tunnel) == SLUICE_OK); /* already awake: nothing */

  sleep_ms(5200);
  before = handshakes_of(a);
  for (i = 0; i < 5; ++i) {
    CHECK(sluice_tunnel_network_changed(a->tunnel) == SLUICE_OK);
    sleep_ms(50);
  }
  sleep_ms(200);
  CHECK(handshakes_of(a) == before); /* still inside the debounce window */
  CHECK(handshake_after(a, before, 2000));
  CHECK(sluice_tunnel_listen_port(a->tunnel) == port); /* rebound to the same port */
  exchange(a, b, 1, 2, 8, 8100);
  exchange(b, a, 2, 1, 8, 8200);
  printf("sleep, wake and network change: ok\n");
}

/* Library-owned transport: each tunnel binds its own UDP socket on loopback and the test only
 * plays packetFlow. b listens on a kernel-chosen port that a's config then names. */
static void test_owned_udp(void) {
  static struct host a, b;
  static const char config_b[] =
      "[Interface]\n"
      "PrivateKey = CEzrjGkfF6T+jTSlb463K1eit9cJQ2ZcQJSzV9WlJVQ=\n"
      "[Peer]\n"
      "PublicKey = tBMm1jDGcflKAi+PWSI2aKQZt62vvvp2OP/KF5sq+Sw=\n"
      "AllowedIPs = 10.9.0.1/32, fd09::1/128\n";
  char config_a[512];
  sluice_tunnel_options options;
  char error[256];
  int port_b;
  const int fds = count_entries("/proc/self/fd");

  init_host(&a, "udp-a: ", 1);
  init_host(&b, "udp-b: ", 2);
  sluice_tunnel_options_init(&options);
  options.packets_to_host = on_packets;
  options.memory_limit = 2 << 20;
  options.context = &b;
  CHECK(sluice_tunnel_create(config_b, strlen(config_b), &options, &b.tunnel, error,
                             sizeof error) == SLUICE_OK);
  CHECK(sluice_tunnel_listen_port(b.tunnel) == 0);
  start_tunnel(&b);
  port_b = sluice_tunnel_listen_port(b.tunnel);
  CHECK(port_b > 0);
  CHECK(count_entries("/proc/self/fd") > fds); /* the socket is the library's own */

  snprintf(config_a, sizeof config_a,
           "[Interface]\n"
           "PrivateKey = oOCwGU8S21p0gOcoJXFDjXfc+mqVwMJch2bmGMx2G1I=\n"
           "[Peer]\n"
           "PublicKey = h8cFrOVbqtmcAvbA/X2L5Blk5if7GWIPbB3s1Jv9lgM=\n"
           "AllowedIPs = 10.9.0.2/32, fd09::2/128\n"
           "Endpoint = localhost:%d\n", /* a name: resolved at start and on changes */
           port_b);
  options.context = &a;
  CHECK(sluice_tunnel_create(config_a, strlen(config_a), &options, &a.tunnel, error,
                             sizeof error) == SLUICE_OK);
  start_tunnel(&a);
  exchange(&a, &b, 1, 2, 32, 6000);
  exchange(&b, &a, 2, 1, 32, 7000);
  test_sleep_and_network_change(&a, &b);

  /* A taken ListenPort fails start with a reason and leaves nothing behind. */
  {
    char config_c[512];
    sluice_tunnel *c = NULL;
    const int fds_now = count_entries("/proc/self/fd");
    snprintf(config_c, sizeof config_c,
             "[Interface]\nPrivateKey = oOCwGU8S21p0gOcoJXFDjXfc+mqVwMJch2bmGMx2G1I=\n"
             "ListenPort = %d\n",
             port_b);
    CHECK(sluice_tunnel_create(config_c, strlen(config_c), &options, &c, error, sizeof error) ==
          SLUICE_OK);
    error[0] = '\0';
    CHECK(sluice_tunnel_start(c, error, sizeof error) == SLUICE_ERR_SYSTEM);
    CHECK(error[0] != '\0');
    CHECK(count_entries("/proc/self/fd") == fds_now);
    sluice_tunnel_destroy(c);
  }
  /* Linux's socket reserves GRO scratch space, so a ceiling too small for it is refused at
   * start; Darwin's batch socket (SLUICE_EMBED_DARWIN_UDP) has none, and the same ceiling
   * starts. */
  {
    sluice_tunnel *c = NULL;
    options.memory_limit = 700 * 1024;
    CHECK(sluice_tunnel_create(config_b, strlen(config_b), &options, &c, error, sizeof error) ==
          SLUICE_OK);
#if SLUICE_TEST_EMBED_DARWIN_UDP
    CHECK(sluice_tunnel_start(c, error, sizeof error) == SLUICE_OK);
    sluice_tunnel_stop(c);
#else
    CHECK(sluice_tunnel_start(c, error, sizeof error) == SLUICE_ERR_NO_MEMORY);
    CHECK(strstr(error, "memory limit") != NULL);
#endif
    sluice_tunnel_destroy(c);
  }

  sluice_tunnel_destroy(a.tunnel);
  sluice_tunnel_destroy(b.tunnel);
  CHECK(count_entries("/proc/self/fd") == fds);
  printf("library-owned UDP: ok\n");
}

/* Statistics after the traffic above, and liveness: up once a session exists, degraded when
 * the peer stops answering for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT. */
static void test_stats_and_liveness(struct host *a, struct host *b) {
  sluice_tunnel_stats stats;
  sluice_peer_stats peers[2];
  const time_t now = time(NULL);
  int i, invalid_inner;
  CHECK(sluice_tunnel_get_stats(a->tunnel, &stats) == SLUICE_OK);
  CHECK(stats.packets_from_host >= 32 + 64 + 1);
  CHECK(stats.packets_to_host >= 32);
  CHECK(stats.handshakes_completed >= 1);
  CHECK(stats.datagrams_sent >= 32 + 64);
  CHECK(stats.host_packets_dropped == 3); /* the mislabeled ones */
  CHECK(stats.liveness == SLUICE_LIVENESS_UP);
  invalid_inner = -1;
  for (i = 0; sluice_drop_reason_name(i) != NULL; ++i) {
    CHECK(i < SLUICE_DROP_REASONS_MAX);
    if (strcmp(sluice_drop_reason_name(i), "invalid_inner_packet") == 0) invalid_inner = i;
  }
  CHECK(invalid_inner >= 0);
  CHECK(sluice_drop_reason_name(-1) == NULL);
  CHECK(stats.drops[invalid_inner] == 0); /* bad packets never reached the device */

  CHECK(sluice_tunnel_get_peer_stats(a->tunnel, NULL, 0) == 1);
  CHECK(sluice_tunnel_get_peer_stats(a->tunnel, peers, 2) == 1);
  CHECK(peers[0].rx_bytes > 0 && peers[0].tx_bytes > peers[0].rx_bytes / 4);
  CHECK(peers[0].last_handshake_sec >= (int64_t)now - 60 && peers[0].last_handshake_sec <= (int64_t)now + 1);
  CHECK(peers[0].liveness == SLUICE_LIVENESS_UP);
  /* a initiated: its estimate exists and, in one process, is well under a second. */
  CHECK(peers[0].rtt_ns > 0 && peers[0].rtt_ns < 1000000000);
  /* h8cF... is b's public key: its first bytes in binary. */
  CHECK(peers[0].public_key[0] == 0x87 && peers[0].public_key[1] == 0xc7);
  CHECK(liveness_of(a) == SLUICE_LIVENESS_UP);
  CHECK(liveness_of(b) == SLUICE_LIVENESS_UP);

  /* b goes away; a keeps sending and hears nothing back. */
  CHECK(sluice_tunnel_stop(b->tunnel) == SLUICE_OK);
  CHECK(sluice_tunnel_get_stats(b->tunnel, &stats) == SLUICE_ERR_STATE);
  CHECK(sluice_tunnel_network_changed(b->tunnel) == SLUICE_ERR_STATE);
  CHECK(sluice_tunnel_sleep(b->tunnel) == SLUICE_ERR_STATE);
  CHECK(sluice_tunnel_wake(NULL) == SLUICE_ERR_INVALID_ARGUMENT);
  {
    unsigned char packet[128];
    const uint8_t *pointers[1];
    size_t lengths[1];
    int families[1] = {AF_INET};
    int waited;
    pointers[0] = packet;
    lengths[0] = build_ipv4(packet, 1, 2, 9000, 20);
    for (waited = 0; waited < 25000 && liveness_of(a) != SLUICE_LIVENESS_DEGRADED; waited += 250) {
      CHECK(sluice_tunnel_write_packets(a->tunnel, pointers, lengths, families, 1) == 1);
      sleep_ms(250);
    }
    CHECK(liveness_of(a) == SLUICE_LIVENESS_DEGRADED);
    CHECK(waited >= 14000); /* not before WireGuard itself would suspect the path */
  }
  start_tunnel(b);
}

/* tun_fd mode: a reads and writes one end of a socketpair with utun's framing (a 4-byte
 * address family, network order, Darwin's numbers) while the test plays the kernel on the
 * other end; b is an ordinary callback tunnel, and the test carries the datagrams. */
static void test_utun_fd(void) {
  static struct host a, b;
  static unsigned char frame[MAX_PACKET + 4], packets[3][MAX_PACKET];
  sluice_tunnel_options options;
  char error[256];
  int sv[2], i;
  size_t lengths[3];
  const int fds = count_entries("/proc/self/fd");

  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
  init_host(&a, "utun-a: ", 1);
  init_host(&b, "utun-b: ", 2);
  a.peer = &b;
  b.peer = &a;
  sluice_tunnel_options_init(&options);
  CHECK(options.tun_fd == -1);
  options.context = &a;
  options.datagrams_to_network = on_datagrams;
  options.memory_limit = 1 << 20;
  options.tun_fd = 1000; /* not open */
  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), &options, &a.tunnel, error,
                             sizeof error) == SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(strstr(error, "tun_fd") != NULL);
  options.tun_fd = sv[1];
  CHECK(sluice_tunnel_create(kConfigA, strlen(kConfigA), &options, &a.tunnel, error,
                             sizeof error) == SLUICE_OK);
  b.tunnel = create_tunnel(kConfigB, &b);
  start_tunnel(&b);
  start_tunnel(&a);

  /* The "kernel" writes: IPv4 (family 2), a bad family, IPv6 (family 30). */
  lengths[0] = build_ipv4(packets[0], 1, 2, 10000, 100);
  lengths[1] = build_ipv4(packets[1], 1, 2, 10001, 100);
  lengths[2] = build_ipv6(packets[2], 1, 2, 10002, 100);
  reset_received(&b);
  for (i = 0; i < 3; ++i) {
    const uint32_t family = htonl(i == 0 ? 2u : 30u);
    memcpy(frame, &family, 4);
    memcpy(frame + 4, packets[i], lengths[i]);
    CHECK(send(sv[0], frame, 4 + lengths[i], 0) == (ssize_t)(4 + lengths[i]));
  }
  CHECK(wait_for(&b, 2, 10000));
  sleep_ms(20);
  pthread_mutex_lock(&b.lock);
  CHECK(b.received == 2); /* the IPv4 packet labelled 30 was dropped */
  CHECK(b.lengths[0] == lengths[0] && memcmp(b.packets[0], packets[0], lengths[0]) == 0);
  CHECK(b.families[0] == AF_INET);
  CHECK(b.lengths[1] == lengths[2] && memcmp(b.packets[1], packets[2], lengths[2]) == 0);
  CHECK(b.families[1] == AF_INET6);
  pthread_mutex_unlock(&b.lock);

  /* b answers through the tunnel; a writes each packet to the descriptor, framed. */
  {
    const uint8_t *pointers[2];
    int families[2] = {AF_INET, AF_INET6};
    size_t answer_lengths[2];
    answer_lengths[0] = build_ipv4(packets[0], 2, 1, 11000, 200);
    answer_lengths[1] = build_ipv6(packets[1], 2, 1, 11001, 300);
    pointers[0] = packets[0];
    pointers[1] = packets[1];
    CHECK(sluice_tunnel_write_packets(b.tunnel, pointers, answer_lengths, families, 2) == 2);
    for (i = 0; i < 2; ++i) {
      struct pollfd p;
      uint32_t family;
      ssize_t n;
      p.fd = sv[0];
      p.events = POLLIN;
      CHECK(poll(&p, 1, 10000) == 1);
      n = recv(sv[0], frame, sizeof frame, 0);
      CHECK(n == (ssize_t)(4 + answer_lengths[i]));
      memcpy(&family, frame, 4);
      CHECK(ntohl(family) == (i == 0 ? 2u : 30u));
      CHECK(memcmp(frame + 4, packets[i], answer_lengths[i]) == 0);
    }
  }

  CHECK(sluice_tunnel_stop(a.tunnel) == SLUICE_OK);
  CHECK(sluice_tunnel_stop(b.tunnel) == SLUICE_OK);
  CHECK(fcntl(sv[1], F_GETFD) >= 0); /* the host's descriptor is still the host's */
  CHECK(count_entries("/proc/self/fd") == fds + 2);
  sluice_tunnel_destroy(a.tunnel);
  a.tunnel = NULL;
  sluice_tunnel_destroy(b.tunnel);
  b.tunnel = NULL;
  close(sv[0]);
  close(sv[1]);
  CHECK(count_entries("/proc/self/fd") == fds);
  printf("utun descriptor: ok\n");
}

int main(int argc, char **argv) {
  static struct host a, b;
  int fds_before, threads_before, cycle, cycles = 1000;
  if (argc > 1) cycles = atoi(argv[1]);

  CHECK(sluice_set_log_callback(on_log, NULL, SLUICE_LOG_WARN) == SLUICE_OK);
  test_rejected_input();

  init_host(&a, "a: ", 1);
  init_host(&b, "b: ", 2);
  a.peer = &b;
  b.peer = &a;
  fds_before = count_entries("/proc/self/fd");
  start_runtime_threads();
  threads_before = count_entries("/proc/self/task");

  a.tunnel = create_tunnel(kConfigA, &a);
  b.tunnel = create_tunnel(kConfigB, &b);
  start_tunnel(&b);
  start_tunnel(&a);
  {
    sluice_tunnel_stats stats;
    CHECK(sluice_tunnel_get_stats(a.tunnel, &stats) == SLUICE_OK);
    CHECK(stats.liveness == SLUICE_LIVENESS_DOWN); /* no handshake yet */
  }
  {
    char error[256];
    CHECK(sluice_tunnel_start(a.tunnel, error, sizeof error) == SLUICE_ERR_STATE);
    CHECK(strstr(error, "already") != NULL);
  }
  /* a initiates (b has no endpoint for a until a's handshake arrives), then both ways. */
  exchange(&a, &b, 1, 2, 32, 1000);
  exchange(&b, &a, 2, 1, 32, 2000);
  exchange(&a, &b, 1, 2, 64, 3000);
  test_bad_packets_dropped(&a, &b);
  test_stats_and_liveness(&a, &b);
  printf("traffic both ways: ok (%lu and %lu datagrams sent)\n", datagrams_sent_by(&a),
         datagrams_sent_by(&b));

  /* Start/stop cycles: every cycle's threads and descriptors must be gone after stop. */
  CHECK(sluice_tunnel_stop(a.tunnel) == SLUICE_OK);
  CHECK(sluice_tunnel_stop(b.tunnel) == SLUICE_OK);
  CHECK(threads_settle_at(threads_before));
  CHECK(count_entries("/proc/self/fd") == fds_before);
  for (cycle = 0; cycle < cycles; ++cycle) {
    start_tunnel(&a);
    CHECK(threads_settle_at(threads_before + 1));
    CHECK(sluice_tunnel_stop(a.tunnel) == SLUICE_OK);
    CHECK(threads_settle_at(threads_before));
    CHECK(count_entries("/proc/self/fd") == fds_before);
  }
  printf("%d start/stop cycles: no thread or descriptor left\n", cycles);

  /* After a restart of both, the tunnels handshake again and carry traffic. */
  start_tunnel(&b);
  start_tunnel(&a);
  exchange(&a, &b, 1, 2, 16, 4000);
  exchange(&b, &a, 2, 1, 16, 5000);
  printf("traffic after restart: ok\n");

  /* destroy stops first; the peer's callbacks must not reach a freed tunnel, so a is cleared
   * from b's view before it goes. */
  CHECK(sluice_tunnel_stop(a.tunnel) == SLUICE_OK);
  CHECK(sluice_tunnel_stop(b.tunnel) == SLUICE_OK);
  sluice_tunnel_destroy(a.tunnel);
  a.tunnel = NULL;
  sluice_tunnel_destroy(b.tunnel);
  b.tunnel = NULL;
  CHECK(threads_settle_at(threads_before));
  CHECK(count_entries("/proc/self/fd") == fds_before);
  test_owned_udp();
  test_utun_fd();
  CHECK(log_errors == 0);
  printf("ok\n");
  return 0;
}
