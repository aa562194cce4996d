#!/bin/bash
# bench/tcp_rr.sh BUILD_DIR LOSS [SECONDS] [dlibos-httpd options...] -
# per-request latency of 4 KiB requests at a loss rate: ab -k -c 10 (10
# keep-alive connections, closed loop) for SECONDS (default 5) against one
# server while the client's namespace drops LOSS/10000 of the server's
# frames (nft), the same set-up as bench/tcp_dl.sh and bench/tcp_loss.sh
# (veth pair with offloads off, server CPU 0, client CPU 1, each side's
# kernel receive work on its own CPU). BUILD_DIR: a build with
# examples/httpd/dlibos-httpd (rtc mode, net_af_packet), or nginx /
# nginx-cubic. Prints ab's requests per second, mean time per request
# and percentiles (per request, in ms; ab rounds to whole ms), then the
# server's non-zero tcp counters (dlibos) or TCP counters (nstat, nginx).
#
# Why ab and not wrk: under loss wrk 4.1's latency figures do not add up
# to its own request count (docs/tcp.md); ab's do.
# Needs root, ab, curl, nft, taskset, ethtool (and nginx for nginx).
set -u

BUILD=${1:?usage: $0 BUILD_DIR|nginx|nginx-cubic LOSS [SECONDS] [dlibos-httpd options]}
LOSS=${2:?loss in 1/10000}
SECS=${3:-5}
shift 2
[ $# -gt 0 ] && shift
HTTPD=$BUILD/examples/httpd/dlibos-httpd
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=tcp_rr
TAG=r
OUT=$(mktemp -d /tmp/dlibos-tcp-rr.XXXXXX)
RPS=${RPS-2}
SRPS=${SRPS-1}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
trap 'bench_cleanup; rm -rf "$OUT"' EXIT

case $BUILD in
nginx | nginx-cubic) HTTPD=$(command -v nginx) || HTTPD=/nonexistent/nginx ;;
esac
bench_require "$HTTPD" ab curl nft taskset ethtool
ROOT=$WORK/root
chmod 755 "$WORK"
mkdir -p "$ROOT"
head -c 4096 /dev/urandom >"$ROOT/f4k.bin"
printf 'x\n' >"$ROOT/index.html"

case $BUILD in
nginx | nginx-cubic)
	veth_up off
	[ "$BUILD" = nginx-cubic ] && { ip -n $NSS route replace 10.0.1.0/24 dev $VETH_S proto kernel \
		scope link src 10.0.1.2 congctl cubic || die "congctl cubic"; }
	nginx_start
	DCLIENT=$NSC
	SIP=10.0.1.2
	place_kernel_work $NSC $NSS
	;;
*)
	PORT=afp
	dlibos_start tcp_rr 0 "$HTTPD" -l 0 -- --mode rtc --root "$ROOT" --port 80 "$@"
	SIP=10.0.0.2
	place_kernel_work $DCLIENT $NSD
	;;
esac
wait_http $DCLIENT http://$SIP/
# warm-up, not measured
ip netns exec $DCLIENT taskset -c 1 ab -q -k -c 10 -t 1 -n 10000000 http://$SIP/f4k.bin >/dev/null 2>&1
if [ "$LOSS" != 0 ]; then
	ip netns exec $DCLIENT nft add table inet dlbloss || die "nft"
	ip netns exec $DCLIENT nft add chain inet dlbloss in '{ type filter hook input priority 0; }'
	ip netns exec $DCLIENT nft add rule inet dlbloss in ip saddr $SIP numgen random mod 10000 \
		'<' "$LOSS" counter drop || die "nft rule"
fi
ip netns exec $DCLIENT taskset -c 1 ab -q -k -c 10 -t "$SECS" -n 100000000 http://$SIP/f4k.bin 2>&1 |
	grep -E "Complete requests|Failed requests|Requests per second|Time per request.*\(mean\)$|^ +(50|90|95|98|99|100)%"
case $BUILD in
nginx | nginx-cubic)
	kill -QUIT $PID
	wait $PID
	PID=
	ip netns exec $NSS nstat -asz 2>/dev/null | grep -E '^Tcp' | grep -vE '\s0\s' | awk '{print $1, $2}'
	;;
*)
	dlibos_stop tcp_rr
	grep -E '^tcp\.' "$OUT/server-tcp_rr.log" | grep -v ' 0$'
	;;
esac
