#!/bin/bash
# httpd_synflood.sh HTTPD MODE [cookies|nocookies] - real clients are served
# during a SYN flood thanks to SYN cookies (RFC 4987), over TAP in a network
# namespace of its own (httpd_common.sh).
#
# synflood.py sends 6000 SYNs from addresses that do not exist (nobody
# answers the SYN-ACKs), far more than the listener's SYN backlog (1024).
# cookies (default): then 20 curl requests, each a new connection, must all
# succeed within 5 s each, byte-exact; the TCP counters printed at shutdown
# must show cookies sent and accepted.
# nocookies (--tcp syn_cookies=0, the control): the backlog stays full for
# a minute (SYN-ACK retries), so a new client must time out, and the
# counters must show SYNs dropped and no cookie.
# Needs root; exits 77 (skipped) otherwise.
set -u

VARIANT=${3:-cookies}
case $VARIANT in
cookies) HTTPD_OPTS= ;;
nocookies) HTTPD_OPTS="--tcp syn_cookies=0" ;;
*) echo "unknown variant $VARIANT"; exit 2 ;;
esac
. "$(dirname "$0")/httpd_common.sh"

IN $PY "$HERE/synflood.py" $IP 80 6000 || fail "synflood.py"
sleep 0.5
if [ "$VARIANT" = cookies ]; then
	for i in $(seq 20); do
		IN curl -sS -m 5 -o "$WORK/got.html" "http://$IP/" ||
			fail "request $i during the flood"
		cmp -s "$WORK/got.html" "$ROOT/index.html" || fail "request $i: wrong body"
	done
else
	IN curl -sS -m 3 -o /dev/null "http://$IP/" 2>/dev/null &&
		fail "a new client was served without cookies: the flood did not fill the backlog"
fi
stop_server
tcpc() { dl_counter "tcp.$1"; }
sent=$(tcpc syncookies_sent)
ok=$(tcpc syncookies_accepted)
dropped=$(tcpc drop_syn_backlog_full)
echo "counters: tcp.syncookies_sent $sent, tcp.syncookies_accepted $ok," \
	"tcp.drop_syn_backlog_full $dropped"
if [ "$VARIANT" = cookies ]; then
	[ "$sent" -ge 1000 ] || fail "counter tcp.syncookies_sent = $sent"
	[ "$ok" -ge 20 ] || fail "counter tcp.syncookies_accepted = $ok"
else
	[ "$sent" -eq 0 ] || fail "counter tcp.syncookies_sent = $sent with syn_cookies=0"
	[ "$dropped" -ge 1000 ] || fail "counter tcp.drop_syn_backlog_full = $dropped"
fi
echo "PASS ($MODE, $VARIANT)"
