#!/bin/bash
# bench/netpipe.sh [BUILD_DIR] - dlibos-netpipe against Linux's own NPtcp
# receiver, both driven by the same NPtcp transmitter (Debian netpipe-tcp
# 3.7.2, full default run: 124 sizes from 1 byte to 8 MB + 3), in one run.
#
# Receivers (each pinned to CPU 0; the transmitter pinned to CPU 1):
#   linux              NPtcp (receiver) in a namespace behind a veth pair,
#                      TSO/GSO/GRO and checksum offloads off on both ends
#   dlibos-copy        dlibos-netpipe --mode rtc, one lcore polling CPU 0,
#                      copy mode (every message copied into TX memory), on
#                      one end of a veth pair like Linux's (net_af_packet)
#   dlibos-nocopy      the same with --nocopy (replies from the stored first
#                      message of each size: zero-touch)
#   dlibos-copy-tap    dlibos-copy on a TAP interface (DPDK net_tap)
#
# Paths: the transmitter always runs in a network namespace of its own
# kernel stack and reaches the receiver over one virtual link. See
# docs/netpipe.md for what the two kinds of link cost.
#
# Then, for the 64-byte latency, LAT_RUNS (default 5) short runs per
# receiver, `NPtcp -h IP -l 64 -u 64 -n 5000` (sizes 61, 64, 67: 3 trials each
# of 5000 round trips, NPtcp keeps the best trial), whose median is
# reported: one point of the long run is easily disturbed.
#
# Prints, per receiver, the 64-byte one-way latency and the peak
# throughput (and the ratios to Linux); writes NPtcp's -o files, the server
# logs, machine.txt and a plot (Mbps vs message size, log scale) to $OUT
# (default docs/netpipe-data) and $PLOT (default docs/netpipe.png).
#
# Environment: NPTCP_ARGS (extra transmitter arguments, e.g. "-u 1048576"
# for a shorter run), DLIBOS_RT_OPTS (extra runtime options, e.g.
# --no-hw-offload), OUT, PLOT. Needs root, NPtcp, taskset;
# python3-matplotlib for the plot.
set -u

BUILD=${1:-build}
NETPIPE=$BUILD/examples/netpipe/dlibos-netpipe
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../docs/netpipe-data}
PLOT=${PLOT:-$HERE/../docs/netpipe.png}
NPTCP_ARGS=${NPTCP_ARGS:-}
LAT_RUNS=${LAT_RUNS:-5}
DLIBOS_RT_OPTS=${DLIBOS_RT_OPTS:-}
BENCH=netpipe
TAG=n
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_require "$NETPIPE" NPtcp taskset ping ethtool
mkdir -p "$OUT"
# Other work on the machine skews every figure: say so.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_START%% *}" 'BEGIN {exit !(l > 0.5)}'; then
	echo "bench/netpipe.sh: warning: load average $LOAD_START before the run" >&2
fi

# transmit NAME NS IP: the full NPtcp run, pinned to CPU 1.
transmit() {
	local name=$1 ns=$2 ip=$3
	echo "== $name: taskset -c 1 NPtcp -h $ip -o np-$name.out $NPTCP_ARGS"
	# shellcheck disable=SC2086 # NPTCP_ARGS is a list of arguments
	ip netns exec "$ns" taskset -c 1 NPtcp -h "$ip" -o "$OUT/np-$name.out" $NPTCP_ARGS \
		>"$WORK/np.stdout" 2>"$OUT/np-$name.stderr" || die "$name: NPtcp failed"
	tail -n 2 "$OUT/np-$name.stderr"
}

# latency NAME NS IP: one short 64-byte run; appends the one-way usec.
latency() {
	local name=$1 ns=$2 ip=$3
	ip netns exec "$ns" taskset -c 1 NPtcp -h "$ip" -l 64 -u 64 -n 5000 \
		-o "$WORK/lat.out" >"$WORK/np.stdout" 2>"$WORK/lat.stderr" || die "$name: NPtcp -l 64 failed"
	awk '$1 == 64 {printf "%.2f\n", $3 * 1e6}' "$WORK/lat.out" >>"$OUT/lat-$name.txt"
}

# run_dlibos NAME [netpipe options]: rtc mode, one lcore on CPU 0 (polls).
run_dlibos() {
	local name=$1
	shift
	# shellcheck disable=SC2086 # DLIBOS_RT_OPTS is a list of options
	dlibos_start "$name" 0 "$NETPIPE" -l 0 -- --mode rtc $DLIBOS_RT_OPTS "$@"
	ip netns exec $DCLIENT ping -c 3 -i 0.2 -W 1 -q 10.0.0.2 >/dev/null ||
		die "$name: no ping answer"
	transmit "$name" $DCLIENT 10.0.0.2
	: >"$OUT/lat-$name.txt"
	for _ in $(seq "$LAT_RUNS"); do latency "$name" $DCLIENT 10.0.0.2; done
	echo "$name: 64-byte one-way latency (usec): $(tr '\n' ' ' <"$OUT/lat-$name.txt")"
	dlibos_stop "$name"
}

PORT=afp
run_dlibos dlibos-copy
run_dlibos dlibos-nocopy --nocopy
PORT=tap
run_dlibos dlibos-copy-tap

# Linux's NPtcp receiver behind a veth pair with the same settings.
veth_up
ip netns exec $NSS taskset -c 0 NPtcp >"$WORK/server.log" 2>&1 &
PID=$!
ip netns exec $NSC ping -c 3 -i 0.2 -W 1 -q 10.0.1.2 >/dev/null || die "linux: no ping answer"
sleep 0.5 # NPtcp listening
transmit linux $NSC 10.0.1.2
wait $PID
: >"$OUT/lat-linux.txt"
for _ in $(seq "$LAT_RUNS"); do
	# Linux's receiver must be told the sizes (dlibos-netpipe learns them).
	ip netns exec $NSS taskset -c 0 NPtcp -l 64 -u 64 >"$WORK/server.log" 2>&1 &
	PID=$!
	sleep 0.3
	latency linux $NSC 10.0.1.2
	wait $PID
done
PID=
echo "linux: 64-byte one-way latency (usec): $(tr '\n' ' ' <"$OUT/lat-linux.txt")"

{
	machine_lines
	echo "netpipe-tcp $(dpkg-query -W -f='${Version}' netpipe-tcp 2>/dev/null)"
	echo "load average before: $LOAD_START, after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "transmitter: taskset -c 1 NPtcp -h IP -o FILE $NPTCP_ARGS"
	echo "latency: $LAT_RUNS x taskset -c 1 NPtcp -h IP -l 64 -u 64 -n 5000"
	echo "dlibos: -l 0 --no-huge -m 1024 --no-pci --vdev=net_af_packet0,iface=VETH,framecnt=4096 (or net_tap0,iface=dl0) -- --ip 10.0.0.2/24 --mode rtc $DLIBOS_RT_OPTS [--nocopy]"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
$PY "$HERE/netpipe_report.py" "$OUT" "$PLOT" linux dlibos-copy dlibos-nocopy dlibos-copy-tap
