#!/bin/bash
# test_lib.sh - the harness's own checks (no root, no network): dl_counter
# reads the last counter dump, and a counter that is not there fails the
# test that asked, even from inside $(...), rather than reading as 0.
set -u
LIB=$(cd "$(dirname "$0")" && pwd)/lib.sh
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cat >"$TMP/log" <<'LOG'
dlibos: info: ready: 1 core(s) running
--- dlibos counters ---
tcp.conn_opened 3
tcp.drop_bad_csum 0
---
--- dlibos counters ---
tcp.conn_opened 5 [ c0=2 c1=3 ]
tcp.drop_bad_csum 0
httpd.requests 42
---
LOG

# A test script using the harness, with its exit status and output.
run() {
	bash -c '. "$1"; DL_LOG=$2; shift 2; eval "$*"' _ "$LIB" "$TMP/log" "$@" >"$TMP/out" 2>&1
}

run 'echo "$(dl_counter tcp.conn_opened) $(dl_counter tcp.drop_bad_csum) $(dl_counter httpd.requests)"' ||
	fail "reading present counters failed: $(cat "$TMP/out")"
[ "$(cat "$TMP/out")" = "5 0 42" ] || fail "values: $(cat "$TMP/out"), want '5 0 42' (the last dump)"
echo "ok: the last dump's values, zeros included"

run 'v=$(dl_counter tcp.renamed_counter); echo "went on with v=[$v]"'
rc=$?
[ "$rc" != 0 ] || fail "a missing counter did not fail the test"
grep -q "went on" "$TMP/out" && fail "the test went on after a missing counter"
grep -q "tcp.renamed_counter is not in the program's counter dump" "$TMP/out" ||
	fail "no message naming the missing counter"
echo "ok: a missing counter fails the test (status $rc), from inside \$(...)"

: >"$TMP/log"
run 'dl_counter tcp.conn_opened' && fail "a log without a dump did not fail"
echo "ok: a log without a counter dump fails"
echo PASS
