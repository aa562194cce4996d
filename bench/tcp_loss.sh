#!/bin/bash
# bench/tcp_loss.sh [BUILD_DIR] - dlibos-httpd against nginx on a lossy
# link, in one run (issue 15): goodput of a 16 MiB download (SIZE_MB) and the
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
#   dlibos-bbr     the same with --tcp cc=bbr (model-based, as nginx's
#                  default here; without pacing: docs/tcp.md)
#   nginx          1 worker, sendfile, keepalive; Linux TCP with SACK,
#                  RACK, TLP and the system's congestion control (bbr
#                  on this machine: it does not slow down for random loss)
#   nginx-cubic    the same with CUBIC (congctl on the server's route to
#                  the client): the like-for-like row
# ROUNDS rounds; each round starts every server in turn, warms it up (one
# download and one second of wrk, not measured) and measures it at every
# loss rate, so a machine whose load drifts (other jobs) weighs on
# all servers alike. Per round, server and loss rate:
#   - DOWNLOADS downloads of a 16 MiB file with curl (a new connection
#     each);
#   - wrk -t1 -c$CONNS -d${DURATION}s --latency on a 4 KiB file: p50, p99.
# The table gives, per server and loss rate, the median goodput of all
# downloads (min-max) and the median over rounds of wrk's p50, p99 and
# requests/s (p99 min-max), with the ratios dlibos / nginx. Raw output
# in $OUT (default docs/bench-tcp-loss): results.txt has one line per
# round, server and loss rate.
#
# Environment: ROUNDS (5), DOWNLOADS (1), DURATION (5), CONNS (10), LOSSES
# ("0 50 100 300", in 1/10000), SIZE_MB (the download, 16), RTT_MS (a
# wide-area path: bench/wan/dl_wan adds that round-trip time between the
# client and every server, bench/lib.sh wan_insert; its counters go to
# $OUT/wan.txt), SERVERS (all five, in the order of the
# table; each round starts the list at another place), OUT; RPS (2) and SRPS (1), CPU masks
# where the client's and the server's veth ends do their kernel receive
# work: by default each side's on its own CPU, as the processes are. Set
# both empty (RPS= SRPS=) for the kernel's own placement, where a veth's
# receive work runs on the CPU that transmitted: a kernel server's TCP
# then follows its client's packets to CPU 1 while a DPDK server's stays
# on CPU 0, and the client's receive runs inside the DPDK server's
# transmit (docs/tcp.md, "On another machine"). Needs root, curl, wrk,
# nginx, nft, taskset, ethtool.
set -u

BUILD=${1:-build}
HTTPD=$BUILD/examples/httpd/dlibos-httpd
ROUNDS=${ROUNDS:-5}
DOWNLOADS=${DOWNLOADS:-1}
DURATION=${DURATION:-5}
CONNS=${CONNS:-10}
SIZE_MB=${SIZE_MB:-16}
LOSSES=${LOSSES:-"0 50 100 300"}
SERVERS=${SERVERS:-"dlibos dlibos-bbr dlibos-nosack nginx nginx-cubic"}
RPS=${RPS-2}
SRPS=${SRPS-1}
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
head -c $((SIZE_MB << 20)) /dev/urandom >"$ROOT/f16m.bin"
head -c 4096 /dev/urandom >"$ROOT/f4k.bin"
printf '<html><body>bench</body></html>\n' >"$ROOT/index.html"
RESULTS=$OUT/results.txt
: >"$RESULTS"

WANT=$(sha256sum <"$ROOT/f16m.bin" | cut -d' ' -f1)

# measure NAME NS IP: every loss rate against one running server, one
# round ($ROUND). Line: name loss round MiB/s... p50 p99 req/s drops.
measure() {
	local name=$1 ns=$2 ip=$3 loss got sp w
	# Warm-up, not measured: one download and one second of wrk. The first
	# 16 MiB sent by a freshly started dlibos on net_af_packet takes about
	# twice as long as the next ones (no loss, no retransmission, cwnd not
	# the limit; docs/tcp.md), and without this every round's 0% row
	# measured that start-up instead of the loss rate.
	ip netns exec "$ns" taskset -c 1 curl -sS --fail -m 120 -o /dev/null "http://$ip/f16m.bin" ||
		die "$name: warm-up download failed"
	ip netns exec "$ns" taskset -c 1 wrk -t1 -c"$CONNS" -d1s "http://$ip/f4k.bin" >/dev/null 2>&1
	for loss in $LOSSES; do
		set_loss "$ns" "$ip" "$loss"
		sp=
		for _ in $(seq "$DOWNLOADS"); do
			got=$(ip netns exec "$ns" taskset -c 1 curl -sS --fail -m 120 -o "$WORK/dl.bin" \
				-w '%{speed_download}' "http://$ip/f16m.bin") || die "$name: curl failed"
			[ "$(sha256sum <"$WORK/dl.bin" | cut -d' ' -f1)" = "$WANT" ] ||
				die "$name: download differs"
			sp="$sp$(echo "$got" | awk '{printf "%.1f", $1 / 1048576}'),"
		done
		w=$OUT/wrk-$name-$loss-$ROUND.txt
		ip netns exec "$ns" taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
			"http://$ip/f4k.bin" >"$w" 2>&1
		p50=$(awk '$1 == "50%" {print $2}' "$w")
		p99=$(awk '$1 == "99%" {print $2}' "$w")
		rps=$(awk '/Requests\/sec/ {print $2}' "$w")
		drops=$(ip netns exec "$ns" nft list table inet dlbloss 2>/dev/null |
			grep -o "counter packets [0-9]*" | awk '{print $3}')
		echo "$name $loss $ROUND ${sp%,} $p50 $p99 $rps ${drops:-0}" | tee -a "$RESULTS"
	done
	set_loss "$ns" "$ip" 0
}

run_dlibos() { # NAME then --tcp args (may be empty)
	local name=$1
	shift
	PORT=afp
	dlibos_start "$name" 0 "$HTTPD" -l 0 -- --mode rtc --root "$ROOT" --port 80 "$@"
	wan_insert $DCLIENT $VETH_E
	wait_http $DCLIENT http://10.0.0.2/
	place_kernel_work $DCLIENT $NSD
	measure "$name" $DCLIENT 10.0.0.2
	dlibos_stop "$name"
	wan_stop >>"$OUT/wan.txt"
}

run_nginx() { # NAME CC (empty: the system's)
	local name=$1 cc=$2
	veth_up off
	# The congestion control by route: a namespace's sysctl may only pick
	# one of tcp_allowed_congestion_control (here "reno bbr"), a route's
	# congctl any available one.
	[ -n "$cc" ] && { ip -n $NSS route replace 10.0.1.0/24 dev $VETH_S proto kernel scope link \
		src 10.0.1.2 congctl "$cc" || die "congctl $cc"; }
	nginx_start
	wan_insert $NSC $VETH_C
	# which congestion control nginx's connections really use: a slow
	# download keeps a connection open while ss looks at the server's side
	# (up to 5 s: the client may be slow to connect on a loaded machine)
	ip netns exec $NSC curl -s -m 8 -o /dev/null --limit-rate 1M http://10.0.1.2/f16m.bin &
	local probe=$! seen="" want=${cc:-$(sysctl -n net.ipv4.tcp_congestion_control)}
	for _ in $(seq 25); do
		sleep 0.2
		seen=$(ip netns exec $NSS ss -tin state established '( sport = :80 )' |
			grep -oE '\b(cubic|bbr|reno|dctcp|htcp|vegas)\b' | sort -u | tr '\n' ' ')
		seen=${seen% }
		[ -n "$seen" ] && break
	done
	kill $probe 2>/dev/null
	wait $probe 2>/dev/null
	echo "$name: server sockets use ${seen:-nothing seen} (want $want)" | tee -a "$OUT/cc.txt"
	[ "$seen" = "$want" ] || die "$name: server sockets use '${seen}', not $want"
	place_kernel_work $NSC $NSS
	measure "$name" $NSC 10.0.1.2
	kill -QUIT $PID
	wait $PID
	PID=
	wan_stop >>"$OUT/wan.txt"
	veth_down
}

rm -f "$OUT"/wrk-*.txt "$OUT"/server-*.log "$OUT/cc.txt" "$OUT/wan.txt"
for ROUND in $(seq "$ROUNDS"); do
	echo "round $ROUND of $ROUNDS, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	# the order turns each round: no server always runs first or last
	read -ra list <<<"$SERVERS"
	order=()
	for i in "${!list[@]}"; do
		order+=("${list[$(((i + (ROUND - 1) * 3) % ${#list[@]}))]}")
	done
	for srv in "${order[@]}"; do
		case $srv in
		dlibos) run_dlibos dlibos ;;
		dlibos-bbr) run_dlibos dlibos-bbr --tcp cc=bbr ;;
		dlibos-nosack) run_dlibos dlibos-nosack --tcp sack=0,tlp=0 ;;
		nginx) run_nginx nginx "" ;;
		nginx-cubic) run_nginx nginx-cubic cubic ;;
		*) die "unknown server $srv (SERVERS)" ;;
		esac
		cp "$WORK/server.log" "$OUT/server-$srv-$ROUND.log" 2>/dev/null
	done
done

{
	machine_lines
	echo "kernel receive work: client's veth end RPS=${RPS:-default}, server's SRPS=${SRPS:-default}"
	echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), Linux TCP: $(sysctl -n net.ipv4.tcp_congestion_control)," \
		"sack $(sysctl -n net.ipv4.tcp_sack)"
	[ -n "${RTT_MS:-}" ] && echo "path: bench/wan/dl_wan adds ${RTT_MS} ms of round-trip time (RTT_MS)"
	echo "$ROUNDS rounds; per round, server and loss rate: $DOWNLOADS x curl of $SIZE_MB MiB;" \
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
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
function med(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $1 SUBSEP $2; m = split($4, d, ",")
  for (i = 1; i <= m; i++) G[k, ++ng[k]] = d[i]
  nr[k]++; P50[k, nr[k]] = ms($5); P99[k, nr[k]] = ms($6); RPS[k, nr[k]] = $7; drops[k] += $8
  if (!($2 in seen)) { seen[$2] = 1; order[n++] = $2 } }
END {
	ns = split(servers, srv, " ")
	for (i = 0; i < n; i++) for (j = 1; j <= ns; j++) {
		k = srv[j] SUBSEP order[i]
		delete a; for (x = 1; x <= ng[k]; x++) a[x] = G[k, x]
		gm[k] = med(a, ng[k]); glo[k] = a[1]; ghi[k] = a[ng[k]]
		delete a; for (x = 1; x <= nr[k]; x++) a[x] = P50[k, x]
		p50[k] = med(a, nr[k])
		delete a; for (x = 1; x <= nr[k]; x++) a[x] = P99[k, x]
		p99[k] = med(a, nr[k]); plo[k] = a[1]; phi[k] = a[nr[k]]
		delete a; for (x = 1; x <= nr[k]; x++) a[x] = RPS[k, x]
		rps[k] = med(a, nr[k])
	}
	printf "| loss | server | %d MiB goodput, MiB/s: median (min-max) | 4 KiB p50 ms | p99 ms: median (min-max) | req/s | vs nginx: goodput, p99 | vs nginx-cubic |\n", size
	printf "|---|---|---|---|---|---|---|---|\n"
	for (i = 0; i < n; i++) {
		l = order[i]
		for (j = 1; j <= ns; j++) {
			s = srv[j]; k = s SUBSEP l; g = "nginx" SUBSEP l; gc = "nginx-cubic" SUBSEP l
			r1 = (s ~ /^nginx/ || !(g in gm) || gm[g] == 0 || p99[g] == 0) ? "-" : sprintf("%.2fx, %.2fx", gm[k] / gm[g], p99[k] / p99[g])
			r2 = (s ~ /^nginx/ || !(gc in gm) || gm[gc] == 0 || p99[gc] == 0) ? "-" : sprintf("%.2fx, %.2fx", gm[k] / gm[gc], p99[k] / p99[gc])
			printf "| %.1f%% | %s | %.1f (%.1f-%.1f) | %.2f | %.1f (%.1f-%.1f) | %.0f | %s | %s |\n", l / 100, s,
				gm[k], glo[k], ghi[k], p50[k], p99[k], plo[k], phi[k], rps[k], r1, r2
		}
	}
}' servers="$SERVERS" size="$SIZE_MB" "$RESULTS" | tee "$OUT/table.md"
