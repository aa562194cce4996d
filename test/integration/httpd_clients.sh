#!/bin/bash
# httpd_clients.sh HTTPD MODE - dlibos-httpd against the real clients, over a
# TAP interface in a network namespace of its own.
#
# MODE: rtc, dlibos11, dlibos12 or dlibos22 (see httpd_common.sh, which
# also builds the root: index.html, small.txt, 100 KB, 5 MB, a directory
# with an index, a name with a space). Checks, in order:
#   curl    every file byte-exact (sha256), "/", HEAD, 4 parallel 5 MB downloads;
#   raw     status codes, pipelining, keep-alive, split requests, Date
#           (httpd_raw.py protocol);
#   wrk     -t2 -c50 -d5s --latency: requests > 0, no socket errors, no non-2xx;
#   ab      -k -c 50 -n 20000: 0 failed, every request kept alive;
#   h2load  --h1 -c 50 -t 2 -D 3: 0 failed, 0 errored, all 2xx;
#   a clean stop on SIGTERM (exit 0) with the httpd counters printed.
# HTTPD_CONC (concurrent connections of wrk, ab and h2load, default 50),
# HTTPD_AB_N (ab's requests, default 20000) and HTTPD_WRK_S (wrk's seconds,
# default 5) size the load; the TILE-Gx model build runs 200 concurrent
# connections with fewer requests (test/integration/meson.build).
# Needs root; exits 77 (skipped) otherwise or when a client is missing.
set -u

HTTPD_OPTS="--keepalive-timeout 10"
CONC=${HTTPD_CONC:-50}
AB_N=${HTTPD_AB_N:-20000}
WRK_S=${HTTPD_WRK_S:-5}
. "$(dirname "$0")/httpd_common.sh"

# curl: byte-exact downloads.
for f in index.html small.txt 100k.bin 5m.bin sub/index.html "sub dir/page.html"; do
	url="http://$IP/${f// /%20}"
	IN curl -sS --fail -m 30 -o "$WORK/dl" "$url" || fail "curl $url failed"
	want=$(sha256sum <"$ROOT/$f" | cut -d' ' -f1)
	got=$(sha256sum <"$WORK/dl" | cut -d' ' -f1)
	[ "$want" = "$got" ] || fail "curl $url: sha256 $got, want $want"
done
IN curl -sS --fail -m 10 -o "$WORK/dl" "http://$IP/" || fail "curl / failed"
cmp -s "$WORK/dl" "$ROOT/index.html" || fail "/ is not index.html"
echo "ok: curl byte-exact for 6 files and /"

head=$(IN curl -sS -m 10 -I "http://$IP/5m.bin" | tr -d '\r')
echo "$head" | grep -q '^HTTP/1.1 200 OK$' || fail "HEAD status: $head"
echo "$head" | grep -qi '^Content-Length: 5242880$' || fail "HEAD Content-Length: $head"
echo "$head" | grep -qi '^Content-Type: application/octet-stream$' || fail "HEAD type: $head"
code=$(IN curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$IP/nope")
[ "$code" = 404 ] || fail "curl /nope: status $code, want 404"
code=$(IN curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -d x "http://$IP/")
[ "$code" = 405 ] || fail "curl -X POST: status $code, want 405"
echo "ok: curl HEAD, 404, 405"

want=$(sha256sum <"$ROOT/5m.bin" | cut -d' ' -f1)
pids=
for i in 1 2 3 4; do
	IN curl -sS --fail -m 60 -o "$WORK/par$i" "http://$IP/5m.bin" &
	pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "parallel 5 MB download failed"; done
for i in 1 2 3 4; do
	got=$(sha256sum <"$WORK/par$i" | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "parallel 5 MB download $i: sha256 $got"
done
echo "ok: 4 parallel 5 MB downloads byte-exact"

# Raw protocol checks.
IN $PY "$HERE/httpd_raw.py" protocol $IP 80 "$ROOT" || fail "httpd_raw.py protocol"

# wrk (its first connection is a probe it closes at once).
out=$(IN wrk -t2 -c"$CONC" -d"${WRK_S}s" --latency "http://$IP/" 2>&1)
echo "$out"
echo "$out" | grep -q "Socket errors" && fail "wrk: socket errors"
echo "$out" | grep -q "Non-2xx" && fail "wrk: non-2xx responses"
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || fail "wrk: no requests completed"

# ab -k: HTTP/1.0 keep-alive.
out=$(IN ab -k -c "$CONC" -n "$AB_N" "http://$IP/" 2>&1)
echo "$out" | grep -E "Complete|Failed|Keep-Alive|Requests per|Non-2xx"
echo "$out" | grep -q "^Complete requests: *$AB_N$" || fail "ab: not $AB_N complete"
echo "$out" | grep -q "^Failed requests: *0$" || fail "ab: failed requests"
echo "$out" | grep -q "^Keep-Alive requests: *$AB_N$" || fail "ab: not every request kept alive"
echo "$out" | grep -q "Non-2xx" && fail "ab: non-2xx responses"

# h2load over HTTP/1.1.
out=$(IN h2load --h1 -c "$CONC" -t 2 -D 3 "http://$IP/" 2>&1)
echo "$out" | grep -E "^requests:|^status codes:|^finished"
line=$(echo "$out" | grep '^requests:')
echo "$line" | grep -q " 0 failed, 0 errored, 0 timeout" || fail "h2load: $line"
succ=$(echo "$line" | sed -E 's/.* ([0-9]+) succeeded.*/\1/')
[ "$succ" -gt 0 ] || fail "h2load: nothing succeeded"
echo "$out" | grep -q "^status codes: $succ 2xx, 0 3xx, 0 4xx, 0 5xx" ||
	fail "h2load: $(echo "$out" | grep '^status codes')"

stop_server
total=$(counter requests)
[ "$total" -gt "$AB_N" ] || fail "counter httpd requests = $total"
for c in send_failed acked_bytes_unexpected nomem date_stale_all_sets_busy; do
	v=$(counter $c)
	[ "$v" = 0 ] || fail "counter $c = $v"
done
sed -n '/httpd: counters (all app cores)/,$p' "$LOG" | grep -E 'requests |status_|conns_|bytes_sent'
echo "PASS ($MODE)"
