#!/bin/bash
# coverage.sh [WORKDIR] - line coverage of stack/, lib/, noc/ and the examples' protocol
# code (llvm-cov)
# reached by each fuzz target's inputs: the committed corpus and regressions,
# plus WORKDIR/TARGET/corpus when scripts/fuzz.sh left one there (default
# /var/tmp/dlibos-fuzz). Builds build-cov/ (clang, -Dfuzz=true with
# source-based coverage), runs every input once per target and prints, per
# target and for all of them together, the lines covered in each folder.
# docs/fuzzing.md quotes its output.
set -euo pipefail

cd "$(dirname "$0")/../.."
work=${1:-${DLIBOS_FUZZ_WORK:-/var/tmp/dlibos-fuzz}}
targets=(fuzz_frame fuzz_tcp_session fuzz_noc_hostile_app fuzz_http fuzz_memcached
	fuzz_config fuzz_policy)
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
cov=$(command -v llvm-cov-14 || command -v llvm-cov)

if [ ! -f build-cov/build.ninja ]; then
	CC=clang meson setup build-cov -Dfuzz=true -Db_lundef=false -Dexamples=false \
		-Dtests=false -Dbenchmarks=false \
		-Dc_args='-fprofile-instr-generate -fcoverage-mapping' \
		-Dc_link_args='-fprofile-instr-generate' >/dev/null
fi
ninja -C build-cov >/dev/null
out=build-cov/coverage
rm -rf "$out"
mkdir -p "$out"

# lines FOLDER REPORT: "covered/total (pct)" of the .c files in FOLDER/ (an
# extended regex: lib/[^/]+ is every layer of lib/, noc(/ring)? the NoC and
# its ring transport; nothing deeper: drivers/dpdk is no boundary here).
lines() {
	awk -v d="(^|/)$1/[^/]+\\.c$" '$1 ~ d { n += $8; m += $9 }
		END { if (n) printf "%d/%d (%.1f%%)", n - m, n, 100 * (n - m) / n; else printf "-" }' "$2"
}

objects=()
printf '%-21s %6s  %-20s %-20s %-20s %-20s\n' target inputs stack/ lib/ noc/ examples/
for t in "${targets[@]}"; do
	exe=build-cov/test/fuzz/$t
	dirs=(test/fuzz/corpus/$t)
	[ -d "test/fuzz/regressions/$t" ] && dirs+=("test/fuzz/regressions/$t")
	[ -d "$work/$t/corpus" ] && dirs+=("$work/$t/corpus")
	n=$(find "${dirs[@]}" -type f | wc -l)
	LLVM_PROFILE_FILE="$out/$t-%p.profraw" "$exe" -runs=0 -max_len=4096 "${dirs[@]}" \
		>"$out/$t.log" 2>&1 || { echo "coverage: $t failed on its inputs (see $out/$t.log)"; exit 1; }
	"$profdata" merge -sparse "$out/$t"-*.profraw -o "$out/$t.profdata"
	"$cov" report "$exe" -instr-profile="$out/$t.profdata" >"$out/$t.txt"
	printf '%-21s %6s  %-20s %-20s %-20s %-20s\n' "$t" "$n" "$(lines stack "$out/$t.txt")" \
		"$(lines 'lib/[^/]+' "$out/$t.txt")" "$(lines 'noc(/ring)?' "$out/$t.txt")" \
		"$(lines 'examples/[^/]+' "$out/$t.txt")"
	objects+=(-object "$exe")
done
"$profdata" merge -sparse "$out"/*.profraw -o "$out/all.profdata"
"$cov" report "${objects[@]:1}" -instr-profile="$out/all.profdata" >"$out/all.txt"
printf '%-21s %6s  %-20s %-20s %-20s %-20s\n' "all targets" "" "$(lines stack "$out/all.txt")" \
	"$(lines 'lib/[^/]+' "$out/all.txt")" "$(lines 'noc(/ring)?' "$out/all.txt")" \
	"$(lines 'examples/[^/]+' "$out/all.txt")"
echo "coverage: per-file reports in $out/*.txt (llvm-cov show for the lines)"
