#!/usr/bin/env bash
# Sluice against Debian's wireguard-go over a real network path, back to back in one run:
#
#   netns sl-bench-a                                   netns sl-bench-b
#   IMPL sl-bench-a0  10.203.0.1/24 == WireGuard ==>   IMPL sl-bench-b0  10.203.0.2/24
#   sl-bench-v        10.202.0.1/24 <---- veth ---->   sl-bench-v        10.202.0.2/24
#
# IMPL is first Sluice on both sides, then wireguard-go on both sides, each started as a
# foreground daemon and configured with the real `wg` (keys from `wg genkey`). For each:
#   - iperf3 TCP, 1 stream and 4 streams (-P 4), a -> b
#   - iperf3 UDP, 1380-byte datagrams at a fixed offered load: received rate and loss %
#   - iperf3 UDP, 64-byte payloads at unlimited offered load (-b 0): received packets/s
#   - peak RSS of each daemon (VmHWM, read at the end while it still runs)
#   - Sluice only: system calls per packet over each TCP run, from `sluice stats` deltas:
#     (tun_read + tun_write + udp_send + udp_receive syscalls) / (tun_packets_in + _out +
#     udp_datagrams_in + _out), both daemons together. "not available" while `sluice stats`
#     is missing or lacks a key.
# Then a table with the ratios Sluice / wireguard-go and the targets. Every figure comes from
# this one run on this machine; absolute numbers from a shared machine mean little, ratios more.
#
# Usage (as root): bash bench/netns_throughput.sh [options] [path-to-sluice]
#   default binary: build-release/sluice
#   --seconds S     length of each iperf3 run (default 10)
#   --udp-rate R    offered load of the 1380-byte UDP run, iperf3 -b syntax (default 1G)
# Everything it creates (namespaces, daemons, iperf3 servers, UAPI sockets, temp files) is
# removed on any exit; leftovers of a killed earlier run (sl-bench-*) are removed at start.
# Exit status: 0 measured (whether or not targets were met), 1 error, 2 usage error.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS_A=sl-bench-a NS_B=sl-bench-b
VETH=sl-bench-v
IF_A=sl-bench-a0 IF_B=sl-bench-b0
OUT_A=10.202.0.1 OUT_B=10.202.0.2
IN_A=10.203.0.1 IN_B=10.203.0.2
PORT_A=51820 PORT_B=51821 IPERF_PORT=5201
MTU=1420
UDP_LEN=1380   # + 8 UDP + 20 IPv4 = 1408 bytes, inside the 1420 tunnel MTU
SMALL_LEN=64
SECONDS_PER_RUN=10
UDP_RATE=1G
RSS_TARGET_KB=14648          # 15 MB (10^6 bytes) in /proc's kB (KiB)
SYSCALL_TARGET=0.0625        # 1/16: one system call moves 16 packets or more
TCP_TARGET=4                 # Sluice TCP throughput >= 4x wireguard-go's
LOCK=/run/lock/sluice-netns-bench.lock

exec 4>&2 # the real stderr, also from inside functions whose output is captured
say() { printf '[bench] %s\n' "$*"; }
die() {
  printf '[bench] ERROR: %s\n' "$*" >&4
  exit 1
}
usage() {
  sed -n '/^# Usage/,/^# Exit status/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&4
  exit 2
}

SLUICE=""
while (($#)); do
  case $1 in
    --seconds)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
      SECONDS_PER_RUN=$2
      shift 2
      ;;
    --udp-rate)
      [[ ${2:-} =~ ^[0-9]+(\.[0-9]+)?[KMG]?$ ]] || usage
      UDP_RATE=$2
      shift 2
      ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
      [[ -z $SLUICE ]] || usage
      SLUICE=$1
      shift
      ;;
  esac
done
SLUICE=${SLUICE:-$REPO/build-release/sluice}
[[ -x $SLUICE ]] || die "sluice binary '$SLUICE' not found; build it: cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSLUICE_BUILD_TESTS=OFF && cmake --build build-release --target sluice_cli"
SLUICE=$(realpath "$SLUICE")
[[ $(id -u) -eq 0 ]] || die "run as root (network namespaces and TUN devices need it)"
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing"
for t in ip ss wg wireguard-go iperf3 jq ping awk flock timeout; do
  command -v "$t" >/dev/null || die "missing $t; run: bash scripts/install-deps.sh"
done

# Two runs at once would fight over the same names.
exec 9>"$LOCK"
flock -n 9 || die "another netns_throughput.sh is running (lock $LOCK)"

TMP=""
PIDS=()

forget_pid() { # PID: one that has been waited for, so it must never be signalled again
  local p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

kill_netns_procs() { # NS SIGNAL
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null || true); do kill "-$2" "$pid" 2>/dev/null || true; done
}

# Stops what we started and every process left in our namespaces; never fails, never waits
# more than about 5 s.
stop_processes() {
  local pid ns i alive
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ns in "$NS_A" "$NS_B"; do kill_netns_procs "$ns" TERM; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ -n $(ip netns pids "$NS_A" 2>/dev/null || true)$(ip netns pids "$NS_B" 2>/dev/null || true) ]] && alive=1
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for ns in "$NS_A" "$NS_B"; do kill_netns_procs "$ns" KILL; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
  rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
}

teardown() {
  local ns
  stop_processes
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^sl-bench-/ { print $1 }'); do
    kill_netns_procs "$ns" KILL
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -f /var/run/wireguard/sl-bench-*.sock
}

on_exit() {
  local rc=$?
  set +eE
  trap - ERR INT TERM
  if ((rc != 0 && rc != 130 && rc != 143)) && [[ -n $TMP ]]; then
    local f
    for f in "$TMP"/*.log; do
      [[ -s $f ]] && printf '\n----- %s (last 30 lines) -----\n' "$(basename "$f")" >&4 && tail -n 30 "$f" >&4
    done
  fi
  teardown
  [[ -n $TMP ]] && rm -rf "$TMP"
  ((rc == 130 || rc == 143)) && say "interrupted; cleaned up"
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

if ip netns list | grep -q '^sl-bench-' || compgen -G '/var/run/wireguard/sl-bench-*.sock' >/dev/null; then
  say "removing leftovers of an earlier run"
  teardown
fi

TMP=$(mktemp -d /tmp/sluice-bench.XXXXXX)
mkdir -p /var/run/wireguard

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip link add "$VETH" netns "$NS_A" type veth peer name "$VETH" netns "$NS_B"
ip -n "$NS_A" addr add "$OUT_A/24" dev "$VETH"
ip -n "$NS_B" addr add "$OUT_B/24" dev "$VETH"
ip -n "$NS_A" link set "$VETH" up
ip -n "$NS_B" link set "$VETH" up
wait_for "the veth link" 10 ip netns exec "$NS_A" ping -n -c 1 -W 1 "$OUT_B"

(umask 077 && wg genkey >"$TMP/a.key" && wg genkey >"$TMP/b.key")
PUB_A=$(wg pubkey <"$TMP/a.key")
PUB_B=$(wg pubkey <"$TMP/b.key")

# --- one implementation ----------------------------------------------------------------------

declare -A R=() # R[impl.metric] = value

start_daemon() { # NS IFACE BINARY LOG
  local ns=$1 ifc=$2 bin=$3 log=$4 pid
  ip netns exec "$ns" env LOG_LEVEL=error WG_PROCESS_FOREGROUND=1 "$bin" -f "$ifc" >"$TMP/$log.log" 2>&1 </dev/null &
  pid=$!
  PIDS+=("$pid")
  local deadline=$(($(date +%s) + 10))
  until [[ -S /var/run/wireguard/$ifc.sock ]]; do
    kill -0 "$pid" 2>/dev/null || die "$bin -f $ifc exited before creating its UAPI socket"
    (($(date +%s) < deadline)) || die "$bin -f $ifc: no UAPI socket after 10 s"
    sleep 0.05
  done
  DAEMON_PID=$pid
}

configure() { # NS IFACE KEY PORT PEER_PUB PEER_INNER PEER_ENDPOINT INNER
  ip netns exec "$1" timeout 20 wg set "$2" private-key "$3" listen-port "$4" \
    peer "$5" allowed-ips "$6/32" endpoint "$7"
  ip -n "$1" link set dev "$2" mtu "$MTU"
  ip -n "$1" addr add "$8/24" dev "$2"
  ip -n "$1" link set dev "$2" up
}

# iperf3_json OUT.json ARGS...: client in A against the server in B; fails on any error.
iperf3_json() {
  local out=$1 pid rc=0
  shift
  # In the background and waited for, so that SIGTERM/SIGINT reach the cleanup at once
  # instead of after the run (bash runs traps only between foreground commands).
  ip netns exec "$NS_A" timeout $((SECONDS_PER_RUN + 30)) \
    iperf3 -c "$IN_B" -p "$IPERF_PORT" -t "$SECONDS_PER_RUN" --connect-timeout 5000 -J "$@" >"$out" 2>"$out.log" &
  pid=$!
  PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  if ((rc != 0)); then
    die "iperf3 $* failed: $(jq -r '.error // empty' "$out" 2>/dev/null || head -c 300 "$out")"
  fi
  jq -e . "$out" >/dev/null 2>&1 || die "iperf3 $*: output is not JSON: $(head -c 300 "$out")"
  [[ -z $(jq -r '.error // empty' "$out") ]] || die "iperf3 $*: $(jq -r .error "$out")"
  # iperf3 compares UDP payloads with the TCP MSS (which leaves room for TCP options): 1380
  # bytes + 28 still fit the 1420 MTU, so that warning is noise; anything else is shown.
  local other
  other=$(grep -v 'exceeds TCP MSS' "$out.log" || true)
  if [[ -n $other ]]; then say "iperf3 $*: ${other:0:300}"; fi
}

# sluice stats as key=value lines in FILE; an empty file when the command is not there.
stats_snapshot() { # NS IFACE FILE
  ip netns exec "$1" timeout 5 "$SLUICE" stats "$2" >"$3" 2>/dev/null || : >"$3"
}

STAT_KEYS_SYSCALLS=(tun_read_syscalls tun_write_syscalls udp_send_syscalls udp_receive_syscalls)
STAT_KEYS_PACKETS=(tun_packets_in tun_packets_out udp_datagrams_in udp_datagrams_out)

# syscalls_per_packet TAG: from $TMP/TAG-{a,b}-{before,after}.stats; prints the ratio, or
# "not available (reason)".
syscalls_per_packet() {
  local tag=$1 side phase key v missing="" syscalls=0 packets=0
  declare -A val=()
  for side in a b; do
    for phase in before after; do
      for key in "${STAT_KEYS_SYSCALLS[@]}" "${STAT_KEYS_PACKETS[@]}"; do
        v=$(sed -n "s/^$key=\([0-9][0-9]*\)\$/\1/p" "$TMP/$tag-$side-$phase.stats" | head -n 1)
        if [[ -z $v ]]; then
          [[ " $missing " == *" $key "* ]] || missing+=" $key"
          continue
        fi
        val[$side.$phase.$key]=$v
      done
    done
  done
  if [[ -n $missing ]]; then
    if [[ ! -s $TMP/$tag-a-before.stats ]]; then
      printf 'not available (no "sluice stats" command)\n'
    else
      printf 'not available (sluice stats lacks%s)\n' "$missing"
    fi
    return
  fi
  for side in a b; do
    for key in "${STAT_KEYS_SYSCALLS[@]}"; do
      syscalls=$((syscalls + ${val[$side.after.$key]} - ${val[$side.before.$key]}))
    done
    for key in "${STAT_KEYS_PACKETS[@]}"; do
      packets=$((packets + ${val[$side.after.$key]} - ${val[$side.before.$key]}))
    done
  done
  ((packets > 0)) || {
    printf 'not available (no packets counted)\n'
    return
  }
  awk -v s="$syscalls" -v p="$packets" 'BEGIN { printf "%.4f\n", s / p }'
}

tcp_run() { # IMPL TAG STATS(0|1) [iperf3 args]
  local impl=$1 tag=$2 stats=$3 json
  shift 3
  json="$TMP/$impl-$tag.json"
  if ((stats)); then
    stats_snapshot "$NS_A" "$IF_A" "$TMP/$tag-a-before.stats"
    stats_snapshot "$NS_B" "$IF_B" "$TMP/$tag-b-before.stats"
  fi
  iperf3_json "$json" "$@"
  if ((stats)); then
    stats_snapshot "$NS_A" "$IF_A" "$TMP/$tag-a-after.stats"
    stats_snapshot "$NS_B" "$IF_B" "$TMP/$tag-b-after.stats"
    R[$impl.$tag.syscalls]=$(syscalls_per_packet "$tag")
  fi
  R[$impl.$tag]=$(jq -r '.end.sum_received.bits_per_second / 1e6' "$json")
  say "$impl $tag: $(printf '%.1f' "${R[$impl.$tag]}") Mbit/s${R[$impl.$tag.syscalls]:+, syscalls/packet ${R[$impl.$tag.syscalls]}}"
}

vm_hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status"; }

run_impl() { # IMPL BINARY
  local impl=$1 bin=$2 pid_a pid_b json stats=0
  [[ $impl == sluice ]] && stats=1
  say "=== $impl ($bin)"
  start_daemon "$NS_A" "$IF_A" "$bin" "$impl-a"
  pid_a=$DAEMON_PID
  start_daemon "$NS_B" "$IF_B" "$bin" "$impl-b"
  pid_b=$DAEMON_PID
  configure "$NS_A" "$IF_A" "$TMP/a.key" "$PORT_A" "$PUB_B" "$IN_B" "$OUT_B:$PORT_B" "$IN_A"
  configure "$NS_B" "$IF_B" "$TMP/b.key" "$PORT_B" "$PUB_A" "$IN_A" "$OUT_A:$PORT_A" "$IN_B"
  wait_for "a ping through the $impl tunnel" 20 ip netns exec "$NS_A" ping -n -c 1 -W 1 "$IN_B"

  ip netns exec "$NS_B" iperf3 -s -B "$IN_B" -p "$IPERF_PORT" >"$TMP/iperf3-server-$impl.log" 2>&1 </dev/null &
  PIDS+=("$!")
  wait_for "the iperf3 server" 10 sh -c "ip netns exec '$NS_B' ss -Hltn 'sport = :$IPERF_PORT' | grep -q ."

  tcp_run "$impl" tcp1 "$stats"
  tcp_run "$impl" tcp4 "$stats" -P 4

  json="$TMP/$impl-udp.json"
  iperf3_json "$json" -u -l "$UDP_LEN" -b "$UDP_RATE"
  R[$impl.udp]=$(jq -r '.end.sum_received.bits_per_second / 1e6' "$json")
  R[$impl.udp_offered]=$(jq -r '.end.sum_sent.bits_per_second / 1e6' "$json")
  R[$impl.udp_loss]=$(jq -r '.end.sum_received.lost_percent' "$json")
  say "$impl UDP ${UDP_LEN} B at $UDP_RATE: offered $(printf '%.1f' "${R[$impl.udp_offered]}") Mbit/s," \
    "received $(printf '%.1f' "${R[$impl.udp]}") Mbit/s, loss $(printf '%.2f' "${R[$impl.udp_loss]}") %"

  json="$TMP/$impl-small.json"
  iperf3_json "$json" -u -l "$SMALL_LEN" -b 0
  R[$impl.small]=$(jq -r '.end.sum_received | (.packets - .lost_packets) / .seconds' "$json")
  R[$impl.small_offered]=$(jq -r '.end.sum_sent | .packets / .seconds' "$json")
  say "$impl UDP ${SMALL_LEN} B unlimited: sent $(printf '%.0f' "${R[$impl.small_offered]}") packets/s," \
    "received $(printf '%.0f' "${R[$impl.small]}") packets/s"

  # Read while the daemons still run: VmHWM is gone with the process.
  if ! kill -0 "$pid_a" 2>/dev/null || ! kill -0 "$pid_b" 2>/dev/null; then die "$impl exited during the run"; fi
  R[$impl.rss_a]=$(vm_hwm_kb "$pid_a")
  R[$impl.rss_b]=$(vm_hwm_kb "$pid_b")
  say "$impl peak RSS (VmHWM): a ${R[$impl.rss_a]} kB, b ${R[$impl.rss_b]} kB"

  stop_processes
  wait_for "$IF_A and $IF_B to go" 10 sh -c "! ip -n '$NS_A' link show dev '$IF_A' && ! ip -n '$NS_B' link show dev '$IF_B'"
}

GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null) ]] && GIT_REV+=" (with uncommitted changes)"
say "sluice binary $SLUICE ($("$SLUICE" --version 2>/dev/null | head -n 1 || true)); tree $REPO at commit $GIT_REV; $(wireguard-go --version 2>&1 | head -n 1); $(iperf3 --version | head -n 1)"
say "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "runs of $SECONDS_PER_RUN s; UDP ${UDP_LEN} B at $UDP_RATE offered; MTU $MTU"

run_impl sluice "$SLUICE"
run_impl wireguard-go "$(command -v wireguard-go)"

# --- the table -------------------------------------------------------------------------------

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
at_least() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { exit !(b > 0 && a / b >= t) }'; }
met() { if "$@"; then echo met; else echo "NOT met"; fi; }
num() { printf "%.${2:-1}f" "$1"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }'; }

S=sluice W=wireguard-go
larger() { if (($1 > $2)); then echo "$1"; else echo "$2"; fi; }
rss_s=$(larger "${R[$S.rss_a]}" "${R[$S.rss_b]}")
rss_w=$(larger "${R[$W.rss_a]}" "${R[$W.rss_b]}")
# "Far below": a tenth of wireguard-go's loss, or under 0.1 % when both are near zero.
loss_far_below() { awk -v s="${R[$S.udp_loss]}" -v w="${R[$W.udp_loss]}" 'BEGIN { exit !(s <= w / 10 || s < 0.1) }'; }
syscalls_met() { [[ $1 =~ ^[0-9.]+$ ]] && awk -v v="$1" -v t="$SYSCALL_TARGET" 'BEGIN { exit !(v <= t) }'; }
syscall_verdict() { if [[ $1 =~ ^[0-9.]+$ ]]; then met syscalls_met "$1"; else echo "not measured"; fi; }
syscall_cell() { if [[ $1 =~ ^[0-9.]+$ ]]; then echo "$1"; else echo "n/a"; fi; }

row() { printf '%-36s %14s %14s %10s  %-28s %s\n' "$@"; }
printf '\n'
row "metric" "sluice" "wireguard-go" "ratio" "target" "result"
row "TCP 1 stream (Mbit/s)" "$(num "${R[$S.tcp1]}")" "$(num "${R[$W.tcp1]}")" \
  "$(ratio "${R[$S.tcp1]}" "${R[$W.tcp1]}")" ">= ${TCP_TARGET}x" \
  "$(met at_least "${R[$S.tcp1]}" "${R[$W.tcp1]}" "$TCP_TARGET")"
row "TCP 4 streams (Mbit/s)" "$(num "${R[$S.tcp4]}")" "$(num "${R[$W.tcp4]}")" \
  "$(ratio "${R[$S.tcp4]}" "${R[$W.tcp4]}")" ">= ${TCP_TARGET}x" \
  "$(met at_least "${R[$S.tcp4]}" "${R[$W.tcp4]}" "$TCP_TARGET")"
row "UDP ${UDP_LEN} B @ $UDP_RATE sent (Mbit/s)" "$(num "${R[$S.udp_offered]}")" "$(num "${R[$W.udp_offered]}")" \
  "$(ratio "${R[$S.udp_offered]}" "${R[$W.udp_offered]}")" "-" "-"
row "UDP ${UDP_LEN} B @ $UDP_RATE received (Mbit/s)" "$(num "${R[$S.udp]}")" "$(num "${R[$W.udp]}")" \
  "$(ratio "${R[$S.udp]}" "${R[$W.udp]}")" "-" "-"
row "UDP ${UDP_LEN} B @ $UDP_RATE loss (%)" "$(num "${R[$S.udp_loss]}" 2)" "$(num "${R[$W.udp_loss]}" 2)" \
  "-" "far below (<=1/10 or <0.1)" "$(met loss_far_below)"
row "UDP ${SMALL_LEN} B -b 0 sent (packets/s)" "$(num "${R[$S.small_offered]}" 0)" "$(num "${R[$W.small_offered]}" 0)" \
  "$(ratio "${R[$S.small_offered]}" "${R[$W.small_offered]}")" "-" "-"
row "UDP ${SMALL_LEN} B -b 0 received (packets/s)" "$(num "${R[$S.small]}" 0)" "$(num "${R[$W.small]}" 0)" \
  "$(ratio "${R[$S.small]}" "${R[$W.small]}")" "-" "-"
row "peak RSS, larger daemon (MB)" "$(mb "$rss_s")" "$(mb "$rss_w")" "$(ratio "$rss_s" "$rss_w")" \
  "sluice <= 15 MB" "$(met test "$rss_s" -le "$RSS_TARGET_KB")"
row "syscalls/packet, TCP 1 stream" "$(syscall_cell "${R[$S.tcp1.syscalls]}")" "n/a" "-" "<= 1/16 (0.0625)" \
  "$(syscall_verdict "${R[$S.tcp1.syscalls]}")"
row "syscalls/packet, TCP 4 streams" "$(syscall_cell "${R[$S.tcp4.syscalls]}")" "n/a" "-" "<= 1/16 (0.0625)" \
  "$(syscall_verdict "${R[$S.tcp4.syscalls]}")"
[[ ${R[$S.tcp1.syscalls]} =~ ^[0-9.]+$ ]] || say "syscalls/packet: ${R[$S.tcp1.syscalls]}"
printf '\nSingle run on this machine (%s CPUs shared by both ends, iperf3 and the kernel): compare ratios, not absolute figures.\n' "$(nproc)"
