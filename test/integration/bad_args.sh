#!/bin/bash
# bad_args.sh DLIBOSD - a bad or missing argument makes dlibosd say what is
# wrong, print the usage and exit 2 before any device is touched; --help
# exits 0; an EAL failure or a missing port exits 1 with a hint.
set -u

BIN=${1:?usage: bad_args.sh path/to/dlibosd}
PREFIX=dlbad$$
failures=0
trap 'rm -rf "/var/run/dpdk/$PREFIX"' EXIT

# expect STATUS PATTERN ARGS...: run dlibosd, check status and output.
expect() {
	local want=$1 pattern=$2 out rc
	shift 2
	out=$("$BIN" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -q -- "$pattern" <<<"$out"; then
		echo "FAIL: dlibosd $* -> status $rc (want $want), output lacks '$pattern':"
		echo "$out" | head -20
		failures=$((failures + 1))
	else
		echo "ok: dlibosd $* -> $rc"
	fi
}

expect 2 "error: --ip A.B.C.D/NN is required" --no-pci -- --idle sleep
expect 2 "Usage: dlibosd" --no-pci -- --idle sleep
expect 2 "prefix length missing" --no-pci -- --ip 10.0.0.2
expect 2 "unknown option '--bogus'" --no-pci -- --ip 10.0.0.2/24 --bogus
expect 2 "--idle 'fast': expected poll|pause|sleep" --no-pci -- --ip 10.0.0.2/24 --idle fast
expect 2 "--impair: unknown key 'jitter'" --no-pci -- --ip 10.0.0.2/24 --impair jitter=1
expect 2 "application arguments go after '--'" --no-pci --ip 10.0.0.2/24
expect 0 "Common options (after --):" --no-pci -- --help
expect 0 "Usage: dlibosd" --no-pci --help

if [ "$(id -u)" = 0 ]; then
	expect 1 "EAL initialisation failed" --no-pci --no-huge -m 64 --file-prefix "$PREFIX" \
		--no-such-eal-option -- --ip 10.0.0.2/24
	# No device named: the runtime must not guess one.
	expect 1 "port 0 does not exist" -l 0 --no-pci --no-huge -m 256 --file-prefix "$PREFIX" \
		-- --ip 10.0.0.2/24
fi

[ "$failures" = 0 ] || exit 1
echo PASS
