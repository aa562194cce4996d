#!/bin/bash
# protected_rx.sh DLIBOSD ECHO CLIENT - RX memory is read-only to attached
# applications.
#
# Two dlibos-echo processes attach to one dlibosd: A (port 7) with
# --poke-rx, which writes into the first received byte, and B (port 8).
# A peer sends to A: A must die of SIGSEGV (exit status 139) and the
# service detach its slot; B must still echo 100 connections x 100 KB
# byte-exact, and the service still answer ping. Without a policy, a
# process of another uid (nobody) is refused. A restarted without
# --poke-rx attaches again (same slot) and echoes. Finally the service is
# stopped first: the attached applications are told and exit.
set -u
DLIBOSD=${1:?usage: protected_rx.sh dlibosd dlibos-echo echo_client.py}
ECHO=${2:?usage: protected_rx.sh dlibosd dlibos-echo echo_client.py}
CLIENT=${3:?usage: protected_rx.sh dlibosd dlibos-echo echo_client.py}
HERE=$(dirname "$0")
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
PY=/usr/bin/python3
prot_init prx

prot_service "-l 0" ""
prot_app pokeA "$ECHO" --port 7 --max-conns 64 --poke-rx
prot_app echoB "$ECHO" --port 8 --max-conns 256
grep -q "RX memory read-only" "$PROT_WORK/pokeA.log" || prot_fail "A: no read-only RX mapping"

dl_in_ns timeout 10 $PY -c '
import socket, time
s = socket.create_connection(("'$DL_IP'", 7), 5)
s.sendall(b"x" * 100)
time.sleep(1)' || prot_fail "cannot send to A"
prot_wait_exit pokeA 10
rc=$PROT_RC
grep -q "writing into the RX buffer" "$PROT_WORK/pokeA.log" || prot_fail "A never wrote"
[ "$rc" = 139 ] || prot_fail "A (wrote into RX memory): exit status $rc, want 139 (SIGSEGV)"
echo "ok: the application that wrote into an RX buffer died of SIGSEGV (status $rc)"
prot_slot_released 1

out=$(dl_in_ns timeout 120 $PY "$CLIENT" "$DL_IP" 8 --conns 100 --bytes 100000 --timeout 60 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || prot_fail "B: echo client failed after A's crash: $out"
dl_in_ns ping -c 5 -i 0.2 -W 1 -q "$DL_IP" | grep -q " 0% packet loss" || prot_fail "no ping"
echo "ok: the other application and ping are unaffected"

# Without --policy, another uid is refused (the socket opened up for the test).
chmod 0711 "$PROT_WORK"
chmod 0666 "$CTL"
runuser -u nobody -- "$ECHO" --attach "$CTL" --port 9 >"$PROT_WORK/nobody.log" 2>&1
rc=$?
[ $rc = 1 ] || prot_fail "echo as nobody: exit status $rc, want 1"
grep -q "refused: no policy rule for uid $(id -u nobody)" "$PROT_WORK/nobody.log" ||
	prot_fail "echo as nobody: $(cat "$PROT_WORK/nobody.log")"
echo "ok: without a policy, another user is refused"

prot_app echoA "$ECHO" --port 7 --max-conns 256
out=$(dl_in_ns timeout 120 $PY "$CLIENT" "$DL_IP" 7 --conns 50 --bytes 100000 --timeout 60 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || prot_fail "A restarted: echo client failed: $out"
grep -q "slot 0: attached echo" "$DL_LOG" || prot_fail "A did not get slot 0 back"
echo "ok: A restarted, attached again and echoes"

# The service stops first: both applications hear it and exit (status 1).
dl_stop
for a in echoA echoB; do
	prot_wait_exit $a 10
	rc=$PROT_RC
	[ "$rc" = 1 ] || prot_fail "$a: exit status $rc after the service stopped, want 1"
	grep -q "service is stopping" "$PROT_WORK/$a.log" || prot_fail "$a was not told"
done
# Counted before the shutdown: A's crash.
n=$(($(prot_counter service.detach_connection_closed) + $(prot_counter service.detach_process_exited)))
[ "$n" = 1 ] || prot_fail "service: $n detaches counted, want 1"
[ "$(prot_counter service.attached)" = 3 ] || prot_fail "service.attached"
[ "$(prot_counter engine.slot_detached)" = 1 ] || prot_fail "engine.slot_detached"
grep -E "^(service|engine\.(slot|drop_event))" "$DL_LOG" | sed 's/^/    /'
echo "PASS: RX memory is read-only to applications; a crash touches nobody else"
