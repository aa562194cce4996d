#!/bin/bash
# bench/protected/bench_protected.sh [BUILD] - protected mode against dlibos (threads)
# mode, same core counts (1 network + 1 application core): figures, not a
# test (docs/protected.md records them).
#
#  1. Instructions per 64-byte request/response, in memory under callgrind
#     (dlibos-protbench: deterministic, the same on any x86-64 for the same
#     binary): raw, and net of idle polling; protected mode with received
#     data copied into the application's own region (the default) and with
#     the port's RX region shared (--rx-sharing). PART1_ONLY=1 stops there.
#  2. Requests/s of dlibos-httpd under wrk (1 thread, 32 connections, a
#     small page) over TAP in a namespace of its own, each configuration run
#     ROUNDS times alternately (default 3) for DURATION seconds (default 10):
#       dlibos     `-l 0-1 -- --mode dlibos --net-cores 1`: network core on
#                  CPU 0, application core on CPU 1 (DPDK's control threads
#                  float over both);
#       protected  dlibosd -l 0 + dlibos-httpd --attach --app-cores 1 pinned
#                  to CPU 1, (a) with the whole service confined to CPU 0
#                  (taskset -c 0: its DPDK control threads too) and (b)
#                  without (DPDK then puts its control threads on CPU 1,
#                  the one its lcores leave free: next to the application).
#     Idle policy sleep everywhere (the machine has 2 CPUs: wrk needs one).
#     Prints each run, the medians and the ratios to dlibos mode.
# Needs root for part 2 (skipped otherwise). Every DPDK start passes
# --no-pci and its own --file-prefix; the namespace and processes go away
# on exit.
set -u
BUILD=${1:-build-prot}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
EXCHANGES=${EXCHANGES:-5000}
PB=$BUILD/bench/protected/dlibos-protbench
HTTPD=$BUILD/examples/httpd/dlibos-httpd
DLIBOSD=$BUILD/app/dlibosd/dlibosd
TMP=$(mktemp -d /tmp/dlibos-benchprot.XXXXXX)
NS=dlbprot$$
PIDS=
cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" /var/run/dpdk/dlbprot$$*
}
trap cleanup EXIT

# ---- 1. instructions ---------------------------------------------------------
declare -A RAW NET
for mode in dlibos protected protected-shared; do
	out=$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$TMP/cg.$mode" \
		"$PB" --mode $mode --exchanges "$EXCHANGES" 2>/dev/null) || { echo "$out"; exit 1; }
	busy=$(grep -h '^summary:' "$TMP/cg.$mode.1" | awk '{print $2}')
	idle=$(grep -h '^summary:' "$TMP/cg.$mode.2" | awk '{print $2}')
	ex_idle=$(echo "$out" | awk '/^exchanges-phase/ {print $5}')
	id_iters=$(echo "$out" | awk '/^idle-phase/ {print $3}')
	RAW[$mode]=$(echo "$busy / $EXCHANGES" | bc -l)
	NET[$mode]=$(echo "($busy - $ex_idle * $idle / $id_iters) / $EXCHANGES" | bc -l)
	printf '%-16s raw %6.0f instr/exchange, idle iteration %4.0f instr, net of idle polling %6.0f instr/exchange\n' \
		$mode "${RAW[$mode]}" "$(echo "$idle / $id_iters" | bc -l)" "${NET[$mode]}"
done
printf 'instructions protected/dlibos: raw %.3f, net of idle polling %.3f\n' \
	"$(echo "${RAW[protected]} / ${RAW[dlibos]}" | bc -l)" \
	"$(echo "${NET[protected]} / ${NET[dlibos]}" | bc -l)"
printf 'instructions of the copy path, protected/protected-shared: raw %.3f, net %.3f (%+.0f per exchange)\n' \
	"$(echo "${RAW[protected]} / ${RAW[protected-shared]}" | bc -l)" \
	"$(echo "${NET[protected]} / ${NET[protected-shared]}" | bc -l)" \
	"$(echo "${NET[protected]} - ${NET[protected-shared]}" | bc -l)"
[ "${PART1_ONLY:-0}" = 1 ] && exit 0

# ---- 2. requests per second ----------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	echo "SKIP requests/s: needs root (namespace, TAP)"
	exit 0
fi
mkdir -p "$TMP/root"
printf '<html><body>bench</body></html>\n' >"$TMP/root/index.html"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

# start_dpdk LOG BIN EAL... -- ARGS...: in the namespace, wait for ready.
start_dpdk() {
	local log=$1
	shift
	ip netns exec "$NS" "$@" >"$log" 2>&1 &
	LAST=$!
	PIDS="$PIDS $LAST"
	for _ in $(seq 150); do
		grep -q "ready:" "$log" && return 0
		sleep 0.2
	done
	echo "not ready: $(tail -5 "$log")"
	exit 1
}

up_tap() {
	ip netns exec "$NS" ip addr flush dev dl0 2>/dev/null
	ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0
	ip netns exec "$NS" ip link set dl0 up
	for _ in $(seq 50); do
		ip netns exec "$NS" ping -c1 -W1 -q 10.0.0.2 >/dev/null 2>&1 && return 0
		sleep 0.1
	done
}

stop_all() {
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=
}

wrk_rps() {
	ip netns exec "$NS" curl -s -o /dev/null -m 5 http://10.0.0.2/ # warm (ARP, caches)
	ip netns exec "$NS" wrk -t1 -c32 -d"${DURATION}s" http://10.0.0.2/ 2>&1 |
		awk '/Requests\/sec/ {print $2}'
}

run_dlibos() {
	start_dpdk "$TMP/d.log" "$HTTPD" -l 0-1 --no-huge -m 512 --file-prefix "dlbprot$$d" \
		--no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 --mode dlibos --net-cores 1 \
		--idle sleep --root "$TMP/root" --port 80
	up_tap
	wrk_rps
	stop_all
}

# run_protected "SERVICE PREFIX": dlibosd -l 0 (under the prefix, e.g.
# taskset), the application pinned to CPU 1.
run_protected() {
	start_dpdk "$TMP/s.log" $1 "$DLIBOSD" -l 0 --no-huge -m 512 \
		--file-prefix "dlbprot$$p" --no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 \
		--idle sleep --ctl "$TMP/ctl.sock"
	taskset -c 1 "$HTTPD" --attach "$TMP/ctl.sock" --app-cores 1 --idle sleep \
		--root "$TMP/root" --port 80 >"$TMP/a.log" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 50); do grep -q "ready:" "$TMP/a.log" && break; sleep 0.1; done
	up_tap
	wrk_rps
	stop_all
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$TMP/rps.d"
: >"$TMP/rps.p0"
: >"$TMP/rps.p1"
for r in $(seq "$ROUNDS"); do
	d=$(run_dlibos)
	p0=$(run_protected "taskset -c 0")
	p1=$(run_protected "")
	echo "round $r: dlibos $d req/s; protected, service on CPU 0: $p0 req/s;" \
		"protected, DPDK control threads on CPU 1: $p1 req/s"
	echo "$d" >>"$TMP/rps.d"
	echo "$p0" >>"$TMP/rps.p0"
	echo "$p1" >>"$TMP/rps.p1"
done
md=$(median <"$TMP/rps.d")
m0=$(median <"$TMP/rps.p0")
m1=$(median <"$TMP/rps.p1")
printf 'requests/s, median of %d runs of %d s:\n' "$ROUNDS" "$DURATION"
printf '  dlibos (-l 0-1)                                        %9.0f\n' "$md"
printf '  protected, service on CPU 0 (taskset -c 0), app CPU 1  %9.0f  (%.3f x dlibos)\n' \
	"$m0" "$(echo "$m0 / $md" | bc -l)"
printf '  protected, dlibosd -l 0 alone, app CPU 1               %9.0f  (%.3f x dlibos)\n' \
	"$m1" "$(echo "$m1 / $md" | bc -l)"
