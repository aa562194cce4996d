#!/bin/bash
# netpipe_modes.sh NETPIPE MODE - dlibos-netpipe against the real NPtcp
# transmitter (Debian netpipe-tcp 3.7.2) over TAP, in one execution mode:
#
#  1. copy mode, `NPtcp -h 10.0.0.2`: the full default run (up to 8 MB + 3
#     bytes) in rtc mode; bounded with -u 1048576 in the dlibos modes;
#  2. copy mode with --integrity, `NPtcp -i -u 1048576`: NPtcp verifies
#     every echoed message;
#  3. --nocopy, `NPtcp -u 1048576`, then --nocopy --integrity with
#     `NPtcp -i -u 65536` (the stored first message carries the same
#     integers as every later one).
#
# Each run must exit 0 and print one line per data point; the server must
# count one completed run and no protocol error, exit 0 on SIGTERM, and in
# nocopy mode answer from stores. Needs root; exits 77 (skipped) otherwise.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/netpipe_common.sh"

check_server() { # NAME: after stop_server
	local name=$1
	[ "$(counter runs_completed)" = 1 ] ||
		fail "$name: server counted $(counter runs_completed) completed runs, not 1"
	[ "$(counter protocol_errors)" = 0 ] ||
		fail "$name: $(counter protocol_errors) protocol errors"
	[ "$(counter data_points)" = "$NP_LINES" ] ||
		fail "$name: server saw $(counter data_points) data points, NPtcp printed $NP_LINES"
}

# NETPIPE_QUICK=1 (the TILE-Gx model build, whose every NoC word goes
# through the model): copy mode up to 128 KB, then --nocopy --integrity up
# to 64 KB; nothing else.
if [ "${NETPIPE_QUICK:-0}" = 1 ]; then
	start_server
	run_nptcp copy 300 -u 131072
	stop_server
	check_server copy
	[ "$(counter bytes_copied)" -gt 0 ] || fail "copy: no bytes copied"
	start_server --nocopy --integrity
	run_nptcp nocopy-integrity 300 -i -u 65536
	stop_server
	check_server nocopy-integrity
	echo "PASS ($MODE, quick)"
	exit 0
fi

FULL=()
[ "$MODE" = rtc ] || FULL=(-u 1048576)

start_server
run_nptcp copy 600 "${FULL[@]}"
stop_server
check_server copy
[ "$(counter bytes_copied)" -gt 0 ] || fail "copy: no bytes copied"

start_server --integrity
run_nptcp copy-integrity 600 -i -u 1048576
stop_server
check_server copy-integrity

start_server --nocopy
run_nptcp nocopy 600 -u 1048576
stop_server
check_server nocopy
[ "$(counter nocopy_stores)" = "$NP_LINES" ] ||
	fail "nocopy: $(counter nocopy_stores) stores for $NP_LINES data points"
[ "$(counter nocopy_replies)" = "$(counter messages)" ] ||
	fail "nocopy: $(counter nocopy_replies) replies from stores, $(counter messages) messages"

start_server --nocopy --integrity
run_nptcp nocopy-integrity 300 -i -u 65536
stop_server
check_server nocopy-integrity

echo "PASS ($MODE)"
