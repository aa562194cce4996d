#!/bin/bash
# run.sh - run one libFuzzer target for the test suite "fuzz" (meson test).
#
#   run.sh regress EXE NAME SRCDIR BUILDDIR
#       run every file of SRCDIR/corpus/NAME and SRCDIR/regressions/NAME once
#   run.sh fuzz EXE NAME SRCDIR BUILDDIR SECONDS [EXTRA LIBFUZZER ARGS...]
#       fuzz for SECONDS from those files; new inputs go to BUILDDIR/fuzz-work/NAME
#       (recreated), crashes to BUILDDIR/fuzz-artifacts/NAME/
#
# Exit 0 when nothing failed. On a crash, a hang or a sanitizer report: exit 1
# and print the reproducer's path and the command that replays it.
set -uo pipefail

mode=$1 exe=$2 name=$3 src=$4 build=$5
shift 5
corpus="$src/corpus/$name"
regress="$src/regressions/$name"
art="$build/fuzz-artifacts/$name-$mode"
log="$build/fuzz-$name-$mode.log"
# Full-length inputs from the start: the targets read their inputs as scripts,
# and the slow ones (fuzz_noc_hostile_app) would spend a short run on tiny ones.
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -max_len=4096 -len_control=0)
[ -f "$src/$name.dict" ] && common+=("-dict=$src/$name.dict")

mkdir -p "$art"
case "$mode" in
regress)
	mapfile -t files < <(find "$corpus" "$regress" -type f ! -name '.*' 2>/dev/null | sort)
	if [ ${#files[@]} -eq 0 ]; then
		echo "$name: no corpus files in $corpus" >&2
		exit 1
	fi
	echo "$name: ${#files[@]} files"
	"$exe" "${common[@]}" -artifact_prefix="$art/" "${files[@]}" >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		tail -n 60 "$log"
		repro=$(grep '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')
		echo
		echo "FUZZ REGRESSION FAILURE ($name, exit $rc)"
		echo "reproducer: $repro"
		echo "replay:     $exe $repro"
		exit 1
	fi
	grep -c '^Executed ' "$log" | sed "s/^/$name: executed /"
	;;
fuzz)
	secs=$1
	shift
	work="$build/fuzz-work/$name"
	rm -rf "$work"
	mkdir -p "$work"
	dirs=("$work")
	[ -d "$corpus" ] && dirs+=("$corpus")
	[ -d "$regress" ] && dirs+=("$regress")
	before=$(find "$art" -type f | wc -l)
	"$exe" "${common[@]}" -max_total_time="$secs" -artifact_prefix="$art/" "$@" \
		"${dirs[@]}" >"$log" 2>&1
	rc=$?
	grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::' "$log" | tail -n 8
	if [ $rc -ne 0 ]; then
		tail -n 80 "$log"
		repro=$(grep -oE '(Test unit written to|artifact_prefix=.*; Test unit written to) [^ ]+' "$log" |
			tail -n 1 | awk '{print $NF}')
		[ -n "$repro" ] || repro=$(ls -t "$art"/* 2>/dev/null | head -n 1)
		echo
		echo "FUZZ FAILURE ($name, exit $rc)"
		echo "reproducer: $repro"
		echo "replay:     $exe $repro"
		exit 1
	fi
	after=$(find "$art" -type f | wc -l)
	if [ "$after" -ne "$before" ]; then
		echo "FUZZ FAILURE ($name): new artifacts in $art"
		exit 1
	fi
	;;
*)
	echo "usage: run.sh regress|fuzz EXE NAME SRCDIR BUILDDIR [SECONDS]" >&2
	exit 2
	;;
esac
