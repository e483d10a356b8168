#!/usr/bin/env bash
# Forged and replayed transport packets against the real daemon: an attacker next to
# wireguard-go sniffs real data packets on their way to Sluice and sends mangled copies from
# its own port while pings run. Sluice must count every copy under the reason predicted for it
# (`sluice stats`), deliver none (no duplicate ping replies), keep the peer's endpoint (no
# roaming to the attacker) and keep carrying the pings.
#
# Usage: bash test_transport_abuse.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"

sl_two_hosts
NS_S=$NS_A NS_W=$NS_B
IF_S=$(sl_name slT) IF_W=$(sl_name slV)
PORT_S=51820 PORT_W=51821
CAPTURED=40

sl_step "sluice ($IF_S in $NS_S) and wireguard-go ($IF_W in $NS_W)"
PUB_S=$(sl_keypair s)
PUB_W=$(sl_keypair w)
sl_start_sluice "$NS_S" "$IF_S"
sl_start_wireguard_go "$NS_W" "$IF_W"
sl_wg "$NS_S" set "$IF_S" private-key "$(sl_keyfile s)" listen-port "$PORT_S" \
  peer "$PUB_W" allowed-ips "$INNER4_B/32"
sl_wg "$NS_W" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_S" allowed-ips "$INNER4_A/32" endpoint "$OUTER4_A:$PORT_S"
sl_if_addr "$NS_S" "$IF_S" "$INNER4_A/24"
sl_if_addr "$NS_W" "$IF_W" "$INNER4_B/24"
sl_wait_ping "$NS_W" "$INNER4_A"
sl_wait_handshake "$NS_S" "$IF_S" "$PUB_W"

stat_of() { awk -F= -v k="$2" '$1 == k { print $2 }' <<<"$1"; }
stats() { ip netns exec "$NS_S" "$SLUICE" stats "$IF_S"; }
BEFORE=$(stats)

sl_step "attack: $CAPTURED sniffed data packets, each sent again in 8 mangled forms, during pings"
ip netns exec "$NS_W" ping -n -i 0.05 -c 200 "$INNER4_A" >"$SL_TMP/ping.log" 2>&1 &
PING_PID=$!
SL_PIDS+=("$PING_PID")
ip netns exec "$NS_W" timeout 30 python3 - "$OUTER4_A" "$PORT_S" "$CAPTURED" >"$SL_TMP/attack.out" 2>"$SL_TMP/attack.log" <<'EOF'
import socket, struct, sys
target, port, wanted = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))  # ETH_P_ALL: only these taps see outgoing frames
sniff.bind(("veth0", 0x0003))
sniff.settimeout(10)
captured = []
while len(captured) < wanted:
    frame = sniff.recv(65535)
    if frame[12:14] != b"\x08\x00":
        continue
    ip = frame[14:]
    if len(ip) < 20 or ip[9] != 17:
        continue
    ihl = (ip[0] & 0x0F) * 4
    dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
    payload = ip[ihl + 8:]
    # Data packets only (a keepalive is header + tag, 32 bytes).
    if dport == port and len(payload) > 32 and payload[0] == 4:
        captured.append(bytes(payload))
attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
expected = {"replayed_counter": 0, "decryption_failed": 0, "unknown_receiver_index": 0, "invalid_message": 0}
def send(data, reason):
    attacker.sendto(data, (target, port))
    expected[reason] += 1
for p in captured:
    counter = struct.unpack("<Q", p[8:16])[0]
    ahead = p[:8] + struct.pack("<Q", counter + (1 << 40)) + p[16:]
    flipped = bytearray(p); flipped[len(p) - 1] ^= 0x80
    send(p, "replayed_counter")                          # exact replay
    send(bytes(flipped), "replayed_counter")             # seen counter: refused before the AEAD
    send(p + b"\xa5" * 200, "replayed_counter")          # oversized, seen counter
    send(ahead, "decryption_failed")                     # unseen counter, so the AEAD decides
    send(ahead[:40], "decryption_failed")                # truncated, unseen counter
    send(p[:4] + bytes(b ^ 0x5A for b in p[4:8]) + p[8:], "unknown_receiver_index")
    send(p[:1] + b"\x01" + p[2:], "invalid_message")     # reserved byte set
    send(p[:20], "invalid_message")                      # shorter than any transport message
print(" ".join("%s=%d" % kv for kv in expected.items()))
EOF
sl_log "attack sent: $(cat "$SL_TMP/attack.out")"
sl_wait_exit "$PING_PID" 30
PING_OUT=$(cat "$SL_TMP/ping.log")
sl_log "pings during the attack: $(grep -o '[0-9]* received.*loss' <<<"$PING_OUT")"
sleep 0.5
AFTER=$(stats)

read -r -a EXPECTED <"$SL_TMP/attack.out"
for kv in "${EXPECTED[@]}"; do
  reason=${kv%%=*} want=${kv#*=}
  got=$(($(stat_of "$AFTER" "drop_$reason") - $(stat_of "$BEFORE" "drop_$reason")))
  sl_log "drop_$reason: +$got (expected +$want)"
  sl_assert_eq "drop_$reason during the attack" "$want" "$got"
done
sl_assert_nomatch "duplicate ping replies (a forged copy delivered)" "DUP!" "$PING_OUT"
sl_assert_match "pings during the attack" " 200 received" "$PING_OUT"
sl_assert_eq "peer endpoint on $IF_S (no roaming to the attacker)" "$PUB_W	$OUTER4_B:$PORT_W" \
  "$(sl_wg "$NS_S" show "$IF_S" endpoints)"
sl_ping "$NS_W" "$INNER4_A"
sl_pass "$((CAPTURED * 8)) forged copies dropped by reason, none delivered; 200/200 pings during the attack"

sl_step "stop"
sl_stop_clean "$NS_S" "$IF_S"
sl_pass "all checks"
