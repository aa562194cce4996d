#!/bin/bash
# nic_tx.sh NIC_TX_CHECK - the DPDK backend's transmit paths (inline,
# external-buffer fragments, copied fragments, TSO, hardware and software
# checksums) produce frames the Linux kernel accepts: after nic_tx_check has
# sent its packets over net_tap, the namespace's /proc/net/snmp must show
# exactly the expected UDP, TCP and ICMP arrivals and no checksum or header
# error. Runs once with the port's offloads and once with --no-hw-offload.
# Needs root; exits 77 (skipped) otherwise.
set -u

BIN=${1:?usage: nic_tx.sh path/to/nic_tx_check}
NS=dlnictx$$
PREFIX=dlnictx$$
LOG=$(mktemp /tmp/dlibos-nictx.XXXXXX)
PID=
fifo=

cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$LOG" ${fifo:+"$fifo"}
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	cat "$LOG"
	exit 1
}

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }

# snmp PROTO FIELD: a counter of the namespace's /proc/net/snmp.
snmp() {
	ip netns exec "$NS" awk -v p="$1:" -v f="$2" '
		$1 == p && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == p && h { print $(col[f]); exit }' /proc/net/snmp
}

run_once() {
	local mode=$1 extra=$2
	local mac udp0 tcp0 icmp0 out

	ip netns del "$NS" 2>/dev/null
	ip netns add "$NS" || fail "cannot create namespace"
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$NS" ip link set lo up
	# nic_tx_check opens the port (creating dl0), then waits for a line on
	# stdin before sending: configure dl0 and read the counters meanwhile.
	: >"$LOG" # empty before the start: the "waiting" below must be this run's
	fifo=$(mktemp -u /tmp/dlibos-nictx-fifo.XXXXXX)
	mkfifo "$fifo"
	mac=02:00:00:00:00:01
	ip netns exec "$NS" "$BIN" -l 0 --no-huge -m 512 --file-prefix "$PREFIX" \
		--no-pci --vdev=net_tap0,iface=dl0 -- "$mac" $extra <>"$fifo" >>"$LOG" 2>&1 &
	PID=$!
	for _ in $(seq 150); do
		grep -q "^waiting" "$LOG" && break
		kill -0 "$PID" 2>/dev/null || fail "$mode: nic_tx_check exited early"
		sleep 0.2
	done
	ip netns exec "$NS" ip link set dl0 address "$mac" || fail "$mode: no dl0"
	ip netns exec "$NS" ip addr add 10.0.0.1/24 dev dl0
	ip netns exec "$NS" ip link set dl0 up
	sleep 0.5
	udp0=$(snmp Udp NoPorts)
	tcp0=$(snmp Tcp InSegs)
	icmp0=$(snmp Icmp InEchos)
	echo go >"$fifo"
	wait "$PID" || fail "$mode: nic_tx_check failed"
	PID=
	rm -f "$fifo"
	out=$(grep '^expect ' "$LOG") || fail "$mode: no expectation printed"
	local eu et ei
	eu=$(sed -E 's/.*udp=([0-9]+).*/\1/' <<<"$out")
	et=$(sed -E 's/.*tcp=([0-9]+).*/\1/' <<<"$out")
	ei=$(sed -E 's/.*icmp=([0-9]+).*/\1/' <<<"$out")
	local du dt di
	du=$(($(snmp Udp NoPorts) - udp0))
	dt=$(($(snmp Tcp InSegs) - tcp0))
	di=$(($(snmp Icmp InEchos) - icmp0))
	echo "$mode: kernel saw udp=$du tcp=$dt icmp=$di; $out"
	grep -E '^(caps|mem_register|dpdk\.)' "$LOG"
	[ "$(snmp Udp InCsumErrors)" = 0 ] || fail "$mode: UDP checksum errors"
	local want_tcp_err=0
	[ "$extra" = "--bad-tcp" ] && want_tcp_err=1
	[ "$(snmp Tcp InCsumErrors)" = "$want_tcp_err" ] ||
		fail "$mode: $(snmp Tcp InCsumErrors) TCP checksum errors, expected $want_tcp_err"
	[ "$extra" = "--bad-tcp" ] && { ip netns del "$NS"; return; }
	[ "$(snmp Icmp InCsumErrors)" = 0 ] || fail "$mode: ICMP checksum errors"
	[ "$(snmp Ip InHdrErrors)" = 0 ] || fail "$mode: IPv4 header errors"
	[ "$du" = "$eu" ] || fail "$mode: kernel got $du UDP datagrams, expected $eu"
	[ "$dt" = "$et" ] || fail "$mode: kernel got $dt TCP segments, expected $et"
	[ "$di" = "$ei" ] || fail "$mode: kernel got $di ICMP echo requests, expected $ei"
	ip netns del "$NS"
}

run_once "hardware offloads" ""
run_once "software offloads" "--no-hw-offload"
# Negative control: a segment with a wrong TCP checksum must be counted.
run_once "negative control" "--bad-tcp"
echo PASS
