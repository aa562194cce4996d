#!/bin/bash
# deps.sh - install the Debian 12 packages DLibOS needs to build, test and
# demonstrate (compiler, DPDK, CMocka, and the real Linux clients the
# integration tests and benchmarks drive). Installs only what is missing;
# runs `apt-get update` only when something is. Non-interactive.
# Services that packages would start on install (nginx, memcached) are not
# started: tests start their own instances inside network namespaces.
set -euo pipefail

PACKAGES=(
	# build
	gcc clang meson ninja-build pkg-config git
	libclang-rt-14-dev # fuzz targets (libFuzzer, sanitizers): build-fuzz/
	dpdk libdpdk-dev libnuma-dev libcmocka-dev
	# running and testing
	iproute2 iputils-ping iputils-arping libhugetlbfs-bin valgrind bc
	tcpdump nftables ethtool python3 python3-scapy
	# dpdk-telemetry.py (the telemetry tests query through it), dpdk-dumpcap
	dpdk-dev
	# real clients and reference servers (integration tests, benchmarks)
	curl wrk apache2-utils nghttp2-client libmemcached-tools memcached nginx netpipe-tcp socat
	netcat-openbsd
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PACKAGES[@]} packages present"
	exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi

echo "deps: installing ${missing[*]}"
# Keep package scripts from starting services (the Docker policy-rc.d trick).
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
	$SUDO chmod +x "$policy"
	made_policy=1
fi
cleanup() { [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"; true; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"${missing[@]}"
echo "deps: done"
