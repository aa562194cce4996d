#!/bin/sh
# callgrind_rr.sh - server-side instructions per 64-byte request/response
# exchange (bench_tcp_rr under callgrind; the program marks the server's
# stack calls with client requests and hides the wire, see its header).
#
#   usage: bench/tcp/callgrind_rr.sh [build dir (build-tcp)] [exchanges (20000)] [bench options]
#   (bench options: --no-ts, --rx-csum-offload, --cc=newreno|cubic|bbr; see bench_tcp_rr.c)
set -eu
build=${1:-build-tcp}
n=${2:-20000}
shift 2 2>/dev/null || shift $#
extra="$*"
out=$(mktemp /tmp/callgrind_rr.XXXXXX)
trap 'rm -f "$out"' EXIT
valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
	"$build/bench/tcp/bench_tcp_rr" "$n" $extra >/dev/null 2>&1
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
echo "exchanges: $n ${extra:-}, server-side instructions: $total, per exchange: $((total / n))"
if [ "${VERBOSE:-0}" = 1 ]; then
	callgrind_annotate --inclusive=yes "$out" | head -60
fi
