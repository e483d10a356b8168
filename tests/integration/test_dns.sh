#!/usr/bin/env bash
# DNS interception end to end: `sluice up CONFIG --dns-config DNSCONF` with the real
# wireguard-go as the peer, and real Debian resolvers on the peer's side of the tunnel serving
# small local zones (nothing is ever forwarded outside the namespaces):
#
#   NS_S: sluice up (10.88.0.2, fd88::2; DNS = 10.88.0.1, fd88::1), dig
#   NS_W: wireguard-go (10.88.0.1, fd88::1, 10.99.0.53)
#         unbound  on 10.88.0.1 / fd88::1: zone test. (www, big TXT); everything else REFUSED
#         dnsmasq  on 10.99.0.53: corp.test. only (the split-DNS upstream)
#         dnsmasq  on 10.77.0.1:5300 (the veth, outside the tunnel): lan.test., a `direct` upstream
#
# Checks: UDP (IPv4 and IPv6) and TCP queries through Sluice's TUN get the resolver's answer;
# a blocked name gets NXDOMAIN and never reaches the resolver; an override answers locally; a
# split-DNS suffix goes to its own resolver, a `direct` one through an ordinary socket (UDP,
# and TCP when its answer is truncated); an answer too big for one tunnel packet comes back
# truncated from the resolver and is fetched again over TCP through the tunnel (lwIP), and a
# client's TCP retry is answered in full; .local passes through untouched; an upstream that
# never answers gives SERVFAIL within its timeout; the query log; `sluice stats`; SIGHUP with a
# bad policy keeps the running one, with a good one swaps it in; SIGTERM exits 0.
#
# Usage: bash test_dns.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"
sl_require_tools dig unbound unbound-checkconf dnsmasq
"$SLUICE" --help | grep -q -- --dns-config ||
  sl_fail "$SLUICE has no --dns-config option: platform/dns_pipeline is not wired into the CLI"

sl_two_hosts
NS_W=$NS_A NS_S=$NS_B
IF_W=$(sl_name slW) IF_S=$(sl_name slD)
PORT_W=51820 PORT_S=51821
SPLIT4=10.99.0.53 DEAD4=10.99.0.54

PUB_W=$(sl_keypair w)
PUB_S=$(sl_keypair s)

sl_step "wireguard-go peer $IF_W in $NS_W with the resolvers' addresses"
sl_start_wireguard_go "$NS_W" "$IF_W"
sl_wg "$NS_W" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_S" allowed-ips "$INNER4_B/32,$INNER6_B/128"
sl_if_addr "$NS_W" "$IF_W" "$INNER4_A/24" "$INNER6_A/64" "$SPLIT4/32"

sl_step "unbound on $INNER4_A and $INNER6_A (zone test.), dnsmasq on $SPLIT4 (corp.test.)"
BIG_TXT=$(printf 'x%.0s' {1..200})
{
  cat <<CONF
server:
  interface: $INNER4_A
  interface: $INNER6_A
  port: 53
  do-ip6: yes
  do-tcp: yes
  access-control: 10.88.0.0/24 allow
  access-control: fd88::/64 allow
  username: ""
  chroot: ""
  directory: "$SL_TMP"
  pidfile: "$SL_TMP/unbound.pid"
  use-syslog: no
  logfile: "$SL_TMP/unbound.log"
  log-queries: yes
  verbosity: 1
  num-threads: 1
  minimal-responses: yes
  # Only the local zone is answered: nothing is ever resolved outside the namespaces.
  local-zone: "." refuse
  local-zone: "test." static
  local-data: "www.test. 300 IN A 10.5.5.5"
  local-data: "www.test. 300 IN AAAA fd55::5"
  local-data: "blocked.test. 300 IN A 10.6.6.6"
  local-data: "printer.test. 300 IN A 10.6.6.7"
  local-data: "later.test. 300 IN A 10.6.6.8"
CONF
  # Ten 200-byte TXT records: about 2.1 KB, more than one 1420-byte tunnel packet holds.
  for i in $(seq 1 10); do printf '  local-data: "big.test. 300 IN TXT %s%02d"\n' "$BIG_TXT" "$i"; done
  printf 'remote-control:\n  control-enable: no\n'
} >"$SL_TMP/unbound.conf"
unbound-checkconf "$SL_TMP/unbound.conf" >/dev/null
ip netns exec "$NS_W" unbound -d -p -c "$SL_TMP/unbound.conf" >"$SL_TMP/unbound-stdout.log" 2>&1 </dev/null &
SL_PIDS+=("$!")
ip netns exec "$NS_W" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address="$SPLIT4" --port=53 --address=/corp.test/10.7.7.7 --log-queries \
  --log-facility="$SL_TMP/dnsmasq.log" --pid-file="$SL_TMP/dnsmasq.pid" --user=root --group=root \
  >"$SL_TMP/dnsmasq-stdout.log" 2>&1 </dev/null &
SL_PIDS+=("$!")
resolver_up() { ip netns exec "$NS_W" dig +time=1 +tries=1 @"$1" "$2" A +short | grep -q .; }
DIRECT_PORT=5300
direct_txt=()
for i in $(seq 1 10); do direct_txt+=(--txt-record="big.lan.test,$BIG_TXT$i"); done
ip netns exec "$NS_W" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address="$OUTER4_A" --port="$DIRECT_PORT" --address=/a.lan.test/10.8.8.8 "${direct_txt[@]}" \
  --log-queries --log-facility="$SL_TMP/dnsmasq-direct.log" --pid-file="$SL_TMP/dnsmasq-direct.pid" \
  --user=root --group=root >"$SL_TMP/dnsmasq-direct-stdout.log" 2>&1 </dev/null &
SL_PIDS+=("$!")
sl_wait_for "unbound on $INNER4_A" 10 resolver_up "$INNER4_A" www.test
sl_wait_for "dnsmasq on $SPLIT4" 10 resolver_up "$SPLIT4" x.corp.test

sl_step "sluice up $IF_S.conf --dns-config dns.conf in $NS_S"
CONF="$SL_TMP/$IF_S.conf"
(umask 077 && cat >"$CONF" <<CONF
[Interface]
Address = $INNER4_B/24, $INNER6_B/64
ListenPort = $PORT_S
PrivateKey = $(sl_key s)
DNS = $INNER4_A, $INNER6_A
MTU = 1420

[Peer]
PublicKey = $PUB_W
Endpoint = $OUTER4_A:$PORT_W
AllowedIPs = $INNER4_A/32, $INNER6_A/128, 10.99.0.0/24
CONF
)
DNSCONF="$SL_TMP/dns.conf"
QUERY_LOG="$SL_TMP/queries.log"
write_policy() { # write_policy EXTRA_BLOCKED_DOMAIN
  cat >"$DNSCONF" <<CONF
[Block]
Action = nxdomain
TTL = 60
Domain = blocked.test${1:+, $1}

[Override]
Host = printer.test 10.1.2.3

[Upstream]
Domain = corp.test
Server = $SPLIT4

[Upstream]
Domain = lan.test
Server = $OUTER4_A:$DIRECT_PORT direct

[Upstream]
Domain = dead.test
Server = $DEAD4
Timeout = 700ms
Retries = 1

[QueryLog]
Enabled = yes
Path = $QUERY_LOG
CONF
}
write_policy ""
SL_IFACES+=("$IF_S")
ip netns exec "$NS_S" env LOG_LEVEL="$SL_LOG_LEVEL" "$SLUICE" up "$CONF" --dns-config "$DNSCONF" \
  >"$SL_TMP/sluice-up.log" 2>&1 </dev/null &
UP_PID=$!
SL_PIDS+=("$UP_PID")
up_ready() { ip -n "$NS_S" addr show dev "$IF_S" 2>/dev/null | grep -qF "inet $INNER4_B/24"; }
deadline=$(($(date +%s) + 15))
until up_ready; do
  sl_pid_alive "$UP_PID" || sl_fail "sluice up --dns-config exited before the interface was ready"
  (($(date +%s) < deadline)) || sl_fail "sluice up: interface not ready after 15s"
  sleep 0.1
done
sl_wait_ping "$NS_S" "$INNER4_A"

# dig from Sluice's side, always to the tunnel's DNS address (intercepted).
sdig() { ip netns exec "$NS_S" timeout 20 dig +time=3 +tries=1 "$@" 2>&1; }
status_of() { sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$1" | head -n 1; }
stat_of() { # stat_of NAME -> value from `sluice stats`
  ip netns exec "$NS_S" "$SLUICE" stats "$IF_S" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

sl_step "1. UDP over IPv4 and IPv6, and TCP: the resolver's answers through the tunnel"
sl_assert_eq "A www.test over UDP" "10.5.5.5" "$(sdig @"$INNER4_A" www.test A +short)"
sl_assert_eq "AAAA www.test over UDP to $INNER6_A" "fd55::5" "$(sdig @"$INNER6_A" www.test AAAA +short)"
sl_assert_eq "A www.test over TCP" "10.5.5.5" "$(sdig +tcp @"$INNER4_A" www.test A +short)"
sl_assert_eq "A www.test over TCP to $INNER6_A" "10.5.5.5" "$(sdig +tcp @"$INNER6_A" www.test A +short)"
sl_assert_match "the resolver saw Sluice's query from the tunnel address" "$INNER4_B www\\.test\\. A IN" \
  "$(cat "$SL_TMP/unbound.log")"
sl_assert_gt0 "dns_queries_tcp" "$(stat_of dns_queries_tcp)"
sl_assert_gt0 "dns_cache_hits (the second www.test A)" "$(stat_of dns_cache_hits)"
sl_pass "UDP (IPv4, IPv6) and TCP queries answered through the tunnel by unbound"

sl_step "2. block list, override, split DNS"
out=$(sdig @"$INNER4_A" blocked.test A)
sl_assert_eq "status for blocked.test" NXDOMAIN "$(status_of "$out")"
sl_assert_eq "blocked.test over TCP" NXDOMAIN "$(status_of "$(sdig +tcp @"$INNER4_A" blocked.test A)")"
sl_assert_eq "printer.test (override)" "10.1.2.3" "$(sdig @"$INNER4_A" printer.test A +short)"
sl_assert_eq "host.corp.test (split DNS to dnsmasq)" "10.7.7.7" "$(sdig @"$INNER4_A" host.corp.test A +short)"
sl_assert_nomatch "blocked.test never reached unbound" "blocked\\.test" "$(cat "$SL_TMP/unbound.log")"
sl_assert_nomatch "printer.test never reached unbound" "printer\\.test" "$(cat "$SL_TMP/unbound.log")"
sl_assert_nomatch "host.corp.test never reached unbound" "corp\\.test" "$(cat "$SL_TMP/unbound.log")"
sl_assert_match "host.corp.test reached dnsmasq from the tunnel address" "query\\[A\\] host\\.corp\\.test from $INNER4_B" \
  "$(cat "$SL_TMP/dnsmasq.log")"
sl_assert_eq "dns_blocked" 2 "$(stat_of dns_blocked)"
sl_pass "blocked name: NXDOMAIN without reaching the resolver; override local; corp.test to dnsmasq"

sl_step "3. an answer bigger than one tunnel packet: TC from unbound, fetched again over TCP"
small=$(sdig @"$INNER4_A" +ignore +noedns big.test TXT)
sl_assert_match "a UDP client without EDNS gets the answer truncated (TC)" "flags:[a-z ]* tc" "$small"
sl_assert_gt0 "dns_tcp_fallbacks (Sluice asked unbound again over TCP)" "$(stat_of dns_tcp_fallbacks)"
sl_assert_gt0 "dns_tcp_upstream_answered (through lwIP and the tunnel)" "$(stat_of dns_tcp_upstream_answered)"
full=$(sdig @"$INNER4_A" big.test TXT) # dig retries over TCP on TC by itself
txt_records() { grep -cE '^big\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+TXT' || true; }
sl_assert_eq "TXT records after dig's own TCP retry" 10 "$(txt_records <<<"$full")"
sl_assert_eq "TXT records over TCP" 10 "$(sdig +tcp @"$INNER4_A" big.test TXT | txt_records)"
sl_pass "truncated upstream answer retried over TCP through the tunnel; clients get TC then the whole set over TCP"

sl_step "3b. a direct upstream: UDP from an ordinary socket, TCP when truncated"
fallbacks_before=$(stat_of dns_tcp_fallbacks)
sl_assert_eq "a.lan.test from the direct dnsmasq" "10.8.8.8" "$(sdig @"$INNER4_A" a.lan.test A +short)"
sl_assert_match "the direct dnsmasq saw the query from the veth address" "query\\[A\\] a\\.lan\\.test from $OUTER4_B" \
  "$(cat "$SL_TMP/dnsmasq-direct.log")"
direct_txt_records() { grep -cE '^big\.lan\.test\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+TXT' || true; }
sl_assert_eq "big.lan.test TXT records over TCP" 10 "$(sdig +tcp @"$INNER4_A" big.lan.test TXT | direct_txt_records)"
sl_assert_eq "dns_tcp_fallbacks after big.lan.test" $((fallbacks_before + 1)) "$(stat_of dns_tcp_fallbacks)"
sl_assert_eq "dns_direct_tcp_refused" 0 "$(stat_of dns_direct_tcp_refused)"
sl_pass "direct upstream answered over UDP, and over TCP after a truncated UDP reply"

sl_step "4. .local passes through untouched"
sdig @"$INNER4_A" printer.local A >/dev/null || true
sl_assert_match ".local query reached unbound as the client sent it" "$INNER4_B printer\\.local\\. A IN" \
  "$(cat "$SL_TMP/unbound.log")"
sl_assert_eq "dns_passed_through" 1 "$(stat_of dns_passed_through)"
sl_pass ".local query left the host as a raw packet"

sl_step "5. an upstream that never answers: SERVFAIL within its timeout (2 x 700 ms)"
t0=$(date +%s%N)
out=$(sdig +time=6 @"$INNER4_A" x.dead.test A)
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
sl_assert_eq "status for x.dead.test" SERVFAIL "$(status_of "$out")"
# Sluice's own measure (the query log's latency, arrival to answer) must be the two attempts'
# 1400 ms plus timer slack; dig's wall clock adds process start-up on a loaded machine.
servfail_ms=$(awk '/x\.dead\.test A servfail SERVFAIL/ { sub(/ms$/, "", $NF); print int($NF) }' "$QUERY_LOG" | tail -n 1)
[[ -n $servfail_ms ]] || sl_fail "no SERVFAIL line for x.dead.test in the query log"
((servfail_ms >= 1400 && servfail_ms < 1700)) || sl_fail "SERVFAIL after ${servfail_ms} ms in Sluice, expected 1400-1700"
((elapsed_ms < 5000)) || sl_fail "dig got SERVFAIL only after ${elapsed_ms} ms"
sl_assert_gt0 "dns_upstream_timeouts" "$(stat_of dns_upstream_timeouts)"
sl_log "SERVFAIL after ${servfail_ms} ms (dig: ${elapsed_ms} ms)"
sl_pass "unanswered upstream: SERVFAIL after ${servfail_ms} ms"

sl_step "6. the query log"
log=$(cat "$QUERY_LOG")
sl_assert_match "query log: forwarded www.test" "$INNER4_B:[0-9]+ udp www\\.test A forwarded NOERROR [0-9.]+ms" "$log"
sl_assert_match "query log: blocked" "udp blocked\\.test A blocked NXDOMAIN" "$log"
sl_assert_match "query log: TCP client" "tcp#[0-9]+ tcp www\\.test A (cached|forwarded) NOERROR" "$log"
sl_assert_match "query log: SERVFAIL" "x\\.dead\\.test A servfail SERVFAIL" "$log"
sl_pass "query log has one line per query"

sl_step "7. SIGHUP: a bad policy keeps the running one, a good one is swapped in"
printf '[Block]\nAction = sometimes\n' >"$DNSCONF"
kill -HUP "$UP_PID"
sl_wait_for "the reload error in the log" 10 grep -q "reload failed" "$SL_TMP/sluice-up.log"
sl_assert_match "reload error names the file and line" "dns.conf:2: Action" "$(grep 'reload failed' "$SL_TMP/sluice-up.log")"
sl_assert_eq "still blocking after the bad reload" NXDOMAIN "$(status_of "$(sdig @"$INNER4_A" blocked.test A)")"
sl_assert_eq "still forwarding after the bad reload" "10.6.6.8" "$(sdig @"$INNER4_A" later.test A +short)"
sl_assert_eq "dns_policy_reload_failures" 1 "$(stat_of dns_policy_reload_failures)"
write_policy later.test
kill -HUP "$UP_PID"
sl_wait_for "the good reload" 10 sh -c "ip netns exec '$NS_S' '$SLUICE' stats '$IF_S' | grep -qx 'dns_policy_reloads=1'"
sl_assert_eq "later.test blocked after the good reload" NXDOMAIN "$(status_of "$(sdig @"$INNER4_A" later.test A)")"
sl_assert_eq "www.test still answered" "10.5.5.5" "$(sdig @"$INNER4_A" www.test A +short)"
sl_assert "the tunnel stayed up" sl_ping_once "$NS_S" "$INNER4_A"
sl_pass "bad policy refused on SIGHUP with FILE:LINE: KEY, running policy kept; good policy applied"

sl_step "8. stop"
kill -TERM "$UP_PID"
sl_wait_exit "$UP_PID" 10
sl_assert_eq "sluice up exit status after SIGTERM" 0 "$SL_EXIT_CODE"
sl_pass "sluice exited 0 on SIGTERM"

sl_pass "all checks"
