# protected_common.sh - shared helpers of the protected-mode integration
# tests (protected_*.sh). Source it after lib.sh:
#
#     prot_init NAME                    # lib.sh's dl_init, a work folder, traps
#     prot_service "EAL args" "opts"    # start dlibosd (--ctl $CTL) in the namespace
#     prot_app NAME BIN ARGS...         # start an attached application, wait "ready:"
#     prot_stop_app NAME                # SIGTERM, expect exit 0
#     prot_wait_exit NAME               # wait for it to end, status in PROT_RC
#     prot_slot_released N              # wait until the service released N slots
#
# The service runs in the test's namespace (it creates the TAP there);
# attached applications run outside it: they only need the control
# socket ($CTL, in a private folder). The TCP clients run in the
# namespace (dl_in_ns). Every process is stopped by PID on every exit
# path, then lib.sh removes the namespace.

declare -A PROT_PID
PROT_RC=
PROT_WORK=
CTL=

prot_cleanup() {
	for name in "${!PROT_PID[@]}"; do
		local pid=${PROT_PID[$name]}
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
		fi
	done
	dl_cleanup
	[ -n "$PROT_WORK" ] && rm -rf "$PROT_WORK"
	return 0
}

prot_fail() {
	for name in "${!PROT_PID[@]}"; do
		echo "---- $name output (last 30 lines) ----"
		tail -n 30 "$PROT_WORK/$name.log" 2>/dev/null
	done
	dl_fail "$@"
}

prot_init() {
	dl_init "$1"
	PROT_WORK=$(mktemp -d "/tmp/dlibos-prot-$1.XXXXXX")
	CTL=$PROT_WORK/run/ctl.sock
	trap prot_cleanup EXIT
}

# prot_service "EAL args" "dlibosd options"
prot_service() {
	dl_start "$DLIBOSD" "$1" "--idle sleep --ctl $CTL $2"
	[ -S "$CTL" ] || dl_fail "no control socket at $CTL"
	local mode
	mode=$(stat -c %a "$CTL")
	[ "$mode" = 660 ] || dl_fail "control socket mode $mode, want 660"
}

# prot_app NAME BIN ARGS...: attach BIN to the service; wait until ready.
prot_app() {
	local name=$1 bin=$2
	shift 2
	"$bin" --attach "$CTL" --idle sleep "$@" >"$PROT_WORK/$name.log" 2>&1 &
	PROT_PID[$name]=$!
	for _ in $(seq 100); do
		grep -q "ready:" "$PROT_WORK/$name.log" && return 0
		kill -0 "${PROT_PID[$name]}" 2>/dev/null || prot_fail "$name exited during start-up"
		sleep 0.1
	done
	prot_fail "$name not ready after 10 s"
}

# prot_wait_exit NAME [SECONDS]: wait for the application to end; its
# status in PROT_RC ("timeout" if it did not end). Not in a subshell: only
# this shell can wait for its children.
prot_wait_exit() {
	local pid=${PROT_PID[$1]}
	PROT_RC=timeout
	for _ in $(seq $((${2:-20} * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && return
	wait "$pid"
	PROT_RC=$?
	PROT_PID[$1]=
}

# prot_stop_app NAME: SIGTERM, exit status 0 within 20 s.
prot_stop_app() {
	kill -TERM "${PROT_PID[$1]}" 2>/dev/null
	prot_wait_exit "$1" 20
	[ "$PROT_RC" = 0 ] || prot_fail "$1: exit status $PROT_RC after SIGTERM"
}

# prot_slot_released N: the service's log shows N released slots (10 s).
prot_slot_released() {
	for _ in $(seq 100); do
		[ "$(grep -c ': released (' "$DL_LOG")" -ge "$1" ] && return 0
		sleep 0.1
	done
	prot_fail "the service did not release $1 slot(s)"
}

# prot_counter MODULE.NAME: the service's final counter (after dl_stop).
prot_counter() {
	dl_counter "$1"
}
