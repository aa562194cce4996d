#!/bin/bash
# observe.sh HTTPD MODE - seeing inside a running dlibos-httpd (issue 16),
# over a TAP interface in a network namespace of its own.
#
# MODE: rtc or dlibos11 (lib.sh's dl_mode). The server starts with
# --capture (a pcapng from the first frame) and
# --log-level=dlibos.tcp:debug (an EAL option, as for any DPDK log type).
# Checks, in order:
#   telemetry  every /dlibos/... command through the stock dpdk-telemetry.py
#              answers JSON; bad parameters answer an error; counters, core
#              packets and NoC channel messages move with 20 requests; a
#              connection held open by a client is in /dlibos/conns and
#              /dlibos/conn with its 4-tuple, ESTABLISHED and its owner
#              cores; a capture started and stopped at run time
#              (observe_check.py);
#   top        dlibos-top --once --json during wrk: requests/s > 0,
#              connections > 0, every core listed;
#   capture    the --capture file, read by tcpdump after a clean stop,
#              holds the SYN of a curl fetch, its request and the bytes
#              of the response; the run-time capture's file too;
#   logging    the dlibos.tcp debug lines are in the log, dlibos.noc's
#              (left at info) are not.
# Needs root; exits 77 (skipped) otherwise or when a tool is missing.
set -u

BIN=${1:?usage: $0 path/to/dlibos-httpd rtc|dlibos11}
MODE=${2:?usage: $0 path/to/dlibos-httpd rtc|dlibos11}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOLS=$(cd "$HERE/../../tools" && pwd)
. "$HERE/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

dl_mode "$MODE"
dl_need ip curl wrk tcpdump dpdk-telemetry.py
dl_init observe
WORK=$DL_WORK
fail() { dl_fail "($MODE) $*"; }

ROOT=$WORK/root
mkdir -p "$ROOT"
MARK="observe-marker-$$-$RANDOM"
printf '<html><body>%s</body></html>\n' "$MARK" >"$ROOT/index.html"
CAP=$WORK/start.pcapng
CAP2=$WORK/runtime.pcapng

# rtc runs BBR (its model shows in /dlibos/conns), dlibos11 the default CUBIC.
CC=cubic
[ "$MODE" = rtc ] && CC=bbr
dl_start "$BIN" "$DL_EAL --log-level=dlibos.tcp:debug" \
	"$DL_RT --root $ROOT --port 80 --capture $CAP --tcp cc=$CC"
grep -q "capture: every frame of port 0" "$DL_LOG" || fail "no capture announced at start"

# A curl fetch while --capture runs (checked in the file at the end).
got=$(dl_in_ns curl -sS --fail -m 10 "http://$DL_IP/") || fail "curl failed"
[ "$got" = "<html><body>$MARK</body></html>" ] || fail "curl got '$got'"

dl_in_ns env DL_CC=$CC $PY "$HERE/observe_check.py" telemetry "$DL_PREFIX" "$DL_IP" "$MODE" "$CAP2" ||
	fail "telemetry checks (observe_check.py)"

# dlibos-top against a loaded server.
dl_in_ns wrk -t1 -c8 -d4s "http://$DL_IP/" >"$WORK/wrk.txt" 2>&1 &
WRK=$!
sleep 1
"$TOOLS/dlibos-top" -f "$DL_PREFIX" --once --json >"$WORK/top.json" 2>"$WORK/top.err" ||
	fail "dlibos-top failed: $(cat "$WORK/top.err")"
wait $WRK || fail "wrk failed: $(cat "$WORK/wrk.txt")"
$PY - "$WORK/top.json" "$MODE" <<'EOF' || fail "dlibos-top --once --json: $(cat "$WORK/top.json")"
import json, sys
r = json.load(open(sys.argv[1]))
t = r["totals"]
ncores = 1 if sys.argv[2] == "rtc" else 2
assert t["requests_per_s"] > 0, t
assert t["requests_source"] == "httpd.requests", t
assert t["connections"] > 0, t
assert len(r["cores"]) == ncores and len(r["noc_matrix"]) == ncores, r
assert all(c["busy_pct"] >= 0 for c in r["cores"]), r
if ncores == 2:
    assert r["noc_matrix"][0][1] > 0 and r["noc_matrix"][1][0] > 0, r["noc_matrix"]
print("ok: dlibos-top --once --json: %.0f requests/s, %d connections, busy %s"
      % (t["requests_per_s"], t["connections"], [c["busy_pct"] for c in r["cores"]]))
EOF

dl_stop

# The --capture file: the curl fetch, whole.
grep -q "capture: $CAP closed" "$DL_LOG" || grep -q "closed:" "$DL_LOG" ||
	fail "the start capture was not closed"
tcpdump -nn -r "$CAP" >"$WORK/cap.txt" 2>"$WORK/cap.err" || fail "tcpdump -r: $(cat "$WORK/cap.err")"
grep -q "> $DL_IP.80: Flags \[S\]" "$WORK/cap.txt" || fail "no SYN to port 80 in $CAP: $(head "$WORK/cap.txt")"
grep -q "$DL_IP.80 > .*Flags \[S\.\]" "$WORK/cap.txt" || fail "no SYN-ACK in $CAP"
tcpdump -nn -A -r "$CAP" 2>/dev/null >"$WORK/cap.a"
grep -q "GET / HTTP/1.1" "$WORK/cap.a" || fail "the request is not in $CAP"
grep -q "$MARK" "$WORK/cap.a" || fail "the response body is not in $CAP"
grep -q "HTTP/1.1 200 OK" "$WORK/cap.a" || fail "the response status is not in $CAP"
bad=$(tcpdump -nn -vv -r "$CAP" 2>/dev/null | grep -c "incorrect" || true)
[ "$bad" = 0 ] || fail "$bad frames with incorrect checksums in $CAP"
echo "ok: --capture: SYN, SYN-ACK, request and response of the curl fetch," \
	"$(wc -l <"$WORK/cap.txt") frames, checksums correct"
n=$(tcpdump -nn -r "$CAP2" 2>/dev/null | wc -l)
[ "$n" -ge 12 ] || fail "run-time capture: $n frames"
snap=$(tcpdump -nn -r "$CAP2" 2>&1 >/dev/null | head -1)
tcpdump -nn -r "$CAP2" -A 2>/dev/null | grep -q "GET / HTTP/1.1" || fail "run-time capture: no request"
echo "ok: run-time capture: $n frames"

# Logging through DPDK's log types.
grep -q "net0: conn .* established (passive)" "$DL_LOG" ||
	fail "no dlibos.tcp debug line with --log-level=dlibos.tcp:debug"
grep -q "debug: noc:" "$DL_LOG" && fail "dlibos.noc debug lines without asking"
echo "ok: --log-level=dlibos.tcp:debug prints the connections' lives"
echo "PASS ($MODE)"
