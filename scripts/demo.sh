#!/bin/bash
# demo.sh - the main job on a fresh Debian 12 machine: install what is
# missing, build, then run the DLibOS web server on a DPDK net_tap port in a
# network namespace of its own and fetch pages from it with curl (the Linux
# kernel's TCP talking to DLibOS's TCP). The server runs in dlibos mode: one
# network core (driver + TCP/IP) and one application core (the web server),
# talking only by NoC messages. Everything is removed at the end, also on
# failure or Ctrl-C.
set -euo pipefail

cd "$(dirname "$0")/.."
NS=dlibos-demo
PREFIX=dlibos-demo
LOG=$(mktemp /tmp/dlibos-demo.XXXXXX)
ROOT=$(mktemp -d /tmp/dlibos-demo-root.XXXXXX)
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
	rm -rf "/var/run/dpdk/$PREFIX" "$LOG" "$ROOT"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# Root for the namespace and the TAP: as root as is (a container image has
# no sudo), else again through sudo where there is one.
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null && exec sudo "$0" "$@"
	echo "demo: needs root (network namespace, TAP device): run it as root" >&2
	exit 1
fi

say "Dependencies"
./scripts/deps.sh

say "Build"
[ -f build/build.ninja ] || run meson setup build >/dev/null
run ninja -C build

say "A directory to serve: $ROOT"
cat >"$ROOT/index.html" <<'HTML'
<!doctype html>
<html><head><title>DLibOS</title></head>
<body><h1>Hello from DLibOS</h1>
<p>This page came from a user-level TCP/IP stack on a network core, handed to the web
server on an application core by messages, and sent back without the CPU touching it.</p>
</body></html>
HTML
head -c 4194304 /dev/urandom >"$ROOT/random.bin"
ls -l "$ROOT"

say "Network namespace $NS (IPv6 off to keep the link quiet)"
ip netns del "$NS" 2>/dev/null || true
run ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
run ip netns exec "$NS" ip link set lo up

say "Start dlibos-httpd on net_tap (TAP dl0), 10.0.0.2/24: 1 network core + 1 application core"
CMD=(build/examples/httpd/dlibos-httpd -l 0-1 --no-huge -m 512 --file-prefix "$PREFIX"
	--no-pci --vdev=net_tap0,iface=dl0 -- --ip 10.0.0.2/24 --mode dlibos --net-cores 1
	--root "$ROOT" --port 80)
echo "+ ip netns exec $NS ${CMD[*]}"
ip netns exec "$NS" "${CMD[@]}" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 150); do
	grep -q "ready:" "$LOG" && break
	kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "demo: dlibos-httpd failed to start"; exit 1; }
	sleep 0.2
done
grep -q "ready:" "$LOG" || { cat "$LOG"; echo "demo: dlibos-httpd not ready"; exit 1; }
grep "^dlibos:" "$LOG"

say "Kernel side of the TAP: 10.0.0.1/24"
run ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0
run ip netns exec "$NS" ip link set dl0 up

status=0
say "ping: answered by DLibOS's ICMP"
run ip netns exec "$NS" ping -c 3 -i 0.2 10.0.0.2 || status=1

say "curl: the page, served by DLibOS"
run ip netns exec "$NS" curl -sS --max-time 10 -i http://10.0.0.2/ || status=1

say "curl: a 4 MiB file, byte-exact"
ip netns exec "$NS" curl -sS --max-time 30 -o "$ROOT/downloaded.bin" http://10.0.0.2/random.bin ||
	status=1
want=$(sha256sum <"$ROOT/random.bin" | cut -d' ' -f1)
got=$(sha256sum <"$ROOT/downloaded.bin" 2>/dev/null | cut -d' ' -f1)
echo "sha256 served     $want"
echo "sha256 downloaded $got"
[ "$want" = "$got" ] && echo "identical" || { echo "DIFFERENT"; status=1; }

say "Stop dlibos-httpd (SIGTERM to PID $PID); a few of its counters"
run kill -TERM "$PID"
wait "$PID" || status=1
PID=
grep -E "^(engine\.(events|commands|connections)|noc\.tx_msgs|tcp\.(conn_|rx_payload|tx_payload)|icmp\.tx|httpd)" \
	"$LOG" | head -20 || true

if [ "$status" = 0 ]; then
	say "OK: DLibOS answered ping and served the pages to curl"
else
	say "FAILED: see the output above"
fi
exit "$status"
