#!/usr/bin/env bash
# wg-quick drives Sluice as its userspace implementation:
#   WG_QUICK_USERSPACE_IMPLEMENTATION=sluice wg-quick up IFACE.conf
# runs `sluice IFACE` (daemon mode: the parent returns once the UAPI socket is ready), then
# configures it with wg setconf, ip address, ip link and ip route. Traffic to a wireguard-go
# peer must work; `wg-quick down` deletes the interface, and Sluice must notice, exit and remove
# its UAPI socket.
#
# The config has no DNS= line and no default route, so wg-quick needs neither resolvconf nor
# fwmark rules.
#
# Usage: bash test_wg_quick.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"
sl_require_tools wg-quick

sl_two_hosts
NS_W=$NS_A NS_Q=$NS_B  # A runs wireguard-go, B runs wg-quick + Sluice
IF_W=$(sl_name slW) IF_Q=$(sl_name slQ)
PORT_W=51820 PORT_Q=51821 MTU=1380

PUB_W=$(sl_keypair w)
PUB_Q=$(sl_keypair q)

sl_step "wireguard-go peer $IF_W in $NS_W"
sl_start_wireguard_go "$NS_W" "$IF_W"
sl_wg "$NS_W" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_Q" allowed-ips "$INNER4_B/32,$INNER6_B/128"
sl_if_addr "$NS_W" "$IF_W" "$INNER4_A/24" "$INNER6_A/64" 10.99.0.1/24

sl_step "wg-quick up $IF_Q in $NS_Q with sluice as the userspace implementation"
CONF="$SL_TMP/$IF_Q.conf"
(umask 077 && cat >"$CONF" <<CONF
[Interface]
PrivateKey = $(sl_key q)
ListenPort = $PORT_Q
Address = $INNER4_B/24, $INNER6_B/64
MTU = $MTU

[Peer]
PublicKey = $PUB_W
Endpoint = $OUTER4_A:$PORT_W
AllowedIPs = $INNER4_A/32, $INNER6_A/128, 10.99.0.0/24
CONF
)
SL_IFACES+=("$IF_Q")
# The daemon's exit status is nobody's to check, so in a sanitizer build its reports go to files
# that the cleanup scans (sluice-daemon-sanitizer.log.PID).
SAN_LOG="log_path=$SL_TMP/sluice-daemon-sanitizer.log"
if ! ip netns exec "$NS_Q" env LOG_LEVEL="$SL_LOG_LEVEL" WG_QUICK_USERSPACE_IMPLEMENTATION="$SLUICE" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:$SAN_LOG" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}:$SAN_LOG" \
  timeout 60 wg-quick up "$CONF" >"$SL_TMP/wg-quick-up.log" 2>&1 </dev/null; then
  sl_fail "wg-quick up failed"
fi
sed 's/^/  wg-quick: /' "$SL_TMP/wg-quick-up.log"
sl_assert "sluice's UAPI socket exists after wg-quick up" sl_sock_ready "$IF_Q"

# The daemon runs in NS_Q; find it by its executable.
SLUICE_PID=""
for pid in $(ip netns pids "$NS_Q"); do
  if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$SLUICE" ]]; then SLUICE_PID=$pid; fi
done
[[ -n $SLUICE_PID ]] || sl_fail "no process running $SLUICE in $NS_Q after wg-quick up"
sl_log "sluice daemon pid $SLUICE_PID"

link=$(ip -n "$NS_Q" link show dev "$IF_Q")
sl_assert_match "$IF_Q is up" "<[^>]*UP[^>]*>" "$link"
sl_assert_match "$IF_Q MTU" "mtu $MTU " "$link"
sl_assert_match "route to 10.99.0.0/24 via $IF_Q" "dev $IF_Q" "$(ip -n "$NS_Q" route get 10.99.0.1)"
sl_assert_eq "listen port" "$PORT_Q" "$(sl_wg "$NS_Q" show "$IF_Q" listen-port)"
sl_pass "wg-quick up: sluice daemon running, interface up with MTU $MTU and routes"

sl_step "traffic through the tunnel"
sl_check_pings "$NS_Q" "$INNER4_A" "$INNER6_A" "$NS_W" "$INNER4_B" "$INNER6_B"
sl_ping "$NS_Q" 10.99.0.1
sl_wait_handshake "$NS_Q" "$IF_Q" "$PUB_W"
sl_iperf_server "$NS_W" "$INNER4_A" 5201
sl_iperf "$NS_Q" "$INNER4_A" 5201 2
sl_iperf "$NS_Q" "$INNER4_A" 5201 2 -R
sl_assert_transfer_nonzero "$NS_Q" "$IF_Q" "$PUB_W"
sl_pass "pings (IPv4, IPv6, routed subnet) and iperf3 both ways through the wg-quick interface"

sl_step "wg-quick down"
if ! ip netns exec "$NS_Q" timeout 30 wg-quick down "$CONF" >"$SL_TMP/wg-quick-down.log" 2>&1 </dev/null; then
  sl_fail "wg-quick down failed"
fi
sed 's/^/  wg-quick: /' "$SL_TMP/wg-quick-down.log"
sl_wait_for "sluice (pid $SLUICE_PID) to exit after its interface was deleted" 10 sl_pid_gone "$SLUICE_PID"
sl_wait_for "$(sl_sock "$IF_Q") to be removed" 5 sl_sock_absent "$IF_Q"
if ip -n "$NS_Q" link show dev "$IF_Q" >/dev/null 2>&1; then sl_fail "$IF_Q still exists after wg-quick down"; fi
sl_assert_eq "routes via $IF_Q after wg-quick down" "" "$(ip -n "$NS_Q" route show 10.99.0.0/24)"
sl_pass "wg-quick down: interface gone, sluice exited, UAPI socket removed"

sl_pass "all checks"
