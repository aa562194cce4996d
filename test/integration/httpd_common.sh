#!/bin/bash
# httpd_common.sh - sourced by the httpd_*.sh integration tests: parses
# "HTTPD MODE", builds a document root in a temporary folder, starts
# dlibos-httpd in a network namespace of its own over TAP (extra server
# options in HTTPD_OPTS), and removes both on every exit path. Defines
# fail, IN (run in the namespace), stop_server and counter.
#
# MODE: rtc (one lcore), dlibos11 (1 network + 1 application core) or
# dlibos12 (1 network + 2 application cores on 2 CPUs: oversubscribed).

set -u

BIN=${1:?usage: $0 path/to/dlibos-httpd rtc|dlibos11|dlibos12}
MODE=${2:?usage: $0 path/to/dlibos-httpd rtc|dlibos11|dlibos12}
HERE=$(cd "$(dirname "$0")" && pwd)
NS=dlhttpd$$
PREFIX=dlhttpd$$
WORK=$(mktemp -d /tmp/dlibos-httpd.XXXXXX)
LOG=$WORK/server.log
PID=
IP=10.0.0.2

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
	echo "---- dlibos-httpd output (last 60 lines) ----"
	tail -n 60 "$LOG"
	exit 1
}

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (network namespaces, TAP)"
	exit 77
fi
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
for tool in ip curl wrk ab h2load sha256sum; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing (scripts/deps.sh)"; exit 77; }
done

# The document root.
ROOT=$WORK/root
mkdir -p "$ROOT/sub" "$ROOT/sub dir"
printf '<!DOCTYPE html>\n<html><head><title>dlibos-httpd</title></head><body>test</body></html>\n' \
	>"$ROOT/index.html"
printf 'small file\n' >"$ROOT/small.txt"
head -c 102400 /dev/urandom >"$ROOT/100k.bin"
head -c 5242880 /dev/urandom >"$ROOT/5m.bin"
printf 'sub index\n' >"$ROOT/sub/index.html"
printf '<p>space</p>\n' >"$ROOT/sub dir/page.html"

ip netns add "$NS" || fail "cannot create namespace $NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$NS" ip link set lo up

# ip netns exec execs the program: $! is the server's own PID.
ip netns exec "$NS" "$BIN" "${EAL[@]}" --no-huge -m 512 --file-prefix "$PREFIX" \
	--no-pci --vdev=net_tap0,iface=dl0 -- --ip $IP/24 "${RT[@]}" \
	--root "$ROOT" --port 80 ${HTTPD_OPTS:-} >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 150); do
	grep -q "ready:" "$LOG" && break
	kill -0 "$PID" 2>/dev/null || fail "dlibos-httpd exited during start-up"
	sleep 0.2
done
grep -q "ready:" "$LOG" || fail "dlibos-httpd not ready after 30 s"
grep -E "^dlibos: mode|^dlibos:   core|^httpd:" "$LOG"
ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0 || fail "cannot configure dl0"
ip netns exec "$NS" ip link set dl0 up || fail "cannot bring dl0 up"
IN() { ip netns exec "$NS" "$@"; }

# The first connection may wait for ARP: allow a few tries.
for _ in $(seq 20); do
	IN curl -sS -m 2 -o /dev/null "http://$IP/" 2>/dev/null && break
	sleep 0.5
done

# SIGTERM, wait for a clean exit (status 0).
stop_server() {
	kill -TERM "$PID"
	for _ in $(seq 100); do
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$PID" 2>/dev/null && fail "dlibos-httpd still running 20 s after SIGTERM"
	wait "$PID"
	local rc=$?
	PID=
	[ $rc = 0 ] || fail "dlibos-httpd exited with status $rc"
	grep -q "httpd: counters (all app cores)" "$LOG" || fail "no httpd counters at shutdown"
}

# The total of an httpd counter printed at shutdown.
counter() {
	awk -v c="$1" '$1 == "httpd:" && $2 == c {v = $3} END {print v + 0}' "$LOG"
}
