#!/bin/bash
# ping.sh PROGRAM [APP ARGS] - a DLibOS program answers ping and ARP from
# the Linux kernel over a TAP interface, then stops cleanly on SIGTERM and
# prints its counters (dlibosd alone on x86; on the TILE-Gx model build,
# DL_PORT=mde, an example in rtc mode through the model's mPIPE on a TAP
# wire, -a tap:dl0).
#
# In a network namespace of its own (lib.sh), the kernel side at
# 10.0.0.1/24 must get 200/200 echo replies (ping -i 0.01) and 5/5 ARP
# replies (arping), and the counters at exit must say so. On the model,
# the frames must have gone through the driver (mpipe.rx_packets,
# mpipe.tx_frames) and the model must have reported no guest error
# (MDE_MODEL_FATAL, set by lib.sh, makes a misuse abort the program).
# Needs root; exits 77 (skipped) otherwise.
set -u
BIN=${1:?usage: ping.sh path/to/program [application arguments]}
shift
APP_ARGS=${*:-}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

dl_need ip ping arping
dl_init ping
dl_start "$BIN" "-l 0" "--idle sleep $APP_ARGS"
dl_dump # dl_start's own reachability pings were answered too
replies0=$(dl_counter icmp.tx_echo_reply)
arp0=$(dl_counter arp.tx_reply)

out=$(dl_in_ns ping -c 200 -i 0.01 -W 2 -q "$DL_IP" 2>&1)
echo "$out"
echo "$out" | grep -q "200 packets transmitted, 200 received" || dl_fail "ping: not 200/200"

out=$(dl_in_ns arping -c 5 -w 15 -I dl0 "$DL_IP" 2>&1)
echo "$out"
echo "$out" | grep -q "Received 5 response" || dl_fail "arping: not 5 replies"

dl_stop
replies=$(($(dl_counter icmp.tx_echo_reply) - replies0))
[ "$replies" = 200 ] || dl_fail "counters: $replies echo replies during the test, want 200"
arp=$(($(dl_counter arp.tx_reply) - arp0))
[ "$arp" -ge 5 ] || dl_fail "counters: $arp ARP replies during the test, want >= 5"
echo "counters: $replies echo replies, $arp ARP replies"
if [ "$DL_PORT" = mde ]; then
	v=$(dl_counter mpipe.rx_packets)
	[ "$v" -ge 205 ] || dl_fail "mpipe.rx_packets $v, want >= 205"
	v=$(dl_counter mpipe.tx_frames)
	[ "$v" -ge 205 ] || dl_fail "mpipe.tx_frames $v, want >= 205"
	grep -q "mde-model: guest error" "$DL_LOG" && dl_fail "the model reported a guest error"
	grep -E "^(mpipe|port|icmp|arp)\." "$DL_LOG" | sed 's/^/    /'
fi
echo PASS
