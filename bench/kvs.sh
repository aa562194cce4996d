#!/bin/bash
# bench/kvs.sh [BUILD_DIR] - dlibos-kvs against Debian's memcached (-t 1)
# under the same memcaslap commands, in one run.
#
# Servers (each pinned to CPU 0; memcaslap pinned to CPU 1):
#   dlibos-rtc    dlibos-kvs --mode rtc, one lcore (polls CPU 0)
#   dlibos-1+1    dlibos-kvs --mode dlibos, 1 network + 1 application core:
#                 on CPUs 0 and 2 when the machine has 3 or more, else both
#                 threads on CPU 0 (--idle sleep)
#   memcached     memcached -t 1 -U 0 (one worker thread), taskset CPU 0
# Both get $MEMORY MiB of item memory (--memory / -m, default 1024: enough
# that neither evicts during the runs, so the figures are about serving,
# not about cache capacity).
#
# Paths: memcaslap always runs in a network namespace of its own and reaches
# the server over one virtual link, with the kernel's TCP on its side.
# dlibos-kvs owns a TAP interface (DPDK net_tap) whose kernel side is in the
# client's namespace; memcached runs in a second namespace behind a veth
# pair (kernel TCP on both sides, the server's included).
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
# 64"), MEMORY (1024), OUT. Needs root, memcached, memcaslap, taskset; python3-matplotlib
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
WORK=$(mktemp -d /tmp/dlibos-bench-kvs.XXXXXX)
NSD=dlbkd$$
NSC=dlbkc$$
NSS=dlbks$$
PREFIX=dlbk$$
PID=
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	for ns in $NSD $NSC $NSS; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "/var/run/dpdk/$PREFIX" "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() {
	echo "bench/kvs.sh: $*" >&2
	[ -f "$WORK/server.log" ] && tail -n 30 "$WORK/server.log" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TAP)"
[ -x "$KVS" ] || die "no $KVS (build first: ninja -C $BUILD)"
for t in memcached memcaslap taskset; do
	command -v $t >/dev/null || die "$t missing"
done
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || die "needs 2 CPUs (server and client apart)"
mkdir -p "$OUT"
rm -f "$OUT"/memcaslap-*.txt
LOAD0=$(cat /proc/loadavg)

new_ns() {
	ip netns add "$1" || die "cannot create namespace $1"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$1" ip link set lo up
}

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

# dlibos-kvs: NAME CPUS then EAL args.
run_dlibos() {
	local name=$1 cpus=$2
	shift 2
	new_ns $NSD
	ip netns exec $NSD taskset -c "$cpus" "$KVS" "$@" --no-huge -m 1024 \
		--file-prefix $PREFIX --no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 "${RT[@]}" \
		--memory "$MEMORY" >"$WORK/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 150); do
		grep -q "ready:" "$WORK/server.log" && break
		kill -0 $PID 2>/dev/null || die "$name exited during start-up"
		sleep 0.2
	done
	ip netns exec $NSD ip addr add 10.0.0.1/24 dev dl0
	ip netns exec $NSD ip link set dl0 up
	wait_kvs $NSD 10.0.0.2
	load "$name" $NSD 10.0.0.2
	kill -TERM $PID
	wait $PID
	PID=
	cp "$WORK/server.log" "$OUT/server-$name.log"
	ip netns del $NSD
}

RT=(--mode rtc)
run_dlibos dlibos-rtc 0 -l 0
if [ "$NCPU" -ge 3 ]; then
	RT=(--mode dlibos --net-cores 1)
	run_dlibos dlibos-1+1 0,2 --lcores='0@0,1@2'
else
	RT=(--mode dlibos --net-cores 1 --idle sleep)
	run_dlibos dlibos-1+1 0 --lcores='(0-1)@0'
fi

# memcached behind a veth pair.
new_ns $NSC
new_ns $NSS
ip link add vkc$$ netns $NSC type veth peer name vks$$ netns $NSS
ip -n $NSC addr add 10.0.1.1/24 dev vkc$$
ip -n $NSS addr add 10.0.1.2/24 dev vks$$
ip -n $NSC link set vkc$$ up
ip -n $NSS link set vks$$ up
ip netns exec $NSS taskset -c 0 memcached -u nobody -l 10.0.1.2 -p 11211 -U 0 -t 1 -m "$MEMORY" \
	-c 4096 >"$WORK/server.log" 2>&1 &
PID=$!
wait_kvs $NSC 10.0.1.2
load memcached $NSC 10.0.1.2
kill -TERM $PID
wait $PID
PID=

{
	echo "nproc $NCPU"
	grep -m1 'model name' /proc/cpuinfo
	echo "kernel $(uname -r)"
	echo "memcached $(memcached -V | cut -d' ' -f2)"
	echo "memcaslap -T 1 -c $CONNS -t ${DURATION}s (text, binary -B);" \
		"sweep -c {$SWEEP} -t ${SWEEP_DURATION}s; item memory $MEMORY MiB"
	echo "load average before: $LOAD0"
	echo "load average after:  $(cat /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
$PY "$HERE/kvs_report.py" "$OUT" $SWEEP
