#!/usr/bin/env bash
# `sluice up CONFIG` (foreground) reads a wg-quick config, creates the interface named after the
# file, sets its addresses, MTU and AllowedIPs routes, brings it up, and on SIGTERM removes all
# of it and exits 0.
#   1. Endpoint given as a host name, resolved through the namespace's own /etc/hosts
#      (/etc/netns/NS/hosts, which `ip netns exec` bind-mounts over /etc/hosts).
#   2. Endpoint given as an IPv6 literal; also shows the first run left nothing behind, since
#      the same interface name is used again.
#   3. Malformed configs: "FILE:LINE: KEY: ..." on stderr, exit 1, no interface ever created.
#
# Usage: bash test_sluice_up.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"

sl_two_hosts
NS_W=$NS_A NS_U=$NS_B  # A runs wireguard-go, B runs `sluice up`
IF_W=$(sl_name slW) IF_U=$(sl_name slU)
PORT_W=51820 PORT_U=51821 MTU=1380
PEER_NAME=peer.sluice.test
sl_netns_hosts "$NS_U" "$OUTER4_A $PEER_NAME"

PUB_W=$(sl_keypair w)
PUB_U=$(sl_keypair u)

sl_step "wireguard-go peer $IF_W in $NS_W (no endpoint: it learns sluice's)"
sl_start_wireguard_go "$NS_W" "$IF_W"
sl_wg "$NS_W" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_U" allowed-ips "$INNER4_B/32,$INNER6_B/128"
sl_if_addr "$NS_W" "$IF_W" "$INNER4_A/24" "$INNER6_A/64" 10.99.0.1/24

CONF="$SL_TMP/$IF_U.conf"
write_conf() { # write_conf ENDPOINT
  (umask 077 && cat >"$CONF" <<CONF
[Interface]
Address = $INNER4_B/24, $INNER6_B/64
ListenPort = $PORT_U
PrivateKey = $(sl_key u)
MTU = $MTU

[Peer]
PublicKey = $PUB_W
Endpoint = $1
AllowedIPs = $INNER4_A/32, $INNER6_A/128, 10.99.0.0/24
CONF
  )
}

# The interface is ready once it is up with its address and the extra route.
up_ready() {
  ip -n "$NS_U" link show dev "$IF_U" 2>/dev/null | grep -q '[<,]UP[,>]' &&
    ip -n "$NS_U" addr show dev "$IF_U" 2>/dev/null | grep -qF "inet $INNER4_B/24" &&
    ip -n "$NS_U" route show 10.99.0.0/24 2>/dev/null | grep -qF "dev $IF_U"
}

UP_PID=""
start_up() {
  SL_IFACES+=("$IF_U")
  ip netns exec "$NS_U" env LOG_LEVEL="$SL_LOG_LEVEL" "$SLUICE" up "$CONF" \
    >"$SL_TMP/sluice-up-$1.log" 2>&1 </dev/null &
  UP_PID=$!
  SL_PIDS+=("$UP_PID")
  local deadline=$(($(date +%s) + 15))
  until up_ready; do
    sl_pid_alive "$UP_PID" || sl_fail "sluice up $CONF exited before the interface was ready"
    (($(date +%s) < deadline)) || sl_fail "sluice up $CONF: interface not up with address and routes after 15s"
    sleep 0.1
  done
  sl_log "sluice up $IF_U.conf running (pid $UP_PID)"
}

check_interface() {
  local link addr4 addr6
  link=$(ip -n "$NS_U" link show dev "$IF_U")
  addr4=$(ip -n "$NS_U" -4 addr show dev "$IF_U")
  addr6=$(ip -n "$NS_U" -6 addr show dev "$IF_U")
  sl_assert_match "$IF_U MTU" "mtu $MTU " "$link"
  sl_assert_contains "$IF_U IPv4 address" "inet $INNER4_B/24" "$addr4"
  sl_assert_contains "$IF_U IPv6 address" "inet6 $INNER6_B/64" "$addr6"
  sl_assert_contains "route to $INNER4_A" "dev $IF_U" "$(ip -n "$NS_U" route get "$INNER4_A")"
  sl_assert_contains "route to 10.99.0.1 (AllowedIPs 10.99.0.0/24)" "dev $IF_U" "$(ip -n "$NS_U" route get 10.99.0.1)"
  sl_assert_contains "route to $INNER6_A" "dev $IF_U" "$(ip -n "$NS_U" -6 route get "$INNER6_A")"
  sl_assert_eq "listen port" "$PORT_U" "$(sl_wg "$NS_U" show "$IF_U" listen-port)"
}

stop_up() {
  kill -TERM "$UP_PID"
  sl_wait_exit "$UP_PID" 10
  sl_assert_eq "sluice up exit status after SIGTERM" 0 "$SL_EXIT_CODE"
  if ip -n "$NS_U" link show dev "$IF_U" >/dev/null 2>&1; then sl_fail "$IF_U still exists after SIGTERM"; fi
  sl_assert_eq "routes left for the tunnel's prefixes" "" \
    "$(ip -n "$NS_U" route show 10.99.0.0/24; ip -n "$NS_U" route show 10.88.0.0/24; ip -n "$NS_U" -6 route show fd88::/64)"
  sl_assert "UAPI socket removed" sl_sock_absent "$IF_U"
}

sl_step "1. sluice up with Endpoint = $PEER_NAME:$PORT_W (host name from the namespace's /etc/hosts)"
write_conf "$PEER_NAME:$PORT_W"
start_up hostname
check_interface
sl_assert_eq "endpoint resolved from $PEER_NAME" "$PUB_W	$OUTER4_A:$PORT_W" "$(sl_wg "$NS_U" show "$IF_U" endpoints)"
sl_check_pings "$NS_U" "$INNER4_A" "$INNER6_A" "$NS_W" "$INNER4_B" "$INNER6_B"
sl_ping "$NS_U" 10.99.0.1
sl_wait_handshake "$NS_U" "$IF_U" "$PUB_W"
sl_iperf_server "$NS_W" "$INNER4_A" 5201
sl_iperf "$NS_U" "$INNER4_A" 5201 2
sl_iperf "$NS_U" "$INNER4_A" 5201 2 -R
stop_up
sl_pass "sluice up (host name endpoint): address, MTU, routes, traffic; SIGTERM removed everything, exit 0"

sl_step "2. sluice up with Endpoint = [$OUTER6_A]:$PORT_W, same interface name again"
write_conf "[$OUTER6_A]:$PORT_W"
start_up ipv6
check_interface
sl_assert_eq "IPv6 endpoint" "$PUB_W	[$OUTER6_A]:$PORT_W" "$(sl_wg "$NS_U" show "$IF_U" endpoints)"
sl_wait_ping "$NS_U" "$INNER4_A"
sl_ping "$NS_U" "$INNER4_A"
sl_ping "$NS_U" "$INNER6_A"
sl_ping "$NS_W" "$INNER4_B"
sl_wait_handshake "$NS_U" "$IF_U" "$PUB_W"
stop_up
sl_pass "sluice up (IPv6 literal endpoint): traffic; SIGTERM removed everything, exit 0"

sl_step "3. malformed configs are refused with FILE:LINE: KEY and create nothing"
ip -n "$NS_U" monitor link >"$SL_TMP/link-monitor.log" 2>&1 &
MONITOR_PID=$!
SL_PIDS+=("$MONITOR_PID")
# Each case: LINE KEY and a config whose line LINE holds the bad KEY.
bad_case() { # bad_case LINE KEY  (config on stdin)
  local line=$1 key=$2 out rc=0
  (umask 077 && cat >"$CONF")
  out=$(ip netns exec "$NS_U" timeout 10 "$SLUICE" up "$CONF" 2>&1 </dev/null) || rc=$?
  printf '%s\n' "$out" >>"$SL_TMP/sluice-up-bad-configs.log" # scanned for sanitizer reports
  [[ $rc -ne 124 ]] || sl_fail "sluice up with a bad $key (line $line) did not exit within 10s"
  sl_assert_eq "exit status of sluice up with a bad $key" 1 "$rc"
  sl_assert_contains "error message for a bad $key" "$IF_U.conf:$line: $key" "$out"
  if ip -n "$NS_U" link show dev "$IF_U" >/dev/null 2>&1; then sl_fail "$IF_U exists after a config error"; fi
  sl_assert "no UAPI socket after a config error" sl_sock_absent "$IF_U"
  sl_log "bad $key on line $line -> exit 1: $(head -n 1 <<<"$out")"
}
KEY_U=$(sl_key u)
bad_case 3 ListenPort <<CONF
[Interface]
Address = $INNER4_B/24
ListenPort = 70000
PrivateKey = $KEY_U
CONF
bad_case 2 PrivateKey <<CONF
[Interface]
PrivateKey = not-a-valid-key
CONF
bad_case 3 Address <<CONF
[Interface]
PrivateKey = $KEY_U
Address = 10.88.0.300/24
CONF
bad_case 4 MTU <<CONF
[Interface]
PrivateKey = $KEY_U
Address = $INNER4_B/24
MTU = large
CONF
bad_case 9 AllowedIPs <<CONF
[Interface]
PrivateKey = $KEY_U
Address = $INNER4_B/24

[Peer]
PublicKey = $PUB_W
Endpoint = $OUTER4_A:$PORT_W
# a comment line
AllowedIPs = 10.99.0.0/33
CONF
bad_case 7 Endpoint <<CONF
[Interface]
PrivateKey = $KEY_U
Address = $INNER4_B/24

[Peer]
PublicKey = $PUB_W
Endpoint = $PEER_NAME
AllowedIPs = $INNER4_A/32
CONF
bad_case 3 NoSuchKey <<CONF
[Interface]
PrivateKey = $KEY_U
NoSuchKey = 1
CONF
sleep 0.2 # let the monitor print anything still queued
kill "$MONITOR_PID" 2>/dev/null || true
if grep -F "$IF_U" "$SL_TMP/link-monitor.log"; then
  sl_fail "an interface $IF_U was created during the malformed-config runs (see ip monitor output above)"
fi
sl_pass "7 malformed configs: FILE:LINE: KEY message, exit 1, no interface created"

sl_pass "all checks"
