#!/usr/bin/env bash
# Live capture and replay, checked with the real tshark:
#   1. `sluice capture IF FILE` on a running Sluice (peer: wireguard-go): pings through the
#      tunnel appear in FILE as plaintext ICMP both ways; `off` stops it; a 1 MB bound holds
#      during an iperf3 run and the excess is counted.
#   2. dumpcap records wireguard-go's handshake initiations on the veth while it tries to reach
#      a peer that is not running; `sluice replay` with that peer's config answers them: tshark
#      reads a handshake response from PREFIX-outer.pcap, addressed back to wireguard-go.
#
# Usage: bash test_capture_replay.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"
sl_require_tools tshark dumpcap

sl_two_hosts
IF_A=$(sl_name slA) IF_W=$(sl_name wgW)
PORT_A=51820 PORT_W=51821

sl_step "sluice $IF_A in $NS_A, wireguard-go $IF_W in $NS_B"
PUB_A=$(sl_keypair a)
PUB_W=$(sl_keypair w)
sl_start_sluice "$NS_A" "$IF_A"
sl_start_wireguard_go "$NS_B" "$IF_W"
sl_wg "$NS_A" set "$IF_A" private-key "$(sl_keyfile a)" listen-port "$PORT_A" \
  peer "$PUB_W" allowed-ips "$INNER4_B/32" endpoint "$OUTER4_B:$PORT_W"
sl_wg "$NS_B" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_A" allowed-ips "$INNER4_A/32" endpoint "$OUTER4_A:$PORT_A"
sl_if_addr "$NS_A" "$IF_A" "$INNER4_A/24"
sl_if_addr "$NS_B" "$IF_W" "$INNER4_B/24"
sl_wait_ping "$NS_A" "$INNER4_B"

stat_of() { ip netns exec "$NS_A" "$SLUICE" stats "$IF_A" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

sl_step "1. live capture of the inner traffic"
CAP="$SL_TMP/inner.pcap"
ip netns exec "$NS_A" "$SLUICE" capture "$IF_A" "$CAP"
sl_assert_eq "capture_active after sluice capture" 1 "$(stat_of capture_active)"
ip netns exec "$NS_A" ping -n -c 5 -i 0.2 -W 2 "$INNER4_B" >/dev/null
ip netns exec "$NS_A" "$SLUICE" capture "$IF_A" off
sl_assert_eq "capture_active after off" 0 "$(stat_of capture_active)"
sl_assert_eq "capture file mode" 600 "$(stat -c %a "$CAP")"
requests=$(tshark -r "$CAP" -Y "icmp.type == 8 && ip.src == $INNER4_A && ip.dst == $INNER4_B" 2>/dev/null | wc -l)
replies=$(tshark -r "$CAP" -Y "icmp.type == 0 && ip.src == $INNER4_B && ip.dst == $INNER4_A" 2>/dev/null | wc -l)
sl_assert_eq "echo requests in the capture (tshark)" 5 "$requests"
sl_assert_eq "echo replies in the capture (tshark)" 5 "$replies"
sl_pass "sluice capture wrote both directions of the plaintext traffic; tshark reads it"

BOUNDED="$SL_TMP/bounded.pcap"
ip netns exec "$NS_A" "$SLUICE" capture "$IF_A" "$BOUNDED" --max-mb 1
sl_iperf_server "$NS_B" "$INNER4_B" 5201
sl_iperf "$NS_A" "$INNER4_B" 5201 2
dropped=$(stat_of capture_dropped)
ip netns exec "$NS_A" "$SLUICE" capture "$IF_A" off
size=$(stat -c %s "$BOUNDED")
((size <= 1048576)) || sl_fail "bounded capture is $size bytes, above 1 MiB"
((dropped > 0)) || sl_fail "no packets counted as dropped past the bound (capture_dropped=$dropped)"
tshark -r "$BOUNDED" -c 1 >/dev/null 2>&1 || sl_fail "tshark cannot read the bounded capture"
sl_pass "capture bounded at $size bytes during iperf3; $dropped packets counted past the bound"

sl_step "refused captures change nothing"
if ip netns exec "$NS_A" "$SLUICE" capture "$IF_A" /nonexistent-dir/x.pcap 2>"$SL_TMP/refused.txt"; then
  sl_fail "a capture into a missing directory was accepted"
fi
sl_assert_eq "capture_active after a refused capture" 0 "$(stat_of capture_active)"
sl_pass "capture into a missing directory refused ($(head -c 120 "$SL_TMP/refused.txt"))"

sl_step "2. replay: dumpcap records wireguard-go initiating to a peer that is not running"
PUB_R=$(sl_keypair r)
sl_wg "$NS_B" set "$IF_W" peer "$PUB_R" allowed-ips 10.250.0.1/32 endpoint "$OUTER4_A:51999"
OUTER_CAP="$SL_TMP/outer.pcap"
ip netns exec "$NS_B" dumpcap -q -P -i veth0 -f "udp port 51999" -w "$OUTER_CAP" \
  >"$SL_TMP/dumpcap.log" 2>&1 &
DUMPCAP=$!
SL_PIDS+=("$DUMPCAP")
sl_wait_for "dumpcap to start" 10 grep -q "Capturing on" "$SL_TMP/dumpcap.log"
ip -n "$NS_B" route add 10.250.0.1/32 dev "$IF_W"
ip netns exec "$NS_B" ping -n -c 2 -W 1 10.250.0.1 >/dev/null 2>&1 || true
kill -INT "$DUMPCAP"
sl_wait_exit "$DUMPCAP" 10
initiations=$(tshark -r "$OUTER_CAP" -d udp.port==51999,wg -Y 'wg.type == 1' 2>/dev/null | wc -l)
((initiations >= 1)) || sl_fail "no handshake initiation from wireguard-go in the capture (tshark)"

cat >"$SL_TMP/r.conf" <<EOF
[Interface]
PrivateKey = $(sl_key r)
ListenPort = 51999
[Peer]
PublicKey = $PUB_W
AllowedIPs = $INNER4_B/32
EOF
ip netns exec "$NS_A" "$SLUICE" replay "$SL_TMP/r.conf" "$OUTER_CAP" "$SL_TMP/replayed" >"$SL_TMP/replay.txt" ||
  sl_fail "sluice replay failed: $(cat "$SL_TMP/replay.txt")"
report() { awk -F= -v k="$1" '$1 == k { print $2 }' "$SL_TMP/replay.txt"; }
sl_assert_match "initiations replayed" '^[1-9][0-9]*$' "$(report outer_in)"
sl_assert_match "responses sent" '^[1-9][0-9]*$' "$(report handshake_responses_sent)"
fields=$(tshark -r "$SL_TMP/replayed-outer.pcap" -d udp.port==51999,wg -Y 'wg.type == 2' \
  -T fields -e ip.src -e udp.srcport -e ip.dst -e udp.dstport 2>/dev/null | head -1)
sl_assert_eq "handshake response in replayed-outer.pcap (tshark)" \
  "$OUTER4_A	51999	$OUTER4_B	$PORT_W" "$fields"
sl_pass "sluice replay answered wireguard-go's captured initiation; tshark decodes the response"

sl_stop_clean "$NS_A" "$IF_A"
sl_pass "all checks"
