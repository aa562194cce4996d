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
echo "PASS: echo byte-exact in rtc, dlibos 1+1, 2+2, 1+3"
