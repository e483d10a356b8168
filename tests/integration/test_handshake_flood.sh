#!/usr/bin/env bash
# A handshake flood against a Sluice responder: tens of thousands of initiations a second, each
# with a valid mac1 (so they cannot be dropped as noise), from 200 source addresses. Sluice must
# go under load and answer with cookie replies instead of doing Diffie-Hellman, keep its memory
# bounded, and still complete the handshake of a real peer (wireguard-go) that honours the
# cookie, while the flood goes on. Then the same addresses flood again, this time honouring the
# cookies (resending with a valid mac2): Sluice must rate limit each address (20/s, burst 5),
# and wireguard-go must again get a new handshake through.
#
#   NS_A  sluice, 10.77.0.1, route to 10.77.1.0/24  <--veth-->  NS_B  wireguard-go 10.77.0.2
#                                                                     flooder 10.77.1.1-200
#
# Usage: bash test_handshake_flood.sh /path/to/sluice
#   The flood generator is $SLUICE_HANDSHAKE_FLOOD (ctest sets it), else tests/ next to sluice.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"

FLOOD=${SLUICE_HANDSHAKE_FLOOD:-$(dirname "$SLUICE")/tests/sluice_handshake_flood}
[[ -x $FLOOD ]] || sl_fail "flood generator '$FLOOD' not found (build target sluice_handshake_flood)"
RATE=${SLUICE_FLOOD_RATE:-20000}  # initiations per second
SECONDS_OF_FLOOD=15
SOURCES=200
MAX_RSS_GROWTH_KB=16384
MAX_HANDSHAKE_SECONDS=12  # wireguard-go resends with the cookie after REKEY_TIMEOUT (5 s) + jitter
UNDER_LOAD_THRESHOLD=128  # DeviceOptions::under_load_handshakes_per_second

sl_two_hosts
NS_S=$NS_A NS_W=$NS_B
IF_S=$(sl_name slF) IF_W=$(sl_name slG)
PORT_S=51820 PORT_W=51821

sl_step "sluice ($IF_S in $NS_S) and wireguard-go ($IF_W in $NS_W), peers of each other"
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

sl_step "$SOURCES flood source addresses in $NS_W"
for ((i = 1; i <= SOURCES; i++)); do printf 'addr add 10.77.1.%d/32 dev veth0\n' "$i"; done |
  ip -n "$NS_W" -batch -
ip -n "$NS_S" route add 10.77.1.0/24 dev veth0
sl_wait_ping "$NS_S" 10.77.1.$SOURCES 10

PID_S=${SL_PID_OF[$IF_S]}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID_S/status"; }
stat_of() { awk -F= -v k="$2" '$1 == k { print $2 }' <<<"$1"; }
stats() { ip netns exec "$NS_S" "$SLUICE" stats "$IF_S"; }
STATS0=$(stats)
sl_assert_eq "cookie replies before the flood" 0 "$(stat_of "$STATS0" cookie_replies_sent)"
RSS_BEFORE=$(rss_kb)

sl_step "flood: $RATE initiations/s with valid mac1 from $SOURCES addresses for ${SECONDS_OF_FLOOD}s"
ip netns exec "$NS_W" "$FLOOD" --responder "$PUB_S" --target "$OUTER4_A:$PORT_S" \
  --source-base 10.77.1.1 --sources "$SOURCES" --rate "$RATE" --seconds "$SECONDS_OF_FLOOD" \
  >"$SL_TMP/flood.out" 2>"$SL_TMP/flood.log" &
FLOOD_PID=$!
SL_PIDS+=("$FLOOD_PID")
sleep 2
STATS1=$(stats)
sl_assert_gt0 "cookie replies sent 2 s into the flood (under load)" "$(stat_of "$STATS1" cookie_replies_sent)"
sl_log "2 s into the flood: cookie_replies_sent=$(stat_of "$STATS1" cookie_replies_sent)"

sl_step "wireguard-go's handshake while the flood goes on"
T0=$(date +%s%N)
ip netns exec "$NS_W" ping -n -c 1 -W 1 "$INNER4_A" >/dev/null 2>&1 || true  # starts the handshake
sl_wait_for "a handshake on $IF_S with wireguard-go during the flood" "$MAX_HANDSHAKE_SECONDS" \
  sl_has_handshake "$NS_S" "$IF_S" "$PUB_W"
HANDSHAKE_MS=$((($(date +%s%N) - T0) / 1000000))
sl_pid_alive "$FLOOD_PID" || sl_fail "the flood ended before the handshake: nothing was shown"
sl_log "handshake with wireguard-go completed ${HANDSHAKE_MS} ms after its first initiation"
sl_ping "$NS_W" "$INNER4_A"
sl_pid_alive "$FLOOD_PID" || sl_fail "the flood ended before the pings: nothing was shown"
sl_pass "wireguard-go completed its handshake in ${HANDSHAKE_MS} ms under the flood; pings answered"

sl_step "after the flood"
sl_wait_exit "$FLOOD_PID" $((SECONDS_OF_FLOOD + 10))
sl_assert_eq "flood generator exit status" 0 "$SL_EXIT_CODE"
FLOOD_OUT=$(cat "$SL_TMP/flood.out")
sl_log "flood generator: $FLOOD_OUT"
flood_of() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$FLOOD_OUT"; }
SENT=$(flood_of sent)
COOKIES_SEEN=$(flood_of cookie_replies)
OTHER_SEEN=$(flood_of other_replies)
sl_pid_alive "$PID_S" || sl_fail "sluice died during the flood"
STATS2=$(stats)
RSS_AFTER=$(rss_kb)
COOKIES_SENT=$(stat_of "$STATS2" cookie_replies_sent)
COOKIE_REQUIRED=$(stat_of "$STATS2" drop_cookie_required)
UNKNOWN_PEER=$(stat_of "$STATS2" drop_unknown_peer)
DATAGRAMS_IN=$(($(stat_of "$STATS2" udp_datagrams_in) - $(stat_of "$STATS0" udp_datagrams_in)))
sl_log "sluice: udp_datagrams_in=+$DATAGRAMS_IN cookie_replies_sent=$COOKIES_SENT drop_cookie_required=$COOKIE_REQUIRED drop_unknown_peer=$UNKNOWN_PEER drop_rate_limited=$(stat_of "$STATS2" drop_rate_limited) drop_buffer_pool_empty=$(stat_of "$STATS2" drop_buffer_pool_empty) drop_udp_send=$(stat_of "$STATS2" drop_udp_send)"
sl_log "sluice VmRSS: $RSS_BEFORE kB before, $RSS_AFTER kB after"

# The generator must really have flooded, or nothing above was tested.
awk -v s="$SENT" -v want=$((RATE * SECONDS_OF_FLOOD * 8 / 10)) 'BEGIN { exit !(s >= want) }' ||
  sl_fail "the generator sent only $SENT initiations (wanted >= 80% of $((RATE * SECONDS_OF_FLOOD)))"
# Each initiation that reached sluice was answered with a cookie reply and nothing else, and
# those replies reached the flood's source addresses.
awk -v c="$COOKIES_SENT" -v s="$SENT" 'BEGIN { exit !(c >= s / 2) }' ||
  sl_fail "sluice sent $COOKIES_SENT cookie replies for $SENT initiations"
sl_assert_eq "every cookie_required drop answered by a cookie reply" "$COOKIE_REQUIRED" "$COOKIES_SENT"
awk -v c="$COOKIES_SEEN" -v s="$COOKIES_SENT" 'BEGIN { exit !(c >= s * 9 / 10 && c <= s) }' ||
  sl_fail "the flood's sources received $COOKIES_SEEN cookie replies of the $COOKIES_SENT sent"
sl_assert_eq "replies to the flood other than cookie replies" 0 "$OTHER_SEEN"
# Only the initiations before load was detected got as far as Diffie-Hellman.
((UNKNOWN_PEER <= UNDER_LOAD_THRESHOLD)) ||
  sl_fail "$UNKNOWN_PEER flood initiations were processed past the cookie check (at most $UNDER_LOAD_THRESHOLD)"
((RSS_AFTER - RSS_BEFORE <= MAX_RSS_GROWTH_KB)) ||
  sl_fail "sluice VmRSS grew by $((RSS_AFTER - RSS_BEFORE)) kB under the flood (limit $MAX_RSS_GROWTH_KB kB)"
sl_ping "$NS_W" "$INNER4_A"
sl_pass "flood of $SENT initiations: $COOKIES_SENT cookie replies ($COOKIES_SEEN seen by the flooder), $UNKNOWN_PEER reached DH, VmRSS +$((RSS_AFTER - RSS_BEFORE)) kB"

sl_step "honouring flood: the same addresses resend with the cookie's mac2 for ${SECONDS_OF_FLOOD}s"
RATE_PER_SOURCE=20 BURST_PER_SOURCE=5  # kRatelimitPacketsPerSecond, kRatelimitPacketsBurstable
ip netns exec "$NS_W" "$FLOOD" --responder "$PUB_S" --target "$OUTER4_A:$PORT_S" \
  --source-base 10.77.1.1 --sources "$SOURCES" --rate "$RATE" --seconds "$SECONDS_OF_FLOOD" \
  --honour-cookies 1 >"$SL_TMP/flood2.out" 2>"$SL_TMP/flood2.log" &
FLOOD_PID=$!
SL_PIDS+=("$FLOOD_PID")
sleep 2
# wireguard-go forgets its session and its cookie, so it must handshake from scratch.
sl_wg "$NS_W" set "$IF_W" peer "$PUB_S" remove
sl_wg "$NS_W" set "$IF_W" peer "$PUB_S" allowed-ips "$INNER4_A/32" endpoint "$OUTER4_A:$PORT_S"
COMPLETED_BEFORE=$(stat_of "$(stats)" handshakes_completed)
more_handshakes() { (($(stat_of "$(stats)" handshakes_completed) > COMPLETED_BEFORE)); }
T0=$(date +%s%N)
ip netns exec "$NS_W" ping -n -c 1 -W 1 "$INNER4_A" >/dev/null 2>&1 || true
sl_wait_for "a new handshake with wireguard-go during the honouring flood" "$MAX_HANDSHAKE_SECONDS" more_handshakes
HANDSHAKE2_MS=$((($(date +%s%N) - T0) / 1000000))
sl_pid_alive "$FLOOD_PID" || sl_fail "the honouring flood ended before the handshake: nothing was shown"
sl_ping "$NS_W" "$INNER4_A"
sl_log "new handshake with wireguard-go ${HANDSHAKE2_MS} ms after its first initiation"
sl_wait_exit "$FLOOD_PID" $((SECONDS_OF_FLOOD + 10))
sl_assert_eq "honouring flood generator exit status" 0 "$SL_EXIT_CODE"
FLOOD_OUT=$(cat "$SL_TMP/flood2.out")
sl_log "honouring flood generator: $FLOOD_OUT"
SENT2=$(flood_of sent)
CONSUMED=$(flood_of cookies_consumed)
STATS3=$(stats)
RSS_AFTER2=$(rss_kb)
delta() { echo $(($(stat_of "$STATS3" "$1") - $(stat_of "$STATS2" "$1"))); }
LIMITED=$(delta drop_rate_limited)
REACHED_DH=$(delta drop_unknown_peer)
# Datagrams the kernel dropped while sluice was busy with the allowed DH never show up here.
sl_log "sluice: udp_datagrams_in=+$(delta udp_datagrams_in) drop_rate_limited=+$LIMITED drop_unknown_peer=+$REACHED_DH cookie_replies_sent=+$(delta cookie_replies_sent) VmRSS $RSS_AFTER2 kB"
((CONSUMED >= SOURCES)) || sl_fail "only $CONSUMED cookies were consumed by $SOURCES sources: mac2 was never valid"
awk -v l="$LIMITED" -v s="$SENT2" 'BEGIN { exit !(l >= s / 2) }' ||
  sl_fail "only $LIMITED of $SENT2 initiations with a valid mac2 were rate limited"
# What got past the limiter cost a Diffie-Hellman each: at most the per-address budget.
DH_BUDGET=$((SOURCES * (RATE_PER_SOURCE * (SECONDS_OF_FLOOD + 1) + BURST_PER_SOURCE)))
((REACHED_DH > 0 && REACHED_DH <= DH_BUDGET)) ||
  sl_fail "$REACHED_DH initiations with a valid mac2 reached Diffie-Hellman (budget $DH_BUDGET)"
((RSS_AFTER2 - RSS_BEFORE <= MAX_RSS_GROWTH_KB)) ||
  sl_fail "sluice VmRSS grew by $((RSS_AFTER2 - RSS_BEFORE)) kB over both floods (limit $MAX_RSS_GROWTH_KB kB)"
sl_pass "honouring flood of $SENT2 initiations: $LIMITED rate limited, $REACHED_DH reached DH (budget $DH_BUDGET); wireguard-go's new handshake in ${HANDSHAKE2_MS} ms"

sl_step "stop"
sl_stop_clean "$NS_S" "$IF_S"
sl_pass "all checks"
