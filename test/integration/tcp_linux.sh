#!/bin/bash
# tcp_linux.sh HTTPD ECHO CLIENT MODE VARIANT - the DLibOS TCP stack against
# real Linux peers over TAP (issue 4, "Against Linux over TAP").
#
#   MODE     rtc       one lcore runs driver, stack and application
#            dlibos11  --lcores=(0-1)@(0-1) --mode dlibos --net-cores 1
#   VARIANT  clean     no fault injection
#            impair    --impair loss=0.01,reorder=0.01,dup=0.005 (both
#                      directions, below the stack: Linux sees the loss too)
#
# In a namespace of its own, with a random file of TCP_LINUX_MB MiB (default
# 256; TCP_LINUX_IMPAIR_MB overrides it for the impair variant):
#   1. download: dlibos-httpd serves the file, curl fetches it; the sha256
#      of what curl received must equal the file's;
#   2. upload + download: socat pipes the file into dlibos-echo and the echo
#      out to sha256sum: an equal hash proves the server received every byte
#      exactly (it echoes what it got) and that we sent it back exactly;
#   3. 1,000 concurrent connections to dlibos-echo (echo_client.py: 20 KB
#      each, random write sizes, every echo checked byte for byte), held
#      open together until all are done: the stack must count all 1,000
#      live at once (tcp.conn_established - tcp.conn_released), then they
#      close;
# and after each program: every connection opened was released by the stack
# (tcp.conn_released = tcp.conn_established, waited for with SIGUSR1 dumps
# since the last ACK of a passive close may need a retransmission), none
# was left for the stop to abort (tcp.conn_aborted = 0), every connection
# was offered to the application (engine.connections_dispatched), no
# checksum error on either side (tcp.drop_bad_checksum, the namespace's
# TcpInCsumErrors), no Linux segment judged out of window and no ACK judged
# beyond what we sent (tcp.drop_out_of_window, tcp.drop_ack_of_unsent_data:
# Linux is a correct peer), and the program exits 0 on SIGTERM.
# Every client runs under `timeout`; durations and rates are printed.
# Needs root, curl, socat and python3; exits 77 (skipped) otherwise.
set -u
HTTPD=${1:?usage: tcp_linux.sh HTTPD ECHO CLIENT rtc|dlibos11 clean|impair}
ECHO=${2:?usage: tcp_linux.sh HTTPD ECHO CLIENT rtc|dlibos11 clean|impair}
CLIENT=${3:?usage: tcp_linux.sh HTTPD ECHO CLIENT rtc|dlibos11 clean|impair}
MODE=${4:?usage: tcp_linux.sh HTTPD ECHO CLIENT rtc|dlibos11 clean|impair}
VARIANT=${5:?usage: tcp_linux.sh HTTPD ECHO CLIENT rtc|dlibos11 clean|impair}
PY=/usr/bin/python3
CONNS=1000
CONN_BYTES=20000

. "$(dirname "$0")/lib.sh"
dl_need curl socat sha256sum "$PY"

case $MODE in
rtc) EAL="-l 0" APP="--mode rtc" ;;
dlibos11) EAL="--lcores=(0-1)@(0-1)" APP="--mode dlibos --net-cores 1" ;;
*) echo "unknown mode $MODE"; exit 2 ;;
esac
# TILE-Gx (DL_PORT=mde): one core per tile, no lcore-to-cpu maps.
[ "${DL_PORT:-}" = mde ] && [ "$MODE" = dlibos11 ] && EAL="-l 0-1"
MB=${TCP_LINUX_MB:-256}
case $VARIANT in
clean) ;;
impair)
	APP="$APP --impair loss=0.01,reorder=0.01,dup=0.005"
	MB=${TCP_LINUX_IMPAIR_MB:-$MB}
	;;
*) echo "unknown variant $VARIANT"; exit 2 ;;
esac

dl_init "tl$MODE${VARIANT:0:1}"
WORK=$(mktemp -d /tmp/dlibos-tcplinux.XXXXXX)
trap 'dl_cleanup; rm -rf "$WORK"' EXIT
BYTES=$((MB << 20))

# Seconds since $1 (date +%s.%N), and MB/s for $2 bytes over that time.
elapsed() { echo "$(date +%s.%N) - $1" | bc; }
rate() { echo "scale=1; $1 / 1048576 / $2" | bc; }

# last_dump: the lines of the last counter dump in the log.
last_dump() {
	awk '/^--- dlibos counters/ {n = 0; delete l} {l[n++] = $0} END {for (i = 0; i < n; i++) print l[i]}' "$DL_LOG"
}

# wait_released N: every one of N connections established and released
# (passive closes wait for the ACK of our FIN), within 60 s.
wait_released() {
	local want=$1 est rel
	for _ in $(seq 60); do
		dl_dump
		est=$(dl_counter tcp.conn_established)
		rel=$(dl_counter tcp.conn_released)
		[ "$est" -ge "$want" ] && [ "$rel" = "$est" ] && return 0
		sleep 1
	done
	dl_fail "connections established $est (want >= $want), released $rel, 60 s after the clients"
}

# check_stopped N: after dl_stop, the final counters of a run that had N
# connections.
check_stopped() {
	local want=$1 v
	v=$(dl_counter tcp.conn_aborted)
	[ "$v" = 0 ] || dl_fail "$v connections were still open at stop (tcp.conn_aborted)"
	v=$(dl_counter tcp.conn_established)
	[ "$v" = "$want" ] || dl_fail "tcp.conn_established $v, want $want"
	v=$(dl_counter tcp.conn_released)
	[ "$v" = "$want" ] || dl_fail "tcp.conn_released $v, want $want"
	v=$(dl_counter engine.connections_dispatched)
	[ "$v" = "$want" ] || dl_fail "engine.connections_dispatched $v, want $want"
	v=$(dl_counter tcp.drop_bad_checksum)
	[ "$v" = 0 ] || dl_fail "tcp.drop_bad_checksum $v"
	# A correct peer never sends past the right edge we advertised nor
	# acknowledges what we did not send; the impairment only loses,
	# repeats and reorders segments. Either count means we misjudged one.
	v=$(dl_counter tcp.drop_out_of_window)
	[ "$v" = 0 ] || dl_fail "tcp.drop_out_of_window $v: Linux's segments judged out of window"
	v=$(dl_counter tcp.drop_ack_of_unsent_data)
	[ "$v" = 0 ] || dl_fail "tcp.drop_ack_of_unsent_data $v: Linux's ACKs judged beyond SND.MAX"
	if [ "${DL_PORT:-}" = mde ]; then
		# TILE-Gx: the application's TX memory is registered huge pages,
		# its payloads go out by reference (mPIPE gather), never copied.
		v=$(dl_counter mpipe.tx_unregistered_fragment_copies)
		[ "$v" = 0 ] || dl_fail "mpipe.tx_unregistered_fragment_copies $v: payloads copied"
		v=$(dl_counter mpipe.tx_payload_refs)
		[ "$v" -gt 0 ] || dl_fail "mpipe.tx_payload_refs $v: no payload sent by reference"
	fi
	v=$(dl_in_ns nstat -asz TcpInCsumErrors | awk '/TcpInCsumErrors/ {print $2}')
	[ "${v:-0}" = 0 ] || dl_fail "Linux counted $v TCP checksum errors (TcpInCsumErrors)"
	last_dump | grep -E "^(tcp\.(conn_|rto_exp|fast_retr|tx_retransmit_seg|rx_out_of_order|drop_)|impair\.|engine\.conn|port\.(rx|tx)_(dropped|errors|nombuf))" |
		sed 's/^/    /'
	dl_in_ns nstat -asz TcpRetransSegs TcpExtTCPTimeouts | grep -v '^#' |
		awk '{print "    linux " $1 " " $2}'
	echo "    linux dl0 tx_dropped $DROPS (kernel to TAP: real loss)"
}

# stop: the kernel's TAP drops (dl0 goes away with the program), then stop.
stop() {
	DROPS=$(dl_in_ns ip -s link show dl0 | sed -n '/TX:/{n;p}' | awk '{print $4}')
	dl_stop
}

T0=$(date +%s.%N)
head -c "$BYTES" /dev/urandom >"$WORK/data.bin" || dl_fail "cannot write $MB MiB to $WORK"
WANT=$(sha256sum <"$WORK/data.bin" | cut -d' ' -f1)
echo "== $MODE $VARIANT: $MB MiB file sha256 $WANT"

# 1. Download from dlibos-httpd with curl.
mkdir "$WORK/root" && mv "$WORK/data.bin" "$WORK/root/data.bin"
dl_start "$HTTPD" "$EAL" "$APP --root $WORK/root --port 80"
t=$(date +%s.%N)
got=$(set -o pipefail; timeout 300 ip netns exec "$DL_NS" curl -sS --fail -m 280 -o - \
	"http://$DL_IP/data.bin" | sha256sum | cut -d' ' -f1)
rc=$?
s=$(elapsed "$t")
[ "$rc" = 0 ] || dl_fail "curl download failed (rc $rc) after $s s"
[ "$got" = "$WANT" ] || dl_fail "download: sha256 $got, want $WANT"
echo "ok: download $MB MiB byte-exact (sha256 equal) in $s s, $(rate "$BYTES" "$s") MiB/s"
wait_released 1
stop
check_stopped 1

# 2. Upload and download at once through dlibos-echo with socat.
dl_start "$ECHO" "$EAL" "$APP --port 7 --max-conns 2048 --ring-kb 64"
t=$(date +%s.%N)
got=$(set -o pipefail; timeout 300 ip netns exec "$DL_NS" socat -b 65536 -T 60 -t 120 \
	"TCP:$DL_IP:7" STDIO <"$WORK/root/data.bin" | sha256sum | cut -d' ' -f1)
rc=$?
s=$(elapsed "$t")
[ "$rc" = 0 ] || dl_fail "socat failed (rc $rc) after $s s"
[ "$got" = "$WANT" ] || dl_fail "echo: sha256 of the echo $got, want $WANT"
echo "ok: upload + echo $MB MiB each way byte-exact (sha256 equal) in $s s," \
	"$(rate "$BYTES" "$s") MiB/s each way"

# 3. 1,000 concurrent connections: all opened and used (echo checked), held
#    open together while the stack's counters show them all live, then closed.
t=$(date +%s.%N)
timeout 300 ip netns exec "$DL_NS" "$PY" "$CLIENT" "$DL_IP" 7 --conns $CONNS \
	--bytes $CONN_BYTES --timeout 200 --hold 2 >"$WORK/conns.out" 2>&1 &
cpid=$!
for _ in $(seq 2500); do
	grep -q "^holding" "$WORK/conns.out" && break
	kill -0 $cpid 2>/dev/null || break
	sleep 0.1
done
grep -q "^holding $CONNS open" "$WORK/conns.out" ||
	{ kill $cpid 2>/dev/null; dl_fail "$CONNS connections not all open at once: $(cat "$WORK/conns.out")"; }
s=$(elapsed "$t")
dl_dump
live=$(($(dl_counter tcp.conn_established) - $(dl_counter tcp.conn_released)))
[ "$live" -ge $CONNS ] ||
	{ kill $cpid 2>/dev/null; dl_fail "only $live connections live in the stack while $CONNS are held open"; }
wait $cpid
rc=$?
out=$(tail -n 1 "$WORK/conns.out")
echo "    $out"
[ "$rc" = 0 ] || dl_fail "echo_client.py --conns $CONNS failed (rc $rc): $(cat "$WORK/conns.out")"
echo "ok: $CONNS concurrent connections, $CONN_BYTES bytes echoed byte-exact on each" \
	"in $s s, all $live live in the stack at once"
wait_released $((CONNS + 1))
stop
check_stopped $((CONNS + 1))
echo "PASS: $MODE $VARIANT ($MB MiB each way, $CONNS connections) in $(elapsed "$T0") s"
