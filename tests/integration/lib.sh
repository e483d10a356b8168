# shellcheck shell=bash disable=SC2034  # variables here are used by the tests that source this file
# Shared helpers for Sluice's network-namespace integration tests.
#
# Source this file from a test script that was started as `bash test_X.sh /path/to/sluice`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   sl_init "$@"            # checks root and tools, sets $SLUICE, installs the cleanup trap
#
# Everything a test creates goes through these helpers, so the EXIT trap can undo it: network
# namespaces (and every process still running inside them), the processes started here, the
# UAPI sockets of our interfaces in /var/run/wireguard (a global directory, not per netns, so
# interface names carry the test's PID to stay unique), /etc/netns/<ns> files and a temp dir.
#
# Traffic only ever goes to addresses inside namespaces this test created.
#
# Conventions: functions are named sl_*; names passed around are plain strings; every wait is
# a bounded poll; a failed assertion prints "FAIL: <test>: <reason>", the tail of every log
# this test collected, and exits 1.

set -Eeuo pipefail

SL_TEST_NAME=$(basename "${0%.sh}")
SL_TAG=$$
SL_TMP=""
SL_NETNS=()
SL_PIDS=()
SL_IFACES=()
SL_ETC_NETNS=()
SL_FAILED=0
SL_LOG_LEVEL=${SLUICE_TEST_LOG_LEVEL:-verbose}
declare -gA SL_PID_OF=()

# ---------------------------------------------------------------------------------------------
# Reporting

sl_log() { printf '[%s %s] %s\n' "$SL_TEST_NAME" "$(date +%T)" "$*"; }
sl_step() { sl_log "--- $*"; }
sl_pass() { printf 'PASS: %s: %s\n' "$SL_TEST_NAME" "$*"; }

sl_dump_logs() {
  [[ -n $SL_TMP && -d $SL_TMP ]] || return 0
  local f
  for f in "$SL_TMP"/*.log*; do
    [[ -s $f ]] || continue
    printf '\n----- %s (last 60 lines) -----\n' "$(basename "$f")"
    tail -n 60 "$f" || true
  done
  printf '\n'
}

sl_fail() {
  SL_FAILED=1
  printf 'FAIL: %s: %s\n' "$SL_TEST_NAME" "$*" >&2
  # In a subshell (command substitution) the parent reports and dumps the logs.
  ((BASH_SUBSHELL > 0)) || sl_dump_logs >&2
  exit 1
}

sl_on_err() {
  local rc=$1 line=$2 cmd=$3
  # Only the first error reports; the exit then runs the cleanup trap.
  trap - ERR
  SL_FAILED=1
  printf 'FAIL: %s: command failed (exit %s) at line %s: %s\n' "$SL_TEST_NAME" "$rc" "$line" "$cmd" >&2
  ((BASH_SUBSHELL > 0)) || sl_dump_logs >&2
  exit 1
}

sl_assert() { # sl_assert DESCRIPTION COMMAND...   (passes if COMMAND succeeds)
  local what=$1; shift
  "$@" || sl_fail "$what (command: $*)"
}

sl_assert_eq() { # sl_assert_eq WHAT EXPECTED ACTUAL
  [[ $2 == "$3" ]] || sl_fail "$1: expected '$2', got '$3'"
}

sl_assert_match() { # sl_assert_match WHAT EXTENDED-REGEX TEXT
  [[ $3 =~ $2 ]] || sl_fail "$1: /$2/ not found in:"$'\n'"$3"
}

sl_assert_contains() { # sl_assert_contains WHAT LITERAL TEXT
  [[ $3 == *"$2"* ]] || sl_fail "$1: '$2' not found in:"$'\n'"$3"
}

# sl_re LITERAL -> LITERAL with ERE metacharacters escaped (base64 keys contain + and /).
sl_re() { printf '%s' "$1" | sed 's/[][\\.^$*+?(){}|]/\\&/g'; }

sl_assert_nomatch() { # sl_assert_nomatch WHAT EXTENDED-REGEX TEXT
  [[ ! $3 =~ $2 ]] || sl_fail "$1: /$2/ unexpectedly found in:"$'\n'"$3"
}

sl_assert_gt0() { # sl_assert_gt0 WHAT NUMBER
  [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || sl_fail "$1: '$2' is not a number"
  awk -v v="$2" 'BEGIN { exit !(v > 0) }' || sl_fail "$1: expected > 0, got $2"
}

# ---------------------------------------------------------------------------------------------
# Set-up and cleanup

sl_require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  ((${#missing[@]} == 0)) || sl_fail "missing tools: ${missing[*]} (run scripts/install-deps.sh)"
}

sl_init() { # sl_init SLUICE_BINARY
  trap 'sl_on_err $? $LINENO "$BASH_COMMAND"' ERR
  trap sl_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  [[ $# -ge 1 && -n $1 ]] || sl_fail "usage: bash $0 /path/to/sluice"
  [[ -x $1 ]] || sl_fail "sluice binary '$1' is not an executable file"
  SLUICE=$(realpath "$1")
  [[ $(id -u) -eq 0 ]] || sl_fail "must run as root (network namespaces, TUN devices)"
  [[ -c /dev/net/tun ]] || sl_fail "/dev/net/tun is missing"
  sl_require_tools ip wg wireguard-go iperf3 jq python3 ping timeout awk
  SL_TMP=$(mktemp -d "/tmp/sluice-${SL_TEST_NAME}.XXXXXX")
  mkdir -p /var/run/wireguard
  sl_log "sluice binary: $SLUICE; temp dir: $SL_TMP"
}

# sl_cleanup runs on every exit. It never fails and never waits unboundedly.
sl_cleanup() {
  local rc=$?
  set +eE
  trap - ERR INT TERM
  local pid ns ifc i
  # 1. Processes we started: TERM, then KILL whatever is left after 5 s.
  for pid in "${SL_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # 2. Anything else still inside our namespaces (daemonized processes, iperf3 servers, ...).
  for ns in "${SL_NETNS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
  done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${SL_PIDS[@]}"; do sl_pid_alive "$pid" && alive=1; done
    for ns in "${SL_NETNS[@]}"; do [[ -n $(ip netns pids "$ns" 2>/dev/null) ]] && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${SL_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for ns in "${SL_NETNS[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  for pid in "${SL_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  # 3. Namespaces (their veths and TUNs go with them), sockets, /etc/netns files, temp dir.
  for ns in "${SL_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  for ifc in "${SL_IFACES[@]}"; do rm -f "/var/run/wireguard/$ifc.sock"; done
  for ns in "${SL_ETC_NETNS[@]}"; do rm -rf "/etc/netns/$ns"; done
  rmdir /etc/netns 2>/dev/null
  # 4. A sanitizer report from any process whose exit status the test did not check (a daemon
  #    started by wg-quick, say) still fails the test.
  if ((rc == 0)) && [[ -n $SL_TMP ]]; then
    local reports
    reports=$(grep -lE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$SL_TMP"/*.log* 2>/dev/null)
    if [[ -n $reports ]]; then
      rc=1
      SL_FAILED=1
      printf 'FAIL: %s: sanitizer report in: %s\n' "$SL_TEST_NAME" "$(xargs -n1 basename <<<"$reports" | paste -sd' ')" >&2
      sl_dump_logs >&2
    fi
  fi
  if ((rc != 0)) && ((SL_FAILED == 0)); then
    printf 'FAIL: %s: exited with status %s\n' "$SL_TEST_NAME" "$rc" >&2
    sl_dump_logs >&2
  fi
  [[ -n $SL_TMP ]] && rm -rf "$SL_TMP"
  exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Names, namespaces, links

# sl_name PREFIX -> PREFIX followed by this test's PID, at most 15 characters (IFNAMSIZ - 1).
sl_name() {
  local n="$1$SL_TAG"
  printf '%s\n' "${n:0:15}"
}

sl_netns_add() { # sl_netns_add NAME
  # A namespace of this name is a leftover of a killed run whose PID we now reuse, unless
  # something still runs in it.
  if [[ -e /var/run/netns/$1 && -z $(ip netns pids "$1" 2>/dev/null) ]]; then
    ip netns del "$1" 2>/dev/null || true
  fi
  ip netns add "$1" || sl_fail "cannot create network namespace $1"
  SL_NETNS+=("$1")
  ip -n "$1" link set lo up
}

# sl_netns_hosts NS "ADDR NAME"...: /etc/hosts as seen by processes run with `ip netns exec NS`.
sl_netns_hosts() {
  local ns=$1; shift
  mkdir -p "/etc/netns/$ns"
  SL_ETC_NETNS+=("$ns")
  {
    printf '127.0.0.1 localhost\n::1 localhost\n'
    printf '%s\n' "$@"
  } >"/etc/netns/$ns/hosts"
}

# sl_veth NS_A NS_B ADDR4_A ADDR4_B ADDR6_A ADDR6_B: a veth pair named veth0 on both sides,
# with the given addresses (with prefix length), up. IPv6 addresses skip DAD.
sl_veth() {
  local a=$1 b=$2
  ip link add veth0 netns "$a" type veth peer name veth0 netns "$b" ||
    sl_fail "cannot create veth pair between $a and $b"
  ip -n "$a" addr add "$3" dev veth0
  ip -n "$b" addr add "$4" dev veth0
  ip -n "$a" -6 addr add "$5" dev veth0 nodad
  ip -n "$b" -6 addr add "$6" dev veth0 nodad
  ip -n "$a" link set veth0 up
  ip -n "$b" link set veth0 up
}

# sl_if_addr NS IFACE ADDR/LEN...: add addresses (IPv6 without DAD) and bring the link up.
sl_if_addr() {
  local ns=$1 ifc=$2 a; shift 2
  for a in "$@"; do
    if [[ $a == *:* ]]; then
      ip -n "$ns" -6 addr add "$a" dev "$ifc" nodad
    else
      ip -n "$ns" addr add "$a" dev "$ifc"
    fi
  done
  ip -n "$ns" link set "$ifc" up
}

# ---------------------------------------------------------------------------------------------
# Polling

# sl_wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds.
sl_wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  until "$@" >/dev/null 2>&1; do
    (($(date +%s%N) < deadline)) || sl_fail "timed out after ${timeout}s waiting for: $what"
    sleep 0.1
  done
}

# Alive and not a zombie. A daemonized process may be reparented to an init that is slow to
# reap; a zombie counts as exited.
sl_pid_alive() {
  local st
  [[ -r /proc/$1/stat ]] || return 1
  st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

sl_pid_gone() { ! sl_pid_alive "$1"; }

# sl_wait_exit PID TIMEOUT: wait for our child PID to exit; sets SL_EXIT_CODE.
sl_wait_exit() {
  local pid=$1 timeout=$2
  sl_wait_for "process $pid to exit" "$timeout" sl_pid_gone "$pid"
  SL_EXIT_CODE=0
  wait "$pid" 2>/dev/null || SL_EXIT_CODE=$?
  local p keep=()
  for p in "${SL_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  SL_PIDS=("${keep[@]}")
}

# ---------------------------------------------------------------------------------------------
# WireGuard processes (wireguard-go and sluice share the command-line contract)

sl_sock() { printf '/var/run/wireguard/%s.sock\n' "$1"; }
sl_sock_ready() { [[ -S $(sl_sock "$1") ]]; }
sl_sock_absent() { [[ ! -e $(sl_sock "$1") ]]; }

# sl_start_wg_impl NS IFACE BINARY LOGNAME: start BINARY -f IFACE inside NS (foreground, as our
# child), wait up to 10 s for its UAPI socket, record its PID in SL_PID_OF[IFACE].
sl_start_wg_impl() {
  local ns=$1 ifc=$2 bin=$3 logname=$4
  [[ ${#ifc} -le 15 ]] || sl_fail "interface name '$ifc' is longer than 15 characters"
  sl_sock_absent "$ifc" || sl_fail "$(sl_sock "$ifc") already exists"
  SL_IFACES+=("$ifc")
  ip netns exec "$ns" env LOG_LEVEL="$SL_LOG_LEVEL" WG_PROCESS_FOREGROUND=1 "$bin" -f "$ifc" \
    >"$SL_TMP/$logname.log" 2>&1 </dev/null &
  local pid=$!
  SL_PIDS+=("$pid")
  SL_PID_OF[$ifc]=$pid
  local deadline=$(($(date +%s) + 10))
  until sl_sock_ready "$ifc"; do
    sl_pid_alive "$pid" || sl_fail "$bin -f $ifc (in $ns) exited before creating its UAPI socket"
    (($(date +%s) < deadline)) || sl_fail "$bin -f $ifc (in $ns): no UAPI socket after 10s"
    sleep 0.05
  done
  ip -n "$ns" link show dev "$ifc" >/dev/null 2>&1 || sl_fail "$bin did not create TUN $ifc in $ns"
  sl_log "started $(basename "$bin") $ifc in $ns (pid $pid)"
}

sl_start_wireguard_go() { sl_start_wg_impl "$1" "$2" "$(command -v wireguard-go)" "wireguard-go-$2"; }
sl_start_sluice() { sl_start_wg_impl "$1" "$2" "$SLUICE" "sluice-$2"; }

# sl_stop_clean NS IFACE [WHAT]: SIGTERM the process started for IFACE; it must exit with
# status 0 within 10 s (under ASan a leak report makes the status non-zero), remove its UAPI
# socket and take its TUN device with it.
sl_stop_clean() {
  local ns=$1 ifc=$2 what=${3:-sluice} pid=${SL_PID_OF[$2]:-}
  [[ -n $pid ]] || sl_fail "sl_stop_clean: no process recorded for $ifc"
  sl_pid_alive "$pid" || sl_fail "$what ($ifc, pid $pid) died before it was asked to stop"
  kill -TERM "$pid"
  sl_wait_exit "$pid" 10
  sl_assert_eq "$what ($ifc) exit status after SIGTERM" 0 "$SL_EXIT_CODE"
  sl_wait_for "$(sl_sock "$ifc") to be removed" 5 sl_sock_absent "$ifc"
  if ip -n "$ns" link show dev "$ifc" >/dev/null 2>&1; then sl_fail "$ifc still exists after $what exited"; fi
  sl_log "$what $ifc stopped cleanly on SIGTERM"
}

# sl_wg NS ARGS...: the real `wg` tool, run inside NS.
sl_wg() {
  local ns=$1; shift
  ip netns exec "$ns" timeout 20 wg "$@"
}

# Keys, written to files under $SL_TMP: sl_keypair NAME -> NAME.key, NAME.pub; prints the pub.
sl_keypair() {
  (umask 077 && wg genkey >"$SL_TMP/$1.key")
  wg pubkey <"$SL_TMP/$1.key" >"$SL_TMP/$1.pub"
  cat "$SL_TMP/$1.pub"
}
sl_key() { cat "$SL_TMP/$1.key"; }
sl_pub() { cat "$SL_TMP/$1.pub"; }
sl_keyfile() { printf '%s\n' "$SL_TMP/$1.key"; }
sl_psk() { # sl_psk NAME: a pre-shared key file NAME.psk
  (umask 077 && wg genpsk >"$SL_TMP/$1.psk")
  printf '%s\n' "$SL_TMP/$1.psk"
}

# sl_latest_handshake NS IFACE PEER_PUB -> unix time of the latest handshake (0 if none).
sl_latest_handshake() {
  { sl_wg "$1" show "$2" latest-handshakes || true; } | awk -v p="$3" '$1 == p { print $2 }'
}

sl_has_handshake() { local t; t=$(sl_latest_handshake "$@"); [[ -n $t && $t != 0 ]]; }

sl_wait_handshake() { # sl_wait_handshake NS IFACE PEER_PUB [TIMEOUT]
  sl_wait_for "handshake on $2 with peer ${3:0:8}..." "${4:-15}" sl_has_handshake "$1" "$2" "$3"
  sl_log "handshake on $2 done"
}

# sl_transfer NS IFACE PEER_PUB -> "RX TX" bytes.
sl_transfer() {
  sl_wg "$1" show "$2" transfer | awk -v p="$3" '$1 == p { print $2, $3 }'
}

sl_assert_transfer_nonzero() { # NS IFACE PEER_PUB
  local rx tx
  read -r rx tx < <(sl_transfer "$1" "$2" "$3")
  sl_assert_gt0 "bytes received on $2 from peer ${3:0:8}..." "${rx:-0}"
  sl_assert_gt0 "bytes sent on $2 to peer ${3:0:8}..." "${tx:-0}"
  sl_log "transfer on $2: rx $rx B, tx $tx B"
}

# The field names of `wg show IFACE` in order, values stripped, e.g. "interface|public key|...".
sl_wg_show_shape() {
  sl_wg "$1" show "$2" | sed -n 's/^ *\([a-z][a-z ]*\):.*/\1/p' | paste -sd'|'
}

# ---------------------------------------------------------------------------------------------
# Traffic

sl_ping_once() { # NS ADDR
  ip netns exec "$1" ping -n -c 1 -W 1 "$2"
}

# sl_wait_ping NS ADDR [TIMEOUT]: ping until one reply arrives (the first one may start a
# handshake).
sl_wait_ping() {
  sl_wait_for "a ping reply from $2 in $1" "${3:-15}" sl_ping_once "$1" "$2"
}

# sl_ping NS ADDR [SIZE]: 5 pings 0.2 s apart, all must be answered.
sl_ping() {
  local ns=$1 addr=$2 size=${3:-56} out
  if ! out=$(ip netns exec "$ns" timeout 15 ping -n -q -c 5 -i 0.2 -W 2 -s "$size" "$addr" 2>&1); then
    sl_fail "ping $addr (size $size) from $ns lost packets:"$'\n'"$out"
  fi
  sl_log "ping $addr from $ns (size $size): $(grep -o '[0-9]* received' <<<"$out")"
}

# sl_iperf_server NS BIND_ADDR PORT: start an iperf3 server, wait until it listens.
sl_iperf_server() {
  local ns=$1 addr=$2 port=$3
  ip netns exec "$ns" iperf3 -s -B "$addr" -p "$port" >"$SL_TMP/iperf3-server-$ns-$port.log" 2>&1 </dev/null &
  SL_PIDS+=("$!")
  local ss_addr=$addr
  [[ $addr == *:* ]] && ss_addr="[$addr]"
  sl_wait_for "iperf3 server on $addr:$port in $ns" 10 \
    sh -c "ip netns exec '$ns' ss -Hltn 'sport = :$port' | grep -qF '$ss_addr:$port'"
}

# sl_iperf NS SERVER PORT SECONDS [-R] -> prints the received throughput in bits/s; fails if the
# run fails or the throughput is zero.
SL_IPERF_BPS=0
sl_iperf() {
  local ns=$1 server=$2 port=$3 secs=$4; shift 4
  local json="$SL_TMP/iperf3-$ns-$port-$*.json" bps dir="->"
  [[ ${1:-} == -R ]] && dir="<-"
  if ! ip netns exec "$ns" timeout $((secs + 20)) \
    iperf3 -c "$server" -p "$port" -t "$secs" --connect-timeout 5000 -J "$@" >"$json" 2>&1; then
    sl_fail "iperf3 -c $server $* from $ns failed: $(jq -r '.error // empty' "$json" 2>/dev/null || head -c 500 "$json")"
  fi
  bps=$(jq -r '.end.sum_received.bits_per_second // 0' "$json")
  sl_assert_gt0 "iperf3 $ns $dir $server throughput (bits/s)" "$bps"
  SL_IPERF_BPS=$bps
  sl_log "iperf3 TCP $ns $dir $server: $(awk -v b="$bps" 'BEGIN { printf "%.1f Mbit/s", b / 1e6 }')"
}

# ---------------------------------------------------------------------------------------------
# Raw UAPI (for requests `wg` itself refuses to send)

# sl_uapi IFACE REQUEST: send REQUEST to IFACE's UAPI socket; the reply, up to and including
# the blank line that ends it (or up to EOF, or "<timeout>" after 5 s), goes to SL_UAPI_REPLY
# with its newlines intact.
SL_UAPI_REPLY=""
sl_uapi() {
  python3 - "$(sl_sock "$1")" "$2" >"$SL_TMP/uapi-reply" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(sys.argv[2].encode())
except OSError as e:  # the server may close early on an oversized request
    sys.stdout.write("<send error: %s>" % e)
data = b""
try:
    while not data.endswith(b"\n\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    data += b"<timeout>"
except OSError as e:
    data += ("<recv error: %s>" % e).encode()
sys.stdout.write(data.decode(errors="replace"))
EOF
  SL_UAPI_REPLY=$(
    cat "$SL_TMP/uapi-reply"
    printf .
  )
  SL_UAPI_REPLY=${SL_UAPI_REPLY%.}
}

# ---------------------------------------------------------------------------------------------
# The common topology: two namespaces joined by a veth pair.
#
#   NS_A  veth0 10.77.0.1/24 fd00:77::1/64  <---->  veth0 10.77.0.2/24 fd00:77::2/64  NS_B
#
# Tunnel (inner) addresses used by the tests: A 10.88.0.1/24 fd88::1/64, B 10.88.0.2/24 fd88::2/64.
OUTER4_A=10.77.0.1 OUTER4_B=10.77.0.2 OUTER6_A=fd00:77::1 OUTER6_B=fd00:77::2
INNER4_A=10.88.0.1 INNER4_B=10.88.0.2 INNER6_A=fd88::1 INNER6_B=fd88::2
NS_A="" NS_B=""

sl_two_hosts() {
  NS_A="sl-$SL_TAG-a"
  NS_B="sl-$SL_TAG-b"
  sl_netns_add "$NS_A"
  sl_netns_add "$NS_B"
  sl_veth "$NS_A" "$NS_B" "$OUTER4_A/24" "$OUTER4_B/24" "$OUTER6_A/64" "$OUTER6_B/64"
  sl_wait_for "veth link between $NS_A and $NS_B" 10 sl_ping_once "$NS_A" "$OUTER4_B"
}

# sl_check_pings NS_X INNER4_Y INNER6_Y NS_Y INNER4_X INNER6_X: pings both ways, v4 and v6,
# plus one size near the tunnel MTU.
sl_check_pings() {
  local nsx=$1 y4=$2 y6=$3 nsy=$4 x4=$5 x6=$6
  sl_wait_ping "$nsx" "$y4"
  sl_ping "$nsx" "$y4"
  sl_ping "$nsx" "$y4" 1300
  sl_ping "$nsy" "$x4"
  sl_wait_ping "$nsx" "$y6"
  sl_ping "$nsx" "$y6"
  sl_ping "$nsy" "$x6"
  sl_ping "$nsy" "$x6" 1200
}
