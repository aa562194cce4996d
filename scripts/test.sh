#!/bin/bash
# test.sh - install missing packages, build, and run every test suite.
#
#   build/       project defaults (-O2 -g, assertions on): meson test, all
#                suites (unit, stress, integration; integration needs root)
#   build-asan/  -Db_sanitize=address,undefined: the unit suite
#   build-model/ -Dtarget=tilegx -Dmde=model: the TILE-Gx sources on the MDE
#                model (docs/tilegx.md): the model's and the driver's unit
#                tests, and the integration suite
#
# Exits non-zero on any failure. Run as root on a fresh Debian 12 machine:
# sudo ./scripts/test.sh
set -euo pipefail

cd "$(dirname "$0")/.."
JOBS=$(nproc)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Dependencies"
./scripts/deps.sh

if [ "$(id -u)" != 0 ]; then
	echo "test: not root: integration tests (namespaces, TAP) will be skipped" >&2
fi

step "Build: build/"
[ -f build/build.ninja ] || meson setup build
ninja -C build -j "$JOBS"

step "Build: build-asan/ (address + undefined behaviour sanitizers)"
[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ninja -C build-asan -j "$JOBS"

step "Build: build-model/ (TILE-Gx on the MDE model, no DPDK)"
[ -f build-model/build.ninja ] || meson setup build-model -Dtarget=tilegx -Dmde=model
ninja -C build-model -j "$JOBS"

status=0
step "Tests: all suites (build/)"
meson test -C build --print-errorlogs --num-processes "$JOBS" || status=1

step "Tests: unit suite under ASan/UBSan (build-asan/)"
meson test -C build-asan --suite unit --print-errorlogs --num-processes "$JOBS" || status=1

step "Tests: the MDE model and the TILE-Gx driver (build-model/)"
meson test -C build-model --print-errorlogs --num-processes "$JOBS" \
	mde_layout mde_mpipe mde_udn tilegx_nic tilegx_platform || status=1
meson test -C build-model --suite integration --print-errorlogs || status=1

if [ "$status" = 0 ]; then
	step "All tests passed"
else
	step "FAILURES: see the logs above (build*/meson-logs/testlog.txt)"
fi
exit "$status"
