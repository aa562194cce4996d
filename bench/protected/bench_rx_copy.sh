#!/bin/bash
# bench/protected/bench_rx_copy.sh NEW_BUILD [OLD_BUILD] - the price of
# confidentiality in protected mode: requests/s and latency percentiles of
# dlibos-httpd attached to dlibosd next to an attached dlibos-kvs (two
# applications), received data copied into each application's own RX
# region (NEW_BUILD), against
#   - OLD_BUILD (optional): a build from before the copy path (b50484c or
#     earlier), where every application maps the port's RX region;
#   - NEW_BUILD with --rx-sharing and the web server alone (one slot): the
#     zero-copy path of the same binary.
# Figures, not a test (docs/protected.md records them). Over net_tap in a
# namespace of its own; dlibosd -l 0 confined to CPU 0 (taskset), the web
# server's application core on CPU 1, wrk (1 thread, 32 connections, a
# small page, --latency) for DURATION seconds (default 10), the
# configurations alternated ROUNDS times (default 3); medians printed with
# the ratios. Every DPDK start passes --no-pci and its own --file-prefix;
# processes (by PID) and the namespace go away on exit. Needs root.
set -u
NEW=${1:?usage: bench_rx_copy.sh NEW_BUILD [OLD_BUILD]}
OLD=${2:-}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
TMP=$(mktemp -d /tmp/dlibos-benchrxc.XXXXXX)
NS=dlbrxc$$
PIDS=
cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP" /var/run/dpdk/dlbrxc$$*
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "needs root (namespace, TAP)"; exit 1; }
for t in wrk curl taskset; do command -v $t >/dev/null || { echo "$t missing"; exit 1; }; done

mkdir -p "$TMP/root"
printf '<html><body>bench</body></html>\n' >"$TMP/root/index.html"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up

wait_ready() {
	for _ in $(seq 150); do
		grep -q "ready:" "$1" && return 0
		sleep 0.2
	done
	echo "not ready: $(tail -5 "$1")" >&2
	exit 1
}

# run BUILD SHARED(0|1): service + web server (+ the store unless shared),
# then wrk; prints "req/s p50_ms p99_ms".
run() {
	local b=$1 shared=$2 svc=() out
	[ "$shared" = 1 ] && svc=(--rx-sharing --app-slots 1)
	ip netns exec "$NS" taskset -c 0 "$b/app/dlibosd/dlibosd" -l 0 --no-huge -m 512 \
		--file-prefix "dlbrxc$$" --no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 \
		--idle sleep --ctl "$TMP/ctl.sock" "${svc[@]}" >"$TMP/s.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_ready "$TMP/s.log"
	taskset -c 1 "$b/examples/httpd/dlibos-httpd" --attach "$TMP/ctl.sock" --app-cores 1 \
		--idle sleep --root "$TMP/root" --port 80 >"$TMP/h.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_ready "$TMP/h.log"
	if [ "$shared" = 0 ]; then
		taskset -c 1 "$b/examples/kvs/dlibos-kvs" --attach "$TMP/ctl.sock" --app-cores 1 \
			--idle sleep --port 11211 >"$TMP/k.log" 2>&1 &
		PIDS="$PIDS $!"
		wait_ready "$TMP/k.log"
	fi
	ip netns exec "$NS" ip addr flush dev dl0 2>/dev/null
	ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0
	ip netns exec "$NS" ip link set dl0 up
	for _ in $(seq 50); do
		ip netns exec "$NS" curl -s -o /dev/null -m 2 http://10.0.0.2/ && break
		sleep 0.1
	done
	out=$(ip netns exec "$NS" wrk -t1 -c32 -d"${DURATION}s" --latency http://10.0.0.2/ 2>&1)
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	PIDS=
	rm -rf /var/run/dpdk/dlbrxc$$
	# wrk's latencies: "50%  1.23ms" / "us" / "s".
	echo "$out" | awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
				 if (v ~ /s$/) return v * 1000; return v }
		/Requests\/sec/ { r = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
		END { printf "%.0f %.3f %.3f\n", r, p50, p99 }'
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
configs="copy shared"
[ -n "$OLD" ] && configs="copy old shared"
for r in $(seq "$ROUNDS"); do
	line="round $r:"
	for c in $configs; do
		case $c in
		copy) v=$(run "$NEW" 0) ;;
		old) v=$(run "$OLD" 0) ;;
		shared) v=$(run "$NEW" 1) ;;
		esac
		echo "$v" >>"$TMP/$c"
		line="$line $c [$v]"
	done
	echo "$line"
done
echo "medians of $ROUNDS runs of ${DURATION}s (req/s, p50 ms, p99 ms):"
for c in $configs; do
	rps=$(awk '{print $1}' "$TMP/$c" | median)
	p50=$(awk '{print $2}' "$TMP/$c" | median)
	p99=$(awk '{print $3}' "$TMP/$c" | median)
	eval "RPS_$c=$rps P99_$c=$p99"
	case $c in
	copy) what="two applications, data copied (this build)" ;;
	old) what="two applications, one shared RX region (the old build)" ;;
	shared) what="one application, --rx-sharing (zero copy, this build)" ;;
	esac
	printf '  %-58s %8.0f req/s  p50 %6.3f  p99 %6.3f\n' "$what" "$rps" "$p50" "$p99"
done
base=${RPS_old:-$RPS_shared}
pbase=${P99_old:-$P99_shared}
printf 'copy / %s: requests/s %.3f, p99 %.3f\n' "$([ -n "$OLD" ] && echo old || echo shared)" \
	"$(echo "$RPS_copy / $base" | bc -l)" "$(echo "$P99_copy / $pbase" | bc -l)"
