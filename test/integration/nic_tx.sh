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
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
dl_need ip awk mkfifo
dl_init nictx
fifo=$DL_WORK/go
fail() { dl_fail "$@"; }

# snmp PROTO FIELD: a counter of the namespace's /proc/net/snmp.
snmp() {
	dl_in_ns awk -v p="$1:" -v f="$2" '
		$1 == p && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == p && h { print $(col[f]); exit }' /proc/net/snmp
}

run_once() {
	local mode=$1 extra=$2
	local mac udp0 tcp0 icmp0 ucs0 tcs0 ics0 ihe0 out

	# nic_tx_check opens the port (creating dl0), then waits for a line on
	# stdin before sending: configure dl0 and read the counters meanwhile.
	: >"$DL_LOG" # empty before the start: the "waiting" below must be this run's
	rm -f "$fifo"
	mkfifo "$fifo"
	mac=02:00:00:00:00:01
	ip netns exec "$DL_NS" "$BIN" -l 0 --no-huge -m 512 --file-prefix "$DL_PREFIX" \
		--no-pci --vdev=net_tap0,iface=dl0 -- "$mac" $extra <>"$fifo" >>"$DL_LOG" 2>&1 &
	DL_PID=$!
	for _ in $(seq 150); do
		grep -q "^waiting" "$DL_LOG" && break
		kill -0 "$DL_PID" 2>/dev/null || fail "$mode: nic_tx_check exited early"
		sleep 0.2
	done
	dl_in_ns ip link set dl0 address "$mac" || fail "$mode: no dl0"
	dl_in_ns ip addr add 10.0.0.1/24 dev dl0
	dl_in_ns ip link set dl0 up
	sleep 0.5
	udp0=$(snmp Udp NoPorts)
	tcp0=$(snmp Tcp InSegs)
	icmp0=$(snmp Icmp InEchos)
	ucs0=$(snmp Udp InCsumErrors)
	tcs0=$(snmp Tcp InCsumErrors)
	ics0=$(snmp Icmp InCsumErrors)
	ihe0=$(snmp Ip InHdrErrors)
	echo go >"$fifo"
	wait "$DL_PID" || fail "$mode: nic_tx_check failed"
	DL_PID=
	out=$(grep '^expect ' "$DL_LOG") || fail "$mode: no expectation printed"
	local eu et ei
	eu=$(sed -E 's/.*udp=([0-9]+).*/\1/' <<<"$out")
	et=$(sed -E 's/.*tcp=([0-9]+).*/\1/' <<<"$out")
	ei=$(sed -E 's/.*icmp=([0-9]+).*/\1/' <<<"$out")
	local du dt di
	du=$(($(snmp Udp NoPorts) - udp0))
	dt=$(($(snmp Tcp InSegs) - tcp0))
	di=$(($(snmp Icmp InEchos) - icmp0))
	echo "$mode: kernel saw udp=$du tcp=$dt icmp=$di; $out"
	grep -E '^(caps|mem_register|dpdk\.)' "$DL_LOG"
	[ "$(($(snmp Udp InCsumErrors) - ucs0))" = 0 ] || fail "$mode: UDP checksum errors"
	local want_tcp_err=0 tcp_err
	[ "$extra" = "--bad-tcp" ] && want_tcp_err=1
	tcp_err=$(($(snmp Tcp InCsumErrors) - tcs0))
	[ "$tcp_err" = "$want_tcp_err" ] ||
		fail "$mode: $tcp_err TCP checksum errors, expected $want_tcp_err"
	[ "$extra" = "--bad-tcp" ] && return
	[ "$(($(snmp Icmp InCsumErrors) - ics0))" = 0 ] || fail "$mode: ICMP checksum errors"
	[ "$(($(snmp Ip InHdrErrors) - ihe0))" = 0 ] || fail "$mode: IPv4 header errors"
	[ "$du" = "$eu" ] || fail "$mode: kernel got $du UDP datagrams, expected $eu"
	[ "$dt" = "$et" ] || fail "$mode: kernel got $dt TCP segments, expected $et"
	[ "$di" = "$ei" ] || fail "$mode: kernel got $di ICMP echo requests, expected $ei"
}

run_once "hardware offloads" ""
run_once "software offloads" "--no-hw-offload"
# Negative control: a segment with a wrong TCP checksum must be counted.
run_once "negative control" "--bad-tcp"
echo PASS
