#!/bin/bash
# protected_kill.sh DLIBOSD ECHO RESET_CLIENT - kill -9 of an attached
# application in the middle of transfers.
#
# dlibosd with 2 network cores; echo A (port 7, 2 application cores) and
# echo B (port 8) attached. 20 connections stream 64 MiB each through A
# and 20 stream 4 MiB each through B, at the same time. Once all of A's
# connections are open and a second has passed, A is killed with
# SIGKILL: every connection of A must end in a reset (or
# EOF) with what was echoed until then exact; every connection of B must
# finish byte-exact. A restarts, attaches again and serves 20 connections
# byte-exact.
set -u
DLIBOSD=${1:?usage: protected_kill.sh dlibosd dlibos-echo reset_client.py}
ECHO=${2:?usage: protected_kill.sh dlibosd dlibos-echo reset_client.py}
CLIENT=${3:?usage: protected_kill.sh dlibosd dlibos-echo reset_client.py}
HERE=$(dirname "$0")
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
PY=/usr/bin/python3
prot_init pkill

prot_service "--lcores=(0-1)@(0-1)" "--net-cores 2"
prot_app echoA "$ECHO" --port 7 --max-conns 256 --app-cores 2
prot_app echoB "$ECHO" --port 8 --max-conns 256

dl_in_ns timeout 120 $PY "$CLIENT" "$DL_IP" 7 --conns 20 --bytes $((64 << 20)) --timeout 60 \
	--expect reset >"$PROT_WORK/clientA.out" 2>&1 &
CA=$!
dl_in_ns timeout 120 $PY "$CLIENT" "$DL_IP" 8 --conns 20 --bytes $((4 << 20)) --timeout 90 \
	--expect ok >"$PROT_WORK/clientB.out" 2>&1 &
CB=$!
# Every connection of A open, then a second of traffic.
for _ in $(seq 100); do
	grep -q "^connected" "$PROT_WORK/clientA.out" && break
	sleep 0.1
done
grep -q "^connected 20$" "$PROT_WORK/clientA.out" || prot_fail "A's clients did not all connect"
sleep 1
kill -KILL "${PROT_PID[echoA]}"
prot_wait_exit echoA 5
rc=$PROT_RC
[ "$rc" = 137 ] || prot_fail "A: status $rc after SIGKILL"
echo "ok: A killed with SIGKILL in the middle of its transfers"
wait $CA
ra=$?
wait $CB
rb=$?
echo "A's peers: $(tail -n 1 "$PROT_WORK/clientA.out")"
echo "B's peers: $(tail -n 1 "$PROT_WORK/clientB.out")"
[ $ra = 0 ] || prot_fail "A's peers did not all see a reset"
[ $rb = 0 ] || prot_fail "B's transfers did not all finish byte-exact"
echo "ok: A's peers were reset, B's 20 transfers finished byte-exact"
prot_slot_released 1

prot_app echoA2 "$ECHO" --port 7 --max-conns 256 --app-cores 2
out=$(dl_in_ns timeout 120 $PY "$CLIENT" "$DL_IP" 7 --conns 20 --bytes $((1 << 20)) --expect ok)
rc=$?
echo "A restarted: $(echo "$out" | tail -n 1)"
[ $rc = 0 ] || prot_fail "A restarted: transfers failed"
echo "ok: A restarted, attached again and serves"
prot_stop_app echoA2
prot_stop_app echoB
dl_stop
# A's 20 connections were aborted when its slot went (more with the restart's).
[ "$(prot_counter tcp.conn_aborted)" -ge 20 ] || prot_fail "tcp.conn_aborted $(prot_counter tcp.conn_aborted)"
grep -E "^(service|engine\.(slot|drop_event|events_sent))|^tcp\.conn_abort" "$DL_LOG" | sed 's/^/    /'
echo "PASS: kill -9 resets only the dead application's peers; it restarts and serves"
