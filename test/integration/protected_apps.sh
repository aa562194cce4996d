#!/bin/bash
# protected_apps.sh DLIBOSD HTTPD KVS - dlibos-httpd and dlibos-kvs
# attached to one dlibosd at once, each with its own port and memory,
# against their real clients.
#
#   httpd (port 80):  curl byte-exact (small, 100 KB, 5 MB, 4 parallel
#                     5 MB), HEAD and 404; wrk -t2 -c50 -d5s without errors
#   kvs (port 11211): memccapable, all 54 tests; memcaslap 5 s verifying
#                     10% of the values (text and binary)
#   both at once:     wrk and memcaslap in parallel
# Both stop cleanly on SIGTERM (exit 0), then the service.
set -u
DLIBOSD=${1:?usage: protected_apps.sh dlibosd dlibos-httpd dlibos-kvs}
HTTPD=${2:?usage: protected_apps.sh dlibosd dlibos-httpd dlibos-kvs}
KVS=${3:?usage: protected_apps.sh dlibosd dlibos-httpd dlibos-kvs}
HERE=$(dirname "$0")
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
dl_need curl wrk memccapable memcaslap sha256sum
prot_init papps

ROOT=$PROT_WORK/root
mkdir -p "$ROOT"
printf '<html><body>protected</body></html>\n' >"$ROOT/index.html"
printf 'small file\n' >"$ROOT/small.txt"
head -c 102400 /dev/urandom >"$ROOT/100k.bin"
head -c 5242880 /dev/urandom >"$ROOT/5m.bin"

prot_service "--lcores=(0-1)@(0-1)" "--net-cores 2"
prot_app httpd "$HTTPD" --root "$ROOT" --port 80 --keepalive-timeout 10
prot_app kvs "$KVS" --port 11211 --memory 128 --max-conns 256
IN() { dl_in_ns "$@"; }

for f in index.html small.txt 100k.bin 5m.bin; do
	IN curl -sS --fail -m 30 -o "$PROT_WORK/dl" "http://$DL_IP/$f" || prot_fail "curl $f"
	[ "$(sha256sum <"$ROOT/$f")" = "$(sha256sum <"$PROT_WORK/dl")" ] || prot_fail "curl $f differs"
done
pids=
for i in 1 2 3 4; do
	IN curl -sS --fail -m 60 -o "$PROT_WORK/par$i" "http://$DL_IP/5m.bin" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || prot_fail "parallel 5 MB download failed"; done
for i in 1 2 3 4; do
	cmp -s "$ROOT/5m.bin" "$PROT_WORK/par$i" || prot_fail "parallel download $i differs"
done
code=$(IN curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$DL_IP/nope")
[ "$code" = 404 ] || prot_fail "404 expected, got $code"
IN curl -sS -m 10 -I "http://$DL_IP/5m.bin" | tr -d '\r' | grep -qi '^Content-Length: 5242880$' ||
	prot_fail "HEAD"
echo "ok: httpd: curl byte-exact (4 files, 4 parallel 5 MB), HEAD, 404"

# wrk_check OUTPUT: requests done, no socket errors, no non-2xx.
wrk_check() {
	echo "$1" | grep -E "requests in|Requests/sec|Socket errors|Non-2xx"
	echo "$1" | grep -q "Socket errors" && prot_fail "wrk: socket errors"
	echo "$1" | grep -q "Non-2xx" && prot_fail "wrk: non-2xx responses"
	[ "$(echo "$1" | awk '/requests in/ {print $1}')" -gt 0 ] || prot_fail "wrk: no requests"
}
wrk_check "$(IN wrk -t2 -c50 -d5s "http://$DL_IP/" 2>&1)"
echo "ok: httpd: wrk"

out=$(IN timeout 120 memccapable -h $DL_IP -p 11211 2>&1)
echo "$out" | tail -n 2
echo "$out" | grep -q "^All tests passed$" || prot_fail "memccapable: $(echo "$out" | grep FAIL)"
[ "$(echo "$out" | grep -c '\[pass\]')" = 54 ] || prot_fail "memccapable: not 54 passes"
echo "ok: kvs: memccapable 54/54"

# caslap_check OUTPUT
caslap_check() {
	echo "$1" | grep -E "^get_misses|^verify_failed|^Run time"
	echo "$1" | grep -q '^verify_failed: 0$' || prot_fail "memcaslap: values differ"
	echo "$1" | grep -q '^get_misses: 0$' || prot_fail "memcaslap: misses"
	[ -n "$(echo "$1" | sed -nE 's/^Run time: .* Ops: ([0-9]+) .*/\1/p')" ] || prot_fail "memcaslap: no ops"
}
caslap_check "$(IN timeout 60 memcaslap -s $DL_IP:11211 -T 2 -c 16 -t 5s -v 0.1 2>&1)"
caslap_check "$(IN timeout 60 memcaslap -s $DL_IP:11211 -T 2 -c 16 -t 5s -v 0.1 -B 2>&1)"
echo "ok: kvs: memcaslap text and binary, verified"

# Both at once.
IN wrk -t1 -c20 -d5s "http://$DL_IP/100k.bin" >"$PROT_WORK/wrk.out" 2>&1 &
W=$!
caslap_check "$(IN timeout 60 memcaslap -s $DL_IP:11211 -T 1 -c 16 -t 5s -v 0.1 2>&1)"
wait $W
wrk_check "$(cat "$PROT_WORK/wrk.out")"
echo "ok: httpd and kvs loaded at the same time"

prot_stop_app httpd
prot_stop_app kvs
grep -qE "^httpd: +requests +[1-9]" "$PROT_WORK/httpd.log" || prot_fail "no httpd counters at exit"
grep -q "^kvs.curr_items " "$PROT_WORK/kvs.log" || prot_fail "no kvs counters at exit"
dl_stop
[ "$(prot_counter service.attached)" = 2 ] || prot_fail "service.attached"
echo "PASS: httpd and kvs attached to one dlibosd pass their clients, alone and together"
