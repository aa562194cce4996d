#!/bin/bash
# httpd_limits.sh HTTPD MODE - dlibos-httpd's connection limit and idle
# timeout, over TAP in a network namespace of its own (httpd_common.sh).
#
# The server runs with --max-conns 3 --keepalive-timeout 3. httpd_raw.py
# holds 3 kept-alive connections, checks that a 4th is refused without an
# answer, that a freed slot serves again, and that an idle connection is
# closed by the server within the timeout (+3 s). The counters printed at
# shutdown must show the refusal and the idle closes.
# Needs root; exits 77 (skipped) otherwise.
set -u

HTTPD_OPTS="--max-conns 3 --keepalive-timeout 3"
. "$(dirname "$0")/httpd_common.sh"

# Let the connection used to wait for ARP time out first.
sleep 1
IN $PY "$HERE/httpd_raw.py" limits $IP 80 3 3 || fail "httpd_raw.py limits"
stop_server
refused=$(counter conns_refused_limit)
idle=$(counter conns_closed_idle)
[ "$refused" -ge 1 ] || fail "counter conns_refused_limit = $refused"
[ "$idle" -ge 1 ] || fail "counter conns_closed_idle = $idle"
echo "counters: conns_refused_limit $refused, conns_closed_idle $idle"
echo "PASS ($MODE)"
