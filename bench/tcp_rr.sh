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

server_start "$BUILD" tcp_rr "$@"
# warm-up, not measured
ip netns exec $DCLIENT taskset -c 1 ab -q -k -c 10 -t 1 -n 10000000 http://$SIP/f4k.bin >/dev/null 2>&1
set_loss $DCLIENT $SIP "$LOSS"
ip netns exec $DCLIENT taskset -c 1 ab -q -k -c 10 -t "$SECS" -n 100000000 http://$SIP/f4k.bin 2>&1 |
	grep -E "Complete requests|Failed requests|Requests per second|Time per request.*\(mean\)$|^ +(50|90|95|98|99|100)%"
server_stop "$BUILD" tcp_rr
