#!/bin/bash
# mde_ping.sh PROGRAM - a DLibOS program of the TILE-Gx build on the MDE
# model (-Dtarget=tilegx -Dmde=model) answers ping and ARP from the Linux
# kernel through the model's mPIPE on a TAP wire (-a tap:dl0), in rtc mode,
# then stops cleanly on SIGTERM and prints its counters.
#
# 200/200 echo replies (ping -i 0.01), 5/5 ARP replies (arping); the
# counters must show the 200 replies sent and the frames through the
# driver (mpipe.rx_packets, mpipe.tx_frames); MDE_MODEL_FATAL is set by
# lib.sh, so a misuse of the modelled hardware aborts the program and the
# test fails. Needs root (namespace, TAP); exits 77 (skipped) otherwise.
set -u
BIN=${1:?usage: mde_ping.sh path/to/dlibos-program}
for tool in ping arping; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing (scripts/deps.sh)"; exit 77; }
done
DL_PORT=mde
. "$(dirname "$0")/lib.sh"
dl_init mping

dl_start "$BIN" "-l 0" "--mode rtc --idle sleep --port 7"
out=$(dl_in_ns ping -c 200 -i 0.01 -W 2 -q "$DL_IP" 2>&1)
echo "$out"
echo "$out" | grep -q "200 packets transmitted, 200 received" || dl_fail "ping: not 200/200"
out=$(dl_in_ns arping -c 5 -w 15 -I dl0 "$DL_IP" 2>&1)
echo "$out"
echo "$out" | grep -q "Received 5 response" || dl_fail "arping: not 5 replies"
dl_stop

v=$(dl_counter icmp.tx_echo_reply)
[ "$v" -ge 200 ] || dl_fail "icmp.tx_echo_reply $v, want >= 200 (dl_start pings too)"
v=$(dl_counter mpipe.rx_packets)
[ "$v" -ge 205 ] || dl_fail "mpipe.rx_packets $v, want >= 205"
v=$(dl_counter mpipe.tx_frames)
[ "$v" -ge 205 ] || dl_fail "mpipe.tx_frames $v, want >= 205"
grep -q "mde-model: guest error" "$DL_LOG" && dl_fail "the model reported a guest error"
grep -E "^(mpipe|port|icmp|arp)\." "$DL_LOG" | sed 's/^/    /'
echo PASS
