#!/bin/bash
# modes.sh [EXCHANGES] - instructions per 64-byte request/response, rtc
# versus dlibos (1 network + 1 application core), summed over all server
# cores, counted by callgrind over the in-memory wire (deterministic: the
# same binary and inputs give the same counts on any machine).
#
# Prints, per mode: raw instructions per exchange (every core iteration,
# idle polls included), the cost of one idle iteration of each core
# (second phase: each core iterated alone with nothing to do), instructions
# per exchange net of idle polling (each core's idle iterations during the
# exchanges times its own idle cost), NoC messages per exchange, and the
# dlibos/rtc ratios.
#
# APP=helpers measures the harness's echo written on the send and receive
# helpers (dlibos_rx_push, dlibos_send_copy, dlibos_rx_consume) instead of
# its own ring (APP=ring, the default and the figure the target refers to).
set -eu
N=${1:-5000}
BUILD=${BUILD:-build}
APP=${APP:-ring}
APPARG=()
[ "$APP" = ring ] || APPARG=(--app "$APP") # older binaries know only the ring
BIN=$BUILD/bench/engine/dlibos-modebench
[ -x "$BIN" ] || { echo "build first: ninja -C $BUILD"; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

declare -A RAW NET MSGS IDLECOST
for mode in rtc dlibos; do
	out=$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$TMP/cg.$mode" \
		"$BIN" --mode "$mode" --exchanges "$N" "${APPARG[@]}" 2>/dev/null)
	busy=$(grep -h '^summary:' "$TMP/cg.$mode.1" | awk '{print $2}')
	# Idle polling during the exchanges, core by core: that core's idle
	# iterations times the cost of one of its idle iterations (dump k+2).
	idle_total=0
	costs=""
	while read -r core k ex_idle iters; do
		c=$(grep -h '^summary:' "$TMP/cg.$mode.$((k + 2))" | awk '{print $2}')
		cost=$(echo "$c / $iters" | bc -l)
		costs="$costs $(printf 'core%s %.0f' "$k" "$cost")"
		idle_total=$(echo "$idle_total + $ex_idle * $cost" | bc -l)
	done < <(echo "$out" | awk '/^core [0-9]+ exchanges-phase idle/ {print "core", $2, $5, $8}')
	msgs=$(echo "$out" | sed -n 's/.*, \([0-9.]*\) NoC messages per exchange.*/\1/p')
	RAW[$mode]=$(echo "$busy / $N" | bc -l)
	NET[$mode]=$(echo "($busy - $idle_total) / $N" | bc -l)
	MSGS[$mode]=$msgs
	printf '%-7s raw %6.0f instr/exchange   idle iteration (instr):%s   net of idle polling %6.0f instr/exchange   NoC messages/exchange %s\n' \
		"$mode" "${RAW[$mode]}" "$costs" "${NET[$mode]}" "$msgs"
done
[ "$APP" = ring ] || echo "(echo application: $APP)"
printf 'ratio dlibos/rtc: raw %.3f, net of idle polling %.3f (target <= 1.30)\n' \
	"$(echo "${RAW[dlibos]} / ${RAW[rtc]}" | bc -l)" "$(echo "${NET[dlibos]} / ${NET[rtc]}" | bc -l)"
