#!/bin/bash
# fuzz.sh TARGET MINUTES - run one fuzz target longer than the CI does
# (docs/fuzzing.md).
#
#   TARGET   fuzz_frame, fuzz_tcp_session, fuzz_noc_hostile_app, fuzz_http,
#            fuzz_memcached, fuzz_config or fuzz_policy
#   MINUTES  how long (libFuzzer's -max_total_time)
#
# Builds build-fuzz/ with clang if needed (-Dfuzz=true), then fuzzes under
# `nice` from the committed corpus and regressions and from a working corpus
# kept outside the tree, in $DLIBOS_FUZZ_WORK/TARGET (default
# /var/tmp/dlibos-fuzz): what one run finds, the next starts from. Crashes,
# hangs and sanitizer reports are written there too (artifacts/); the script
# prints their paths and exits 1. Extra arguments after MINUTES go to
# libFuzzer (e.g. -jobs=2, -only_ascii=1). To add the working corpus's
# best inputs to the tree, minimise them first:
#   build-fuzz/test/fuzz/TARGET -merge=1 test/fuzz/corpus/TARGET WORKDIR/corpus
set -euo pipefail

cd "$(dirname "$0")/.."
if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
	echo "usage: scripts/fuzz.sh TARGET MINUTES [libFuzzer args...]" >&2
	exit 2
fi
target=$1 minutes=$2
shift 2
if [ ! -f build-fuzz/build.ninja ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Db_lundef=false -Dexamples=false \
		-Dtests=false -Dbenchmarks=false >/dev/null
fi
ninja -C build-fuzz >/dev/null
exe=build-fuzz/test/fuzz/$target
[ -x "$exe" ] || { echo "fuzz: no target $target in build-fuzz/test/fuzz" >&2; exit 2; }

work=${DLIBOS_FUZZ_WORK:-/var/tmp/dlibos-fuzz}/$target
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/run-$(date +%Y%m%d-%H%M%S).log
dirs=("$work/corpus" "test/fuzz/corpus/$target")
[ -d "test/fuzz/regressions/$target" ] && dirs+=("test/fuzz/regressions/$target")
dict=()
[ -f "test/fuzz/$target.dict" ] && dict=("-dict=test/fuzz/$target.dict")
before=$(find "$work/artifacts" -type f | wc -l)

echo "fuzz: $target for $minutes min; corpus $work/corpus; log $log"
set +e
nice -n 10 "$exe" -max_total_time=$((minutes * 60)) -timeout=10 -rss_limit_mb=2048 \
	-max_len=4096 -len_control=0 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "${dict[@]}" "$@" \
	"${dirs[@]}" >"$log" 2>&1
rc=$?
set -e
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | sed 's/^/fuzz: /'
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
	sed 's/^/fuzz: /'
after=$(find "$work/artifacts" -type f | wc -l)
if [ $rc -ne 0 ] || [ "$after" -ne "$before" ]; then
	grep -E 'ERROR|check failed|runtime error|Test unit written' "$log" | head -n 20
	echo "fuzz: FAILURE (exit $rc): reproducers in $work/artifacts:"
	ls -t "$work/artifacts" | head -n 5 | sed "s|^|  $work/artifacts/|"
	echo "fuzz: replay one with: $exe FILE   (FUZZ_DEBUG=1 traces fuzz_frame/fuzz_tcp_session)"
	exit 1
fi
echo "fuzz: no failure"
