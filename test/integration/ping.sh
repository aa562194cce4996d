#!/bin/bash
# ping.sh DLIBOSD - dlibosd answers ping and ARP from the Linux kernel over a
# TAP interface, then stops cleanly on SIGTERM and prints its counters.
#
# The test creates its own network namespace, starts dlibosd inside it (so
# the TAP is born there), gives the kernel side 10.0.0.1/24, and requires
# 200/200 echo replies (ping -i 0.01) and 5/5 ARP replies (arping). It
# removes the namespace and stops dlibosd (by PID) on every exit path.
# Needs root; exits 77 (skipped) otherwise.
set -u

BIN=${1:?usage: ping.sh path/to/dlibosd}
NS=dlping$$
PREFIX=dlping$$
LOG=$(mktemp /tmp/dlibos-ping.XXXXXX)
PID=

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX"
	rm -f "$LOG"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	echo "---- dlibosd output ----"
	cat "$LOG"
	exit 1
}

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: needs root (network namespaces, TAP)"
	exit 77
fi
for tool in ip ping arping; do
	command -v $tool >/dev/null || { echo "SKIP: $tool missing (scripts/deps.sh)"; exit 77; }
done

ip netns add "$NS" || fail "cannot create namespace $NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
ip netns exec "$NS" ip link set lo up

# ip netns exec execs the program: $! is dlibosd's own PID.
ip netns exec "$NS" "$BIN" -l 0 --no-huge -m 512 --file-prefix "$PREFIX" \
	--no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 --idle sleep >"$LOG" 2>&1 &
PID=$!

for _ in $(seq 150); do
	grep -q "ready:" "$LOG" && break
	kill -0 "$PID" 2>/dev/null || fail "dlibosd exited during start-up"
	sleep 0.2
done
grep -q "ready:" "$LOG" || fail "dlibosd not ready after 30 s"

ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0 || fail "cannot configure dl0"
ip netns exec "$NS" ip link set dl0 up || fail "cannot bring dl0 up"

out=$(ip netns exec "$NS" ping -c 200 -i 0.01 -W 2 -q 10.0.0.2 2>&1)
echo "$out"
echo "$out" | grep -q "200 packets transmitted, 200 received" || fail "ping: not 200/200"

out=$(ip netns exec "$NS" arping -c 5 -w 15 -I dl0 10.0.0.2 2>&1)
echo "$out"
echo "$out" | grep -q "Received 5 response" || fail "arping: not 5 replies"

kill -TERM "$PID"
for _ in $(seq 100); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.2
done
kill -0 "$PID" 2>/dev/null && fail "dlibosd still running 20 s after SIGTERM"
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] || fail "dlibosd exited with status $rc after SIGTERM"

grep -q -- "--- dlibos counters" "$LOG" || fail "no counters printed at exit"
grep -qE "^icmp.tx_echo_reply 200$" "$LOG" || fail "counters: icmp.tx_echo_reply is not 200"
grep -qE "^arp.tx_reply ([5-9]|[1-9][0-9]+)$" "$LOG" || fail "counters: fewer than 5 ARP replies"
echo "---- dlibosd output ----"
cat "$LOG"
echo "PASS"
