#!/bin/bash
# demo.sh - the main job: DLibOS answering ping and ARP from Linux.
#
# Installs missing packages, builds, creates a network namespace, starts
# dlibosd inside it on a DPDK net_tap port (so the TAP interface dl0 is born
# in the namespace), gives the kernel side 10.0.0.1/24, pings and arpings
# the runtime at 10.0.0.2, stops it with SIGTERM (by PID) and shows its
# counters. The namespace and the process are removed on every exit path,
# Ctrl-C included. Run as root: sudo ./scripts/demo.sh
set -euo pipefail

cd "$(dirname "$0")/.."
NS=dlibos-demo
PREFIX=dlibos-demo
LOG=$(mktemp /tmp/dlibos-demo.XXXXXX)
PID=

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { echo "+ $*"; "$@"; }

cleanup() {
	set +e
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"
		sleep 1
		kill -KILL "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$LOG"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (network namespace, TAP device): sudo $0" >&2
	exit 1
fi

say "Dependencies"
./scripts/deps.sh

say "Build"
[ -f build/build.ninja ] || run meson setup build >/dev/null
run ninja -C build

say "Network namespace $NS (IPv6 off to keep the link quiet)"
ip netns del "$NS" 2>/dev/null || true
run ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
run ip netns exec "$NS" ip link set lo up

say "Start dlibosd on net_tap (TAP dl0), address 10.0.0.2/24"
echo "+ ip netns exec $NS build/app/dlibosd/dlibosd -l 0 --no-pci --no-huge -m 512" \
	"--file-prefix $PREFIX --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24"
ip netns exec "$NS" build/app/dlibosd/dlibosd -l 0 --no-pci --no-huge -m 512 \
	--file-prefix "$PREFIX" --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 150); do
	grep -q "ready:" "$LOG" && break
	kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "demo: dlibosd failed to start"; exit 1; }
	sleep 0.2
done
grep -q "ready:" "$LOG" || { cat "$LOG"; echo "demo: dlibosd not ready"; exit 1; }
grep "^dlibos:" "$LOG"

say "Kernel side of the TAP: 10.0.0.1/24"
run ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0
run ip netns exec "$NS" ip link set dl0 up

say "ping: the replies come from DLibOS's ICMP"
status=0
run ip netns exec "$NS" ping -c 5 -i 0.2 10.0.0.2 || status=1

say "arping: the replies come from DLibOS's ARP"
run ip netns exec "$NS" arping -c 3 -I dl0 10.0.0.2 || status=1

say "Stop dlibosd (SIGTERM to PID $PID) and show its counters"
run kill -TERM "$PID"
wait "$PID" || status=1
PID=
sed -n '/^dlibos: info: stopped/,$p' "$LOG"

if [ "$status" = 0 ]; then
	say "Done: DLibOS answered ping and ARP; namespace removed"
else
	say "FAILED: see the output above"
fi
exit "$status"
