#!/usr/bin/python3
"""pcap_to_corpus.py - turn captured traffic into the seed inputs of the fuzz
targets (called by make_corpus.sh; the input formats are documented at the
top of each target's source).

  --http PCAP   HTTP connections (server port 80)
  --kvs PCAP    memcached connections (server port 11211)
  --other PCAP  other TCP connections (NetPIPE)
  --top DIR     the source tree (for the command lines and policy files;
                without captures, only those two corpora are rewritten)
  --out DIR     test/fuzz/corpus (one folder per target, replaced)

Inputs are kept under 4 KiB (libFuzzer's default -max_len) and identical
ones are written once (named by their SHA-1, as libFuzzer names inputs).
"""
import argparse
import glob
import hashlib
import os
import re
import shlex
import shutil
import struct
import sys

from scapy.all import IP, TCP, rdpcap  # noqa: E402

SERVER = "10.0.0.2"
MAX_LEN = 4096
FN_F_NEW = 3  # fuzz_net.h: 10.0.0.1:40003 -> 80, not open at the start


def u16(v):
    return struct.pack("<H", v & 0xFFFF)


def u32(v):
    return struct.pack("<I", v & 0xFFFFFFFF)


def connections(path):
    """Packets of each TCP connection in capture order: {key: [(t, from_client, tcp, payload)]}."""
    conns, order = {}, []
    if path is None or not os.path.exists(path):
        return []
    for p in rdpcap(path):
        if IP not in p or TCP not in p:
            continue
        ip, tcp = p[IP], p[TCP]
        from_client = ip.dst == SERVER
        if not from_client and ip.src != SERVER:
            continue
        client = (ip.src, tcp.sport) if from_client else (ip.dst, tcp.dport)
        server_port = tcp.dport if from_client else tcp.sport
        key = (client, server_port)
        payload = bytes(tcp.payload)[: max(0, ip.len - ip.ihl * 4 - tcp.dataofs * 4)]
        if key not in conns:
            if not (from_client and tcp.flags & 0x02):
                continue  # started before the capture
            conns[key] = []
            order.append(key)
        conns[key].append((float(p.time), from_client, tcp, payload))
    return [(k, conns[k]) for k in order]


def time_ms(prev, t):
    return 0 if prev is None else int((t - prev) * 1000)


def frame_input(pkts):
    """fuzz_frame: the client's segments on flow FN_F_NEW (sequence numbers
    as captured, acknowledging what the stack sent, window and options as
    captured, payload of the captured length), with the pauses between."""
    out = bytearray([0])
    prev, ts = None, False
    for t, from_client, tcp, payload in pkts:
        ms = time_ms(prev, t)
        prev = t
        if ms > 0:
            out += bytes([9, min(ms, 255)])
        if not from_client:
            continue
        flags = int(tcp.flags)
        opts = bytes(tcp)[20 : tcp.dataofs * 4]
        syn = bool(flags & 0x02)
        if syn and any(o[0] == "Timestamp" for o in tcp.options):
            ts = True
        ack_mode = 2 if not flags & 0x10 else 0
        rec = bytearray([0, FN_F_NEW, flags, 2 | (ack_mode << 2) | (1 << 4)])
        rec += u32(tcp.seq)
        rec += u32(0) if ack_mode == 2 else bytes([8])  # absolute 0, or +0
        rec += u16(tcp.window)
        ob = 0x10 | (0x08 if ts and not syn else 0)  # raw options; no second TS
        rec += bytes([ob, len(opts)]) + opts
        n = min(len(payload), 1460)
        rec += bytes([0]) if n == 0 else bytes([192]) + u16(n)
        rec += bytes([0])  # no corruption
        if len(out) + len(rec) + 8 > MAX_LEN:
            break
        out += rec
    out += bytes([10]) + u16(200) + bytes([11, 11, 11])  # 2 s, then the timers
    return bytes(out)


def session_input(pkts):
    """fuzz_tcp_session: the connection's shape on the timestamp flow: the
    client's data (and FIN) and pure ACKs, the server's data as application
    sends, the pauses."""
    out = bytearray([0, 0])
    prev = None
    for t, from_client, tcp, payload in pkts:
        ms = time_ms(prev, t)
        prev = t
        if ms > 0:
            out += bytes([10, min(ms, 255)])
        flags = int(tcp.flags)
        if flags & 0x02:
            continue
        if from_client:
            if payload:
                op = 140 if flags & 0x01 else 0  # 140 % 14 == 0, with the FIN bit
                out += bytes([op]) + u16(len(payload) - 1)
            elif flags & 0x01:
                out += bytes([2, 2, 8, 8])  # ACK|FIN, seq and ack +0, no payload
            else:
                out += bytes([3])
        elif payload:
            out += bytes([6]) + u16(len(payload))
        if len(out) > MAX_LEN - 8:
            break
    out += bytes([12, 12, 12])
    return bytes(out)


def stream_input(pkts, cfg=0):
    """fuzz_http / fuzz_memcached: the client's bytes, delivered in the
    segment sizes the client sent, an acknowledgment after each segment."""
    script, stream = bytearray(), bytearray()
    for _t, from_client, _tcp, payload in pkts:
        if not from_client or not payload:
            continue
        if len(stream) + len(payload) > MAX_LEN - 300:
            break
        stream += payload
        n = len(payload)
        while n > 0:
            if n >= 8:
                k = min(n // 8, 64)
                script.append(0x40 | (k - 1))
                n -= 8 * k
            else:
                script.append(n - 1)
                n = 0
        script.append(0x80)  # acknowledge what was sent so far
    if not stream:
        return None
    script = script[:254]
    return bytes([cfg, len(script)]) + bytes(script) + bytes(stream)


def noc_input(pkts):
    """fuzz_noc_hostile_app: what a well-behaved echo application does with
    these connections: the client sends, the application returns what was
    delivered and sends as much back from its own memory."""
    out = bytearray([0])
    for _t, from_client, _tcp, payload in pkts:
        if not from_client or not payload:
            continue
        n = min(len(payload), 2999)
        # the client sends on A's accepted connection (its second: the first is B's)
        out += bytes([7, 2 | (1 << 2)]) + u16(n)
        out += bytes([10, 2])  # three rounds
        # recv_done on A's first connection of all it holds: command, type 3, id 0, "held"
        out += bytes([3, 3, 0, 0])
        # send: command, type 5, one ref, id 0, inside A's region, n bytes at 0
        out += bytes([0, 5, 0, 0, 0]) + u16(min(n, 4096) - 1) + u16(0)
        out += bytes([10, 4])
        if len(out) > 600:
            break
    return bytes(out)


def command_lines(top):
    """fuzz_config: the command lines of the README, docs and scripts."""
    found = []
    files = [os.path.join(top, "README.md")]
    for pat in ("docs/*.md", "test/integration/*.sh", "scripts/*.sh", "bench/*.sh"):
        files += sorted(glob.glob(os.path.join(top, pat)))
    for path in files:
        text = open(path, encoding="utf-8", errors="replace").read().replace("\\\n", " ")
        for line in text.splitlines():
            if " -- " in line and ("--ip" in line or "--attach" in line):
                service = "dlibosd" in line.split(" -- ")[0]
                args = line.split(" -- ", 1)[1]
            elif re.search(r"dlibos-\w+ --attach ", line):  # attached: no EAL arguments
                service = False
                args = line.split(" --attach ", 1)[1]
                args = "--attach " + args
            else:
                continue
            args = re.split(r"\s[&|>]|`|\)$", args)[0]
            args = re.sub(r"\$\{?(DL_IP|IP)\}?", "10.0.0.2", args)
            args = re.sub(r"\"?\$[{(]?[A-Za-z_@]+[})]?\"?", "x", args)
            try:
                argv = shlex.split(args)
            except ValueError:
                continue
            if argv:
                found.append(bytes([1 if service else 0]) + b"\0".join(a.encode() for a in argv))
    # The specifications the README's option table documents, with values.
    for line in ("--ip 10.0.0.2/24 --impair loss=0.01,reorder=0.02,dup=0.001,corrupt=0.001,"
                 "delay_us=100,seed=7",
                 "--ip 10.0.0.2/24 --tcp syn_backlog=64,accept_backlog=64,max_conns=4096,"
                 "rcv_wnd=1048576,delack_us=0,keepalive_s=30,rto_min_ms=10,syn_cookies=0,"
                 "timestamps=1",
                 "--ip=10.0.0.2/24 --mode=dlibos --net-cores=1 --app-rx-credit=1024 --stats-all "
                 "--log-level=debug --rx-desc=512 --tx-desc=512 --rx-bufs=4096 --port-id=0 "
                 "--no-hw-offload --root x",
                 "--attach /run/dlibos/ctl.sock --app-cores 2 --idle sleep --root x"):
        found.append(b"\0" + b"\0".join(a.encode() for a in line.split()))
    return found


def policies(top):
    """fuzz_policy: the policy files of the docs, headers and tests."""
    found = []
    key = re.compile(r"^\s*(#|\*|uid=|user=|app=)")
    for pat in ("docs/*.md", "lib/protected/dl_policy.h", "test/integration/*.sh", "test/protected/*.c"):
        for path in sorted(glob.glob(os.path.join(top, pat))):
            block = []
            for line in open(path, encoding="utf-8", errors="replace"):
                line = line.rstrip("\n")
                line = re.sub(r"^\s*\*?\s{0,5}(?=(uid|user|app)=|\* )", "", line)
                for s in re.findall(r'"([^"]*(?:listen|connect)=[^"]*)"', line):
                    found.append(s.encode().decode("unicode_escape").encode())
                if key.match(line) and ("=" in line or line.strip().startswith("#")):
                    block.append(line)
                elif block:
                    if any("listen=" in b or "connect=" in b for b in block):
                        found.append(("\n".join(block) + "\n").encode())
                    block = []
    return found


def write(out, target, inputs):
    d = os.path.join(out, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seen = set()
    for data in inputs:
        if data is None or len(data) > MAX_LEN:
            continue
        h = hashlib.sha1(data).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        with open(os.path.join(d, h), "wb") as f:
            f.write(data)
    print("pcap_to_corpus: %s: %d inputs" % (target, len(seen)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--http")
    ap.add_argument("--kvs")
    ap.add_argument("--other")
    ap.add_argument("--top", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    http, kvs, other = connections(a.http), connections(a.kvs), connections(a.other)
    every = http + kvs + other
    # a few of each kind: the first connections of each client
    sample = http[:12] + kvs[:12] + other[:4]
    if every:  # without captures (--top only), the traffic corpora stay as they are
        write(a.out, "fuzz_frame", [frame_input(p) for _k, p in sample])
        write(a.out, "fuzz_tcp_session", [session_input(p) for _k, p in sample])
        write(a.out, "fuzz_http", [stream_input(p) for _k, p in http[:40]] +
              [stream_input(p, 1) for _k, p in http[:4]])
        write(a.out, "fuzz_memcached", [stream_input(p) for _k, p in kvs[:40]])
        write(a.out, "fuzz_noc_hostile_app", [noc_input(p) for _k, p in every[:16]])
    write(a.out, "fuzz_config", command_lines(a.top))
    write(a.out, "fuzz_policy", policies(a.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
