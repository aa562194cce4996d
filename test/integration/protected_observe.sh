#!/bin/bash
# protected_observe.sh DLIBOSD HTTPD - telemetry of a protected-mode
# service (issue 16): dlibosd on 2 network cores with dlibos-httpd
# attached. The service answers every /dlibos/... command through the
# stock dpdk-telemetry.py (JSON, numbers moving with 20 requests), plus
# /dlibos/apps (the attached process in its slot, events and commands
# counted, no bad command); a connection a client holds open appears in
# /dlibos/conns with its 4-tuple, ESTABLISHED, owned by the slot's core 0
# (observe_check.py protected). Both stop cleanly.
set -u
DLIBOSD=${1:?usage: protected_observe.sh dlibosd dlibos-httpd}
HTTPD=${2:?usage: protected_observe.sh dlibosd dlibos-httpd}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
dl_need curl dpdk-telemetry.py
prot_init pobs

ROOT=$PROT_WORK/root
mkdir -p "$ROOT"
printf '<html><body>protected observe</body></html>\n' >"$ROOT/index.html"

prot_service "--lcores=(0-1)@(0-1)" "--net-cores 2"
prot_app httpd "$HTTPD" --root "$ROOT" --port 80
dl_in_ns curl -sS --fail -m 10 -o /dev/null "http://$DL_IP/" || prot_fail "curl"
dl_in_ns $PY "$HERE/observe_check.py" protected "$DL_PREFIX" "$DL_IP" httpd ||
	prot_fail "telemetry checks (observe_check.py protected)"
prot_stop_app httpd
prot_slot_released 1
dl_stop
echo "PASS"
