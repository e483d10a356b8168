/* sluice.h's NETWORK SETTINGS read back from a created, never started tunnel: what a host needs
 * for NEPacketTunnelNetworkSettings without parsing the config itself. C99, pedantic, against
 * sluice.h and libsluice-embed alone. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice.h"
#include "check.h"

static const char kConfig[] =
    "[Interface]\n"
    "PrivateKey = oOCwGU8S21p0gOcoJXFDjXfc+mqVwMJch2bmGMx2G1I=\n"
    "Address = 10.9.0.1/24, fd09::1/64\n"
    "Address = 10.10.0.7\n"
    "DNS = 10.9.0.53, corp.example, fd09::53, lab.example\n"
    "MTU = 1380\n"
    "\n"
    "[Peer]\n"
    "PublicKey = h8cFrOVbqtmcAvbA/X2L5Blk5if7GWIPbB3s1Jv9lgM=\n"
    "AllowedIPs = 10.9.0.0/24, 192.168.4.7/16\n"
    "Endpoint = 192.0.2.2:51820\n"
    "\n"
    "[Peer]\n"
    "PublicKey = tBMm1jDGcflKAi+PWSI2aKQZt62vvvp2OP/KF5sq+Sw=\n"
    "AllowedIPs = 10.9.0.0/24, ::/0\n";

static const char kMinimal[] =
    "[Interface]\n"
    "PrivateKey = oOCwGU8S21p0gOcoJXFDjXfc+mqVwMJch2bmGMx2G1I=\n";

/* "10.9.0.1/24" or "fd09::1/64" */
static const char *text_of(const sluice_prefix *p, char *buffer, size_t size) {
  char address[INET6_ADDRSTRLEN];
  CHECK(p->family == SLUICE_ENDPOINT_IPV4 || p->family == SLUICE_ENDPOINT_IPV6);
  CHECK(inet_ntop(p->family == SLUICE_ENDPOINT_IPV4 ? AF_INET : AF_INET6, p->address, address,
                  sizeof address) != NULL);
  snprintf(buffer, size, "%s/%u", address, (unsigned)p->prefix_length);
  return buffer;
}

static void check_prefixes(const char *what, const sluice_prefix *got, int count,
                           const char *const *expected, int expected_count) {
  char buffer[64];
  int i;
  if (count != expected_count) {
    fprintf(stderr, "%s: %d entries, expected %d\n", what, count, expected_count);
    exit(1);
  }
  for (i = 0; i < count; ++i) {
    if (strcmp(text_of(&got[i], buffer, sizeof buffer), expected[i]) != 0) {
      fprintf(stderr, "%s[%d]: %s, expected %s\n", what, i, buffer, expected[i]);
      exit(1);
    }
  }
}

static void ignore_packets(void *context, const uint8_t *const *packets, const size_t *lengths,
                           const int *families, size_t count) {
  (void)context;
  (void)packets;
  (void)lengths;
  (void)families;
  (void)count;
}

static sluice_tunnel *create(const char *config) {
  sluice_tunnel_options options;
  sluice_tunnel *t = NULL;
  char error[256];
  sluice_tunnel_options_init(&options);
  options.packets_to_host = ignore_packets; /* never called: the tunnel is never started */
  CHECK(sluice_tunnel_create(config, strlen(config), &options, &t, error, sizeof error) ==
        SLUICE_OK);
  return t;
}

int main(void) {
  static const char *const addresses[] = {"10.9.0.1/24", "fd09::1/64", "10.10.0.7/32"};
  static const char *const dns[] = {"10.9.0.53/32", "fd09::53/128"};
  /* 192.168.4.7/16 as a route is 192.168.0.0/16; 10.9.0.0/24 twice is listed once. */
  static const char *const routes[] = {"10.9.0.0/24", "192.168.0.0/16", "::/0"};
  sluice_prefix out[8];
  sluice_tunnel *t = create(kConfig);
  int n;

  CHECK(sluice_tunnel_mtu(t) == 1380);
  n = sluice_tunnel_addresses(t, out, 8);
  check_prefixes("addresses", out, n, addresses, 3);
  n = sluice_tunnel_dns_servers(t, out, 8);
  check_prefixes("dns servers", out, n, dns, 2);
  n = sluice_tunnel_routes(t, out, 8);
  check_prefixes("routes", out, n, routes, 3);
  CHECK(strcmp(sluice_tunnel_dns_search_domain(t, 0), "corp.example") == 0);
  CHECK(strcmp(sluice_tunnel_dns_search_domain(t, 1), "lab.example") == 0);
  CHECK(sluice_tunnel_dns_search_domain(t, 2) == NULL);

  /* Counting, and a short array: filled up to its capacity, the whole count returned. */
  CHECK(sluice_tunnel_routes(t, NULL, 0) == 3);
  memset(out, 0xee, sizeof out);
  CHECK(sluice_tunnel_routes(t, out, 1) == 3);
  check_prefixes("routes, capacity 1", out, 1, routes, 1);
  CHECK(out[1].family == 0xee);

  CHECK(sluice_tunnel_addresses(t, NULL, 2) == SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(sluice_tunnel_addresses(NULL, out, 8) == SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(sluice_tunnel_mtu(NULL) == SLUICE_ERR_INVALID_ARGUMENT);
  CHECK(sluice_tunnel_dns_search_domain(NULL, 0) == NULL);
  sluice_tunnel_destroy(t);

  t = create(kMinimal);
  CHECK(sluice_tunnel_mtu(t) == 1420);
  CHECK(sluice_tunnel_addresses(t, out, 8) == 0);
  CHECK(sluice_tunnel_dns_servers(t, out, 8) == 0);
  CHECK(sluice_tunnel_routes(t, out, 8) == 0);
  CHECK(sluice_tunnel_dns_search_domain(t, 0) == NULL);
  sluice_tunnel_destroy(t);
  printf("network settings: ok\n");
  return 0;
}
