#!/bin/bash
# make_corpus.sh [BUILD_DIR] - regenerate the seed corpora of test/fuzz/corpus/
# from real traffic (docs/fuzzing.md).
#
# Needs root (a network namespace and a TAP, as the integration tests) and a
# build with the examples (default: build/). In one namespace it starts, one
# after the other, dlibos-httpd, dlibos-kvs and dlibos-netpipe on a TAP and
# drives them with the real clients (curl, ab, wrk, h2load; memccapable,
# memcaslap text and binary; NPtcp) while tcpdump records the TAP. Then
# pcap_to_corpus.py turns the captures into the inputs of each target:
#   fuzz_frame        each client connection replayed as segment records
#   fuzz_tcp_session  each connection's shape: data sizes both ways, ACKs, time
#   fuzz_http         the request bytes of each HTTP connection, in the
#                     segment sizes the client sent them
#   fuzz_memcached    the same for memcached connections (text and binary)
#   fuzz_noc_hostile_app  the commands an echo application sends, from the
#                     same connections (listen, accept, recv_done, send)
# and adds what real users write by hand: the command lines of README.md,
# docs/ and the integration tests (fuzz_config) and the policy files of
# docs/ and the tests (fuzz_policy). Every run is bounded in time; only
# processes started here are stopped, by PID.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
out=$here/corpus
# shellcheck source=../integration/lib.sh
. "$top/test/integration/lib.sh"

for tool in tcpdump curl ab wrk h2load memccapable memcaslap NPtcp; do
	command -v $tool >/dev/null || { echo "make_corpus: $tool missing (scripts/deps.sh)"; exit 1; }
done
for bin in examples/httpd/dlibos-httpd examples/kvs/dlibos-kvs examples/netpipe/dlibos-netpipe; do
	[ -x "$build/$bin" ] || { echo "make_corpus: $build/$bin missing (ninja -C $build)"; exit 1; }
done

dl_init corpus
work=$(mktemp -d /tmp/dlibos-corpus.XXXXXX)
TCPDUMP_PID=
stop_capture() {
	if [ -n "$TCPDUMP_PID" ]; then
		kill -TERM "$TCPDUMP_PID" 2>/dev/null || true
		wait "$TCPDUMP_PID" 2>/dev/null || true
		TCPDUMP_PID=
	fi
}
cleanup_all() {
	stop_capture
	rm -rf "$work"
	dl_cleanup
}
trap cleanup_all EXIT

# capture NAME MAXPACKETS: record the TAP into $work/NAME.pcap until
# stop_capture or MAXPACKETS (the converter takes the first connections
# only). ip netns exec execs tcpdump: $! is tcpdump's own PID; SIGTERM, as
# a background job ignores SIGINT.
capture() {
	ip netns exec "$DL_NS" tcpdump -i dl0 -U -s 2048 -c "$2" -w "$work/$1.pcap" 'tcp' \
		>/dev/null 2>&1 &
	TCPDUMP_PID=$!
	sleep 1
}

# ---- dlibos-httpd: curl, ab, wrk, h2load ------------------------------------
mkdir -p "$work/www/sub"
printf '<html><body>index</body></html>\n' >"$work/www/index.html"
head -c 12000 /dev/urandom | base64 >"$work/www/big.txt"
printf 'sub\n' >"$work/www/sub/index.html"
dl_start "$build/examples/httpd/dlibos-httpd" "-l 0" "--root $work/www --port 80"
capture httpd 30000
dl_in_ns curl -s -o /dev/null http://$DL_IP/
dl_in_ns curl -s -o /dev/null -I http://$DL_IP/big.txt
dl_in_ns curl -s -o /dev/null http://$DL_IP/sub
dl_in_ns curl -s http://$DL_IP/missing http://$DL_IP/big.txt http://$DL_IP/%2e%2e/x >/dev/null
dl_in_ns curl -s -0 -H "Connection: keep-alive" http://$DL_IP/ http://$DL_IP/ >/dev/null
dl_in_ns curl -s -o /dev/null -X POST -d 'a=1&b=2' http://$DL_IP/
dl_in_ns ab -q -k -n 20 -c 2 http://$DL_IP/ >/dev/null
dl_in_ns timeout 10 wrk -t1 -c2 -d1s http://$DL_IP/ >/dev/null
dl_in_ns timeout 10 h2load -n 10 -c 1 --h1 http://$DL_IP/ >/dev/null
stop_capture
dl_stop

# ---- dlibos-kvs: memccapable, memcaslap text and binary ------------------------
dl_start "$build/examples/kvs/dlibos-kvs" "-l 0" "--port 11211 --memory 64"
capture kvs 30000
dl_in_ns timeout 60 memccapable -h $DL_IP -p 11211 >/dev/null || true
dl_in_ns timeout 10 memcaslap -s $DL_IP:11211 -T 1 -c 2 -t 1s >/dev/null || true
dl_in_ns timeout 10 memcaslap -s $DL_IP:11211 -T 1 -c 2 -t 1s -B >/dev/null || true
stop_capture
dl_stop

# ---- dlibos-netpipe: NPtcp -------------------------------------------------------
dl_start "$build/examples/netpipe/dlibos-netpipe" "-l 0" ""
capture netpipe 3000
dl_in_ns timeout 60 NPtcp -h $DL_IP -u 65536 -o "$work/np.out" >/dev/null 2>&1 || true
stop_capture
dl_stop

# Debian's python3 (python3-scapy, scripts/deps.sh), not one a PATH may put first
/usr/bin/python3 "$here/pcap_to_corpus.py" --out "$out" --top "$top" \
	--http "$work/httpd.pcap" --kvs "$work/kvs.pcap" --other "$work/netpipe.pcap"
du -sh "$out"/* | sed 's/^/make_corpus: /'
