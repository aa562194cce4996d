#!/bin/bash
# test.sh - install missing packages, build, and run every test suite.
#
#   build/       project defaults (-O2 -g, assertions on): meson test, all
#                suites (unit, stress, integration; integration needs root)
#   build-asan/  -Db_sanitize=address,undefined: the unit suite
#   build-fuzz/  clang, -Dfuzz=true: the suite fuzz (every libFuzzer target
#                over its corpus and regressions, then 30 s of fuzzing each;
#                docs/fuzzing.md)
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

status=0
step "Tests: all suites (build/)"
meson test -C build --print-errorlogs --num-processes "$JOBS" || status=1

step "Tests: unit suite under ASan/UBSan (build-asan/)"
meson test -C build-asan --suite unit --print-errorlogs --num-processes "$JOBS" || status=1

step "Build: build-fuzz/ (clang, libFuzzer targets)"
[ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false \
	-Dexamples=false -Dtests=false -Dbenchmarks=false
ninja -C build-fuzz -j "$JOBS"

step "Tests: fuzz suite (build-fuzz/: regressions, then 30 s per target)"
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes "$JOBS" || status=1

if [ "$status" = 0 ]; then
	step "All tests passed"
else
	step "FAILURES: see the logs above (build*/meson-logs/testlog.txt)"
fi
exit "$status"
