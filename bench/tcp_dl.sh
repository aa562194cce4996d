#!/bin/bash
# bench/tcp_dl.sh BUILD_DIR LOSS N [dlibos-httpd options...] - quick A/B
# helper for the TCP stack: N downloads of a 16 MiB file (curl, a new
# connection each, sha256 checked) from one dlibos-httpd (rtc mode,
# net_af_packet on a veth pair, server CPU 0, client CPU 1, as
# bench/tcp_loss.sh) while the client's namespace drops LOSS/10000 of the
# server's frames (nft). One unmeasured warm-up download of another file
# first (a fresh server's first 16 MiB on net_af_packet are slow,
# docs/tcp.md). Prints one line per download (MiB/s), then the median of
# downloads 2..N (the first of each server is slower too) and the server's
# non-zero tcp counters.
#
# BUILD_DIR "nginx" or "nginx-cubic": the same downloads from nginx (1
# worker on CPU 0, sendfile) behind the same kind of veth pair, with the
# system's congestion control or CUBIC (by route, as bench/tcp_loss.sh).
#
# Environment: SIZE_MB (the measured file, default 16); RPS (a CPU mask:
# the client's veth steers its input there, e.g. 2 = CPU 1, so the
# client's kernel receive runs on the client's CPU instead of inside the
# sender's transmit); SRPS (the same for the server's veth end, e.g. 1 =
# CPU 0: the server's kernel receive work on the server's CPU; unset:
# the kernel's placement, unlike bench/tcp_loss.sh); RTT_MS (a wide-area
# path: bench/wan/dl_wan between the client and the server adds that
# round-trip time, half each way; its counters print at the end); KEEP (a
# folder to keep the server's log in). For nginx the server namespace's non-zero
# TCP counters (nstat) follow.
#
# A/B of two builds: alternate them, same minutes, e.g.
#   for r in 1 2 3; do for b in build-a build-b nginx; do
#     echo "$b $(bench/tcp_dl.sh $b 100 6 | grep median)"; done; done
# Needs root, curl, nft, taskset, ethtool.
set -u

BUILD=${1:?usage: $0 BUILD_DIR LOSS N [dlibos-httpd options]}
LOSS=${2:?loss in 1/10000}
N=${3:?number of downloads}
shift 3
HTTPD=$BUILD/examples/httpd/dlibos-httpd
HERE=$(cd "$(dirname "$0")" && pwd)
BENCH=tcp_dl
TAG=d
OUT=$(mktemp -d /tmp/dlibos-tcp-dl.XXXXXX)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
trap 'bench_cleanup; [ -n "${KEEP:-}" ] && cp -r "$OUT" "$KEEP"; rm -rf "$OUT"' EXIT

case $BUILD in
nginx | nginx-cubic) HTTPD=$(command -v nginx) || HTTPD=/nonexistent/nginx ;;
esac
bench_require "$HTTPD" curl nft taskset ethtool sha256sum
ROOT=$WORK/root
chmod 755 "$WORK"
mkdir -p "$ROOT"
head -c $((${SIZE_MB:-16} << 20)) /dev/urandom >"$ROOT/f16m.bin"
head -c $((16 << 20)) /dev/urandom >"$ROOT/warm.bin"
printf 'x\n' >"$ROOT/index.html"
WANT=$(sha256sum <"$ROOT/f16m.bin" | cut -d' ' -f1)

server_start "$BUILD" tcp_dl "$@"
ip netns exec $DCLIENT taskset -c 1 curl -sS --fail -m 120 -o /dev/null http://$SIP/warm.bin ||
	die "warm-up download failed"
set_loss $DCLIENT $SIP "$LOSS"
speeds=()
for i in $(seq "$N"); do
	got=$(ip netns exec $DCLIENT taskset -c 1 curl -sS --fail -m 120 -o "$WORK/dl.bin" \
		-w '%{speed_download}' http://$SIP/f16m.bin) || die "download $i failed"
	[ "$(sha256sum <"$WORK/dl.bin" | cut -d' ' -f1)" = "$WANT" ] || die "download $i differs"
	s=$(echo "$got" | awk '{printf "%.1f", $1 / 1048576}')
	echo "download $i: $s MiB/s"
	[ "$i" -gt 1 ] && speeds+=("$s")
done
if [ ${#speeds[@]} -gt 0 ]; then
	printf '%s\n' "${speeds[@]}" | sort -n |
		awk '{a[NR] = $1} END {m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
			printf "median of downloads 2..%d: %.1f MiB/s\n", NR + 1, m}'
fi
server_stop "$BUILD" tcp_dl
