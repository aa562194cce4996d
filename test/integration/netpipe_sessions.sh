#!/bin/bash
# netpipe_sessions.sh NETPIPE MODE - several NPtcp sessions against one
# dlibos-netpipe, and peers that go away mid-run:
#
#  1. three NPtcp transmitters at once (-u 65536), all must complete;
#  2. a transmitter killed (SIGKILL, by PID) in the middle of a full run,
#     once it reached messages of 256 KB (as large as the copy ring);
#  3. a connection that sends half a run by hand and closes;
#  4. one more NPtcp run, which must complete: the server is unharmed.
#
# The server must count 4 completed runs, the two early disconnects (as a
# reset or a close before QUIT), no protocol error, and exit 0 on SIGTERM.
# Needs root; exits 77 (skipped) otherwise.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/netpipe_common.sh"

PY=/usr/bin/python3
[ -x $PY ] || PY=python3

start_server

# 1. concurrent sessions
pids=()
for i in 1 2 3; do
	IN timeout 300 NPtcp -h $IP -u 65536 -o "$WORK/np-c$i.out" \
		>"$WORK/np-c$i.stdout" 2>"$WORK/np-c$i.stderr" &
	pids+=($!)
done
for i in 1 2 3; do
	wait "${pids[$((i - 1))]}"
	rc=$?
	[ $rc = 0 ] || { tail -n 5 "$WORK/np-c$i.stderr"; fail "concurrent run $i: NPtcp exited with status $rc"; }
	n=$(grep -cE '^ *[0-9]+: +[0-9]+ bytes .* Mbps in ' "$WORK/np-c$i.stderr")
	last=$(awk 'END {print $1}' "$WORK/np-c$i.out")
	[ "$n" -ge 70 ] && [ "$last" -ge 65536 ] ||
		fail "concurrent run $i: $n lines, last size $last"
	echo "concurrent run $i: $n data points, up to $last bytes"
done

# 2. a transmitter killed mid-run, once it reached large messages
# ip netns exec execs NPtcp: $! is NPtcp's own PID (not a subshell's).
ip netns exec "$DL_NS" NPtcp -h $IP -o "$WORK/np-kill.out" >"$WORK/np-kill.stdout" \
	2>"$WORK/np-kill.stderr" &
kpid=$!
for _ in $(seq 600); do
	grep -qE '^ *[0-9]+: +(26214[0-9]|[0-9]{7}) bytes' "$WORK/np-kill.stderr" && break
	kill -0 $kpid 2>/dev/null || break
	sleep 0.1
done
kill -0 $kpid 2>/dev/null || fail "NPtcp finished before it could be killed"
echo "killing NPtcp after: $(tail -n 1 "$WORK/np-kill.stderr")"
kill -KILL $kpid
wait $kpid 2>/dev/null

# 3. half a run by hand, then an orderly close
IN $PY - "$IP" <<'EOF' || fail "hand-made half run failed"
import socket, struct, sys
s = socket.create_connection((sys.argv[1], 5002), timeout=10)
def rt(data):
    s.sendall(data)
    got = b""
    while len(got) < len(data):
        chunk = s.recv(len(data) - len(got))
        if not chunk:
            raise SystemExit("server closed early")
        got += chunk
    if got != data:
        raise SystemExit("echo differs: %r" % got[:16])
rt(b"SyncMe")
for _ in range(100):
    rt(b"b")
rt(b"SyncMe")
rt(b"SyncMe")
s.sendall(struct.pack("!I", 5))  # nrepeat, not echoed
rt(b"SyncMe")
rt(b"b")  # 1 of 5 messages of 1 byte, then go away
s.close()
print("half run: echoes correct, closed mid-trial")
EOF

# 4. the server still serves
run_nptcp after 300 -u 4096

sleep 1 # let the closes of steps 2-3 reach the server
stop_server
[ "$(counter runs_completed)" = 4 ] ||
	fail "server counted $(counter runs_completed) completed runs, not 4"
[ "$(counter protocol_errors)" = 0 ] || fail "$(counter protocol_errors) protocol errors"
early=$(($(counter peer_reset) + $(counter peer_closed_before_quit)))
[ "$early" -ge 2 ] || fail "server counted $early early disconnects, not 2"
[ "$(counter conns_accepted)" = 6 ] || fail "$(counter conns_accepted) connections accepted, not 6"
echo "PASS ($MODE)"
