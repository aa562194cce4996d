#!/bin/bash
# bench/kvs.sh [BUILD_DIR] - dlibos-kvs against Debian's memcached (-t 1)
# under the same memcaslap commands, in one run.
#
# Servers (each pinned to CPU 0; memcaslap pinned to CPU 1):
#   dlibos-rtc     dlibos-kvs --mode rtc, one lcore (polls CPU 0), on one
#                  end of a veth pair (DPDK net_af_packet)
#   dlibos-1+1     dlibos-kvs --mode dlibos, 1 network + 1 application core:
#                  on CPUs 0 and 2 when the machine has 3 or more, else both
#                  threads on CPU 0 (--idle sleep); veth as above
#   dlibos-rtc-tap dlibos-rtc on a TAP interface (DPDK net_tap) instead
#   memcached      memcached -t 1 -U 0 (one worker thread), taskset CPU 0,
#                  behind a veth pair with the same settings as dlibos's:
#                  TSO/GSO/GRO and checksum offloads off on both ends
# All get $MEMORY MiB of item memory (--memory / -m, default 1024: enough
# that none evicts during the runs, so the figures are about serving, not
# about cache capacity).
#
# Paths: memcaslap always runs in a network namespace of its own and reaches
# the server over one virtual link, with the kernel's TCP on its side.
#
# Runs, for each server:
#   main     memcaslap -T 1 -c $CONNS -t ${DURATION}s, text then binary (-B);
#   sweep    text with -c 1, 4, 16, 64 (${SWEEP_DURATION}s each): a curve.
# memcaslap's default workload: 90% get / 10% set, 64-byte keys, values of
# a few hundred bytes to 1 KB. Prints ops/s, latency (average, geometric mean,
# log2-bucket percentiles) and the ratios to memcached; writes the raw output,
# a CSV and a plot to $OUT (default docs/bench-kvs).
#
# Environment: DURATION (10), SWEEP_DURATION (5), CONNS (16), SWEEP ("1 4 16
# 64"), MEMORY (1024), OUT. Needs root, memcached, memcaslap, taskset, ethtool; python3-matplotlib
# for the plot.
set -u

BUILD=${1:-build}
KVS=$BUILD/examples/kvs/dlibos-kvs
DURATION=${DURATION:-10}
SWEEP_DURATION=${SWEEP_DURATION:-5}
CONNS=${CONNS:-16}
SWEEP=${SWEEP:-"1 4 16 64"}
MEMORY=${MEMORY:-1024}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../docs/bench-kvs}
BENCH=kvs
TAG=k
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_require "$KVS" memcached memcaslap taskset ethtool
mkdir -p "$OUT"
rm -f "$OUT"/memcaslap-*.txt
LOAD0=$(cat /proc/loadavg)

# wait_kvs NS IP: until "version" is answered.
wait_kvs() {
	for _ in $(seq 60); do
		ip netns exec "$1" timeout 2 bash -c \
			'exec 3<>/dev/tcp/$0/11211 && printf "version\r\n" >&3 && head -c 8 <&3' \
			"$2" 2>/dev/null | grep -q VERSION && return 0
		sleep 0.5
	done
	die "no answer from $2:11211"
}

# one NAME NS IP TAG CONNS SECONDS [memcaslap options]
one() {
	local name=$1 ns=$2 ip=$3 tag=$4 c=$5 t=$6 f
	shift 6
	f="$OUT/memcaslap-$name-$tag.txt"
	ip netns exec "$ns" taskset -c 1 memcaslap -s "$ip:11211" -T 1 -c "$c" -t "${t}s" \
		-S "${t}s" "$@" >"$f" 2>&1 || die "$name $tag: memcaslap failed"
	printf '%-11s %-12s %s\n' "$name" "$tag" "$(grep '^Run time' "$f")"
}

# load NAME NS IP: the main runs and the sweep.
load() {
	local name=$1 ns=$2 ip=$3 c
	one "$name" "$ns" "$ip" text "$CONNS" "$DURATION"
	one "$name" "$ns" "$ip" binary "$CONNS" "$DURATION" -B
	for c in $SWEEP; do
		one "$name" "$ns" "$ip" "sweep-c$c" "$c" "$SWEEP_DURATION"
	done
}

# dlibos-kvs: NAME CPUS then EAL args; runtime args in RT, port in PORT.
run_dlibos() {
	local name=$1 cpus=$2
	shift 2
	dlibos_start "$name" "$cpus" "$KVS" "$@" -- "${RT[@]}" --memory "$MEMORY"
	wait_kvs $DCLIENT 10.0.0.2
	load "$name" $DCLIENT 10.0.0.2
	dlibos_stop "$name"
}

dlibos_runs

# memcached behind a veth pair with the same settings as dlibos-kvs's.
veth_up
ip netns exec $NSS taskset -c 0 memcached -u nobody -l 10.0.1.2 -p 11211 -U 0 -t 1 -m "$MEMORY" \
	-c 4096 >"$WORK/server.log" 2>&1 &
PID=$!
wait_kvs $NSC 10.0.1.2
load memcached $NSC 10.0.1.2
kill -TERM $PID
wait $PID
PID=

{
	machine_lines
	echo "memcached $(memcached -V | cut -d' ' -f2)"
	echo "memcaslap -T 1 -c $CONNS -t ${DURATION}s (text, binary -B);" \
		"sweep -c {$SWEEP} -t ${SWEEP_DURATION}s; item memory $MEMORY MiB"
	echo "load average before: $LOAD0"
	echo "load average after:  $(cat /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
$PY "$HERE/kvs_report.py" "$OUT" $SWEEP
