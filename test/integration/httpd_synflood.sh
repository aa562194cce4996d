#!/bin/bash
# httpd_synflood.sh HTTPD MODE - real clients are served during a SYN flood
# (SYN cookies, RFC 4987), over TAP in a network namespace of its own
# (httpd_common.sh).
#
# synflood.py sends 6000 SYNs from addresses that do not exist (nobody
# answers the SYN-ACKs), far more than the listener's SYN backlog (1024):
# without cookies the backlog would stay full for a minute (SYN-ACK
# retries) and every new client would be dropped. Then 20 curl requests,
# each a new connection, must all succeed within 5 s each. The TCP counters
# printed at shutdown must show cookies sent and accepted.
# Needs root; exits 77 (skipped) otherwise.
set -u

. "$(dirname "$0")/httpd_common.sh"

IN $PY "$HERE/synflood.py" $IP 80 6000 || fail "synflood.py"
sleep 0.5
for i in $(seq 20); do
	IN curl -sS -m 5 -o "$WORK/got.html" "http://$IP/" || fail "request $i during the flood"
	cmp -s "$WORK/got.html" "$ROOT/index.html" || fail "request $i: wrong body"
done
stop_server
tcpc() { awk -v c="tcp.$1" '$1 == c {v = $2} END {print v + 0}' "$LOG"; }
sent=$(tcpc syncookies_sent)
ok=$(tcpc syncookies_accepted)
[ "$sent" -ge 1000 ] || fail "counter tcp.syncookies_sent = $sent"
[ "$ok" -ge 20 ] || fail "counter tcp.syncookies_accepted = $ok"
echo "counters: tcp.syncookies_sent $sent, tcp.syncookies_accepted $ok"
echo "PASS ($MODE)"
