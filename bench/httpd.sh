#!/bin/bash
# bench/httpd.sh [BUILD_DIR] - dlibos-httpd against nginx under the same wrk
# command, for a range of file sizes, in one run.
#
# Servers (each pinned to CPU 0; wrk pinned to CPU 1):
#   dlibos-rtc     dlibos-httpd --mode rtc, one lcore (polls CPU 0)
#   dlibos-1+1     dlibos-httpd --mode dlibos, 1 network + 1 application
#                  core: on CPUs 0 and 2 when the machine has 3 or more,
#                  else both threads on CPU 0 (--idle sleep)
#   nginx          1 worker (worker_cpu_affinity, master on CPU 0 too),
#                  access_log off, sendfile on, keepalive_requests 1000000;
#                  veth with TSO/GSO/GRO off (MTU-sized frames, as net_tap)
#   nginx-gso      the same with the veth's offloads on (reference)
#
# Paths: wrk always runs in a network namespace of its own stack and
# reaches the server over one virtual link. dlibos-httpd owns a TAP
# interface (DPDK net_tap) whose kernel side is in wrk's namespace; nginx
# runs in a second namespace behind a veth pair. See docs/httpd.md for why
# these two are comparable (and which way the difference leans).
#
# For each server and each size: wrk -t1 -c50 -d${DURATION}s --latency
# fetching a file of that many bytes, after a curl check of its sha256.
# Prints requests/s, latency percentiles and the ratio to nginx; writes
# the raw wrk output, a CSV and a plot to $OUT (default docs/bench-httpd).
#
# Environment: DURATION (10), SIZES ("612 4096 16384 65536 262144"),
# CONNS (50), OUT, NGINX_GSO (1: also nginx with the veth's TSO/GSO/GRO). Needs root, wrk, nginx, curl; python3-matplotlib for
# the plot.
set -u

BUILD=${1:-build}
HTTPD=$BUILD/examples/httpd/dlibos-httpd
DURATION=${DURATION:-10}
SIZES=${SIZES:-"612 4096 16384 65536 262144"}
CONNS=${CONNS:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../docs/bench-httpd}
WORK=$(mktemp -d /tmp/dlibos-bench-httpd.XXXXXX)
NSD=dlbhd$$
NSC=dlbhc$$
NSS=dlbhs$$
PREFIX=dlbh$$
PID=
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null # nginx's master stops its worker
		sleep 1
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	for ns in $NSD $NSC $NSS; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "/var/run/dpdk/$PREFIX" "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

die() {
	echo "bench/httpd.sh: $*" >&2
	[ -f "$WORK/server.log" ] && tail -n 30 "$WORK/server.log" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TAP)"
[ -x "$HTTPD" ] || die "no $HTTPD (build first: ninja -C $BUILD)"
for t in wrk nginx curl taskset sha256sum; do
	command -v $t >/dev/null || die "$t missing"
done
NCPU=$(nproc)
[ "$NCPU" -ge 2 ] || die "needs 2 CPUs (server and client apart)"
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

new_ns() {
	ip netns add "$1" || die "cannot create namespace $1"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$1" ip link set lo up
}

wait_http() { # NS URL
	for _ in $(seq 60); do
		ip netns exec "$1" curl -s -m 1 -o /dev/null "$2" && return 0
		sleep 0.5
	done
	die "no answer from $2"
}

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

# dlibos-httpd: MODE_NAME then EAL and runtime args.
run_dlibos() {
	local name=$1 cpus=$2
	shift 2
	new_ns $NSD
	ip netns exec $NSD taskset -c "$cpus" "$HTTPD" "$@" --no-huge -m 1024 \
		--file-prefix $PREFIX --no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 "${RT[@]}" \
		--root "$ROOT" --port 80 >"$WORK/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 150); do
		grep -q "ready:" "$WORK/server.log" && break
		kill -0 $PID 2>/dev/null || die "$name exited during start-up"
		sleep 0.2
	done
	ip netns exec $NSD ip addr add 10.0.0.1/24 dev dl0
	ip netns exec $NSD ip link set dl0 up
	wait_http $NSD http://10.0.0.2/
	run_wrk "$name" $NSD 10.0.0.2
	kill -TERM $PID
	wait $PID
	PID=
	cp "$WORK/server.log" "$OUT/server-$name.log"
	ip netns del $NSD
}

RT=(--mode rtc)
run_dlibos dlibos-rtc 0 -l 0
RT=(--mode dlibos --net-cores 1 --idle sleep)
if [ "$NCPU" -ge 3 ]; then
	RT=(--mode dlibos --net-cores 1)
	run_dlibos dlibos-1+1 0,2 --lcores='0@0,1@2'
else
	run_dlibos dlibos-1+1 0 --lcores='(0-1)@0'
fi

# nginx behind a veth pair: run_nginx NAME on|off (segmentation offloads).
run_nginx() {
	local name=$1 offl=$2 ns dev
	new_ns $NSC
	new_ns $NSS
	ip link add vbc$$ netns $NSC type veth peer name vbs$$ netns $NSS
	ip -n $NSC addr add 10.0.1.1/24 dev vbc$$
	ip -n $NSS addr add 10.0.1.2/24 dev vbs$$
	for ns in $NSC $NSS; do
		dev=vbc$$
		[ $ns = $NSS ] && dev=vbs$$
		ip netns exec $ns ethtool -K $dev tso $offl gso $offl gro $offl >/dev/null 2>&1 ||
			[ "$offl" = on ] || die "ethtool -K $dev failed"
		ip -n $ns link set $dev up
	done
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	default_type application/octet-stream;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	server {
		listen 10.0.1.2:80 backlog=4096;
		root $ROOT;
		location / { }
	}
}
EOF
	ip netns exec $NSS taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" \
		>"$WORK/server.log" 2>&1 &
	PID=$!
	wait_http $NSC http://10.0.1.2/
	run_wrk "$name" $NSC 10.0.1.2
	kill -QUIT $PID
	wait $PID
	PID=
	ip netns del $NSC
	ip netns del $NSS
}

# The comparison: frames of at most the MTU on both paths (net_tap sends
# no TSO), then nginx with the veth's segmentation offloads for reference.
run_nginx nginx off
if [ "${NGINX_GSO:-1}" = 1 ]; then
	run_nginx nginx-gso on
fi

{
	echo "nproc $NCPU"
	grep -m1 'model name' /proc/cpuinfo
	echo "kernel $(uname -r)"
	echo "nginx $(nginx -v 2>&1 | sed 's/.*\///')"
	echo "wrk -t1 -c$CONNS -d${DURATION}s --latency; sizes: $SIZES"
	echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
$PY "$HERE/httpd_report.py" "$OUT" $SIZES
