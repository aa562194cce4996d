#!/bin/bash
# netpipe_common.sh - sourced by the netpipe_*.sh integration tests, on top
# of lib.sh: parses "NETPIPE MODE", creates the test's network namespace,
# and defines start_server (dlibos-netpipe over TAP with extra server
# options), stop_server (SIGTERM, exit 0, counters printed), run_nptcp (a
# real NPtcp transmitter in the namespace, checked line by line), counter,
# IN and fail. lib.sh removes the namespace and stops the server (by PID)
# on every exit path.
#
# MODE: rtc (one lcore), dlibos11 (1 network + 1 application core) or
# dlibos12 (1 network + 2 application cores on 2 CPUs: oversubscribed).
# NETPIPE_RT_OPTS (environment): extra runtime options for every server
# start, e.g. --no-hw-offload, when investigating.

set -u

BIN=${1:?usage: $0 path/to/dlibos-netpipe rtc|dlibos11|dlibos12}
MODE=${2:?usage: $0 path/to/dlibos-netpipe rtc|dlibos11|dlibos12}
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

dl_mode "$MODE"
EAL=$DL_EAL
RT=$DL_RT
IP=$DL_IP

dl_need ip NPtcp ping timeout
dl_init netpipe
WORK=$DL_WORK

fail() { dl_fail "($MODE) $*"; }
IN() { dl_in_ns "$@"; }

# start_server [netpipe options...]: a fresh server (and TAP) in the namespace.
start_server() {
	dl_start "$BIN" "$EAL" "$RT ${NETPIPE_RT_OPTS:-} $*"
}

# SIGTERM, exit status 0, counters printed.
stop_server() {
	dl_stop
	grep -q -- "--- dlibos counters" "$DL_LOG" || fail "no counters printed at exit"
}

# The total of a netpipe counter printed at exit (0 when not printed).
counter() {
	dl_counter "netpipe.$1"
}

# run_nptcp NAME TIMEOUT_S [NPtcp args...]: one transmitter run to the end.
# Checks the exit status, that every data point printed its line (a result
# in Mbps/usec, or "Integrity check passed" with -i) and is in the -o file,
# and that the run reached the -u bound. Sets NP_LINES.
run_nptcp() {
	local name=$1 limit=$2 rc lines last upper=10000000 prev=
	shift 2
	for a in "$@"; do
		[ "$prev" = -u ] && upper=$a
		prev=$a
	done
	echo "== $name: NPtcp -h $IP -o np-$name.out $*"
	IN timeout "$limit" NPtcp -h $IP -o "$WORK/np-$name.out" "$@" \
		>"$WORK/np-$name.stdout" 2>"$WORK/np-$name.stderr"
	rc=$?
	tail -n 3 "$WORK/np-$name.stderr"
	[ $rc = 0 ] || { cat "$WORK/np-$name.stdout"; fail "$name: NPtcp exited with status $rc"; }
	if [[ " $* " == *" -i "* ]]; then
		lines=$(grep -cE '^ *[0-9]+: +[0-9]+ bytes +[0-9]+ times --> +Integrity check passed' \
			"$WORK/np-$name.stderr")
	else
		lines=$(grep -cE '^ *[0-9]+: +[0-9]+ bytes +[0-9]+ times --> +[0-9.]+ Mbps in +[0-9.]+ usec' \
			"$WORK/np-$name.stderr")
	fi
	[ "$lines" -ge 10 ] || fail "$name: only $lines result lines from NPtcp"
	[ "$lines" = "$(wc -l <"$WORK/np-$name.out")" ] ||
		fail "$name: $lines result lines but $(wc -l <"$WORK/np-$name.out") in the -o file"
	grep -q "Integrity check failed" "$WORK/np-$name.stderr" && fail "$name: integrity check failed"
	# NPtcp stops when the next base size passes the bound (or when one
	# transfer takes over a second): the last size must be near the bound.
	last=$(awk 'END {print $1}' "$WORK/np-$name.out")
	[ $((last * 3 / 2 + 3)) -ge "$upper" ] ||
		fail "$name: stopped early at $last bytes (bound $upper) after $lines data points"
	echo "$name: $lines data points, up to $last bytes"
	NP_LINES=$lines
}
