#!/usr/bin/env bash
# Sluice's DNS interceptor against Debian's dnsmasq and unbound, measured with dnsperf in one run:
#
#   netns sl-dnsb-s: `sluice up --dns-config` (10.88.0.2, DNS = 10.88.0.1) and dnsperf
#   netns sl-dnsb-w: wireguard-go peer, unbound on 10.88.0.1 holding the zone (Sluice's upstream)
#   netns sl-dnsb-m: dnsmasq on 127.0.0.1, the same zone from a hosts file, and dnsperf
#   netns sl-dnsb-u: unbound on 127.0.0.1, the same zone as local-data, and dnsperf
#
# The query set is N names of the zone (A records, TTL 3600), repeated. Workloads:
#   sluice-cached   dnsperf -> Sluice's TUN -> answered from the cache (warmed by one pass first)
#   sluice-blocked  the same number of names from a block list of 1,000,000 domains (NXDOMAIN)
#   dnsmasq, unbound  the same query set, served from local data over loopback
# For each: queries per second and average latency (dnsperf), and the server's CPU time per
# answered query (utime + stime of the daemon from /proc: for Sluice this includes its TUN
# reads and writes, for the others their loopback socket calls). On a shared, overloaded machine
# queries per second mostly measure how much CPU each process got; CPU per query is the steadier
# figure. Then the ratio Sluice cached / the faster of dnsmasq and unbound in queries per second
# (target >= 1.5) and in CPU per query, and the memory of the 1,000,000-domain
# block list: the set's own accounting (dns_block_list_bytes from `sluice stats`) and the
# daemon's RSS growth when the list is loaded by a SIGHUP reload, each per domain (target
# <= 24 bytes). Every figure comes from this run on this machine; ratios mean more than
# absolute numbers on a shared machine. Traffic stays inside the namespaces created here.
#
# Usage (as root): bash bench/dns_bench.sh [--seconds S] [--names N] [--clients C] [path-to-sluice]
#   default binary: build-release/sluice; S = 10 seconds per dnsperf run; N = 1000; C = 4
# Everything it creates is removed on any exit. Exit status: 0 measured (targets met or not),
# 1 error, 2 usage error.
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS_S=sl-dnsb-s NS_W=sl-dnsb-w NS_M=sl-dnsb-m NS_U=sl-dnsb-u
IF_S=sl-dnsb-s0 IF_W=sl-dnsb-w0
OUT_S=10.212.0.2 OUT_W=10.212.0.1
IN_S=10.88.0.2 IN_W=10.88.0.1
PORT_S=51821 PORT_W=51820
SECONDS_PER_RUN=10
NAMES=1000
CLIENTS=4
BLOCKED_DOMAINS=1000000
RATIO_TARGET=1.5
BYTES_PER_DOMAIN_TARGET=24
LOCK=/run/lock/sluice-dns-bench.lock

exec 4>&2
say() { printf '[dns-bench] %s\n' "$*"; }
die() {
  printf '[dns-bench] ERROR: %s\n' "$*" >&4
  exit 1
}
usage() {
  sed -n '/^# Usage/,/^# 1 error/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&4
  exit 2
}

SLUICE=""
while (($#)); do
  case $1 in
    --seconds | --names | --clients)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
      case $1 in
        --seconds) SECONDS_PER_RUN=$2 ;;
        --names) NAMES=$2 ;;
        --clients) CLIENTS=$2 ;;
      esac
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
for t in ip wg wireguard-go dnsperf dig unbound dnsmasq awk flock timeout; do
  command -v "$t" >/dev/null || die "missing $t; run: bash scripts/install-deps.sh"
done
exec 9>"$LOCK"
flock -n 9 || die "another dns_bench.sh is running (lock $LOCK)"

TMP=""
PIDS=()
ALL_NS=("$NS_S" "$NS_W" "$NS_M" "$NS_U")

kill_netns_procs() { # NS SIGNAL
  local pid
  for pid in $(ip netns pids "$1" 2>/dev/null || true); do kill "-$2" "$pid" 2>/dev/null || true; done
}

teardown() {
  local pid ns i alive
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ns in "${ALL_NS[@]}"; do kill_netns_procs "$ns" TERM; done
  for ((i = 0; i < 50; i++)); do
    alive=0
    for ns in "${ALL_NS[@]}"; do [[ -n $(ip netns pids "$ns" 2>/dev/null || true) ]] && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for ns in "${ALL_NS[@]}"; do
    kill_netns_procs "$ns" KILL
    ip netns del "$ns" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "/var/run/wireguard/$IF_S.sock" "/var/run/wireguard/$IF_W.sock"
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
  exit "$rc"
}
trap 'die "command failed at line $LINENO: $BASH_COMMAND"' ERR
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() { # wait_for WHAT SECONDS COMMAND...
  local what=$1 deadline=$(($(date +%s) + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || die "timed out waiting for $what"
    sleep 0.1
  done
}

teardown # leftovers of a killed run
TMP=$(mktemp -d /tmp/sluice-dns-bench.XXXXXX)
for ns in "${ALL_NS[@]}"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done

say "zone data: $NAMES names, block list: $BLOCKED_DOMAINS domains"
awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "h%05d.bench.test A\n", i }' >"$TMP/queries-zone.txt"
awk -v n="$NAMES" -v total="$BLOCKED_DOMAINS" \
  'BEGIN { step = int(total / n); for (i = 0; i < n; i++) printf "d%07d.block.test A\n", i * step }' >"$TMP/queries-blocked.txt"
awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "10.9.%d.%d h%05d.bench.test\n", int(i / 250), i % 250 + 1, i }' >"$TMP/zone.hosts"
awk -v total="$BLOCKED_DOMAINS" 'BEGIN { for (i = 0; i < total; i++) printf "d%07d.block.test\n", i }' >"$TMP/blocklist.txt"

unbound_conf() { # unbound_conf NAME ADDRESS... : a local-data-only server
  local name=$1 a
  shift
  {
    printf 'server:\n'
    for a in "$@"; do printf '  interface: %s\n' "$a"; done
    cat <<CONF
  port: 53
  access-control: 0.0.0.0/0 allow
  access-control: ::/0 allow
  username: ""
  chroot: ""
  directory: "$TMP"
  pidfile: "$TMP/$name.pid"
  use-syslog: no
  logfile: "$TMP/$name.log"
  verbosity: 0
  num-threads: 1
  minimal-responses: yes
  local-zone: "." refuse
  local-zone: "bench.test." static
CONF
    awk '{ printf "  local-data: \"%s 3600 IN A %s\"\n", $2, $1 }' "$TMP/zone.hosts"
    printf 'remote-control:\n  control-enable: no\n'
  } >"$TMP/$name.conf"
  unbound-checkconf "$TMP/$name.conf" >/dev/null
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)

# dnsperf_run NS SERVER QUERYFILE LABEL SERVER_PID -> "qps latency_ms cpu_us_per_query" on
# stdout; the full report in a log.
dnsperf_run() {
  local ns=$1 server=$2 file=$3 label=$4 pid=$5 out qps lat done lost t0 t1 cpu
  t0=$(cpu_ticks "$pid")
  out=$(ip netns exec "$ns" timeout $((SECONDS_PER_RUN + 30)) \
    dnsperf -s "$server" -d "$file" -l "$SECONDS_PER_RUN" -c "$CLIENTS" -q 200 -t 2 2>&1) ||
    die "dnsperf $label failed: $out"
  t1=$(cpu_ticks "$pid")
  printf '%s\n' "$out" >"$TMP/dnsperf-$label.log"
  qps=$(awk '/Queries per second:/ { printf "%.0f", $4 }' <<<"$out")
  lat=$(awk '/Average Latency \(s\):/ { printf "%.3f", $4 * 1000 }' <<<"$out")
  done=$(awk '/Queries completed:/ { print $3 }' <<<"$out")
  lost=$(awk '/Queries lost:/ { print $3 }' <<<"$out")
  [[ -n $qps && -n $lat && -n $done && $done != 0 ]] || die "no figures in dnsperf output for $label"
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$done" 'BEGIN { printf "%.2f", t / hz / n * 1e6 }')
  say "$label: $qps qps, average latency $lat ms, lost $lost, server CPU $cpu us/query" >&4
  printf '%s %s %s\n' "$qps" "$lat" "$cpu"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- Baselines ---------------------------------------------------------------------------------

say "dnsmasq in $NS_M"
ip netns exec "$NS_M" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --bind-interfaces \
  --listen-address=127.0.0.1 --port=53 --addn-hosts="$TMP/zone.hosts" --local-ttl=3600 \
  --cache-size=10000 --pid-file="$TMP/dnsmasq.pid" --user=root --group=root >"$TMP/dnsmasq.log" 2>&1 </dev/null &
DNSMASQ_PID=$!  # ip netns exec runs the program in its own process
PIDS+=("$DNSMASQ_PID")
say "unbound in $NS_U"
unbound_conf unbound-baseline 127.0.0.1
ip netns exec "$NS_U" unbound -d -p -c "$TMP/unbound-baseline.conf" >"$TMP/unbound-baseline-stdout.log" 2>&1 </dev/null &
UNBOUND_PID=$!
PIDS+=("$UNBOUND_PID")
answers() { ip netns exec "$1" dig +time=1 +tries=1 @"$2" h00001.bench.test A +short | grep -q 10.9.0.2; }
wait_for "dnsmasq" 10 answers "$NS_M" 127.0.0.1
wait_for "unbound" 10 answers "$NS_U" 127.0.0.1

# --- Sluice ------------------------------------------------------------------------------------

say "wireguard-go + unbound in $NS_W, sluice up --dns-config in $NS_S"
ip link add sl-dnsb-v netns "$NS_S" type veth peer name sl-dnsb-v netns "$NS_W"
ip -n "$NS_S" addr add "$OUT_S/24" dev sl-dnsb-v
ip -n "$NS_W" addr add "$OUT_W/24" dev sl-dnsb-v
ip -n "$NS_S" link set sl-dnsb-v up
ip -n "$NS_W" link set sl-dnsb-v up
(umask 077 && wg genkey >"$TMP/s.key" && wg genkey >"$TMP/w.key")
PUB_S=$(wg pubkey <"$TMP/s.key")
PUB_W=$(wg pubkey <"$TMP/w.key")
ip netns exec "$NS_W" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go -f "$IF_W" >"$TMP/wireguard-go.log" 2>&1 </dev/null &
PIDS+=("$!")
wait_for "wireguard-go's UAPI socket" 10 test -S "/var/run/wireguard/$IF_W.sock"
ip netns exec "$NS_W" wg set "$IF_W" private-key "$TMP/w.key" listen-port "$PORT_W" peer "$PUB_S" allowed-ips "$IN_S/32"
ip -n "$NS_W" addr add "$IN_W/24" dev "$IF_W"
ip -n "$NS_W" link set "$IF_W" up
unbound_conf unbound-upstream "$IN_W"
ip netns exec "$NS_W" unbound -d -p -c "$TMP/unbound-upstream.conf" >"$TMP/unbound-upstream-stdout.log" 2>&1 </dev/null &
PIDS+=("$!")
wait_for "the upstream unbound" 10 answers "$NS_W" "$IN_W"

cat >"$TMP/$IF_S.conf" <<CONF
[Interface]
Address = $IN_S/24
ListenPort = $PORT_S
PrivateKey = $(cat "$TMP/s.key")
DNS = $IN_W
MTU = 1420

[Peer]
PublicKey = $PUB_W
Endpoint = $OUT_W:$PORT_W
AllowedIPs = $IN_W/32
CONF
chmod 600 "$TMP/$IF_S.conf"
policy() { # policy [LIST]: the DNS policy, with the block list if given
  {
    printf '[Cache]\nEntries = %d\nSize = 16M\n' $((NAMES * 4))
    [[ -z ${1:-} ]] || printf '[Block]\nList = %s\n' "$1"
  } >"$TMP/dns.conf"
}
policy ""
ip netns exec "$NS_S" env LOG_LEVEL=error "$SLUICE" up "$TMP/$IF_S.conf" --dns-config "$TMP/dns.conf" \
  >"$TMP/sluice.log" 2>&1 </dev/null &
SLUICE_PID=$!
PIDS+=("$SLUICE_PID")
wait_for "sluice's interface" 15 sh -c "ip -n $NS_S addr show dev $IF_S | grep -q 'inet $IN_S/'"
wait_for "an answer through Sluice" 20 answers "$NS_S" "$IN_W"
stat_of() { ip netns exec "$NS_S" "$SLUICE" stats "$IF_S" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

say "warming Sluice's cache: one pass over the $NAMES names"
ip netns exec "$NS_S" dnsperf -s "$IN_W" -d "$TMP/queries-zone.txt" -n 1 -c 1 -q 50 -t 5 >"$TMP/dnsperf-warm.log" 2>&1 ||
  die "warming the cache failed"
hits_before=$(stat_of dns_cache_hits)
read -r SL_QPS SL_LAT SL_CPU < <(dnsperf_run "$NS_S" "$IN_W" "$TMP/queries-zone.txt" sluice-cached "$SLUICE_PID")
hits_after=$(stat_of dns_cache_hits)
forwarded=$(stat_of dns_forwarded)
say "cache hits during the run: $((hits_after - hits_before)); forwarded in all: $forwarded (the warm-up pass)"
read -r DM_QPS DM_LAT DM_CPU < <(dnsperf_run "$NS_M" 127.0.0.1 "$TMP/queries-zone.txt" dnsmasq "$DNSMASQ_PID")
read -r UB_QPS UB_LAT UB_CPU < <(dnsperf_run "$NS_U" 127.0.0.1 "$TMP/queries-zone.txt" unbound "$UNBOUND_PID")

say "loading the $BLOCKED_DOMAINS-domain block list with a SIGHUP reload"
rss_before=$(rss_kb "$SLUICE_PID")
policy "$TMP/blocklist.txt"
kill -HUP "$SLUICE_PID"
wait_for "the reload" 60 sh -c "ip netns exec $NS_S $SLUICE stats $IF_S | grep -qx 'dns_policy_reloads=1'"
sleep 1
rss_after=$(rss_kb "$SLUICE_PID")
list_domains=$(stat_of dns_blocked_domains)
list_bytes=$(stat_of dns_block_list_bytes)
[[ $list_domains == "$BLOCKED_DOMAINS" ]] || die "Sluice reports $list_domains blocked domains, expected $BLOCKED_DOMAINS"
read -r BL_QPS BL_LAT BL_CPU < <(dnsperf_run "$NS_S" "$IN_W" "$TMP/queries-blocked.txt" sluice-blocked "$SLUICE_PID")
blocked=$(stat_of dns_blocked)

# --- Report ------------------------------------------------------------------------------------

best_name=dnsmasq best_qps=$DM_QPS best_cpu=$DM_CPU
if awk -v a="$UB_QPS" -v b="$DM_QPS" 'BEGIN { exit !(a > b) }'; then best_name=unbound best_qps=$UB_QPS best_cpu=$UB_CPU; fi
ratio=$(awk -v a="$SL_QPS" -v b="$best_qps" 'BEGIN { printf "%.2f", a / b }')
lean_cpu=$(awk -v a="$DM_CPU" -v b="$UB_CPU" 'BEGIN { print (a < b ? a : b) }')
cpu_ratio=$(awk -v a="$lean_cpu" -v b="$SL_CPU" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
set_bpd=$(awk -v b="$list_bytes" -v n="$list_domains" 'BEGIN { printf "%.1f", b / n }')
rss_bpd=$(awk -v a="$rss_after" -v b="$rss_before" -v n="$list_domains" 'BEGIN { printf "%.1f", (a - b) * 1024 / n }')
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = op == ">=" ? v >= t : v <= t; print ok ? "met" : "NOT met" }'; }

printf '\n%-16s %12s %16s %18s\n' workload "queries/s" "avg latency ms" "server CPU us/query"
printf '%-16s %12s %16s %18s\n' sluice-cached "$SL_QPS" "$SL_LAT" "$SL_CPU"
printf '%-16s %12s %16s %18s\n' sluice-blocked "$BL_QPS" "$BL_LAT" "$BL_CPU"
printf '%-16s %12s %16s %18s\n' dnsmasq "$DM_QPS" "$DM_LAT" "$DM_CPU"
printf '%-16s %12s %16s %18s\n' unbound "$UB_QPS" "$UB_LAT" "$UB_CPU"
printf '\nSluice cached / %s (the faster), queries per second: %s (target >= %s: %s)\n' "$best_name" "$ratio" \
  "$RATIO_TARGET" "$(verdict "$ratio" "$RATIO_TARGET" ">=")"
printf 'CPU per query, the leaner of dnsmasq and unbound / Sluice cached: %s (above 1: Sluice uses less)\n' "$cpu_ratio"
printf 'Block list of %s domains: %s bytes per domain in the set (target <= %s: %s); RSS grew %s kB on load = %s bytes per domain (%s)\n' \
  "$list_domains" "$set_bpd" "$BYTES_PER_DOMAIN_TARGET" "$(verdict "$set_bpd" "$BYTES_PER_DOMAIN_TARGET" "<=")" \
  "$((rss_after - rss_before))" "$rss_bpd" "$(verdict "$rss_bpd" "$BYTES_PER_DOMAIN_TARGET" "<=")"
printf 'Blocked answers counted by Sluice: %s; Sluice RSS %s kB after the list\n' "$blocked" "$rss_after"
