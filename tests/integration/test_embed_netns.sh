#!/usr/bin/env bash
# The embedding API against the real wireguard-go (configured with the real wg) in a namespace,
# driven by a C host app (tests/embed/packetflow_host.c, $SLUICE_EMBED_HOST; in unsanitized
# builds the copy embed.installed built against the installed package alone) that plays
# NEPacketTunnelProvider: a TUN stands in for packetFlow, commands on its stdin stand in for
# path updates and sleep/wake.
#
# Checks:
#   1. pings both ways over IPv4 and IPv6; liveness goes up; per-peer stats with an RTT;
#   2. iperf3 both ways with a 15 MB memory ceiling: peak RSS (VmHWM) of the whole host process
#      stays under 15 MB (not under the sanitizers, whose shadow memory is not ours);
#   3. sleep parks the timers: no datagram leaves during sleep although PersistentKeepalive is
#      1 s, and exactly one handshake initiation follows the wake (tshark on the peer's link);
#   4. mid-transfer, both outer addresses move to new subnets and the peer's name to its new
#      address (IPv4 and IPv6; IPv6 is preferred): traffic stops (no roaming can fix it), the
#      host calls network-changed, traffic resumes without a restart and iperf3 completes;
#   5. the host app carries the datagrams itself (--host-transport): pings and iperf3;
#   6. NAT64: an IPv4 literal Endpoint on an IPv6-only network is reached through the prefix
#      learnt from ipv4only.arpa (RFC 7050/6052); once IPv4 returns, network-changed goes back
#      to the literal.
#
# Usage: bash test_embed_netns.sh /path/to/sluice   (SLUICE_EMBED_HOST names the host app)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"
sl_require_tools tshark dumpcap
HOST_APP=${SLUICE_EMBED_HOST:-}
[[ -x $HOST_APP ]] || sl_fail "SLUICE_EMBED_HOST ('$HOST_APP') is not the embed_packetflow_host binary"

sl_two_hosts
NS_W=$NS_A NS_H=$NS_B  # A runs wireguard-go, B the embedded tunnel
IF_W=$(sl_name slW) TUN_H=$(sl_name slE)
PORT_W=51820
PEER_NAME=peer.embed.test
CEILING=$((15 * 1024 * 1024))

sl_step "wireguard-go $IF_W in $NS_W, configured with wg"
PUB_W=$(sl_keypair w)
PUB_H=$(sl_keypair h)
sl_start_wireguard_go "$NS_W" "$IF_W"
sl_wg "$NS_W" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_H" allowed-ips "$INNER4_B/32,$INNER6_B/128"
sl_if_addr "$NS_W" "$IF_W" "$INNER4_A/24" "$INNER6_A/64"
sl_netns_hosts "$NS_H" "$OUTER4_A $PEER_NAME"

cat >"$SL_TMP/host.conf" <<EOF
[Interface]
PrivateKey = $(sl_key h)
Address = $INNER4_B/24, $INNER6_B/64
MTU = 1380

[Peer]
PublicKey = $PUB_W
AllowedIPs = $INNER4_A/32, $INNER6_A/128
Endpoint = $PEER_NAME:$PORT_W
PersistentKeepalive = 1
EOF

# The host app reads commands from a FIFO held open here, and answers on its stdout log.
HOST_PID="" HOST_OUT=""
host_start() { # host_start LOGNAME [OPTIONS...]
  local name=$1; shift
  HOST_OUT="$SL_TMP/$name.out"
  rm -f "$SL_TMP/ctl"
  mkfifo "$SL_TMP/ctl"
  exec 3<>"$SL_TMP/ctl"
  ip netns exec "$NS_H" "$HOST_APP" "$SL_TMP/host.conf" "$TUN_H" "$@" <&3 >"$HOST_OUT" \
    2>"$SL_TMP/$name.log" &
  HOST_PID=$!
  SL_PIDS+=("$HOST_PID")
  sl_wait_for "the host app to start the tunnel" 15 grep -qx started "$HOST_OUT"
  # The TUN gets the MTU and addresses the app read back through the API, as an app hands
  # them to NEPacketTunnelNetworkSettings.
  local settings mtu addresses
  settings=$(grep '^settings ' "$HOST_OUT")
  sl_assert_eq "network settings read back" \
    "settings mtu=1380 addresses=$INNER4_B/24,$INNER6_B/64 routes=$INNER4_A/32,$INNER6_A/128" \
    "$settings"
  mtu=$(sed -n 's/.* mtu=\([0-9]*\).*/\1/p' <<<"$settings")
  addresses=$(sed -n 's/.* addresses=\([^ ]*\).*/\1/p' <<<"$settings")
  ip -n "$NS_H" link set "$TUN_H" mtu "$mtu"
  # shellcheck disable=SC2086  # one word per address
  sl_if_addr "$NS_H" "$TUN_H" ${addresses//,/ }
  sl_log "host app started (pid $HOST_PID) $*"
}

# host_cmd COMMAND: send it and wait for its answer, the first ok/error/stats line after the
# ones already there; the answer goes to HOST_REPLY.
HOST_REPLY=""
host_cmd() {
  local before
  before=$(grep -cE '^(ok|error|stats )' "$HOST_OUT" || true)
  printf '%s\n' "$1" >&3
  sl_wait_for "the host app's answer to '$1'" 10 \
    sh -c "[ \$(grep -cE '^(ok|error|stats )' '$HOST_OUT') -gt $before ]"
  HOST_REPLY=$(grep -E '^(ok|error|stats )' "$HOST_OUT" | sed -n "$((before + 1))p")
  [[ $HOST_REPLY != error* ]] || sl_fail "host app refused '$1': $HOST_REPLY"
}

# stat_of KEY: from the last `stats` answer.
stat_of() { sed -n "s/.* $1=\([-0-9]*\).*/\1/p" <<<"$HOST_REPLY"; }

host_quit() {
  printf 'quit\n' >&3
  sl_wait_exit "$HOST_PID" 15
  sl_assert_eq "host app exit status" 0 "$SL_EXIT_CODE"
  sl_assert "host app printed 'stopped'" grep -qx stopped "$HOST_OUT"
  exec 3>&-
  if ip -n "$NS_H" link show dev "$TUN_H" >/dev/null 2>&1; then sl_fail "$TUN_H outlived the host app"; fi
}

# ---------------------------------------------------------------------------------------------
sl_step "1. pings through the embedded tunnel (library-owned UDP socket)"
host_start host --memory-limit "$CEILING" --crypto-threads 1
sl_check_pings "$NS_H" "$INNER4_A" "$INNER6_A" "$NS_W" "$INNER4_B" "$INNER6_B"
sl_wait_handshake "$NS_W" "$IF_W" "$PUB_H"
sl_wait_for "liveness up" 5 grep -qx "liveness up" "$HOST_OUT"
host_cmd stats
sl_log "$HOST_REPLY"
PORT_H=$(stat_of listen_port)
sl_assert_gt0 "handshakes" "$(stat_of handshakes)"
sl_assert_gt0 "RTT estimate (ns)" "$(stat_of rtt_ns)"
sl_assert_gt0 "peer rx bytes" "$(stat_of peer_rx)"
sl_assert_gt0 "packets to the host" "$(stat_of to_host)"
sl_assert_eq "liveness in stats" 2 "$(stat_of liveness)"
sl_assert_eq "wireguard-go's endpoint for the host" "$PUB_H	$OUTER4_B:$PORT_H" \
  "$(sl_wg "$NS_W" show "$IF_W" endpoints)"
sl_pass "pings both ways, IPv4 and IPv6, through packetFlow emulation"

# ---------------------------------------------------------------------------------------------
sl_step "2. iperf3 through the embedded tunnel with a 15 MB ceiling"
sl_iperf_server "$NS_W" "$INNER4_A" 5201
sl_iperf "$NS_H" "$INNER4_A" 5201 8
sl_iperf "$NS_H" "$INNER4_A" 5201 8 -R
host_cmd stats
sl_log "$HOST_REPLY"
sl_assert_eq "TUN writes refused" 0 "$(stat_of tun_write_failures)"
peak_kb=$(stat_of vmhwm_kb)
if [[ ${SLUICE_SANITIZED:-0} == 1 ]]; then
  sl_log "peak RSS $peak_kb kB under the sanitizers: not checked against the ceiling"
else
  ((peak_kb * 1024 < CEILING)) || sl_fail "peak RSS $peak_kb kB is not below the 15 MB ceiling"
  sl_pass "iperf3 both ways; peak RSS of the host process $peak_kb kB < 15360 kB"
fi

# ---------------------------------------------------------------------------------------------
sl_step "3. sleep and wake: timers parked, one handshake after the wake"
# The capture runs for the whole step; times are compared with the script's clock.
ip netns exec "$NS_W" tshark -i veth0 -f "udp port $PORT_W" -w "$SL_TMP/sleep.pcapng" \
  >"$SL_TMP/tshark.log" 2>&1 &
TSHARK_PID=$!
SL_PIDS+=("$TSHARK_PID")
sl_wait_for "tshark to capture" 15 grep -q "Capturing on" "$SL_TMP/tshark.log"
sleep 6  # longer than REKEY_TIMEOUT, so the wake's handshake is not rate limited
t_before=$(date +%s.%N)
host_cmd sleep
t_asleep=$(date +%s.%N)
host_cmd stats
handshakes_asleep=$(stat_of handshakes)
sleep 8
t_wake=$(date +%s.%N)
host_cmd wake
sleep 4
t_end=$(date +%s.%N)
host_cmd stats
handshakes_woken=$(stat_of handshakes)
sleep 1
kill -INT "$TSHARK_PID"
sl_wait_exit "$TSHARK_PID" 10

from_host() { # from_host FROM TO [EXTRA FILTER]: datagrams from the host app in that window
  tshark -r "$SL_TMP/sleep.pcapng" -d "udp.port==$PORT_W,wg" \
    -Y "ip.src == $OUTER4_B && frame.time_epoch > $1 && frame.time_epoch < $2 ${3:+&& $3}" \
    2>/dev/null | wc -l
}
awake_count=$(from_host "$(awk -v t="$t_before" 'BEGIN { printf "%.3f", t - 4 }')" "$t_before")
asleep_count=$(from_host "$(awk -v t="$t_asleep" 'BEGIN { printf "%.3f", t + 0.3 }')" "$t_wake")
initiations=$(from_host "$t_wake" "$t_end" "wg.type == 1")
after_wake=$(from_host "$t_wake" "$t_end")
sl_log "datagrams from the host: $awake_count in 4 s awake, $asleep_count in 8 s asleep," \
  "$after_wake in 4 s after the wake, $initiations of them handshake initiations"
sl_assert_gt0 "keepalives while awake (the check below could fail)" "$awake_count"
sl_assert_eq "datagrams sent while asleep" 0 "$asleep_count"
sl_assert_eq "handshake initiations after the wake" 1 "$initiations"
sl_assert_eq "handshakes completed after the wake" $((handshakes_asleep + 1)) "$handshakes_woken"
sl_ping "$NS_H" "$INNER4_A"
sl_pass "sleep sent nothing for 8 s; the wake made one handshake"

# ---------------------------------------------------------------------------------------------
sl_step "4. network change mid-transfer: both addresses move, the peer's name follows"
NEW4_W=10.78.0.1 NEW4_H=10.78.0.2 NEW6_W=2001:db8:78::1 NEW6_H=2001:db8:78::2
ip netns exec "$NS_H" iperf3 -c "$INNER4_A" -p 5201 -t 20 --connect-timeout 5000 -J \
  >"$SL_TMP/iperf3-move.json" 2>&1 &
IPERF_PID=$!
SL_PIDS+=("$IPERF_PID")
sleep 4
for ns in "$NS_W" "$NS_H"; do ip -n "$ns" addr flush dev veth0 scope global; done
ip -n "$NS_W" addr add "$NEW4_W/24" dev veth0
ip -n "$NS_W" -6 addr add "$NEW6_W/64" dev veth0 nodad
ip -n "$NS_H" addr add "$NEW4_H/24" dev veth0
ip -n "$NS_H" -6 addr add "$NEW6_H/64" dev veth0 nodad
# Rewritten in place: the host app's view of /etc/hosts is a bind mount of this very file.
printf '127.0.0.1 localhost\n%s %s\n%s %s\n' "$NEW4_W" "$PEER_NAME" "$NEW6_W" "$PEER_NAME" \
  >"/etc/netns/$NS_H/hosts"
if ip netns exec "$NS_H" ping -n -c 3 -i 0.3 -W 1 "$INNER4_A" >/dev/null 2>&1; then
  sl_fail "the tunnel still carried traffic after both addresses moved; the test proves nothing"
fi
host_cmd network-changed
sl_wait_ping "$NS_H" "$INNER4_A" 10
sl_ping "$NS_H" "$INNER6_A"
sl_assert_eq "wireguard-go's endpoint for the host after the change (IPv6 preferred)" \
  "$PUB_H	[$NEW6_H]:$PORT_H" "$(sl_wg "$NS_W" show "$IF_W" endpoints)"
sl_wait_exit "$IPERF_PID" 40
sl_assert_eq "iperf3 across the change: exit status" 0 "$SL_EXIT_CODE"
late_bytes=$(jq '[.intervals[] | select(.sum.start >= 14) | .sum.bytes] | add' "$SL_TMP/iperf3-move.json")
sl_assert_gt0 "iperf3 bytes in its last 6 s, after the change" "$late_bytes"
host_cmd stats
sl_log "$HOST_REPLY"
sl_assert_eq "listen port kept" "$PORT_H" "$(stat_of listen_port)"
sl_assert_eq "tunnel starts (no restart)" 1 "$(grep -cx started "$HOST_OUT")"
sl_pass "traffic resumed after network-changed; iperf3 moved $late_bytes bytes in its last 6 s"
host_quit

# ---------------------------------------------------------------------------------------------
sl_step "5. the host app carries the datagrams (host-provided transport)"
host_start host-transport --host-transport 0
sl_wait_ping "$NS_H" "$INNER4_A"
sl_ping "$NS_H" "$INNER6_A"
sl_ping "$NS_W" "$INNER4_B" 1300
sl_iperf "$NS_H" "$INNER4_A" 5201 3
host_cmd stats
sl_log "$HOST_REPLY"
sl_assert_eq "host transport: sends refused" 0 "$(stat_of udp_send_failures)"
sl_assert_eq "host transport: the library has no socket" 0 "$(stat_of listen_port)"
host_quit
sl_pass "pings and iperf3 over the host app's own UDP socket"

# ---------------------------------------------------------------------------------------------
sl_step "6. NAT64: an IPv4 literal Endpoint from an IPv6-only network, then IPv4 again"
# The host's side loses IPv4 altogether and gets an IPv6 default route; DNS64 is played by the
# hosts file (ipv4only.arpa's AAAA records, RFC 7050) and NAT64 by the peer owning the address
# RFC 6052 writes 10.78.0.1 as under 64:ff9b::/96, so no translator is needed in between.
SYNTH_W=64:ff9b::a4e:1
sed -i "s/^Endpoint = .*/Endpoint = $NEW4_W:$PORT_W/" "$SL_TMP/host.conf"
ip -n "$NS_H" -4 addr flush dev veth0 scope global
ip -n "$NS_H" -6 route add default via "$NEW6_W" dev veth0
ip -n "$NS_W" -6 addr add "$SYNTH_W/128" dev veth0 nodad
printf '127.0.0.1 localhost\n%s\n%s\n' "64:ff9b::c000:aa ipv4only.arpa" "64:ff9b::c000:ab ipv4only.arpa" \
  >"/etc/netns/$NS_H/hosts"
if ip netns exec "$NS_H" ping -n -c 1 -W 1 "$NEW4_W" >/dev/null 2>&1; then
  sl_fail "$NEW4_W answered from $NS_H without IPv4; the test proves nothing"
fi
host_start nat64
sl_wait_ping "$NS_H" "$INNER4_A"
sl_ping "$NS_H" "$INNER6_A"
host_cmd stats
PORT_H=$(stat_of listen_port)
# The host knows the peer only as $NEW4_W and has no IPv4: its datagrams can only have gone
# to $SYNTH_W, the peer's one IPv6 address it was never told.
sl_assert_eq "wireguard-go's endpoint for the host (IPv6 only)" \
  "$PUB_H	[$NEW6_H]:$PORT_H" "$(sl_wg "$NS_W" show "$IF_W" endpoints)"

# IPv4 comes back: after network-changed the literal is used as it is.
ip -n "$NS_H" addr add "$NEW4_H/24" dev veth0
host_cmd network-changed
sl_wait_for "wireguard-go to see the host over IPv4" 15 \
  sh -c "ip netns exec '$NS_H' ping -n -c 1 -W 1 '$INNER4_A' >/dev/null; \
         ip netns exec '$NS_W' wg show '$IF_W' endpoints | grep -q '$NEW4_H:$PORT_H'"
sl_ping "$NS_H" "$INNER4_A"
host_cmd stats
sl_assert_eq "tunnel starts (no restart)" 1 "$(grep -cx started "$HOST_OUT")"
host_quit
sl_pass "an IPv4 endpoint reached through the NAT64 prefix on IPv6 only, directly once IPv4 returned"
