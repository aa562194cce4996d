#!/bin/bash
# httpd_common.sh - sourced by the httpd_*.sh integration tests, on top of
# lib.sh: parses "HTTPD MODE", builds a document root in the test's work
# folder, starts dlibos-httpd in the test's network namespace over TAP
# (extra server options in HTTPD_OPTS) and waits until it serves. Defines
# fail, IN (run in the namespace), stop_server and counter (an httpd
# counter from the dump at exit); lib.sh removes everything on every exit
# path.
#
# MODE: rtc, dlibos11, dlibos12 or dlibos22 (lib.sh's dl_mode).

set -u

BIN=${1:?usage: $0 path/to/dlibos-httpd rtc|dlibos11|dlibos12|dlibos22}
MODE=${2:?usage: $0 path/to/dlibos-httpd rtc|dlibos11|dlibos12|dlibos22}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

dl_mode "$MODE"
dl_need ip curl wrk ab h2load sha256sum
dl_init httpd
WORK=$DL_WORK
LOG=$DL_LOG
IP=$DL_IP

fail() { dl_fail "($MODE) $*"; }
IN() { dl_in_ns "$@"; }

# The document root.
ROOT=$WORK/root
mkdir -p "$ROOT/sub" "$ROOT/sub dir"
printf '<!DOCTYPE html>\n<html><head><title>dlibos-httpd</title></head><body>test</body></html>\n' \
	>"$ROOT/index.html"
printf 'small file\n' >"$ROOT/small.txt"
head -c 102400 /dev/urandom >"$ROOT/100k.bin"
head -c 5242880 /dev/urandom >"$ROOT/5m.bin"
printf 'sub index\n' >"$ROOT/sub/index.html"
printf '<p>space</p>\n' >"$ROOT/sub dir/page.html"

dl_start "$BIN" "$DL_EAL" "$DL_RT --root $ROOT --port 80 ${HTTPD_OPTS:-}"
PID=$DL_PID
grep -E "^dlibos: mode|^dlibos:   core|^httpd:" "$LOG"

# The first connection may wait for ARP: allow a few tries.
for _ in $(seq 20); do
	IN curl -sS -m 2 -o /dev/null "http://$IP/" 2>/dev/null && break
	sleep 0.5
done

# SIGTERM, a clean exit (status 0) with the httpd totals printed.
stop_server() {
	dl_stop
	grep -q "httpd: counters (all app cores)" "$LOG" || fail "no httpd counters at shutdown"
}

# An httpd counter (summed over the application cores) from the dump at exit.
counter() {
	dl_counter "httpd.$1"
}
