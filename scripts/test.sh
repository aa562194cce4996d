#!/bin/bash
# test.sh - install missing packages, build, and run every test suite.
#
#   build/               project defaults (-O2 -g, assertions on): meson
#                        test, all suites (unit, stress, integration;
#                        integration needs root)
#   build-asan/          -Db_sanitize=address,undefined: the unit suite
#   build-gcc-release/   gcc, --buildtype=release: must compile
#   build-clang-release/ clang, --buildtype=release: must compile
#   build-model/         -Dtarget=tilegx -Dmde=model: the TILE-Gx sources
#                        on the MDE model (docs/tilegx.md): the model's, the
#                        driver's and the UDN transport's tests, the NoC and
#                        engine tests over the UDN, dlibos-selftest, the
#                        build checks, and the integration suite
#   build-fuzz/          clang, -Dfuzz=true: the suite fuzz (every libFuzzer
#                        target over its corpus and regressions, then a few
#                        seconds of fuzzing each; docs/fuzzing.md)
#
# Every build here compiles with -Werror (warnings are errors for
# developers and CI; a user's plain `meson setup` does not add it).
# Exits non-zero on any failure. Run it as root on a fresh Debian 12
# machine (as is, or through sudo where there is one): ./scripts/test.sh
set -euo pipefail

cd "$(dirname "$0")/.."
JOBS=$(nproc)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
	exec sudo "$0" "$@"
fi

step "Dependencies"
./scripts/deps.sh

if [ "$(id -u)" != 0 ]; then
	echo "test: not root: integration tests (namespaces, TAP) will be skipped" >&2
fi

# setup DIR [meson options...]: configure once (with -Werror), then build.
build() {
	local dir=$1
	shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" -Dwerror=true "$@"
	ninja -C "$dir" -j "$JOBS"
}

step "Build: build/"
build build

step "Build: build-asan/ (address + undefined behaviour sanitizers)"
build build-asan -Db_sanitize=address,undefined -Db_lundef=false

step "Build: build-gcc-release/ (gcc, --buildtype=release)"
CC=gcc build build-gcc-release --buildtype=release

step "Build: build-clang-release/ (clang, --buildtype=release)"
CC=clang build build-clang-release --buildtype=release

step "Build: build-model/ (TILE-Gx on the MDE model, no DPDK)"
build build-model -Dtarget=tilegx -Dmde=model

step "Build: build-fuzz/ (clang, -Dfuzz=true: the libFuzzer targets, ASan/UBSan)"
CC=clang build build-fuzz -Dfuzz=true -Db_lundef=false -Dexamples=false -Dtests=false \
	-Dbenchmarks=false

status=0
step "Tests: all suites (build/)"
meson test -C build --print-errorlogs --num-processes "$JOBS" || status=1

step "Tests: unit suite under ASan/UBSan (build-asan/)"
meson test -C build-asan --suite unit --print-errorlogs --num-processes "$JOBS" || status=1

step "Tests: the MDE model, the TILE-Gx driver and the UDN NoC (build-model/)"
meson test -C build-model --print-errorlogs --num-processes "$JOBS" \
	mde_layout mde_mpipe mde_udn tilegx_nic tilegx_platform udn_transport udn_stress \
	selftest_model noc_msg noc_stress engine_modes build_layers build_no_target_ifdefs ||
	status=1
meson test -C build-model --suite integration --print-errorlogs || status=1

step "Tests: fuzz suite (build-fuzz/: every corpus and regression input, then 10 s per target)"
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes "$JOBS" || status=1

if [ "$status" = 0 ]; then
	step "All tests passed"
else
	step "FAILURES: see the logs above (build*/meson-logs/testlog.txt)"
fi
exit "$status"
