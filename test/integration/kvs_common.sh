#!/bin/bash
# kvs_common.sh - sourced by the kvs_*.sh integration tests: parses
# "KVS MODE", starts dlibos-kvs in a network namespace of its own over TAP
# (extra server options in KVS_OPTS), waits until it answers "version", and
# removes the namespace and stops the server (by PID) on every exit path.
# Defines fail, IN (run in the namespace), kvs_cmd (send text commands, print
# the answer), stop_server and counter.
#
# MODE: rtc (one lcore), dlibos11 (1 network + 1 application core) or
# dlibos12 (1 network + 2 application cores on 2 CPUs: oversubscribed).

set -u

BIN=${1:?usage: $0 path/to/dlibos-kvs rtc|dlibos11|dlibos12}
MODE=${2:?usage: $0 path/to/dlibos-kvs rtc|dlibos11|dlibos12}
NS=dlkvs$$
PREFIX=dlkvs$$
WORK=$(mktemp -d /tmp/dlibos-kvs.XXXXXX)
LOG=$WORK/server.log
PID=
IP=10.0.0.2
PORT=11211

case $MODE in
rtc) EAL=(-l 0) RT=(--mode rtc) ;;
dlibos11) EAL=(-l 0-1) RT=(--mode dlibos --net-cores 1 --idle sleep) ;;
dlibos12) EAL=(--lcores='(0-2)@(0-1)') RT=(--mode dlibos --net-cores 1 --idle sleep) ;;
*) echo "unknown mode $MODE"; exit 2 ;;
esac

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL ($MODE): $*"
	echo "---- dlibos-kvs output (last 60 lines) ----"
	tail -n 60 "$LOG"
	exit 1
}

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (network namespaces, TAP)"
	exit 77
fi
for tool in ip memccapable memcaslap timeout; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing (scripts/deps.sh)"; exit 77; }
done

ip netns add "$NS" || fail "cannot create namespace $NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$NS" ip link set lo up

# ip netns exec execs the program: $! is the server's own PID.
ip netns exec "$NS" "$BIN" "${EAL[@]}" --no-huge -m 512 --file-prefix "$PREFIX" \
	--no-pci --vdev=net_tap0,iface=dl0 -- --ip $IP/24 "${RT[@]}" \
	--port $PORT ${KVS_OPTS:-} >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 150); do
	grep -q "ready:" "$LOG" && break
	kill -0 "$PID" 2>/dev/null || fail "dlibos-kvs exited during start-up"
	sleep 0.2
done
grep -q "ready:" "$LOG" || fail "dlibos-kvs not ready after 30 s"
ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0 || fail "cannot configure dl0"
ip netns exec "$NS" ip link set dl0 up || fail "cannot bring dl0 up"
IN() { ip netns exec "$NS" "$@"; }

# kvs_cmd 'text commands': send them on one connection (then close the
# sending side) and print what came back within 5 s.
kvs_cmd() {
	IN timeout 5 bash -c '
		exec 3<>/dev/tcp/$0/$1 || exit 1
		printf "%b" "$2" >&3
		timeout 2 cat <&3' $IP $PORT "$1"
}

# The first connection may wait for ARP: allow a few tries.
for _ in $(seq 20); do
	kvs_cmd 'version\r\nquit\r\n' 2>/dev/null | grep -q '^VERSION ' && break
	sleep 0.5
done
kvs_cmd 'version\r\nquit\r\n' | grep -q '^VERSION ' || fail "no answer to version"

# SIGTERM, wait for a clean exit (status 0) and the kvs counters.
stop_server() {
	kill -TERM "$PID"
	for _ in $(seq 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$PID" 2>/dev/null && fail "dlibos-kvs still running 20 s after SIGTERM"
	wait "$PID"
	local rc=$?
	PID=
	[ $rc = 0 ] || fail "dlibos-kvs exited with status $rc"
	grep -q "^kvs.curr_items " "$LOG" || fail "no kvs counters at shutdown"
}

# The total of a kvs counter printed at shutdown (0 when not printed).
counter() {
	awk -v c="kvs.$1" '$1 == c {v = $2} END {print v + 0}' "$LOG"
}
