#!/bin/bash
# modes.sh [EXCHANGES] - instructions per 64-byte request/response, rtc
# versus dlibos (1 network + 1 application core), summed over all server
# cores, counted by callgrind over the in-memory wire (deterministic: the
# same binary and inputs give the same counts on any machine).
#
# Prints, per mode: raw instructions per exchange (every core iteration,
# idle polls included), the cost of one idle core iteration (second,
# idle-only phase), instructions per exchange net of idle polling, NoC
# messages per exchange, and the dlibos/rtc ratios.
set -eu
N=${1:-5000}
BUILD=${BUILD:-build}
BIN=$BUILD/bench/engine/dlibos-modebench
[ -x "$BIN" ] || { echo "build first: ninja -C $BUILD"; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

declare -A RAW NET MSGS IDLECOST
for mode in rtc dlibos; do
	out=$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$TMP/cg.$mode" \
		"$BIN" --mode "$mode" --exchanges "$N" 2>/dev/null)
	busy=$(grep -h '^summary:' "$TMP/cg.$mode.1" | awk '{print $2}')
	idle=$(grep -h '^summary:' "$TMP/cg.$mode.2" | awk '{print $2}')
	ex_idle=$(echo "$out" | awk '/^exchanges-phase/ {print $5}')
	id_iters=$(echo "$out" | awk '/^idle-phase/ {print $3}')
	msgs=$(echo "$out" | sed -n 's/.*, \([0-9.]*\) NoC messages per exchange.*/\1/p')
	RAW[$mode]=$(echo "$busy / $N" | bc -l)
	IDLECOST[$mode]=$(echo "$idle / $id_iters" | bc -l)
	NET[$mode]=$(echo "($busy - $ex_idle * $idle / $id_iters) / $N" | bc -l)
	MSGS[$mode]=$msgs
	printf '%-7s raw %8.0f instr/exchange   idle iteration %5.0f instr   net of idle polling %8.0f instr/exchange   NoC messages/exchange %s\n' \
		"$mode" "${RAW[$mode]}" "${IDLECOST[$mode]}" "${NET[$mode]}" "$msgs"
done
printf 'ratio dlibos/rtc: raw %.2f, net of idle polling %.2f (target <= 1.30)\n' \
	"$(echo "${RAW[dlibos]} / ${RAW[rtc]}" | bc -l)" "$(echo "${NET[dlibos]} / ${NET[rtc]}" | bc -l)"
