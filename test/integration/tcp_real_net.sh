#!/bin/bash
# tcp_real_net.sh BUILD_DIR VARIANT - the DLibOS TCP stack against the Linux
# kernel's TCP (SACK on) on links that lose, with ICMP errors and hostile
# peers (issue 15), in network namespaces of its own, over TAP (lib.sh).
#
#   loss       the client (socat, Linux TCP with SACK) sits in a namespace
#              behind the test's, which routes between it and the TAP; an
#              nft rule in the router's forward chain drops 2% of the
#              frames each way, after the sending stack let them go (a drop
#              in a sender's own output hook is an error its TCP sees, not
#              a loss); 64 MiB echoed through dlibos-echo, sha256 equal
#              both ways; both stacks must have recovered with SACK
#              (tcp.sack_recoveries, tcp.rx_sack_blocks, tcp.tx_sack_blocks,
#              Linux's TcpExtTCPSackRecovery).
#   loss-bbr   the same with --tcp cc=bbr (the model-based congestion
#              control: its window must survive 2% random loss; byte-exact,
#              SACK recoveries both ways, tcp.cc_bbr_connections = 1).
#   sackblock  a scapy peer leaves a hole in what it sends: our ACK must
#              carry exactly the SACK block of the data past the hole, and
#              none once the hole is filled (tcp_real_net.py sackblock).
#   tail       dlibos-httpd serves an 8-segment file; nft drops the first
#              segment with PSH, the last of the response, once: curl gets
#              the file byte-exact, completed by a loss probe, no RTO
#              (tcp.tlp_probes >= 1, tcp.rto_expirations = 0).
#   icmp       the kernel namespace routes to a client namespace over a
#              link of MTU 1200: dlibos-httpd's full-sized segments draw
#              fragmentation-needed from Linux; the 4 MiB download must be
#              byte-exact, tcp.pmtu_reductions >= 1, and tcpdump on the
#              kernel side must see the segments shrink. Then connects that
#              Linux refuses with ICMP (nft reject: port unreachable;
#              host unreachable for a routed address) fail at once with
#              ECONNREFUSED / EHOSTUNREACH and no SYN retransmission
#              (tcp_connect_check).
#   pacing     BBR downloads 16 MiB through a 100 Mbit/s tbf with a 100 KB
#              queue (the client namespace behind the router's rt0) at 10
#              ms of RTT (--impair delay_us=5000), paced (--tcp pacing=bbr)
#              and unpaced: byte-exact both; paced, the bottleneck drops
#              less than a third of what it drops unpaced, the download is
#              no slower, tcp.pacing_waits > 0 (0 unpaced).
#   ecn        the kernel's TCP asks for ECN (net.ipv4.tcp_ecn=1 in the
#              client namespace) and dlibos-echo accepts (the default); the
#              router marks 2% of the ECN-capable packets CE each way with
#              nft (an AQM that marks instead of dropping; this kernel has
#              no marking qdisc); 16 MiB echoed byte-exact. Both sides'
#              data must go ECT(0), our stack must count CE marks and cut
#              its window for Linux's ECN-Echoes answering with CWR
#              (tcp.ecn_connections, rx_ce_marked, ecn_cwnd_reductions,
#              tx_cwr), and Linux must count our ECN-Echoes
#              (TcpExtTCPDeliveredCE).
#   flood      64 scapy peers each park 40 one-byte out-of-order segments
#              (--rx-bufs 2048: 512 buffers for out-of-order data); a real
#              client is still served, 4 MiB echoed byte-exact, and the
#              counters show the bound at work (tcp.drop_ooo_core_limit or
#              tcp.ooo_evicted_for_fair_share).
# REALNET_TCP=KEY=V,... adds --tcp keys to the loss variants.
# Needs root, python3 with scapy, socat, curl, nft, tcpdump, tc; exits 77
# (skipped) without them.
set -u
BUILD=${1:?usage: tcp_real_net.sh BUILD_DIR loss|loss-bbr|sackblock|tail|icmp|pacing|ecn|flood}
VARIANT=${2:?usage: tcp_real_net.sh BUILD_DIR loss|loss-bbr|sackblock|tail|icmp|pacing|ecn|flood}
HERE=$(cd "$(dirname "$0")" && pwd)
HTTPD=$BUILD/examples/httpd/dlibos-httpd
ECHO=$BUILD/examples/echo/dlibos-echo
CONNECT=$BUILD/test/integration/tcp_connect_check
PY=/usr/bin/python3

for tool in curl socat sha256sum nft tcpdump tc bc "$PY"; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed"; exit 77; }
done
"$PY" -c "import scapy" 2>/dev/null || { echo "SKIP: python3-scapy not installed"; exit 77; }

. "$HERE/lib.sh"
dl_init "rn${VARIANT:0:4}"
WORK=$(mktemp -d /tmp/dlibos-realnet.XXXXXX)
CNS=
cleanup_all() {
	dl_cleanup
	[ -n "$CNS" ] && ip netns del "$CNS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup_all EXIT

elapsed() { echo "$(date +%s.%N) - $1" | bc; }

# dump_counters: SIGUSR1, wait for the whole new dump (ends with "---").
dump_counters() {
	local before
	before=$(grep -c "^---$" "$DL_LOG")
	kill -USR1 "$DL_PID" || dl_fail "SIGUSR1 failed"
	for _ in $(seq 50); do
		[ "$(grep -c "^---$" "$DL_LOG")" -gt "$before" ] && return 0
		sleep 0.1
	done
	dl_fail "no counter dump 5 s after SIGUSR1"
}

show() { # the counters worth printing
	grep -E "^tcp\.(rto_exp|fast_retr|sack_|cc_|bbr_|pac|ecn_|rx_ce|tx_cwr|rx_sack|tx_sack|rx_dsack|tx_dsack|rack_|tlp_|sb_|tx_retransmit_seg|rx_out_of_order|drop_ooo|ooo_ev|icmp_|pmtu|spurious|hystart|cwnd_rest)" "$DL_LOG" |
		awk '{l[$1] = $0} END {for (k in l) print "    " l[k]}' | sort
}

ns_nft() { dl_in_ns nft "$@" || dl_fail "nft $*"; }

# make_data MB: MB MiB of random bytes in $WORK/data.bin, their sha256 in $WANT.
make_data() {
	head -c $(($1 << 20)) /dev/urandom >"$WORK/data.bin"
	WANT=$(sha256sum <"$WORK/data.bin" | cut -d' ' -f1)
}

# echo_data TIMEOUT: $WORK/data.bin through dlibos-echo from the client
# namespace (socat), sha256 equal to $WANT; the seconds it took in $s.
echo_data() {
	local t got rc
	t=$(date +%s.%N)
	got=$(set -o pipefail; timeout "$1" ip netns exec "$CNS" socat -b 65536 -T 60 -t 120 \
		"TCP:$DL_IP:7" STDIO <"$WORK/data.bin" | sha256sum | cut -d' ' -f1)
	rc=$?
	s=$(elapsed "$t")
	[ "$rc" = 0 ] || dl_fail "socat failed (rc $rc) after $s s"
	[ "$got" = "$WANT" ] || dl_fail "echo: sha256 $got, want $WANT"
}

# client_ns MTU: a client namespace behind the test's, which routes
# between it (10.0.1.2, over a veth rt0/cl0 whose router end has MTU
# MTU) and the TAP; no segmentation offloads, so every frame is one segment.
client_ns() {
	CNS="${DL_NS}c"
	ip netns add "$CNS" || dl_fail "cannot create $CNS"
	ip netns exec "$CNS" ip link set lo up
	ip link add rt0 netns "$DL_NS" type veth peer name cl0 netns "$CNS" || dl_fail "veth"
	dl_in_ns ip addr add 10.0.1.1/24 dev rt0
	dl_in_ns ip link set rt0 mtu "$1" up
	ip netns exec "$CNS" ip addr add 10.0.1.2/24 dev cl0
	ip netns exec "$CNS" ip link set cl0 up
	ip netns exec "$CNS" ip route add default via 10.0.1.1
	dl_in_ns ethtool -K rt0 tso off gso off gro off >/dev/null 2>&1
	ip netns exec "$CNS" ethtool -K cl0 tso off gso off gro off >/dev/null 2>&1
	dl_in_ns sysctl -qw net.ipv4.ip_forward=1
}

# The scapy peers' SYN-ACKs reach this namespace's kernel, which knows no
# such sockets: keep its RSTs from killing them.
no_kernel_rst() {
	ns_nft add table inet dlrst
	ns_nft add chain inet dlrst out '{ type filter hook output priority 0; }'
	ns_nft add rule inet dlrst out ip daddr "$DL_IP" tcp flags '&' rst == rst drop
}

case $VARIANT in
loss | loss-bbr)
	MB=${REALNET_MB:-64}
	CC=cubic
	[ "$VARIANT" = loss-bbr ] && CC=bbr
	make_data "$MB"
	client_ns 1500
	dl_start "$ECHO" "-l 0" "--mode rtc --port 7 --ring-kb 256 --gw 10.0.0.1 --tcp cc=$CC${REALNET_TCP:+,$REALNET_TCP}"
	ip netns exec "$CNS" sysctl -qw net.ipv4.tcp_sack=1
	ns_nft add table inet dlloss
	ns_nft add chain inet dlloss forw '{ type filter hook forward priority 0; }'
	ns_nft add rule inet dlloss forw ip saddr "$DL_IP" numgen random mod 1000 '<' 20 counter drop
	ns_nft add rule inet dlloss forw ip daddr "$DL_IP" numgen random mod 1000 '<' 20 counter drop
	ip netns exec "$CNS" nstat -n >/dev/null
	echo_data 300
	echo "ok: $MB MiB each way through 2% loss each way ($CC), byte-exact, in $s s"
	dl_in_ns nft list table inet dlloss | grep -o "counter packets [0-9]*" | sed 's/^/    nft drops: /'
	dump_counters
	show
	ip netns exec "$CNS" nstat -az TcpExtTCPSackRecovery TcpExtTCPSACKReorder TcpRetransSegs \
		TcpExtTCPTimeouts TcpExtTCPLossProbes | grep -v '^#' | awk '{print "    linux " $1 " " $2}'
	for c in sack_recoveries rx_sack_blocks tx_sack_blocks cc_${CC}_connections; do
		v=$(dl_counter tcp.$c)
		[ "$v" -gt 0 ] || dl_fail "tcp.$c is $v: no SACK at work"
	done
	v=$(ip netns exec "$CNS" nstat -az TcpExtTCPSackRecovery | awk '/TcpExtTCPSackRecovery/ {print $2}')
	[ "${v:-0}" -gt 0 ] || dl_fail "Linux did no SACK recovery (TcpExtTCPSackRecovery $v)"
	;;
sackblock)
	dl_start "$ECHO" "-l 0" "--mode rtc --port 7"
	no_kernel_rst
	dl_in_ns "$PY" "$HERE/tcp_real_net.py" sackblock "$DL_IP" 7 || dl_fail "SACK block check"
	dump_counters
	show
	;;
tail)
	mkdir "$WORK/root"
	# headers + body = 8 segments of 1448 bytes, the last about 300
	head -c 10000 /dev/urandom >"$WORK/root/f.bin"
	dl_start "$HTTPD" "-l 0" "--mode rtc --root $WORK/root --port 80"
	ns_nft add table inet dltail
	ns_nft add chain inet dltail in '{ type filter hook input priority 0; }'
	# the first segment with PSH (the last of the response) once: a
	# quota that one segment of at most 1000 bytes fills
	ns_nft add rule inet dltail in ip saddr "$DL_IP" tcp flags '&' psh == psh \
		quota until 1000 bytes counter drop
	t=$(date +%s.%N)
	dl_in_ns curl -sS --fail -m 10 -o "$WORK/got.bin" "http://$DL_IP/f.bin" ||
		dl_fail "curl failed"
	s=$(elapsed "$t")
	cmp -s "$WORK/got.bin" "$WORK/root/f.bin" || dl_fail "the file differs"
	drops=$(dl_in_ns nft list table inet dltail | grep -o "counter packets [0-9]*" | awk '{print $3}')
	echo "ok: 10000-byte file byte-exact in $s s; the last segment dropped $drops time(s)"
	[ "$drops" = 1 ] || dl_fail "nft dropped $drops segments, want 1"
	dump_counters
	show
	[ "$(dl_counter tcp.tlp_probes)" -ge 1 ] || dl_fail "no tail loss probe"
	[ "$(dl_counter tcp.rto_expirations)" = 0 ] || dl_fail "an RTO fired"
	;;
icmp)
	mkdir "$WORK/root"
	head -c $((4 << 20)) /dev/urandom >"$WORK/root/big.bin"
	# client namespace behind the kernel namespace, over a 1200-byte link
	client_ns 1200
	dl_start "$HTTPD" "-l 0" "--mode rtc --root $WORK/root --port 80 --gw 10.0.0.1"
	dl_in_ns tcpdump -nn -i dl0 -w "$WORK/dl0.pcap" "tcp and src host $DL_IP" 2>/dev/null &
	TPID=$!
	sleep 1
	got=$(set -o pipefail; timeout 60 ip netns exec "$CNS" curl -sS --fail -m 50 -o - \
		"http://$DL_IP/big.bin" | sha256sum | cut -d' ' -f1)
	rc=$?
	sleep 0.5
	kill "$TPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	[ "$rc" = 0 ] || dl_fail "curl through the 1200-byte link failed (rc $rc)"
	[ "$got" = "$(sha256sum <"$WORK/root/big.bin" | cut -d' ' -f1)" ] || dl_fail "download differs"
	# IP lengths of our segments, in order: big ones only before the ICMP
	tcpdump -nn -r "$WORK/dl0.pcap" -v 2>/dev/null | grep -o "length [0-9]*)" |
		awk '{print $2+0}' >"$WORK/lens"
	total=$(wc -l <"$WORK/lens")
	big=$(awk '$1 > 1200' "$WORK/lens" | wc -l)
	lastbig=$(awk '$1 > 1200 {n = NR} END {print n + 0}' "$WORK/lens")
	echo "ok: 4 MiB through an MTU-1200 hop byte-exact; tcpdump on dl0: $total segments," \
		"$big over 1200 bytes, the last of them at #$lastbig"
	[ "$big" -ge 1 ] && [ "$lastbig" -lt 100 ] && [ "$total" -gt 3000 ] ||
		dl_fail "segments did not shrink to the path MTU"
	dump_counters
	show
	[ "$(dl_counter tcp.pmtu_reductions)" -ge 1 ] || dl_fail "no path MTU reduction counted"
	dl_stop
	# connects refused by ICMP
	ns_nft add table inet dlrej
	ns_nft add chain inet dlrej in '{ type filter hook input priority 0; }'
	ns_nft add chain inet dlrej forw '{ type filter hook forward priority 0; }'
	ns_nft add rule inet dlrej in ip saddr "$DL_IP" tcp dport 9999 reject with icmp type port-unreachable
	ns_nft add rule inet dlrej forw ip saddr "$DL_IP" ip daddr 10.0.1.99 reject with icmp type host-unreachable
	for target in "10.0.0.1:9999 111" "10.0.1.99:80 113"; do
		set -- $target
		rm -f "$WORK/go"
		dl_start "$CONNECT" "-l 0" "--mode rtc --gw 10.0.0.1 --to $1 --go $WORK/go"
		touch "$WORK/go"
		for _ in $(seq 50); do
			kill -0 "$DL_PID" 2>/dev/null || break
			sleep 0.1
		done
		line=$(grep "^result:" "$DL_LOG")
		echo "    connect $1: $line"
		echo "$line" | grep -q "connect_failed errno $2 " || dl_fail "connect to $1: want errno $2"
		us=$(echo "$line" | sed 's/.*after \([0-9]*\) us.*/\1/')
		wait "$DL_PID"
		DL_PID=
		[ "$(dl_counter tcp.icmp_connects_failed)" = 1 ] || dl_fail "tcp.icmp_connects_failed"
		[ "$(dl_counter tcp.tx_syn_retransmits)" = 0 ] || dl_fail "the SYN was retransmitted"
		[ "$us" -lt 1000000 ] || dl_fail "the connect took $us us"
	done
	echo "PASS: icmp"
	exit 0
	;;
pacing)
	# A bottleneck a BBR window can overfill: the client namespace behind
	# a 100 Mbit/s tbf (the router's rt0, a 100 KB queue), 10 ms of RTT
	# (--impair delay_us=5000 each way, below the stack: enough for the
	# 64 us timer to space packets). BDP 125 KB: unpaced, BBR's window of
	# twice that keeps a BDP queued and the tbf drops; paced it sends at
	# its estimate. 16 MiB each, paced then unpaced, byte-exact.
	mkdir "$WORK/root"
	head -c $((16 << 20)) /dev/urandom >"$WORK/root/big.bin"
	WANT=$(sha256sum <"$WORK/root/big.bin" | cut -d' ' -f1)
	client_ns 1500
	# PACING_RUNS: CC:PACING pairs to measure (docs/tcp.md); the checks
	# need the default two
	for run in ${PACING_RUNS:-bbr:bbr bbr:off}; do
		CC=${run%:*} P=${run#*:}
		dl_start "$HTTPD" "-l 0" "--mode rtc --root $WORK/root --port 80 --gw 10.0.0.1 \
--impair delay_us=5000 --tcp cc=$CC,pacing=$P"
		dl_in_ns tc qdisc replace dev rt0 root tbf rate 100mbit burst 16kb limit 100kb ||
			dl_fail "tc tbf"
		t=$(date +%s.%N)
		got=$(set -o pipefail; timeout 60 ip netns exec "$CNS" curl -sS --fail -m 50 -o - \
			"http://$DL_IP/big.bin" | sha256sum | cut -d' ' -f1)
		rc=$?
		s=$(elapsed "$t")
		[ "$rc" = 0 ] || dl_fail "curl ($run) failed (rc $rc)"
		[ "$got" = "$WANT" ] || dl_fail "download ($run) differs"
		drops=$(dl_in_ns tc -s qdisc show dev rt0 | grep -o "dropped [0-9]*" | awk '{print $2}')
		dl_in_ns tc qdisc del dev rt0 root
		dump_counters
		show
		echo "ok: cc=$CC pacing=$P: 16 MiB byte-exact in $s s, the bottleneck dropped $drops" \
			"packets (tc counts a TSO packet once); pacing waits $(dl_counter tcp.pacing_waits)," \
			"retransmitted $(dl_counter tcp.tx_retransmit_segments) segments," \
			"$(dl_counter tcp.rto_expirations) RTOs"
		eval "drops_$CC$P=$drops waits_$CC$P=$(dl_counter tcp.pacing_waits) s_$CC$P=$s"
		dl_stop
	done
	[ -n "${PACING_RUNS:-}" ] && { echo "PASS: pacing (measured only)"; exit 0; }
	# shellcheck disable=SC2154 # set by eval above
	[ "$waits_bbrbbr" -gt 0 ] || dl_fail "pacing=bbr never waited"
	[ "$waits_bbroff" = 0 ] || dl_fail "pacing=off waited"
	# measured: 140-217 against 3021-4650 drops, 1.6-3.7 against 10.0-18.3 s
	[ $((drops_bbrbbr * 3)) -lt "$drops_bbroff" ] ||
		dl_fail "paced, the bottleneck dropped $drops_bbrbbr packets; unpaced $drops_bbroff"
	[ "$(echo "$s_bbrbbr <= $s_bbroff" | bc)" = 1 ] ||
		dl_fail "paced $s_bbrbbr s, slower than unpaced $s_bbroff s"
	echo "PASS: pacing"
	exit 0
	;;
ecn)
	MB=${REALNET_MB:-16}
	make_data "$MB"
	client_ns 1500
	dl_start "$ECHO" "-l 0" "--mode rtc --port 7 --ring-kb 256 --gw 10.0.0.1${REALNET_TCP:+ --tcp $REALNET_TCP}"
	ip netns exec "$CNS" sysctl -qw net.ipv4.tcp_ecn=1
	ns_nft add table inet dlecn
	ns_nft add chain inet dlecn forw '{ type filter hook forward priority 0; }'
	# counted first (ECT(0) each way), then 2% of them marked CE
	ns_nft add rule inet dlecn forw ip saddr "$DL_IP" ip ecn ect0 counter
	ns_nft add rule inet dlecn forw ip daddr "$DL_IP" ip ecn ect0 counter
	ns_nft add rule inet dlecn forw ip saddr "$DL_IP" ip ecn ect0 numgen random mod 100 '<' 2 \
		ip ecn set ce counter
	ns_nft add rule inet dlecn forw ip daddr "$DL_IP" ip ecn ect0 numgen random mod 100 '<' 2 \
		ip ecn set ce counter
	ip netns exec "$CNS" nstat -n >/dev/null
	echo_data 120
	read -r ect_out ect_in ce_out ce_in < <(dl_in_ns nft list table inet dlecn |
		grep -o "counter packets [0-9]*" | awk '{printf "%s ", $3} END {print ""}')
	echo "ok: $MB MiB each way, byte-exact, in $s s; ECT(0) packets: ours $ect_out," \
		"Linux's $ect_in; marked CE: ours $ce_out, Linux's $ce_in"
	dump_counters
	show
	lce=$(ip netns exec "$CNS" nstat -az TcpExtTCPDeliveredCE | awk '/TcpExtTCPDeliveredCE/ {print $2}')
	echo "    linux TcpExtTCPDeliveredCE ${lce:-0}"
	[ "$ect_out" -gt 0 ] && [ "$ect_in" -gt 0 ] || dl_fail "ECN-capable packets missing one way"
	[ "$ce_out" -gt 0 ] && [ "$ce_in" -gt 0 ] || dl_fail "nothing marked"
	[ "$(dl_counter tcp.ecn_connections)" = 1 ] || dl_fail "ECN not negotiated"
	[ "$(dl_counter tcp.rx_ce_marked)" -gt 0 ] || dl_fail "no CE mark counted"
	[ "$(dl_counter tcp.ecn_cwnd_reductions)" -gt 0 ] || dl_fail "no ECN-Echo acted on"
	[ "$(dl_counter tcp.tx_cwr)" -gt 0 ] || dl_fail "no CWR sent"
	[ "${lce:-0}" -gt 0 ] || dl_fail "Linux saw no ECN-Echo from us (TcpExtTCPDeliveredCE)"
	;;
flood)
	dl_start "$ECHO" "-l 0" "--mode rtc --port 7 --rx-bufs 2048"
	no_kernel_rst
	dl_in_ns "$PY" "$HERE/tcp_real_net.py" flood "$DL_IP" 7 64 40 || dl_fail "flood"
	head -c $((4 << 20)) /dev/urandom >"$WORK/data.bin"
	got=$(set -o pipefail; timeout 120 ip netns exec "$DL_NS" socat -b 65536 -T 30 -t 60 \
		"TCP:$DL_IP:7" STDIO <"$WORK/data.bin" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(sha256sum <"$WORK/data.bin" | cut -d' ' -f1)" ] ||
		dl_fail "a real client was not served during the flood"
	echo "ok: 4 MiB echoed byte-exact while 64 peers hold out-of-order segments"
	dump_counters
	show
	d=$(($(dl_counter tcp.drop_ooo_core_limit) + $(dl_counter tcp.ooo_evicted_for_fair_share)))
	[ "$d" -gt 0 ] || dl_fail "the out-of-order bound never acted"
	;;
*)
	echo "unknown variant $VARIANT"
	exit 2
	;;
esac
dl_stop
echo "PASS: $VARIANT"
