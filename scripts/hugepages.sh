#!/bin/bash
# hugepages.sh N - reserve N 2 MiB hugepages (and mount hugetlbfs) for DPDK
# runs without --no-huge. Uses dpdk-hugepages.py, else hugeadm, else sysfs.
# `hugepages.sh 0` releases them. Hugepages are optional for net_tap:
# `--no-huge -m 512` works for local use.
set -euo pipefail

N=${1:?usage: hugepages.sh NUMBER_OF_2MB_PAGES}
[[ "$N" =~ ^[0-9]+$ ]] || { echo "hugepages: '$N' is not a number" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "hugepages: run as root" >&2; exit 1; }

[ "$N" = 0 ] || mkdir -p /dev/hugepages
if command -v dpdk-hugepages.py >/dev/null; then
	if [ "$N" = 0 ]; then
		dpdk-hugepages.py --unmount --clear
	else
		dpdk-hugepages.py --pagesize 2M --reserve $((N * 2))M --mount
	fi
	dpdk-hugepages.py --show
elif command -v hugeadm >/dev/null; then
	hugeadm --pool-pages-min 2MB:"$N"
	[ "$N" = 0 ] || hugeadm --create-global-mounts
	hugeadm --pool-list
else
	echo "$N" >/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	if [ "$N" != 0 ] && ! mountpoint -q /dev/hugepages; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
	fi
	grep -i huge /proc/meminfo
fi
got=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)
if [ "$got" -lt "$N" ]; then
	echo "hugepages: only $got of $N pages could be reserved (memory fragmented?)" >&2
	exit 1
fi
echo "hugepages: $got x 2 MiB reserved"
