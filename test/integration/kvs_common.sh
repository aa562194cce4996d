#!/bin/bash
# kvs_common.sh - sourced by the kvs_*.sh integration tests, on top of
# lib.sh: parses "KVS MODE", starts dlibos-kvs in the test's network
# namespace over TAP (extra server options in KVS_OPTS) and waits until it
# answers "version". Defines fail, IN (run in the namespace), kvs_cmd (send
# text commands, print the answer), stop_server and counter (a kvs counter
# from the dump at exit); lib.sh removes everything on every exit path.
#
# MODE: rtc, dlibos11 or dlibos12 (lib.sh's dl_mode).

set -u

BIN=${1:?usage: $0 path/to/dlibos-kvs rtc|dlibos11|dlibos12}
MODE=${2:?usage: $0 path/to/dlibos-kvs rtc|dlibos11|dlibos12}
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
PORT=11211

dl_mode "$MODE"
dl_need ip memccapable memcaslap timeout
dl_init kvs
WORK=$DL_WORK
LOG=$DL_LOG
IP=$DL_IP

fail() { dl_fail "($MODE) $*"; }
IN() { dl_in_ns "$@"; }

dl_start "$BIN" "$DL_EAL" "$DL_RT --port $PORT ${KVS_OPTS:-}"
PID=$DL_PID

# kvs_cmd 'text commands': send them on one connection (then close the
# sending side) and print what came back within 5 s.
kvs_cmd() {
	IN timeout 5 bash -c '
		exec 3<>/dev/tcp/$0/$1 || exit 1
		printf "%b" "$2" >&3
		timeout 2 cat <&3' $IP $PORT "$1"
}

# The first connection may wait for ARP: allow a few tries.
for _ in $(seq 20); do
	kvs_cmd 'version\r\nquit\r\n' 2>/dev/null | grep -q '^VERSION ' && break
	sleep 0.5
done
kvs_cmd 'version\r\nquit\r\n' | grep -q '^VERSION ' || fail "no answer to version"

# SIGTERM, a clean exit (status 0) with the kvs counters printed.
stop_server() {
	dl_stop
	dl_counter kvs.curr_items >/dev/null
}

# A kvs counter (summed over the application cores) from the dump at exit.
counter() {
	dl_counter "kvs.$1"
}
