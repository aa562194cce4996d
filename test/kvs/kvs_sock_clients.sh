#!/bin/bash
# kvs_sock_clients.sh KVS_SOCK_SERVER - memccapable (54 tests) and memcaslap
# (text and binary, values verified) and kvs_mget_check.py (multi-gets
# checked exactly) against the dlibos-kvs session engine
# served over kernel sockets on 127.0.0.1 (kvs_sock.c): the protocol layer
# alone, without DPDK. The server is stopped by PID; it exits non-zero if an
# item is still referenced at the end. Skips (77) when a client is missing.
set -u

BIN=${1:?usage: $0 path/to/kvs_sock_server}
LOG=$(mktemp /tmp/dlibos-kvs-sock.XXXXXX)
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
	echo "FAIL: $*"
	cat "$LOG"
	exit 1
}
for tool in memccapable memcaslap timeout; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done

# A port nobody listens on (20000-29999, derived from our PID).
PORT=$((20000 + $$ % 10000))
"$BIN" $PORT 128 >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 50); do
	grep -q "ready" "$LOG" && break
	kill -0 $PID 2>/dev/null || fail "server exited (port $PORT taken?)"
	sleep 0.1
done

out=$(timeout 120 memccapable -h 127.0.0.1 -p $PORT 2>&1)
echo "$out" | tail -n 2
echo "$out" | grep -q "^All tests passed$" || fail "memccapable: $(echo "$out" | grep FAIL)"
[ "$(echo "$out" | grep -c '\[pass\]')" = 54 ] || fail "memccapable: not 54 passes"

for proto in "" "-B"; do
	out=$(timeout 60 memcaslap -s 127.0.0.1:$PORT -T 2 -c 16 -t 3s -v 0.1 $proto 2>&1)
	echo "$out" | grep -E "^get_misses|^verify_failed|^Run time"
	echo "$out" | grep -q '^verify_failed: 0$' || fail "memcaslap $proto: values differ"
	echo "$out" | grep -q '^get_misses: 0$' || fail "memcaslap $proto: misses"
	echo "$out" | grep -qE '^Run time: .* Ops: [1-9]' || fail "memcaslap $proto: no operations"
done

PY=/usr/bin/python3
[ -x $PY ] || PY=python3
timeout 120 $PY "$(dirname "$0")/kvs_mget_check.py" 127.0.0.1 $PORT $$ || fail "multi-get check"

kill -TERM $PID
wait $PID
rc=$?
PID=
[ $rc = 0 ] || fail "server exit status $rc (references left?)"
echo "ok: memccapable 54/54, memcaslap text and binary, exact multi-gets"
