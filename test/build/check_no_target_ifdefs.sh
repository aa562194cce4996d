#!/bin/bash
# check_no_target_ifdefs.sh SOURCE_ROOT - the stack and the NoC endpoint are
# the same code on every target: no preprocessor conditional on the target
# (architecture, TILE-Gx, DPDK, the model) in stack/ or in noc/'s endpoint
# and codec. A transport or a driver is chosen by the build, file by file.
set -u
root=${1:?usage: check_no_target_ifdefs.sh SOURCE_ROOT}
cd "$root" || exit 1
pattern='^[[:space:]]*#[[:space:]]*(if|ifdef|ifndef|elif).*(__tilegx__|__x86_64__|__i386__|__aarch64__|TILEGX|TILE_GX|DL_TARGET|RTE_|DPDK|MDE|gxio|tmc_)'
hits=$(grep -nE "$pattern" stack/*.c stack/*.h noc/*.c noc/*.h 2>/dev/null)
if [ -n "$hits" ]; then
	echo "FAIL: target conditionals where the code must be the same on every target:"
	echo "$hits"
	exit 1
fi
# The check must be able to fail: the pattern finds a conditional of that form.
echo '#ifdef __tilegx__' | grep -qE "$pattern" || { echo "FAIL: the pattern matches nothing"; exit 1; }
n=$(ls stack/*.c stack/*.h noc/*.c noc/*.h | wc -l)
echo "PASS: no target conditional in $n files of stack/ and noc/"
