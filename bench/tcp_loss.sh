#!/bin/bash
# bench/tcp_loss.sh [BUILD_DIR] - dlibos-httpd against nginx on a lossy
# link, in one run (issue 15): goodput of a 16 MiB download and the
# latency of 4 KiB requests while an nft rule in the client's namespace
# drops a share of the server's frames (0%, 0.5%, 1%, 3%; the same rule
# for every server, after the server's stack sent them: the server sees
# real loss).
#
# Servers (each pinned to CPU 0; clients pinned to CPU 1), each behind a
# veth pair with offloads off on both ends (bench/lib.sh):
#   dlibos         dlibos-httpd --mode rtc on net_af_packet, defaults
#                  (SACK, RACK-TLP, CUBIC)
#   dlibos-nosack  the same with --tcp sack=0,tlp=0 (NewReno recovery on
#                  duplicate ACKs, RTO for tails; CUBIC still)
#   nginx          1 worker, sendfile, keepalive; Linux TCP with SACK,
#                  RACK, TLP and the system's congestion control (bbr
#                  on this machine: it does not slow down for random loss)
#   nginx-cubic    the same with CUBIC (net.ipv4.tcp_congestion_control
#                  in the server's namespace): the like-for-like row
# For each server and loss rate:
#   - RUNS downloads of a 16 MiB file with curl (a new connection each):
#     median goodput (MiB/s), min and max;
#   - wrk -t1 -c$CONNS -d${DURATION}s --latency on a 4 KiB file: p50, p99.
# Prints a table with the ratios dlibos / nginx and writes the raw output
# to $OUT (default docs/bench-tcp-loss).
#
# Environment: RUNS (5), DURATION (10), CONNS (10), LOSSES ("0 50 100 300",
# in 1/10000), OUT. Needs root, curl, wrk, nginx, nft, taskset, ethtool.
set -u

BUILD=${1:-build}
HTTPD=$BUILD/examples/httpd/dlibos-httpd
RUNS=${RUNS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-10}
LOSSES=${LOSSES:-"0 50 100 300"}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE/../docs/bench-tcp-loss}
BENCH=tcp_loss
TAG=l
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

bench_require "$HTTPD" wrk nginx curl nft taskset ethtool sha256sum
mkdir -p "$OUT"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average before the run: $LOAD0 (figures are only meaningful on an idle machine)"

ROOT=$WORK/root
chmod 755 "$WORK"
mkdir -p "$ROOT"
head -c $((16 << 20)) /dev/urandom >"$ROOT/f16m.bin"
head -c 4096 /dev/urandom >"$ROOT/f4k.bin"
printf '<html><body>bench</body></html>\n' >"$ROOT/index.html"
RESULTS=$OUT/results.txt
: >"$RESULTS"

wait_http() { # NS URL
	for _ in $(seq 60); do
		ip netns exec "$1" curl -s -m 1 -o /dev/null "$2" && return 0
		sleep 0.5
	done
	die "no answer from $2"
}

# set_loss NS SERVER_IP PER10000: the client namespace drops that share of
# the server's frames on input.
set_loss() {
	ip netns exec "$1" nft delete table inet dlbloss 2>/dev/null
	[ "$3" = 0 ] && return 0
	ip netns exec "$1" nft add table inet dlbloss || die "nft"
	ip netns exec "$1" nft add chain inet dlbloss in '{ type filter hook input priority 0; }'
	ip netns exec "$1" nft add rule inet dlbloss in ip saddr "$2" numgen random mod 10000 \
		'<' "$3" counter drop || die "nft rule"
}

# measure NAME NS IP: every loss rate against one running server.
measure() {
	local name=$1 ns=$2 ip=$3 loss r got want sp
	want=$(sha256sum <"$ROOT/f16m.bin" | cut -d' ' -f1)
	for loss in $LOSSES; do
		set_loss "$ns" "$ip" "$loss"
		: >"$WORK/speeds"
		for r in $(seq "$RUNS"); do
			got=$(ip netns exec "$ns" taskset -c 1 curl -sS --fail -m 120 -o "$WORK/dl.bin" \
				-w '%{speed_download}' "http://$ip/f16m.bin") || die "$name: curl failed"
			[ "$(sha256sum <"$WORK/dl.bin" | cut -d' ' -f1)" = "$want" ] ||
				die "$name: download differs"
			echo "$got" >>"$WORK/speeds"
		done
		sp=$(sort -g "$WORK/speeds" | awk '{v[NR] = $1 / 1048576} END {
			printf "%.1f %.1f %.1f", v[int((NR + 1) / 2)], v[1], v[NR]}')
		ip netns exec "$ns" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
			"http://$ip/f4k.bin" >"$OUT/wrk-$name-$loss.txt" 2>&1
		p50=$(awk '$1 == "50%" {print $2}' "$OUT/wrk-$name-$loss.txt")
		p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk-$name-$loss.txt")
		rps=$(awk '/Requests\/sec/ {print $2}' "$OUT/wrk-$name-$loss.txt")
		drops=$(ip netns exec "$ns" nft list table inet dlbloss 2>/dev/null |
			grep -o "counter packets [0-9]*" | awk '{print $3}')
		echo "$name $loss $sp $p50 $p99 $rps ${drops:-0}" | tee -a "$RESULTS"
	done
	set_loss "$ns" "$ip" 0
}

run_dlibos() { # NAME then --tcp args (may be empty)
	local name=$1
	shift
	PORT=afp
	dlibos_start "$name" 0 "$HTTPD" -l 0 -- --mode rtc --root "$ROOT" --port 80 "$@"
	wait_http $DCLIENT http://10.0.0.2/
	measure "$name" $DCLIENT 10.0.0.2
	dlibos_stop "$name"
}

run_nginx() { # NAME CC (empty: the system's)
	local name=$1 cc=$2
	veth_up off
	[ -n "$cc" ] && ip netns exec $NSS sysctl -qw net.ipv4.tcp_congestion_control="$cc"
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
	measure "$name" $NSC 10.0.1.2
	kill -QUIT $PID
	wait $PID
	PID=
	veth_down
}

run_dlibos dlibos
run_dlibos dlibos-nosack --tcp sack=0,tlp=0
run_nginx nginx ""
run_nginx nginx-cubic cubic

{
	machine_lines
	echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), Linux TCP: $(sysctl -n net.ipv4.tcp_congestion_control)," \
		"sack $(sysctl -n net.ipv4.tcp_sack)"
	echo "per server and loss rate: $RUNS x curl of 16 MiB (median, min, max MiB/s);" \
		"wrk -t1 -c$CONNS -d${DURATION}s --latency on 4 KiB"
	echo "load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"
echo
awk '
function ms(v) { # wrk latency (us/ms/s) to ms
	if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
	if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
	if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
	return v + 0
}
{ k = $1 SUBSEP $2; med[k] = $3; lo[k] = $4; hi[k] = $5; p50[k] = ms($6); p99[k] = ms($7)
  rps[k] = $8; drops[k] = $9; if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
END {
	printf "| loss | server | 16 MiB goodput, MiB/s (min-max) | 4 KiB p50 ms | p99 ms | req/s | vs nginx: goodput, p99 | vs nginx-cubic |\n"
	printf "|---|---|---|---|---|---|---|---|\n"
	split("dlibos dlibos-nosack nginx nginx-cubic", srv, " ")
	for (i = 0; i < n; i++) {
		l = order[i]
		for (j = 1; j <= 4; j++) {
			s = srv[j]; k = s SUBSEP l; g = "nginx" SUBSEP l; gc = "nginx-cubic" SUBSEP l
			r1 = (s ~ /^nginx/) ? "-" : sprintf("%.2fx, %.2fx", med[k] / med[g], p99[k] / p99[g])
			r2 = (s ~ /^nginx/) ? "-" : sprintf("%.2fx, %.2fx", med[k] / med[gc], p99[k] / p99[gc])
			printf "| %.1f%% | %s | %.1f (%.1f-%.1f) | %.2f | %.2f | %s | %s | %s |\n", l / 100, s,
				med[k], lo[k], hi[k], p50[k], p99[k], rps[k], r1, r2
		}
	}
}' "$RESULTS" | tee "$OUT/table.md"
