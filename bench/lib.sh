# bench/lib.sh - what the bench/*.sh comparisons share: their namespaces
# and clean-up, a DLibOS server on a TAP interface, a Linux server behind a
# veth pair. Sourced, after setting BENCH (the script's name, for messages)
# and TAG (one letter naming its namespaces and DPDK prefix).
#
# Layout of every comparison:
#   DLibOS server 10.0.0.2/24 in $NSD, on one of two ports (PORT=...):
#     tap  DPDK net_tap; the TAP's kernel side 10.0.0.1/24, where the
#          client runs, is in $NSD too;
#     afp  DPDK net_af_packet on one end of a veth pair; the client is at
#          the other end, 10.0.0.1/24 in $NSE: the same kind of link as
#          the Linux server's below;
#   $NSC  Linux client 10.0.1.1/24 --veth-- $NSS Linux server 10.0.1.2/24.
# dlibos_start sets DCLIENT to the namespace the DLibOS server's client
# runs in. Every veth end gets the same offload settings (veth_offloads).
# Only processes this script started ($PID) are stopped, and every
# namespace it made is deleted on exit, also on failure or Ctrl-C.

WORK=$(mktemp -d "/tmp/dlibos-bench-$BENCH.XXXXXX")
NSD=dlb${TAG}d$$
NSE=dlb${TAG}e$$
NSC=dlb${TAG}c$$
NSS=dlb${TAG}s$$
PREFIX=dlb$TAG$$
VETH_C=v${TAG}c$$
VETH_S=v${TAG}s$$
VETH_D=v${TAG}d$$
VETH_E=v${TAG}e$$
NSW=dlb${TAG}w$$
VETH_W=v${TAG}w$$
VETH_X=v${TAG}x$$
WPID=
DCLIENT=
# Offloads of every veth end: off = MTU-sized frames and checksums in
# software on both sides (what net_af_packet needs: it cannot take frames
# whose checksum the sender left to an offload).
VETH_OFFLOADS=${VETH_OFFLOADS:-off}
PID=
PY=/usr/bin/python3
[ -x $PY ] || PY=python3

bench_cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null # (nginx's master stops its worker)
		for _ in 1 2 3 4 5; do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	wan_stop >/dev/null
	for ns in $NSD $NSE $NSC $NSS $NSW; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "/var/run/dpdk/$PREFIX" "$WORK"
}
trap bench_cleanup EXIT
trap 'exit 1' INT TERM

die() {
	echo "bench/$BENCH.sh: $*" >&2
	[ -f "$WORK/server.log" ] && tail -n 30 "$WORK/server.log" >&2
	exit 1
}

# wait_http NS URL: until URL answers from NS (30 s at most).
wait_http() { # NS URL
	for _ in $(seq 60); do
		ip netns exec "$1" curl -s -m 1 -o /dev/null "$2" && return 0
		sleep 0.5
	done
	die "no answer from $2"
}

# rps NS MASK: every veth end in NS steers its input (the kernel's
# receive work, softirq) to the CPUs in MASK (RPS; e.g. 1 = CPU 0).
rps() {
	local q
	for q in $(ip netns exec "$1" sh -c 'ls -d /sys/class/net/v*/queues/rx-*'); do
		ip netns exec "$1" sh -c "echo $2 > $q/rps_cpus" || die "rps_cpus in $1"
	done
}

# place_kernel_work CLIENT_NS SERVER_NS: RPS=mask for the client's end,
# SRPS=mask for the server's (unset: the kernel's default, where the
# receive work of a veth runs on the CPU that transmitted).
place_kernel_work() {
	[ -n "${RPS:-}" ] && rps "$1" "$RPS"
	[ -n "${SRPS:-}" ] && rps "$2" "$SRPS"
	true
}

# wan_insert NS DEV: when RTT_MS is set (milliseconds, e.g. 10 or 0.5),
# the client's end DEV of the link moves from NS into a namespace of its
# own ($NSW), where bench/wan/dl_wan forwards every frame between it and a
# new veth pair after RTT_MS/2 each way (pinned to CPU 1, the client's);
# the pair's other end takes DEV's address and MAC in NS (the server's ARP
# entry stays right). The client's path then has RTT_MS more round-trip
# time. dl_wan is $DL_WAN, else the build folder's, else build/'s.
wan_insert() {
	local ns=$1 dev=$2 addr mac wan us
	[ -n "${RTT_MS:-}" ] || return 0
	wan=${DL_WAN:-}
	[ -z "$wan" ] && [ -x "${BUILD:-}/bench/wan/dl_wan" ] && wan=$BUILD/bench/wan/dl_wan
	[ -z "$wan" ] && wan=$(dirname "${BASH_SOURCE[0]}")/../build/bench/wan/dl_wan
	[ -x "$wan" ] || die "RTT_MS needs bench/wan/dl_wan (ninja -C build bench/wan/dl_wan, or DL_WAN=...)"
	us=$(awk -v r="$RTT_MS" 'BEGIN { printf "%d", r * 500 }')
	addr=$(ip -n "$ns" -o -4 addr show dev "$dev" | awk '{print $4}')
	mac=$(ip -n "$ns" link show dev "$dev" | awk '/link\/ether/ {print $2}')
	[ -n "$addr" ] && [ -n "$mac" ] || die "wan: no address on $dev in $ns"
	new_ns $NSW
	ip -n "$ns" link set "$dev" netns $NSW || die "wan: cannot move $dev"
	ip link add $VETH_W netns $NSW type veth peer name $VETH_X netns "$ns" || die "wan: veth"
	veth_offloads $NSW "$dev" off
	veth_offloads $NSW $VETH_W off
	veth_offloads "$ns" $VETH_X "$VETH_OFFLOADS"
	ip -n "$ns" link set $VETH_X address "$mac"
	ip -n "$ns" addr add "$addr" dev $VETH_X
	ip -n $NSW link set "$dev" promisc on up
	ip -n $NSW link set $VETH_W promisc on up
	ip -n "$ns" link set $VETH_X up
	ip netns exec $NSW taskset -c 1 "$wan" "$dev" $VETH_W "$us" >"$WORK/wan.log" 2>&1 &
	WPID=$!
	sleep 0.2
	kill -0 $WPID 2>/dev/null || die "dl_wan: $(cat "$WORK/wan.log")"
}

# wan_stop: stop dl_wan (if running), print its counters, remove $NSW.
wan_stop() {
	[ -n "$WPID" ] || return 0
	kill -TERM $WPID 2>/dev/null
	wait $WPID 2>/dev/null
	WPID=
	cat "$WORK/wan.log" 2>/dev/null
	ip netns del $NSW 2>/dev/null
	true
}

# set_loss NS SERVER_IP PER10000: the client namespace NS drops that share
# of the server's frames on input (nft; 0: the rule goes).
set_loss() {
	ip netns exec "$1" nft delete table inet dlbloss 2>/dev/null
	[ "$3" = 0 ] && return 0
	ip netns exec "$1" nft add table inet dlbloss || die "nft"
	ip netns exec "$1" nft add chain inet dlbloss in '{ type filter hook input priority 0; }'
	ip netns exec "$1" nft add rule inet dlbloss in ip saddr "$2" numgen random mod 10000 \
		'<' "$3" counter drop || die "nft rule"
}

# server_start KIND NAME [dlibos-httpd options]: one server of the quick
# comparisons serving $ROOT: KIND nginx or nginx-cubic (nginx_start, the
# latter with CUBIC on its route) or a build folder (its dlibos-httpd in
# rtc mode on net_af_packet, CPU 0). Sets DCLIENT and SIP (where the
# client runs and what it asks), puts the wide-area path in (wan_insert,
# with RTT_MS), places the kernel work (place_kernel_work) and waits until
# the server answers.
server_start() {
	local kind=$1 name=$2
	shift 2
	case $kind in
	nginx | nginx-cubic)
		veth_up off
		[ "$kind" = nginx-cubic ] && { ip -n $NSS route replace 10.0.1.0/24 dev $VETH_S proto kernel \
			scope link src 10.0.1.2 congctl cubic || die "congctl cubic"; }
		nginx_start
		DCLIENT=$NSC
		SIP=10.0.1.2
		wan_insert $NSC $VETH_C
		place_kernel_work $NSC $NSS
		;;
	*)
		PORT=afp
		dlibos_start "$name" 0 "$kind/examples/httpd/dlibos-httpd" -l 0 -- --mode rtc \
			--root "$ROOT" --port 80 "$@"
		SIP=10.0.0.2
		wan_insert $DCLIENT $VETH_E
		place_kernel_work $DCLIENT $NSD
		;;
	esac
	wait_http $DCLIENT http://$SIP/
}

# server_stop KIND NAME: stop what server_start started and print its TCP
# counters (non-zero): dlibos-httpd's tcp.* lines, nginx's namespace's
# nstat Tcp* lines.
server_stop() {
	case $1 in
	nginx | nginx-cubic)
		kill -QUIT $PID
		wait $PID
		PID=
		ip netns exec $NSS nstat -asz 2>/dev/null | grep -E '^Tcp' | grep -vE '\s0\s' | awk '{print $1, $2}'
		wan_stop
		;;
	*)
		dlibos_stop "$2"
		grep -E '^tcp\.' "$OUT/server-$2.log" | grep -v ' 0$'
		wan_stop
		;;
	esac
}

# bench_require BINARY TOOL...: root, the built binary, the tools, 2 CPUs
# (server and client apart). Sets NCPU.
bench_require() {
	local bin=$1 t
	shift
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces, TAP)"
	[ -x "$bin" ] || die "no $bin (build first: ninja -C ${BUILD:-build})"
	for t in "$@"; do
		command -v "$t" >/dev/null || die "$t missing"
	done
	NCPU=$(nproc)
	[ "$NCPU" -ge 2 ] || die "needs 2 CPUs (server and client apart)"
}

new_ns() {
	ip netns add "$1" || die "cannot create namespace $1"
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$1" ip link set lo up
}

# veth_offloads NS DEV on|off: segmentation (TSO/GSO/GRO) and checksum
# offloads of one veth end.
veth_offloads() {
	ip netns exec "$1" ethtool -K "$2" tso "$3" gso "$3" gro "$3" tx "$3" rx "$3" \
		>/dev/null 2>&1 || [ "$3" = on ] || die "ethtool -K $2 failed"
}

# dlibos_start NAME CPUS BINARY [EAL args] -- [application args]: start a
# DLibOS server in $NSD on the port $PORT (tap or afp; pinned to CPUS,
# 1 GiB without hugepages), wait for its "ready:" line and bring the
# client's side of the link up.
dlibos_start() {
	local name=$1 cpus=$2 bin=$3 eal=() vdev
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		eal+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	new_ns $NSD
	case ${PORT:-tap} in
	tap)
		vdev=net_tap0,iface=dl0
		DCLIENT=$NSD
		;;
	afp)
		new_ns $NSE
		ip link add $VETH_D netns $NSD type veth peer name $VETH_E netns $NSE
		veth_offloads $NSD $VETH_D "$VETH_OFFLOADS"
		veth_offloads $NSE $VETH_E "$VETH_OFFLOADS"
		ip -n $NSD link set $VETH_D up
		ip -n $NSE addr add 10.0.0.1/24 dev $VETH_E
		ip -n $NSE link set $VETH_E up
		# A ring of 4096 frames: the default 512 overflows under load
		# (frames lost before DPDK sees them, tail latency of an RTO).
		# AFP_FRAMECNT=N for another size (experiments).
		vdev=net_af_packet0,iface=$VETH_D,framecnt=${AFP_FRAMECNT:-4096}
		DCLIENT=$NSE
		;;
	*) die "PORT=${PORT}: tap or afp" ;;
	esac
	ip netns exec $NSD taskset -c "$cpus" "$bin" "${eal[@]}" --no-huge -m 1024 \
		--file-prefix $PREFIX --no-pci --vdev=$vdev -- --ip 10.0.0.2/24 "$@" \
		>"$WORK/server.log" 2>&1 &
	PID=$!
	for _ in $(seq 150); do
		grep -q "ready:" "$WORK/server.log" && break
		kill -0 $PID 2>/dev/null || die "$name exited during start-up"
		sleep 0.2
	done
	if [ "${PORT:-tap}" = tap ]; then
		ip netns exec $NSD ip addr add 10.0.0.1/24 dev dl0
		ip netns exec $NSD ip link set dl0 up
	fi
}

# dlibos_stop NAME: SIGTERM, keep its log as $OUT/server-NAME.log, remove
# its namespaces.
dlibos_stop() {
	kill -TERM $PID
	wait $PID
	PID=
	cp "$WORK/server.log" "$OUT/server-$1.log"
	ip netns del $NSD
	ip netns del $NSE 2>/dev/null
	true
}

# dlibos_runs: the DLibOS rows of a comparison, through the script's
# run_dlibos NAME CPUS [EAL args] (runtime args in RT, port in PORT):
# dlibos-rtc and dlibos-1+1 on a veth pair like the Linux server's
# (net_af_packet), dlibos-rtc-tap on a TAP (net_tap). dlibos-1+1 gets a CPU
# of its own for its second core when the machine has 3 or more, else
# both threads share CPU 0 with the sleep idle policy.
dlibos_runs() {
	PORT=afp
	RT=(--mode rtc)
	run_dlibos dlibos-rtc 0 -l 0
	if [ "$NCPU" -ge 3 ]; then
		RT=(--mode dlibos --net-cores 1)
		run_dlibos dlibos-1+1 0,2 --lcores='0@0,1@2'
	else
		RT=(--mode dlibos --net-cores 1 --idle sleep)
		run_dlibos dlibos-1+1 0 --lcores='(0-1)@0'
	fi
	PORT=tap
	RT=(--mode rtc)
	run_dlibos dlibos-rtc-tap 0 -l 0
}

# veth_up [on|off]: $NSC and $NSS joined by a veth pair ($VETH_C, $VETH_S)
# with the offloads given (default $VETH_OFFLOADS).
veth_up() {
	local offl=${1:-$VETH_OFFLOADS}
	new_ns $NSC
	new_ns $NSS
	ip link add $VETH_C netns $NSC type veth peer name $VETH_S netns $NSS
	veth_offloads $NSC $VETH_C "$offl"
	veth_offloads $NSS $VETH_S "$offl"
	ip -n $NSC addr add 10.0.1.1/24 dev $VETH_C
	ip -n $NSS addr add 10.0.1.2/24 dev $VETH_S
	ip -n $NSC link set $VETH_C up
	ip -n $NSS link set $VETH_S up
}

veth_down() {
	ip netns del $NSC
	ip netns del $NSS
}

# machine_lines: the machine description every report starts with.
machine_lines() {
	echo "nproc $NCPU"
	grep -m1 'model name' /proc/cpuinfo
	echo "kernel $(uname -r)"
	echo "links: veth pairs with offloads $VETH_OFFLOADS on every end (the -offl rows: on);" \
		"DLibOS on net_af_packet (framecnt=${AFP_FRAMECNT:-4096}) or, in the -tap rows, net_tap"
}

# nginx_start - nginx (1 worker on CPU 0, sendfile, keepalive) serving
# $ROOT on 10.0.1.2:80 in $NSS, the server of the Linux rows; sets PID and
# waits until it answers from $NSC.
nginx_start() {
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	tcp_nodelay on;
	keepalive_timeout 65;
	keepalive_requests 1000000;
	default_type application/octet-stream;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	server {
		listen 10.0.1.2:80 backlog=4096;
		root $ROOT;
		location / { }
	}
}
EOF
	ip netns exec $NSS taskset -c 0 nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" \
		>"$WORK/server.log" 2>&1 &
	PID=$!
	wait_http $NSC http://10.0.1.2/
}
