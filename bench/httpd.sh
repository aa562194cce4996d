#!/bin/bash
# bench/httpd.sh [BUILD_DIR] - dlibos-httpd against nginx under the same wrk
# command, for a range of file sizes, in one run.
#
# Servers (each pinned to CPU 0; wrk pinned to CPU 1):
#   dlibos-rtc     dlibos-httpd --mode rtc, one lcore (polls CPU 0), on
#                  one end of a veth pair (DPDK net_af_packet)
#   dlibos-1+1     dlibos-httpd --mode dlibos, 1 network + 1 application
#                  core: on CPUs 0 and 2 when the machine has 3 or more,
#                  else both threads on CPU 0 (--idle sleep); veth as above
#   dlibos-rtc-tap dlibos-rtc on a TAP interface (DPDK net_tap) instead
#   nginx          1 worker (worker_cpu_affinity, master on CPU 0 too),
#                  access_log off, sendfile on, keepalive_requests 1000000;
#                  behind a veth pair with the same settings as dlibos's:
#                  TSO/GSO/GRO and checksum offloads off on both ends
#   nginx-offl     the same with the veth's offloads on (reference)
#
# Paths: wrk always runs in a network namespace of its own and reaches the
# server over one virtual link with the kernel's TCP on its side. See
# docs/httpd.md for what the two kinds of link cost.
#
# For each server and each size: wrk -t1 -c50 -d${DURATION}s --latency
# fetching a file of that many bytes, after a curl check of its sha256.
# Prints requests/s, latency percentiles and the ratio to nginx; writes
# the raw wrk output, a CSV and a plot to $OUT (default docs/bench-httpd).
#
# Environment: DURATION (10), SIZES ("612 4096 16384 65536 262144"),
# CONNS (50), OUT, NGINX_OFFL (1: also nginx with the veth's offloads on).
# Needs root, wrk, nginx, curl, ethtool; python3-matplotlib for the plot.
set -u

BUILD=${1:-build}
HTTPD=$BUILD/examples/httpd/dlibos-httpd
DURATION=${DURATION:-10}
SIZES=${SIZES:-"612 4096 16384 65536 262144"}
CONNS=${CONNS:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../docs/bench-httpd}
BENCH=httpd
TAG=h
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_require "$HTTPD" wrk nginx curl taskset sha256sum ethtool
mkdir -p "$OUT"
# Other work on the machine distorts everything: say so.
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average before the run: $LOAD0 (figures are only meaningful on an idle machine)"

# Same files for every server.
ROOT=$WORK/root
chmod 755 "$WORK" # nginx's worker runs as www-data
mkdir -p "$ROOT"
for s in $SIZES; do head -c "$s" /dev/urandom >"$ROOT/f$s.bin"; done
printf '<html><body>bench</body></html>\n' >"$ROOT/index.html"

# run_wrk NAME NS IP: check then load every size.
run_wrk() {
	local name=$1 ns=$2 ip=$3 s got want
	for s in $SIZES; do
		ip netns exec "$ns" curl -sS --fail -m 10 -o "$WORK/check" "http://$ip/f$s.bin" ||
			die "$name: curl f$s.bin failed"
		got=$(sha256sum <"$WORK/check" | cut -d' ' -f1)
		want=$(sha256sum <"$ROOT/f$s.bin" | cut -d' ' -f1)
		[ "$got" = "$want" ] || die "$name: f$s.bin differs"
		echo "== $name, $s bytes: wrk -t1 -c$CONNS -d${DURATION}s --latency (load $(cut -d' ' -f1 /proc/loadavg))"
		ip netns exec "$ns" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
			"http://$ip/f$s.bin" >"$OUT/wrk-$name-$s.txt" 2>&1
		grep -E "Requests/sec|Socket errors|Non-2xx|  99%" "$OUT/wrk-$name-$s.txt"
	done
}

# dlibos-httpd: NAME CPUS then EAL args; runtime args in RT, port in PORT.
run_dlibos() {
	local name=$1 cpus=$2
	shift 2
	dlibos_start "$name" "$cpus" "$HTTPD" "$@" -- "${RT[@]}" --root "$ROOT" --port 80
	wait_http $DCLIENT http://10.0.0.2/
	run_wrk "$name" $DCLIENT 10.0.0.2
	dlibos_stop "$name"
}

dlibos_runs

# nginx behind a veth pair: run_nginx NAME on|off (the veth's offloads).
run_nginx() {
	local name=$1
	veth_up "$2"
	nginx_start
	run_wrk "$name" $NSC 10.0.1.2
	kill -QUIT $PID
	wait $PID
	PID=
	veth_down
}

# The comparison: the same veth settings as dlibos-httpd's (MTU-sized
# frames, checksums in software), then nginx with the veth's offloads on
# for reference (no checksum is computed at all between two veth ends).
run_nginx nginx off
if [ "${NGINX_OFFL:-1}" = 1 ]; then
	run_nginx nginx-offl on
fi

{
	machine_lines
	echo "nginx $(nginx -v 2>&1 | sed 's/.*\///')"
	echo "wrk -t1 -c$CONNS -d${DURATION}s --latency; sizes: $SIZES"
	echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
$PY "$HERE/httpd_report.py" "$OUT" $SIZES
