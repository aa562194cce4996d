# lib.sh - the one harness of the integration tests that run a DLibOS
# program inside a network namespace of their own, over a TAP interface,
# against real Linux clients. Source it, then:
#
#     dl_need TOOL...               # skip (77) unless every tool is there
#     dl_mode MODE                  # DL_EAL / DL_RT for rtc|dlibos11|dlibos12
#     dl_init NAME                  # namespace dl<NAME><pid>, traps, log file,
#                                   # work folder $DL_WORK
#     dl_start BIN "EAL args" "app args"   # start, wait for "ready:", TAP up
#     dl_in_ns CMD...               # run a client inside the namespace
#     dl_stop                       # SIGTERM, expect exit 0, keep the log
#     dl_dump                       # SIGUSR1: a counter dump now (running)
#     dl_counter MODULE.NAME        # a counter from the last dump
#     dl_fail "what went wrong"     # print the program's output and exit 1
#
# Programs started with dl_start print every counter at exit (--stats-all),
# zeros included, so dl_counter can tell a zero from a counter that is not
# there: a missing counter (renamed, or no dump at all) fails the test at
# once, where returning 0 would let a "must be 0" check pass.
#
# The kernel side of the TAP is 10.0.0.1/24, the runtime 10.0.0.2/24 (DL_IP).
# With DL_PORT=afp the runtime uses DPDK's net_af_packet on one end of a
# veth pair instead, in a second namespace (<name>s); the other end, named
# dl0 and 10.0.0.1/24 as the TAP would be, is in the test's namespace, so
# dl_in_ns and everything else stay the same. Every DPDK start passes
# --no-pci and a private --file-prefix. With DL_PORT=mde the program is a
# TILE-Gx build on the MDE model (-Dtarget=tilegx -Dmde=model): its mPIPE
# link's wire is the TAP (-a tap:dl0 instead of --no-pci --vdev), huge
# pages come from the model's tmc_alloc (no --no-huge), and MDE_MODEL_FATAL
# makes any misuse of the modelled hardware abort the program (so the test
# fails). Cleanup on every exit path: the started program (by PID) and the
# namespaces go away.

DL_IP=10.0.0.2
DL_PID=
DL_NS=
DL_PREFIX=
DL_LOG=
DL_SNS=
DL_WORK=
DL_PORT=${DL_PORT:-tap}
DL_MAIN_PID=$$ # the test's shell ($$ is the same in every subshell)

# dl_need TOOL...: skip the test (exit 77) unless every tool is installed.
dl_need() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null ||
			{ echo "SKIP: $tool missing (scripts/deps.sh)"; exit 77; }
	done
}

# dl_mode MODE: the EAL and runtime arguments of the modes the tests run
# (DL_EAL, DL_RT, as strings for dl_start):
#   rtc       one lcore, run to completion
#   dlibos11  1 network + 1 application core
#   dlibos12  1 network + 2 application cores on 2 CPUs (oversubscribed)
#   dlibos22  2 network + 2 application cores on 2 CPUs (oversubscribed)
# With DL_PORT=mde the lcores are the model's tiles, one thread each, given
# as a plain list (the TILE-Gx platform refuses DPDK's (a-b)@(c-d) maps; the
# model's tiles share the host's CPUs anyway).
dl_mode() {
	DL_MODE=$1
	case $1 in
	rtc) DL_EAL="-l 0" DL_RT="--mode rtc --idle sleep" ;;
	dlibos11) DL_EAL="-l 0-1" DL_RT="--mode dlibos --net-cores 1 --idle sleep" ;;
	dlibos12) DL_EAL="--lcores=(0-2)@(0-1)" DL_RT="--mode dlibos --net-cores 1 --idle sleep" ;;
	dlibos22) DL_EAL="--lcores=(0-3)@(0-1)" DL_RT="--mode dlibos --net-cores 2 --idle sleep" ;;
	*) echo "unknown mode $1 (rtc|dlibos11|dlibos12|dlibos22)"; exit 2 ;;
	esac
	if [ "$DL_PORT" = mde ]; then
		DL_EAL=$(echo "$DL_EAL" | sed -E 's/^--lcores=\(([0-9]+-[0-9]+)\)@\([0-9-]+\)$/-l \1/')
	fi
}

dl_cleanup() {
	if [ -n "$DL_PID" ] && kill -0 "$DL_PID" 2>/dev/null; then
		kill -KILL "$DL_PID" 2>/dev/null
		wait "$DL_PID" 2>/dev/null
	fi
	[ -n "$DL_NS" ] && ip netns del "$DL_NS" 2>/dev/null
	[ -n "$DL_SNS" ] && ip netns del "$DL_SNS" 2>/dev/null
	[ -n "$DL_PREFIX" ] && rm -rf "/var/run/dpdk/$DL_PREFIX"
	[ -n "$DL_LOG" ] && rm -f "$DL_LOG"
	[ -n "$DL_WORK" ] && rm -rf "$DL_WORK"
	return 0
}

dl_fail() {
	echo "FAIL: $*"
	if [ -n "$DL_LOG" ] && [ -f "$DL_LOG" ]; then
		echo "---- program output (last 80 lines) ----"
		tail -n 80 "$DL_LOG"
	fi
	exit 1
}

# dl_init NAME: root check, namespace, traps.
dl_init() {
	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: needs root (network namespaces, TAP)"
		exit 77
	fi
	DL_NS="dl$1$$"
	DL_PREFIX="dl$1$$"
	DL_LOG=$(mktemp "/tmp/dlibos-$1.XXXXXX")
	DL_WORK=$(mktemp -d "/tmp/dlibos-$1-work.XXXXXX")
	trap dl_cleanup EXIT
	trap 'exit 1' INT TERM
	ip netns add "$DL_NS" || dl_fail "cannot create namespace $DL_NS"
	ip netns exec "$DL_NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$DL_NS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip netns exec "$DL_NS" ip link set lo up
}

dl_in_ns() {
	ip netns exec "$DL_NS" "$@"
}

# dl_afp_link: the veth pair of DL_PORT=afp (once per test): vd in the
# server's namespace, dl0 in the test's; no offloads on either end
# (net_af_packet cannot take frames whose checksum was left to one).
dl_afp_link() {
	local ns dev
	[ -n "$DL_SNS" ] && return 0
	DL_SNS="${DL_NS}s"
	ip netns add "$DL_SNS" || dl_fail "cannot create namespace $DL_SNS"
	ip netns exec "$DL_SNS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip netns exec "$DL_SNS" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
	ip link add vd netns "$DL_SNS" type veth peer name dl0 netns "$DL_NS" ||
		dl_fail "cannot create the veth pair"
	for ns in "$DL_SNS" "$DL_NS"; do
		dev=dl0
		[ "$ns" = "$DL_SNS" ] && dev=vd
		ip netns exec "$ns" ethtool -K $dev tso off gso off gro off tx off rx off \
			>/dev/null 2>&1 || dl_fail "ethtool -K $dev failed"
	done
	ip netns exec "$DL_SNS" ip link set vd up
}

# dl_start BIN "EAL args" "app args": start BIN in the namespace on a fresh
# TAP (dl0), or on the veth pair with DL_PORT=afp, wait until it is ready,
# bring the kernel side up.
dl_start() {
	local bin=$1 eal=$2 app=$3 ns=$DL_NS vdev=net_tap0,iface=dl0 port
	: >"$DL_LOG"
	if [ "$DL_PORT" = afp ]; then
		dl_afp_link
		ns=$DL_SNS
		vdev=net_af_packet0,iface=vd,framecnt=4096
	fi
	port="--no-huge -m 512 --file-prefix $DL_PREFIX --no-pci --vdev=$vdev"
	[ "$DL_PORT" = mde ] && port="-m 512 --file-prefix $DL_PREFIX -a tap:dl0"
	# ip netns exec and env both exec: $! is the program's own PID.
	# shellcheck disable=SC2086 # word splitting of the argument strings is wanted
	ip netns exec "$ns" env MDE_MODEL_FATAL=1 "$bin" $eal $port \
		-- --ip "$DL_IP/24" --stats-all $app >"$DL_LOG" 2>&1 &
	DL_PID=$!
	for _ in $(seq 150); do
		grep -q "ready:" "$DL_LOG" && break
		kill -0 "$DL_PID" 2>/dev/null || dl_fail "$bin exited during start-up"
		sleep 0.2
	done
	grep -q "ready:" "$DL_LOG" || dl_fail "$bin not ready after 30 s"
	ip netns exec "$DL_NS" ip addr flush dev dl0 2>/dev/null
	ip netns exec "$DL_NS" ip addr add 10.0.0.1/24 dev dl0 || dl_fail "cannot configure dl0"
	ip netns exec "$DL_NS" ip link set dl0 up || dl_fail "cannot bring dl0 up"
	# The runtime answers ARP: wait until the kernel can reach it.
	for _ in $(seq 50); do
		ip netns exec "$DL_NS" ping -c 1 -W 1 -q "$DL_IP" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	dl_fail "$DL_IP does not answer ping after start"
}

# dl_stop: SIGTERM; the program must exit 0 within 20 s.
dl_stop() {
	local rc
	kill -TERM "$DL_PID" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$DL_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -0 "$DL_PID" 2>/dev/null && dl_fail "still running 20 s after SIGTERM"
	wait "$DL_PID"
	rc=$?
	DL_PID=
	rm -rf "/var/run/dpdk/$DL_PREFIX"
	[ "$rc" = 0 ] || dl_fail "exit status $rc after SIGTERM"
}

# dl_dump: ask the running program for a counter dump (SIGUSR1) and wait
# until it is in the log (dl_counter then reads it).
dl_dump() {
	local n
	n=$(grep -c "^--- dlibos counters" "$DL_LOG")
	kill -USR1 "$DL_PID" || dl_fail "cannot signal the program"
	for _ in $(seq 100); do
		[ "$(grep -c "^---$" "$DL_LOG")" -gt "$n" ] && return 0
		sleep 0.1
	done
	dl_fail "no counter dump 10 s after SIGUSR1"
}

# dl_counter MODULE.NAME: the counter's value in the last counter dump of
# the log (dl_stop's at exit, or one asked for with SIGUSR1). When the log
# has no dump or the dump no such counter, the test fails at once (the
# failure reaches the test's shell even from inside $(...)).
dl_counter() {
	local v
	v=$(awk -v c="$1" '
		/^--- dlibos counters/ { dump = 1; v = ""; next }
		dump && $1 == c { v = $2 }
		END { print v }' "$DL_LOG")
	if [ -z "$v" ]; then
		echo "FAIL: counter $1 is not in the program's counter dump" \
			"(renamed, or no dump printed)" >&2
		tail -n 40 "$DL_LOG" >&2
		kill -TERM "$DL_MAIN_PID"
		exit 1
	fi
	echo "$v"
}
