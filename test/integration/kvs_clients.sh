#!/bin/bash
# kvs_clients.sh KVS MODE - dlibos-kvs against libmemcached's real clients,
# over a TAP interface in a network namespace of its own.
#
# MODE: rtc, dlibos11 or dlibos12 (see kvs_common.sh). Checks, in order:
#   memccapable   all 54 tests (27 ascii, 27 binary) pass: "All tests passed";
#   text          a few commands by hand: split value, multi-get, stats numbers;
#   memcaslap     -T 2 -c 16 -t 5s, text then binary (-B), verifying 10% of
#                 the values (-v 0.1): operations done, get_misses 0,
#                 verify_failed 0, no error in the output; then binary
#                 multi-get (-B -d 8, pipelined quiet gets) without -v
#                 (memcaslap's multi-get verification reports failures
#                 against memcached 1.6.18 itself);
#   multi-gets    test/kvs/kvs_mget_check.py: text multi-gets and binary GETKQ
#                 pipelines sent in random pieces, every value exact;
#   a clean stop on SIGTERM (exit 0), the kvs counters printed, no item left
#   waiting for an acknowledgement.
# Needs root; exits 77 (skipped) otherwise or when a client is missing.
set -u

KVS_OPTS="--memory 128 --max-conns 256"
. "$(dirname "$0")/kvs_common.sh"

# memccapable: 54 tests, including the binary quiet commands.
out=$(IN timeout 120 memccapable -h $IP -p $PORT 2>&1)
rc=$?
echo "$out" | tail -n 3
[ $rc = 0 ] || fail "memccapable exited with $rc: $(echo "$out" | grep FAIL)"
echo "$out" | grep -q "^All tests passed$" || fail "memccapable: not all tests passed"
npass=$(echo "$out" | grep -c '\[pass\]')
[ "$npass" = 54 ] || fail "memccapable: $npass tests passed, want 54"
echo "ok: memccapable 54/54"

# Text by hand: a value sent in pieces, a multi-get, stats with real numbers.
ans=$(kvs_cmd 'set a 1 0 5\r\nhel' 2>/dev/null) # incomplete: no answer, closed
[ -z "$ans" ] || fail "answer to an incomplete set: $ans"
ans=$(kvs_cmd 'set a 1 0 5\r\nhello\r\nset b 2 0 3 noreply\r\nxyz\r\nget a b c\r\nquit\r\n' | tr -d '\r')
want=$'STORED\nVALUE a 1 5\nhello\nVALUE b 2 3\nxyz\nEND'
[ "$ans" = "$want" ] || fail "multi-get: got [$ans], want [$want]"
stats=$(kvs_cmd 'get a\r\nget zz\r\nstats\r\nquit\r\n' | tr -d '\r')
hits=$(echo "$stats" | awk '$2 == "get_hits" {print $3}')
items=$(echo "$stats" | awk '$2 == "curr_items" {print $3}')
[ -n "$hits" ] && [ "$hits" -ge 2 ] || fail "stats get_hits [$hits]"
[ -n "$items" ] && [ "$items" -ge 2 ] || fail "stats curr_items [$items]"
echo "ok: split value, multi-get, stats (get_hits $hits, curr_items $items)"

# memcaslap: bounded load (memory enough for every object: no miss).
# run_memcaslap NAME verify|noverify [memcaslap options]
run_memcaslap() {
	local what=$1 verify=$2
	shift 2
	[ "$verify" = verify ] && set -- -v 0.1 "$@"
	out=$(IN timeout 60 memcaslap -s $IP:$PORT -T 2 -c 16 -t 5s "$@" 2>&1)
	rc=$?
	echo "$out" | grep -E "^cmd_get|^cmd_set|^get_misses|^verify_failed|^Run time"
	[ $rc = 0 ] || fail "memcaslap $what exited with $rc"
	local bad
	bad=$(echo "$out" | grep -iE "error|fail|unexpected|couldn't|can't|timeout" |
		grep -v '^verify_failed: 0$')
	if [ "$verify" = verify ]; then
		[ -z "$bad" ] || fail "memcaslap $what: $bad"
		echo "$out" | grep -q '^verify_failed: 0$' || fail "memcaslap $what: values differ"
		echo "$out" | grep -q '^get_misses: 0$' || fail "memcaslap $what: misses"
	else
		bad=$(echo "$bad" | grep -v '^verify_failed: ')
		[ -z "$bad" ] || fail "memcaslap $what: $bad"
	fi
	local ops
	ops=$(echo "$out" | sed -nE 's/^Run time: .* Ops: ([0-9]+) .*/\1/p')
	[ -n "$ops" ] && [ "$ops" -gt 1000 ] || fail "memcaslap $what: only [$ops] operations"
	echo "ok: memcaslap $what: $ops operations"
}
run_memcaslap text verify
run_memcaslap binary verify -B
run_memcaslap "binary multi-get" noverify -B -d 8

PY=/usr/bin/python3
[ -x $PY ] || PY=python3
IN timeout 120 $PY "$(dirname "$0")/../kvs/kvs_mget_check.py" $IP $PORT $$ ||
	fail "kvs_mget_check.py"

stop_server
[ "$(counter items_unlinked_in_flight)" = 0 ] || fail "items still waiting for acks at exit"
[ "$(counter err_send_rejected)" = 0 ] || fail "sends rejected"
echo "ok: clean stop ($(counter cmd_get) gets, $(counter cmd_set) sets, $(counter conn_opened) connections)"
