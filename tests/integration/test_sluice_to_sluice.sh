#!/usr/bin/env bash
# Two Sluice instances, each with the other's endpoint configured (so both may initiate at
# once). Checks pings both ways over IPv4 and IPv6 and TCP throughput both ways over IPv4 and
# IPv6 with iperf3.
#
# Usage: bash test_sluice_to_sluice.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"

sl_two_hosts
IF_A=$(sl_name slA) IF_B=$(sl_name slB)
PORT_A=51820 PORT_B=51821

sl_step "start sluice $IF_A in $NS_A and sluice $IF_B in $NS_B"
PUB_A=$(sl_keypair a)
PUB_B=$(sl_keypair b)
sl_start_sluice "$NS_A" "$IF_A"
sl_start_sluice "$NS_B" "$IF_B"

sl_step "configure both sides with wg set (endpoints on both sides)"
sl_wg "$NS_A" set "$IF_A" private-key "$(sl_keyfile a)" listen-port "$PORT_A" \
  peer "$PUB_B" allowed-ips "$INNER4_B/32,$INNER6_B/128" endpoint "$OUTER4_B:$PORT_B"
sl_wg "$NS_B" set "$IF_B" private-key "$(sl_keyfile b)" listen-port "$PORT_B" \
  peer "$PUB_A" allowed-ips "$INNER4_A/32,$INNER6_A/128" endpoint "$OUTER4_A:$PORT_A"
sl_if_addr "$NS_A" "$IF_A" "$INNER4_A/24" "$INNER6_A/64"
sl_if_addr "$NS_B" "$IF_B" "$INNER4_B/24" "$INNER6_B/64"

sl_step "pings, starting from both sides at once"
ip netns exec "$NS_A" timeout 5 ping -n -c 1 -W 2 "$INNER4_B" >/dev/null 2>&1 &
ping_a=$!
ip netns exec "$NS_B" timeout 5 ping -n -c 1 -W 2 "$INNER4_A" >/dev/null 2>&1 &
ping_b=$!
wait "$ping_a" "$ping_b" || true  # either may lose its first packet; the checks below decide
sl_check_pings "$NS_A" "$INNER4_B" "$INNER6_B" "$NS_B" "$INNER4_A" "$INNER6_A"
sl_wait_handshake "$NS_A" "$IF_A" "$PUB_B"
sl_wait_handshake "$NS_B" "$IF_B" "$PUB_A"
sl_pass "handshake; pings both ways over IPv4 and IPv6"

sl_step "iperf3 TCP: 3 s each direction over IPv4, 2 s each direction over IPv6"
sl_iperf_server "$NS_B" "$INNER4_B" 5201
sl_iperf_server "$NS_B" "$INNER6_B" 5202
sl_iperf "$NS_A" "$INNER4_B" 5201 3
sl_iperf "$NS_A" "$INNER4_B" 5201 3 -R
sl_iperf "$NS_A" "$INNER6_B" 5202 2
sl_iperf "$NS_A" "$INNER6_B" 5202 2 -R
sl_pass "iperf3 TCP both directions over IPv4 and IPv6"

sl_assert_transfer_nonzero "$NS_A" "$IF_A" "$PUB_B"
sl_assert_transfer_nonzero "$NS_B" "$IF_B" "$PUB_A"

sl_step "sluice stats: counters add up after the transfers"
stats=$(ip netns exec "$NS_A" "$SLUICE" stats "$IF_A")
stat() { awk -F= -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "missing" }' <<<"$stats"; }
for key in tun_packets_in tun_packets_out udp_datagrams_in udp_datagrams_out; do
  sl_assert_match "$key (>1000 packets moved)" '^[0-9]{4,}$' "$(stat "$key")"
done
sl_assert_eq "datagrams that failed authentication" 0 "$(stat drop_decryption_failed)"
for h in tun_read udp_receive udp_send tun_write; do
  sum=$(awk -F= -v p="${h}_batch_" 'index($1, p) == 1 { s += $2 } END { print s + 0 }' <<<"$stats")
  sl_assert_eq "$h histogram buckets sum to its batch count" "$(stat "${h}_batches")" "$sum"
done
sl_assert_eq "UAPI answers stats without breaking get" 0 \
  "$(ip netns exec "$NS_A" wg show "$IF_A" >/dev/null; echo $?)"
sl_pass "sluice stats: packet counters and consistent batch histograms"

sl_step "stop"
sl_stop_clean "$NS_A" "$IF_A"
sl_stop_clean "$NS_B" "$IF_B"
sl_pass "both sluice instances exited 0 on SIGTERM and removed their sockets and interfaces"

sl_pass "all checks"
