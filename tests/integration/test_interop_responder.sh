#!/usr/bin/env bash
# wireguard-go initiates a handshake to Sluice: only wireguard-go knows an endpoint, so Sluice must
# answer and learn wireguard-go's endpoint from the handshake. Both sides use a pre-shared key, and
# the outer (UDP) traffic runs over IPv6. Same checks as test_interop_initiator.sh.
#
# Usage: bash test_interop_responder.sh /path/to/sluice
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
sl_init "$@"

sl_two_hosts
NS_W=$NS_A NS_S=$NS_B  # A runs wireguard-go, B runs Sluice
IF_W=$(sl_name slW) IF_S=$(sl_name slS)
PORT_W=51820 PORT_S=51821

sl_step "start wireguard-go ($IF_W in $NS_W) and sluice ($IF_S in $NS_S)"
PUB_W=$(sl_keypair w)
PUB_S=$(sl_keypair s)
PSK=$(sl_psk ws)
sl_start_wireguard_go "$NS_W" "$IF_W"
sl_start_sluice "$NS_S" "$IF_S"

sl_step "configure both sides with wg set (pre-shared key on both; endpoint only on wireguard-go)"
sl_wg "$NS_S" set "$IF_S" private-key "$(sl_keyfile s)" listen-port "$PORT_S" \
  peer "$PUB_W" preshared-key "$PSK" allowed-ips "$INNER4_A/32,$INNER6_A/128"
sl_wg "$NS_W" set "$IF_W" private-key "$(sl_keyfile w)" listen-port "$PORT_W" \
  peer "$PUB_S" preshared-key "$PSK" allowed-ips "$INNER4_B/32,$INNER6_B/128" \
  endpoint "[$OUTER6_B]:$PORT_S"
sl_if_addr "$NS_S" "$IF_S" "$INNER4_B/24" "$INNER6_B/64"
sl_if_addr "$NS_W" "$IF_W" "$INNER4_A/24" "$INNER6_A/64"

sl_assert_eq "listening port on $IF_S" "$PORT_S" "$(sl_wg "$NS_S" show "$IF_S" listen-port)"
sl_assert_eq "peer endpoint on $IF_S before any traffic" "$PUB_W	(none)" \
  "$(sl_wg "$NS_S" show "$IF_S" endpoints)"
sl_assert_eq "pre-shared key on $IF_S" "$PUB_W	$(cat "$PSK")" \
  "$(sl_wg "$NS_S" show "$IF_S" preshared-keys)"

sl_step "pings (the first one from wireguard-go's side starts the handshake)"
sl_check_pings "$NS_W" "$INNER4_B" "$INNER6_B" "$NS_S" "$INNER4_A" "$INNER6_A"
sl_wait_handshake "$NS_W" "$IF_W" "$PUB_S"
sl_wait_handshake "$NS_S" "$IF_S" "$PUB_W"
sl_assert_eq "sluice learned wireguard-go's endpoint from the handshake" \
  "$PUB_W	[$OUTER6_A]:$PORT_W" "$(sl_wg "$NS_S" show "$IF_S" endpoints)"
sl_pass "sluice answered wireguard-go's handshake (with PSK, over IPv6); pings both ways over IPv4 and IPv6"

sl_step "iperf3 TCP, 3 s each direction (server on sluice's side)"
sl_iperf_server "$NS_S" "$INNER4_B" 5201
sl_iperf "$NS_W" "$INNER4_B" 5201 3
sl_iperf "$NS_W" "$INNER4_B" 5201 3 -R
sl_pass "iperf3 TCP both directions"

sl_step "wg show on sluice's side"
show_s=$(sl_wg "$NS_S" show "$IF_S")
show_w=$(sl_wg "$NS_W" show "$IF_W")
printf '%s\n' "$show_s"
sl_assert_contains "wg show $IF_S: interface line" "interface: $IF_S" "$show_s"
sl_assert_contains "wg show $IF_S: public key" "public key: $PUB_S" "$show_s"
sl_assert_contains "wg show $IF_S: listening port" "listening port: $PORT_S" "$show_s"
sl_assert_contains "wg show $IF_S: peer" "peer: $PUB_W" "$show_s"
sl_assert_contains "wg show $IF_S: preshared key" "preshared key: (hidden)" "$show_s"
sl_assert_contains "wg show $IF_S: endpoint" "endpoint: [$OUTER6_A]:$PORT_W" "$show_s"
sl_assert_match "wg show $IF_S: allowed ips" "allowed ips: ($INNER4_A/32, $INNER6_A/128|$INNER6_A/128, $INNER4_A/32)" "$show_s"
sl_assert_match "wg show $IF_S: latest handshake" "latest handshake: ([0-9]+ (second|minute)|Now)" "$show_s"
sl_assert_match "wg show $IF_S: transfer" "transfer: [0-9.]+ [KMG]?i?B received, [0-9.]+ [KMG]?i?B sent" "$show_s"
sl_assert_transfer_nonzero "$NS_S" "$IF_S" "$PUB_W"
sl_assert_eq "wg show field layout: sluice vs wireguard-go" \
  "$(sl_wg_show_shape "$NS_W" "$IF_W")" "$(sl_wg_show_shape "$NS_S" "$IF_S")"
sl_log "wireguard-go's side for comparison:"$'\n'"$show_w"
sl_pass "wg show on sluice's side lists the peer, PSK, handshake and transfer like wireguard-go"


sl_step "stop"
sl_stop_clean "$NS_S" "$IF_S"
sl_pass "sluice exited 0 on SIGTERM and removed its socket and interface"

sl_pass "all checks"
