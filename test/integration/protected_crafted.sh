#!/bin/bash
# protected_crafted.sh DLIBOSD PROT_CLIENT - crafted NoC commands from
# attached applications are rejected, counted, and neither transmit nor
# free anything; an application that keeps sending them is detached.
#
# test/protected/prot_client attaches twice (applications A and B) through
# the control protocol and is also the TCP peer (see its header for the
# steps). Afterwards the service's counters must show each rejection.
set -u
DLIBOSD=${1:?usage: protected_crafted.sh dlibosd prot_client}
PROBE=${2:?usage: protected_crafted.sh dlibosd prot_client}
HERE=$(dirname "$0")
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
prot_init pcr

prot_service "-l 0" "--max-bad-commands 1000"
out=$(dl_in_ns timeout 60 "$PROBE" "$CTL" "$DL_IP" 9000 2>&1)
rc=$?
echo "$out"
[ $rc = 0 ] || prot_fail "prot_client failed (rc $rc)"
prot_slot_released 2
dl_stop
# A: 3 sends outside its region; B: its flood (1001 until the kick, a few
# more may be taken before the slot goes).
c() { prot_counter "$1"; }
[ "$(c engine.cmd_reject_bad_region)" -ge 1004 ] || prot_fail "cmd_reject_bad_region $(c engine.cmd_reject_bad_region)"
[ "$(c engine.cmd_reject_not_owner)" = 3 ] || prot_fail "cmd_reject_not_owner $(c engine.cmd_reject_not_owner)"
[ "$(c engine.cmd_reject_recv_done)" = 1 ] || prot_fail "cmd_reject_recv_done $(c engine.cmd_reject_recv_done)"
[ "$(c engine.cmd_reject_malformed)" = 1 ] || prot_fail "cmd_reject_malformed $(c engine.cmd_reject_malformed)"
[ "$(c engine.slot_kicked)" = 1 ] || prot_fail "slot_kicked $(c engine.slot_kicked)"
[ "$(c service.detach_kicked)" = 1 ] || prot_fail "service.detach_kicked $(c service.detach_kicked)"
grep -q "too many invalid commands" "$DL_LOG" || prot_fail "no log line for the kick"
grep -E "^(service|engine)\." "$DL_LOG" | sed 's/^/    /'
echo "PASS: crafted commands rejected and counted; the flooding application detached"
