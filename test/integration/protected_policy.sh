#!/bin/bash
# protected_policy.sh DLIBOSD ECHO KVS - the service's policy file.
#
# Policy: echo may listen on 8000-8100 only, nothing else matches. An echo
# asking for port 7 stays attached but its listen fails cleanly: it gets
# the error event (it prints "cannot listen on port 7: Permission
# denied"), the service logs the denial, a client connecting to port 7 is
# refused, and ping still works. An echo on port 8000 serves. dlibos-kvs,
# which no rule names, is refused at attach (exit 1, "no policy rule").
set -u
DLIBOSD=${1:?usage: protected_policy.sh dlibosd dlibos-echo dlibos-kvs}
ECHO=${2:?usage: protected_policy.sh dlibosd dlibos-echo dlibos-kvs}
KVS=${3:?usage: protected_policy.sh dlibosd dlibos-echo dlibos-kvs}
HERE=$(dirname "$0")
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
PY=/usr/bin/python3
prot_init ppol

cat >"$PROT_WORK/policy" <<POLICY
# test policy
uid=$(id -u) app=echo   listen=8000-8100 connect=none
POLICY
prot_service "-l 0" "--policy $PROT_WORK/policy"
grep -q "policy $PROT_WORK/policy: 1 rule" "$DL_LOG" || prot_fail "policy not loaded"

prot_app denied "$ECHO" --port 7 --max-conns 64
for _ in $(seq 50); do
	grep -q "cannot listen on port 7" "$PROT_WORK/denied.log" && break
	sleep 0.1
done
grep -q "cannot listen on port 7: Permission denied" "$PROT_WORK/denied.log" ||
	prot_fail "echo did not get the EACCES error event"
grep -q "listen on port 7 denied (rule line 2)" "$DL_LOG" || prot_fail "no log line in the service"
kill -0 "${PROT_PID[denied]}" || prot_fail "the denied application died"
dl_in_ns timeout 10 $PY -c '
import socket, sys
try:
    socket.create_connection(("'$DL_IP'", 7), 5)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit(1)' || prot_fail "port 7 was not refused"
echo "ok: listen on a denied port fails cleanly (error event, log line, connection refused)"

prot_app allowed "$ECHO" --port 8000 --max-conns 64
out=$(dl_in_ns timeout 60 $PY "$HERE/echo_client.py" "$DL_IP" 8000 --conns 10 --bytes 100000 \
	--timeout 30 2>&1)
[ $? = 0 ] || prot_fail "echo on an allowed port: $out"
echo "ok: an allowed port serves"

"$KVS" --attach "$CTL" --port 8001 >"$PROT_WORK/kvs.log" 2>&1
rc=$?
[ $rc = 1 ] || prot_fail "kvs (no rule): exit status $rc, want 1"
grep -q "refused: no policy rule for uid $(id -u), application 'kvs'" "$PROT_WORK/kvs.log" ||
	prot_fail "kvs: $(cat "$PROT_WORK/kvs.log")"
echo "ok: an application no rule names is refused at attach"

prot_stop_app denied
prot_stop_app allowed
dl_stop
[ "$(prot_counter engine.policy_denied)" = 1 ] || prot_fail "engine.policy_denied"
[ "$(prot_counter service.refused)" = 1 ] || prot_fail "service.refused"
echo "PASS: the policy denies ports cleanly and refuses unknown applications"
