#!/bin/bash
# tutorial_upper.sh BUILD_DIR UPPER_C ECHO_CLIENT DLIBOSD - the tutorial's
# first server (docs/api.md, docs/tutorial/upper.c) as a newcomer builds
# it: installed library in a temporary prefix, the program compiled
# outside the tree with `pkg-config --cflags --libs libdlibos` alone, then
# driven by Linux clients over TAP:
#   rtc and dlibos 1+1: 50 concurrent connections of 100 KiB each, echoed
#                       in upper case byte-exact (echo_client.py --upper);
#   small copy memory:  the same in rtc with --tx-copy-kb 64, so copies come
#                       up short and `writable` resumes them (api counters);
#   protected:          attached to dlibosd, 10 connections of 20 KiB;
#   by hand:            one line through socat, one through nc.
# Every run ends with SIGTERM and exit status 0, and the library's counters
# must show every byte copied, no acknowledgement beyond what was sent, no
# consume beyond what was queued.
set -u
BUILD=$(cd "${1:?usage: tutorial_upper.sh build upper.c echo_client.py dlibosd}" && pwd)
SRC=$(cd "$(dirname "${2:?}")" && pwd)/$(basename "$2")
CLIENT=${3:?}
DLIBOSD=${4:?}
HERE=$(dirname "$0")
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
dl_need pkg-config cc socat nc
prot_init upper
PY=/usr/bin/python3

# ---- build it as the tutorial says, out of tree ----
DEST=$PROT_WORK/install
meson install -C "$BUILD" --no-rebuild --quiet --destdir "$DEST" >/dev/null ||
	prot_fail "meson install --destdir failed"
PREFIX=$(meson introspect "$BUILD" --buildoptions |
	$PY -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
PC=$(find "$DEST" -name libdlibos.pc | head -n 1)
[ -n "$PC" ] || prot_fail "libdlibos.pc is not installed"
sed -i "s|^prefix=.*|prefix=$DEST$PREFIX|" "$PC" # the copy lives in the destdir
export PKG_CONFIG_PATH=$(dirname "$PC")
mkdir -p "$PROT_WORK/first"
cp "$SRC" "$PROT_WORK/first/upper.c"
(cd "$PROT_WORK/first" &&
	cc -O2 -Wall -Wextra -Werror -o upper upper.c $(pkg-config --cflags --libs libdlibos)) ||
	prot_fail "the tutorial's server does not build out of tree"
LD_LIBRARY_PATH=$(pkg-config --variable=libdir libdlibos)
export LD_LIBRARY_PATH
UPPER=$PROT_WORK/first/upper
echo "ok: built out of tree with pkg-config --cflags --libs libdlibos"

# run NAME CONNS BYTES: the client against the running server.
run() {
	local out rc
	out=$(timeout 300 ip netns exec "$DL_NS" $PY "$CLIENT" "$DL_IP" 7 --upper --conns "$2" \
		--bytes "$3" --timeout 120 2>&1)
	rc=$?
	echo "$1: $out"
	[ $rc = 0 ] || prot_fail "$1: client failed or saw wrong bytes (rc $rc)"
}

# check NAME BYTES: the library's counters after the server stopped.
check() {
	local copied
	copied=$(dl_counter api.copy_bytes)
	[ "$copied" = "$2" ] || prot_fail "$1: api.copy_bytes $copied, expected $2"
	[ "$(dl_counter api.ack_beyond_sent)" = 0 ] || prot_fail "$1: api.ack_beyond_sent"
	[ "$(dl_counter api.rx_consume_beyond_queued)" = 0 ] || prot_fail "$1: bad consume"
	[ "$(dl_counter api.send_errors)" = 0 ] || prot_fail "$1: api.send_errors"
	grep -E "^api\." "$DL_LOG" | awk '$2 != 0' | sed 's/^/    /'
}

for mode in rtc dlibos11; do
	dl_mode $mode
	dl_start "$UPPER" "$DL_EAL" "$DL_RT"
	run "$mode" 50 102400
	# By hand, as the tutorial shows.
	line=$(echo "hello, dlibos" | dl_in_ns timeout 10 socat -t 2 - TCP:$DL_IP:7)
	[ "$line" = "HELLO, DLIBOS" ] || prot_fail "$mode: socat got '$line'"
	line=$(echo "from nc" | dl_in_ns timeout 10 nc -q 2 $DL_IP 7)
	[ "$line" = "FROM NC" ] || prot_fail "$mode: nc got '$line'"
	dl_stop
	check "$mode" $((50 * 102400 + 14 + 8))
done

# Copy memory far below what 50 connections have in flight: short copies,
# writable events, still every byte.
dl_mode rtc
dl_start "$UPPER" "$DL_EAL" "$DL_RT --tx-copy-kb 64"
run "rtc, 64 KiB of copy memory" 50 102400
dl_stop
check "small copy memory" $((50 * 102400))
short=$(($(dl_counter api.copy_short_pool_empty) + $(dl_counter api.copy_short_conn_limit)))
writable=$(dl_counter api.writable_events)
[ "$short" -gt 0 ] || prot_fail "small copy memory: no short copy"
[ "$writable" -gt 0 ] || prot_fail "small copy memory: no writable event"

# Protected mode: the same binary attached to the service.
prot_service "--lcores=(0-1)@(0-1)" "--net-cores 2"
prot_app upper "$UPPER"
run "protected" 10 20480
line=$(echo "attached" | dl_in_ns timeout 10 socat -t 2 - TCP:$DL_IP:7)
[ "$line" = "ATTACHED" ] || prot_fail "protected: socat got '$line'"
prot_stop_app upper
grep -q "^api.copy_bytes *$((10 * 20480 + 9))\b" "$PROT_WORK/upper.log" ||
	prot_fail "protected: api.copy_bytes is not $((10 * 20480 + 9)): $(grep '^api.copy_bytes' "$PROT_WORK/upper.log")"
dl_stop

echo "PASS: the tutorial's server, built out of tree, echoes in upper case in rtc, dlibos and protected mode"
