#!/bin/bash
# protected_confidential.sh DLIBOSD HTTPD KVS - two applications attached
# to one dlibosd cannot read each other's received data.
#
# dlibos-httpd and dlibos-kvs attach to the service (net_tap: a port that
# cannot steer flows, so the network cores copy each application's data
# into its own RX region). A secret goes to each through its real client:
# curl sends one in a request header to the web server, a memcached client
# stores one in the key-value store. Then every readable mapping of each
# application process is scanned (/proc/PID/mem), right away (before other
# traffic could reuse the buffers): each holds its own secret (the scan
# works) and never the other's. With the port's RX region shared by every
# application, as before, the web server finds the store's secret in its
# mapping of it, and this test fails. Then: a BIG_MB MiB download (64 by
# default) byte-exact at the same time as as many MiB of values through the
# store's copy path, and the copy path's counters.
set -u
DLIBOSD=${1:?usage: protected_confidential.sh dlibosd dlibos-httpd dlibos-kvs}
HTTPD=${2:?usage: protected_confidential.sh dlibosd dlibos-httpd dlibos-kvs}
KVS=${3:?usage: protected_confidential.sh dlibosd dlibos-httpd dlibos-kvs}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/protected_common.sh"
dl_need curl python3 sha256sum timeout
prot_init pconf

ROOT=$PROT_WORK/root
mkdir -p "$ROOT"
printf 'ok\n' >"$ROOT/index.html"
BIG_MB=${BIG_MB:-64}
NVAL=$((BIG_MB * 2)) # values of 524,000 bytes: BIG_MB MiB
head -c $((BIG_MB << 20)) /dev/urandom >"$ROOT/big.bin"

prot_service "--lcores=(0-1)@(0-1)" "--net-cores 2"
grep -q "received data: copied by the network cores" "$DL_LOG" ||
	prot_fail "the service does not say it copies received data"
prot_app httpd "$HTTPD" --root "$ROOT" --port 80
prot_app kvs "$KVS" --port 11211 --memory $((BIG_MB * 2 + 32))
IN() { dl_in_ns "$@"; }

# Secrets nobody else has: random, never on a command line of a process
# that stays up.
SA="httpd-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SB="kvs-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

IN curl -sS --fail -m 10 -o /dev/null -H "X-Secret: $SA" "http://$DL_IP/" ||
	prot_fail "curl with the web server's secret"
# kvs: a set (and a get back) with the store's secret as the value.
out=$(IN timeout 10 python3 - "$DL_IP" "$SB" <<'PY'
import socket, sys
ip, secret = sys.argv[1], sys.argv[2].encode()
s = socket.create_connection((ip, 11211), timeout=5)
s.sendall(b"set confidential 0 0 %d\r\n%s\r\nget confidential\r\nquit\r\n" % (len(secret), secret))
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.decode(errors="replace").replace("\r\n", " | "))
PY
) || prot_fail "the memcached client failed"
echo "kvs answered: $out"
echo "$out" | grep -q "STORED" || prot_fail "the store did not store the secret"
echo "$out" | grep -q "$SB" || prot_fail "the store did not give the secret back"
echo "ok: each application got its secret from its client"

scan() { python3 "$HERE/memscan.py" "${PROT_PID[$1]}" "$SA" "$SB"; }
ha=$(scan httpd) || prot_fail "cannot scan the web server's memory"
kb=$(scan kvs) || prot_fail "cannot scan the store's memory"
echo "web server: $ha"
echo "store: $kb"
echo "$ha" | grep -q "^$SB: absent" || prot_fail "the web server can read the store's secret"
echo "$kb" | grep -q "^$SA: absent" || prot_fail "the store can read the web server's secret"
echo "$ha" | grep -q "^$SA: found" || prot_fail "the scan does not find the web server's own secret"
echo "$kb" | grep -q "^$SB: found" || prot_fail "the scan does not find the store's own secret"
echo "ok: each application's memory holds its own secret and not the other's"

# A large transfer to each at once, byte-exact through the copy path: a
# BIG_MB MiB download, and NVAL values of 524,000 bytes set and read back.
IN curl -sS --fail -m 120 -o "$PROT_WORK/dl" "http://$DL_IP/big.bin" &
C=$!
big=$(IN timeout 120 python3 - "$DL_IP" "$NVAL" <<'PY'
import hashlib, os, socket, sys
ip, nval = sys.argv[1], int(sys.argv[2])
value = os.urandom(524000)  # under the store's 1 MiB item limit
s = socket.create_connection((ip, 11211), timeout=30)
for i in range(nval):
    s.sendall(b"set big%d 0 0 %d\r\n" % (i, len(value)) + value + b"\r\n")
f = s.makefile("rb")
ok = 0
for i in range(nval):
    if f.readline() == b"STORED\r\n":
        ok += 1
s.sendall(b"".join(b"get big%d\r\n" % i for i in range(nval)))
same = 0
for i in range(nval):
    hdr = f.readline()
    n = int(hdr.split()[3])
    data = f.read(n + 2)[:n]
    same += data == value
    assert f.readline() == b"END\r\n"
print(ok, same)
PY
) || prot_fail "$BIG_MB MiB through the store failed"
wait $C || prot_fail "the $BIG_MB MiB download failed"
cmp -s "$ROOT/big.bin" "$PROT_WORK/dl" || prot_fail "the $BIG_MB MiB download differs"
[ "$big" = "$NVAL $NVAL" ] || prot_fail "the store's $BIG_MB MiB: stored/identical $big of $NVAL values"
echo "ok: a $BIG_MB MiB download and $BIG_MB MiB of values stored at once, byte-exact"

prot_stop_app httpd
prot_stop_app kvs
dl_stop
copied=$(prot_counter engine.rx_copied_bytes)
# What the applications received: the store's NVAL values (the download is
# what the web server sends, not copied).
[ "$copied" -gt $((NVAL * 524000)) ] ||
	prot_fail "engine.rx_copied_bytes $copied: less than the store's $BIG_MB MiB of values"
echo "counters: engine.rx_copied_bytes $copied, rx_copy_deferred $(prot_counter engine.rx_copy_deferred)"
echo "PASS: attached applications cannot read each other's received data"
