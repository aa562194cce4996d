#!/bin/bash
# echo_modes.sh ECHO CLIENT - the same echo application in every execution
# mode, driven by a real Linux client over TAP: 200 concurrent connections,
# each sending 100 KB of seeded random data and checking the echo byte for
# byte. Modes: rtc (1 lcore), dlibos 1+1, 2+2 and 1+3 (lcores oversubscribed
# on the machine's CPUs, --idle sleep). After each run the counters must
# show every connection dispatched and none lost.
set -u
ECHO=${1:?usage: echo_modes.sh dlibos-echo echo_client.py}
CLIENT=${2:?usage: echo_modes.sh dlibos-echo echo_client.py}
. "$(dirname "$0")/lib.sh"
dl_init echo
PY=/usr/bin/python3

run_mode() {
	local name=$1 eal=$2 app=$3 out
	echo "== $name: $eal -- $app"
	dl_start "$ECHO" "$eal" "--idle sleep $app"
	out=$(timeout 300 ip netns exec "$DL_NS" $PY "$CLIENT" "$DL_IP" 7 --conns 200 \
		--bytes 100000 --timeout 120 2>&1)
	local rc=$?
	echo "$out"
	[ $rc = 0 ] || dl_fail "$name: client failed (rc $rc): $out"
	dl_stop
	local dispatched
	dispatched=$(dl_counter engine.connections_dispatched)
	[ "$dispatched" -ge 200 ] || dl_fail "$name: only $dispatched connections dispatched"
	grep -E "^(engine|noc|tcp\.conn|eth\.handoff)" "$DL_LOG" | sed 's/^/    /'
}

run_mode rtc "-l 0" "--mode rtc"
run_mode "dlibos 1+1" "--lcores=(0-1)@(0-1)" "--mode dlibos --net-cores 1"
run_mode "dlibos 2+2" "--lcores=(0-3)@(0-1)" "--mode dlibos --net-cores 2"
run_mode "dlibos 1+3" "--lcores=(0-3)@(0-1)" "--mode dlibos --net-cores 1"
# An application core that never returns received data (--hoard-core 1)
# with a small RX credit: its connections stall and the stack counts the
# payload it refuses; the other core's connections all complete.
echo "== dlibos 1+2, app core 1 hoards RX buffers"
dl_start "$ECHO" "--lcores=(0-2)@(0-1)" \
	"--idle sleep --mode dlibos --net-cores 1 --app-rx-credit 256 --hoard-core 1"
out=$(timeout 120 ip netns exec "$DL_NS" $PY "$CLIENT" "$DL_IP" 7 --conns 200 --bytes 100000 \
	--timeout 20 --allow-stalled 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || dl_fail "hoard: client failed or saw corruption (rc $rc): $out"
ok=$(echo "$out" | sed -n 's/.*"ok": \([0-9]*\).*/\1/p')
stalled=$(echo "$out" | sed -n 's/.*"stalled": \([0-9]*\).*/\1/p')
[ "$ok" = 100 ] || dl_fail "hoard: $ok connections completed, expected the 100 of app core 0"
[ "$stalled" = 100 ] || dl_fail "hoard: $stalled connections stalled, expected the 100 of app core 1"
dl_stop
throttled=$(dl_counter tcp.drop_app_throttled)
[ "$throttled" -gt 0 ] || dl_fail "hoard: tcp.drop_app_throttled is $throttled"
echo "    tcp.drop_app_throttled $throttled"

echo "PASS: echo byte-exact in rtc, dlibos 1+1, 2+2, 1+3; a hoarding core stalls only itself"
