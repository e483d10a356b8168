#!/usr/bin/env bash
# Sluice's main job, end to end, on one machine:
#
#   netns sl-demo-a                                      netns sl-demo-b
#   sluice up sl-demo.conf                               wireguard-go wg-demo (configured by wg set)
#   sl-demo 10.88.0.1/24  == WireGuard over UDP ==>      wg-demo 10.88.0.2/24
#   veth0   10.77.0.1/24  <------- veth pair ------->    veth0   10.77.0.2/24
#
# Pings through the tunnel, runs iperf3 (TCP, 5 s each direction) and prints a summary.
# DNS, when dig and dnsmasq are installed: dnsmasq on the peer's tunnel address serves
# demo.test, the sluice config has DNS = that address and Sluice answers DNS inside the tunnel
# with a policy (--dns-config): a blocked name, a local override, the rest from dnsmasq.
# Everything it creates is removed on exit, including on failure or Ctrl-C.
#
# Usage (as root): bash scripts/demo.sh [path-to-sluice]
#   default binary: build-release/sluice, else build/sluice, else `sluice` on PATH.
# Env: DEMO_SECONDS (iperf3 seconds per direction, default 5).
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS_S=sl-demo-a NS_P=sl-demo-b
IF_S=sl-demo IF_P=wg-demo
OUT_S=10.77.0.1 OUT_P=10.77.0.2
IN_S=10.88.0.1 IN_P=10.88.0.2
PORT_S=51820 PORT_P=51821
SECONDS_PER_DIRECTION=${DEMO_SECONDS:-5}

exec 4>&2 # the real stderr, also from inside polled commands whose output is discarded
say() { printf '[demo] %s\n' "$*"; }
die() {
  printf '[demo] ERROR: %s\n' "$*" >&4
  exit 1
}

SLUICE=${1:-}
if [[ -z $SLUICE ]]; then
  for c in "$REPO/build-release/sluice" "$REPO/build/sluice" "$(command -v sluice || true)"; do
    if [[ -n $c && -x $c ]]; then SLUICE=$c && break; fi
  done
fi
[[ -n $SLUICE && -x $SLUICE ]] || die "no sluice binary found; build it (bash scripts/quickstart.sh) or pass its path"
SLUICE=$(realpath "$SLUICE")
[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces and TUN devices need it)"
for t in ip wg wireguard-go iperf3 jq ping awk; do
  command -v "$t" >/dev/null || die "missing $t; run: bash scripts/install-deps.sh"
done

TMP=""
SLUICE_PID=""
PEER_PID=""
IPERF_PID=""

kill_netns_procs() {
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null); do kill "-$2" "$pid" 2>/dev/null || true; done
}

teardown() {
  local ns i
  # sluice up removes its interface and routes itself on SIGTERM.
  [[ -n $SLUICE_PID ]] && kill -TERM "$SLUICE_PID" 2>/dev/null
  [[ -n $PEER_PID ]] && kill -TERM "$PEER_PID" 2>/dev/null
  [[ -n $IPERF_PID ]] && kill -TERM "$IPERF_PID" 2>/dev/null
  for ns in "$NS_S" "$NS_P"; do kill_netns_procs "$ns" TERM; done
  for ((i = 0; i < 50; i++)); do
    [[ -z $(ip netns pids "$NS_S" 2>/dev/null)$(ip netns pids "$NS_P" 2>/dev/null) ]] && break
    sleep 0.1
  done
  for ns in "$NS_S" "$NS_P"; do
    kill_netns_procs "$ns" KILL
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f "/var/run/wireguard/$IF_S.sock" "/var/run/wireguard/$IF_P.sock"
  return 0
}

on_exit() {
  local rc=$?
  set +eE
  trap - ERR INT TERM
  if ((rc != 0 && rc != 130 && rc != 143)) && [[ -n $TMP ]]; then
    local f
    for f in "$TMP"/*.log; do
      [[ -s $f ]] && printf '\n----- %s (last 30 lines) -----\n' "$(basename "$f")" >&2 && tail -n 30 "$f" >&2
    done
  fi
  teardown
  [[ -n $TMP ]] && rm -rf "$TMP"
  ((rc == 0)) && say "cleaned up: namespaces, processes and sockets removed"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'die "command failed (line $LINENO): $BASH_COMMAND"' ERR

wait_for() { # wait_for WHAT TIMEOUT_S COMMAND...
  local what=$1 deadline=$(($(date +%s) + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || die "timed out waiting for $what"
    sleep 0.1
  done
}

# A previous run that was killed with SIGKILL may have left its namespaces behind.
if ip netns list | grep -qE "^($NS_S|$NS_P)( |$)"; then
  say "removing leftovers of an earlier demo run"
  teardown
fi

TMP=$(mktemp -d /tmp/sluice-demo.XXXXXX)
say "sluice binary: $SLUICE"

say "creating namespaces $NS_S and $NS_P joined by a veth pair"
ip netns add "$NS_S"
ip netns add "$NS_P"
ip -n "$NS_S" link set lo up
ip -n "$NS_P" link set lo up
ip link add veth0 netns "$NS_S" type veth peer name veth0 netns "$NS_P"
ip -n "$NS_S" addr add "$OUT_S/24" dev veth0
ip -n "$NS_P" addr add "$OUT_P/24" dev veth0
ip -n "$NS_S" link set veth0 up
ip -n "$NS_P" link set veth0 up

say "generating keys"
(umask 077 && wg genkey >"$TMP/sluice.key" && wg genkey >"$TMP/peer.key")
PUB_S=$(wg pubkey <"$TMP/sluice.key")
PUB_P=$(wg pubkey <"$TMP/peer.key")

say "starting wireguard-go $IF_P in $NS_P, configured with wg set"
mkdir -p /var/run/wireguard
ip netns exec "$NS_P" env LOG_LEVEL=verbose wireguard-go -f "$IF_P" >"$TMP/wireguard-go.log" 2>&1 </dev/null &
PEER_PID=$!
wait_for "wireguard-go's UAPI socket" 10 test -S "/var/run/wireguard/$IF_P.sock"
ip netns exec "$NS_P" wg set "$IF_P" private-key "$TMP/peer.key" listen-port "$PORT_P" \
  peer "$PUB_S" allowed-ips "$IN_S/32" endpoint "$OUT_S:$PORT_S"
ip -n "$NS_P" addr add "$IN_P/24" dev "$IF_P"
ip -n "$NS_P" link set "$IF_P" up

DNS_ARGS=() DNS_LINE=""
if ! "$SLUICE" --help 2>/dev/null | grep -q -- --dns-config; then
  say "this sluice has no --dns-config: skipping the DNS part"
elif command -v dig >/dev/null && command -v dnsmasq >/dev/null; then
  say "starting dnsmasq on $IN_P (zone demo.test) for the DNS part"
  ip netns exec "$NS_P" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$IN_P" --address=/demo.test/10.88.9.9 --user=root --group=root \
    >"$TMP/dnsmasq.log" 2>&1 </dev/null &
  printf '[Block]\nDomain = ads.demo.test\n[Override]\nHost = printer.demo.test 10.88.9.20\n' >"$TMP/dns.conf"
  DNS_ARGS=(--dns-config "$TMP/dns.conf") DNS_LINE="DNS = $IN_P"
else
  say "no dig or dnsmasq: skipping the DNS part (bash scripts/install-deps.sh installs them)"
fi

say "starting sluice up $IF_S.conf in $NS_S"
(umask 077 && cat >"$TMP/$IF_S.conf" <<EOF
[Interface]
PrivateKey = $(cat "$TMP/sluice.key")
ListenPort = $PORT_S
Address = $IN_S/24
MTU = 1420
$DNS_LINE

[Peer]
PublicKey = $PUB_P
Endpoint = $OUT_P:$PORT_P
AllowedIPs = $IN_P/32
EOF
)
ip netns exec "$NS_S" "$SLUICE" up "$TMP/$IF_S.conf" "${DNS_ARGS[@]}" >"$TMP/sluice.log" 2>&1 </dev/null &
SLUICE_PID=$!
sluice_ready() {
  kill -0 "$SLUICE_PID" 2>/dev/null || die "sluice up exited early"
  ip -n "$NS_S" addr show dev "$IF_S" 2>/dev/null | grep -qF "inet $IN_S/24" &&
    ip -n "$NS_S" link show dev "$IF_S" | grep -q '[<,]UP[,>]'
}
wait_for "sluice's interface $IF_S to come up" 15 sluice_ready

say "pinging $IN_P through the tunnel"
wait_for "the first ping reply (handshake)" 15 ip netns exec "$NS_S" ping -n -c 1 -W 1 "$IN_P"
PING=$(ip netns exec "$NS_S" ping -n -q -c 5 -i 0.2 -W 2 "$IN_P") || die "pings lost: $PING"
PING_RX=$(grep -oE '[0-9]+ received' <<<"$PING" | cut -d' ' -f1)
PING_AVG=$(sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p' <<<"$PING")

say "iperf3 TCP, ${SECONDS_PER_DIRECTION} s each direction"
ip netns exec "$NS_P" iperf3 -s -B "$IN_P" -p 5201 >"$TMP/iperf3-server.log" 2>&1 </dev/null &
IPERF_PID=$!
wait_for "the iperf3 server" 10 sh -c "ip netns exec '$NS_P' ss -Hltn 'sport = :5201' | grep -q 5201"
iperf() { # iperf OUT.json [-R]
  local out=$1
  shift
  ip netns exec "$NS_S" timeout $((SECONDS_PER_DIRECTION + 20)) \
    iperf3 -c "$IN_P" -p 5201 -t "$SECONDS_PER_DIRECTION" --connect-timeout 5000 -J "$@" >"$out" ||
    die "iperf3 $* failed: $(jq -r '.error // empty' "$out" 2>/dev/null)"
  jq -r '.end.sum_received.bits_per_second' "$out"
}
BPS_UP=$(iperf "$TMP/up.json")
BPS_DOWN=$(iperf "$TMP/down.json" -R)

HS=$(ip netns exec "$NS_S" wg show "$IF_S" latest-handshakes | awk -v p="$PUB_P" '$1 == p { print $2 }')
read -r RX TX < <(ip netns exec "$NS_S" wg show "$IF_S" transfer | awk -v p="$PUB_P" '$1 == p { print $2, $3 }')
[[ -n $HS && $HS != 0 ]] || die "no handshake recorded on $IF_S"

DNS_SUMMARY="skipped (needs dig, dnsmasq and sluice --dns-config)"
if ((${#DNS_ARGS[@]})); then
  say "DNS through Sluice's interceptor"
  ddig() { ip netns exec "$NS_S" dig +time=2 +tries=2 @"$IN_P" "$@"; }
  WWW=$(ddig www.demo.test +short)
  ADS=$(ddig ads.demo.test | sed -n 's/.*status: \([A-Z]*\).*/\1/p')
  PRINTER=$(ddig printer.demo.test +short)
  WWW_TCP=$(ddig +tcp www.demo.test +short)
  [[ $WWW == 10.88.9.9 && $WWW_TCP == 10.88.9.9 && $ADS == NXDOMAIN && $PRINTER == 10.88.9.20 ]] ||
    die "DNS answers: www '$WWW', www over TCP '$WWW_TCP', ads '$ADS', printer '$PRINTER'"
  DNS_SUMMARY="www.demo.test -> $WWW (dnsmasq via the tunnel; also over TCP), ads.demo.test -> $ADS (blocked), printer.demo.test -> $PRINTER (override)"
fi

mbit() { awk -v b="$1" 'BEGIN { printf "%.1f Mbit/s", b / 1e6 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
cat <<EOF

Sluice demo summary
  sluice       $IF_S in netns $NS_S, tunnel address $IN_S, UDP $OUT_S:$PORT_S
  peer         wireguard-go $IF_P in netns $NS_P, tunnel address $IN_P, UDP $OUT_P:$PORT_P
  handshake    done, $(($(date +%s) - HS)) s ago (wg show $IF_S latest-handshakes)
  ping         $PING_RX/5 replies, average round trip $PING_AVG ms
  throughput   sluice -> peer $(mbit "$BPS_UP"), peer -> sluice $(mbit "$BPS_DOWN") (iperf3 TCP, ${SECONDS_PER_DIRECTION} s each)
  transfer     sluice sent $(mib "$TX"), received $(mib "$RX") (wg show $IF_S transfer)
  dns          $DNS_SUMMARY

EOF
