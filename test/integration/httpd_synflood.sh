#!/bin/bash
# httpd_synflood.sh HTTPD MODE [cookies|nocookies] - real clients are served
# during a SYN flood thanks to SYN cookies (RFC 4987), over TAP in a network
# namespace of its own (httpd_common.sh).
#
# synflood.py sends 6000 SYNs from addresses that do not exist (nobody
# answers the SYN-ACKs), far more than the listener's SYN backlog (1024).
# cookies (default): then 20 curl requests, each a new connection, must all
# succeed within 5 s each, byte-exact, and a 5 MiB download too; the TCP
# counters printed at shutdown must show cookies sent and accepted, and
# every accepted cookie keeping Linux's timestamps, window scaling and SACK
# (the options in the SYN-ACK's TSval).
# nocookies (--tcp syn_cookies=0, the control): the backlog stays full for
# a minute (SYN-ACK retries), so a new client must time out, and the
# counters must show SYNs dropped and no cookie: every SYN that reached the
# stack beyond the backlog answered by a cookie (or dropped without cookies).
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
# Packets the clients send after the flood (spared in the check below).
txp() { IN cat /sys/class/net/dl0/statistics/tx_packets; }
tx0=$(txp)
if [ "$VARIANT" = cookies ]; then
	for i in $(seq 20); do
		IN curl -sS -m 5 -o "$WORK/got.html" "http://$IP/" ||
			fail "request $i during the flood"
		cmp -s "$WORK/got.html" "$ROOT/index.html" || fail "request $i: wrong body"
	done
	IN curl -sS -m 20 -o "$WORK/got.bin" "http://$IP/5m.bin" || fail "5 MiB download during the flood"
	cmp -s "$WORK/got.bin" "$ROOT/5m.bin" || fail "5 MiB download: wrong body"
else
	IN curl -sS -m 3 -o /dev/null "http://$IP/" 2>/dev/null &&
		fail "a new client was served without cookies: the flood did not fill the backlog"
fi
clients=$(($(txp) - tx0))
stop_server
tcpc() { dl_counter "tcp.$1"; }
sent=$(tcpc syncookies_sent)
ok=$(tcpc syncookies_accepted)
ts=$(tcpc syncookies_ts)
sack=$(tcpc sack_connections)
dropped=$(tcpc drop_syn_backlog_full)
# What reached the stack: a loaded machine can lose part of the flood in the
# TAP device's kernel queue before DPDK reads it. Every SYN beyond the
# backlog (1024) that did arrive must be answered by a cookie or dropped
# (what the clients sent after the flood spared, and 100 more: the first
# request's, ARP).
rx=$(dl_counter ipv4.rx)
beyond=$((rx - 1024 - clients - 100))
[ "$beyond" -ge 500 ] || fail "only $rx IPv4 packets of the 6000-SYN flood reached the stack"
echo "counters: ipv4.rx $rx, tcp.syncookies_sent $sent, tcp.syncookies_accepted $ok," \
	"tcp.syncookies_ts $ts, tcp.sack_connections $sack, tcp.drop_syn_backlog_full $dropped"
if [ "$VARIANT" = cookies ]; then
	[ "$sent" -ge "$beyond" ] || fail "counter tcp.syncookies_sent = $sent (< $beyond)"
	[ "$ok" -ge 21 ] || fail "counter tcp.syncookies_accepted = $ok"
	[ "$ts" -eq "$ok" ] || fail "counter tcp.syncookies_ts = $ts (accepted: $ok)"
	[ "$sack" -ge 21 ] || fail "counter tcp.sack_connections = $sack"
else
	[ "$sent" -eq 0 ] || fail "counter tcp.syncookies_sent = $sent with syn_cookies=0"
	[ "$dropped" -ge "$beyond" ] || fail "counter tcp.drop_syn_backlog_full = $dropped (< $beyond)"
fi
echo "PASS ($MODE, $VARIANT)"
