#!/usr/bin/env python3
"""tcp_real_net.py - crafted TCP peers (scapy) for tcp_real_net.sh.

  sackblock DST PORT   handshake offering SACK-permitted, send bytes 0-99,
                       skip 100-199, send 200-299: the ACK must carry
                       ACK = ISN+1+100 and the SACK block [ISN+1+200,
                       ISN+1+300); then 100-199 fills the hole and the ACK
                       covers all 300 bytes with no block left.
  flood DST PORT N K   N peers (source ports 20000..) each open a connection
                       and park K one-byte out-of-order segments (every
                       other byte after a hole), then stay silent.

The kernel of this namespace would answer the server's SYN-ACKs with RSTs
(it knows no such sockets): the calling script drops those with nft.
Exit status 0 on success; a line saying what went wrong otherwise."""
import sys

import time

from scapy.all import IP, TCP, AsyncSniffer, Raw, conf, send, sr1  # noqa: E402

conf.verb = 0


def handshake(dst, dport, sport, sack=True):
    opts = [("MSS", 1460)]
    if sack:
        opts.append(("SAckOK", b""))
    isn = 1000000 + sport
    sa = sr1(IP(dst=dst) / TCP(sport=sport, dport=dport, flags="S", seq=isn, options=opts),
             timeout=3, retry=2)
    if sa is None or not sa.haslayer(TCP) or (sa[TCP].flags & 0x12) != 0x12:
        return None
    irs = sa[TCP].seq
    send(IP(dst=dst) / TCP(sport=sport, dport=dport, flags="A", seq=isn + 1, ack=irs + 1,
                           window=65535))
    return isn + 1, irs + 1


def sack_blocks(pkt):
    for name, val in pkt[TCP].options:
        if name == "SAck":
            return [(val[i], val[i + 1]) for i in range(0, len(val), 2)]
    return []


def data(dst, dport, sport, seq, ack, payload):
    return IP(dst=dst) / TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=ack,
                             window=65535) / Raw(payload)


def acks_after(dst, dport, sport, pkts, want):
    """Send pkts, return the ACKs the server sends (ACK fields, SACK blocks)
    within a second, or as soon as one acknowledges `want`."""
    sn = AsyncSniffer(filter="tcp and src host %s and src port %d and dst port %d"
                      % (dst, dport, sport), store=True, iface=conf.route.route(dst)[0])
    sn.start()
    time.sleep(0.3)
    send(pkts)
    for _ in range(20):
        time.sleep(0.05)
        if any(p[TCP].ack >= want for p in sn.results or []):
            break
    time.sleep(0.2)
    sn.stop()
    return [(p[TCP].ack, sack_blocks(p)) for p in sn.results]


def sackblock(dst, dport):
    sport = 41000
    hs = handshake(dst, dport, sport)
    if hs is None:
        print("sackblock: no SYN-ACK")
        return 1
    seq, ack = hs
    rel = lambda acks: [(a - seq, [(x - seq, y - seq) for x, y in b]) for a, b in acks]
    # bytes 0-99 in order, then 200-299 past a hole at 100-199
    acks = acks_after(dst, dport, sport,
                      [data(dst, dport, sport, seq, ack, b"a" * 100),
                       data(dst, dport, sport, seq + 200, ack, b"c" * 100)], seq + 300)
    print("sackblock: ACKs after 0-99 and 200-299 (relative): %s" % rel(acks))
    dup = [b for a, b in acks if a == seq + 100 and b]
    if not dup or dup[0][0] != (seq + 200, seq + 300):
        print("sackblock: FAIL want ACK 100 with SACK block (200, 300)")
        return 1
    # fill the hole: everything acknowledged, no block left
    acks = acks_after(dst, dport, sport, [data(dst, dport, sport, seq + 100, ack, b"b" * 100)],
                      seq + 300)
    print("sackblock: ACKs after 100-199 (relative): %s" % rel(acks))
    full = [b for a, b in acks if a == seq + 300]
    if not full or full[0]:
        print("sackblock: FAIL want ACK 300 without a SACK block")
        return 1
    send(IP(dst=dst) / TCP(sport=sport, dport=dport, flags="R", seq=seq + 300))
    print("sackblock: ok")
    return 0


def flood(dst, dport, n, k):
    pkts = []
    opened = 0
    for p in range(n):
        sport = 20000 + p
        hs = handshake(dst, dport, sport)
        if hs is None:
            continue
        opened += 1
        seq, ack = hs
        for j in range(k):
            pkts.append(data(dst, dport, sport, seq + 2 + 2 * j, ack, b"x"))
    send(pkts)
    print("flood: %d of %d peers connected, %d one-byte out-of-order segments sent"
          % (opened, n, len(pkts)))
    return 0 if opened == n else 1


def main():
    cmd = sys.argv[1]
    if cmd == "sackblock":
        return sackblock(sys.argv[2], int(sys.argv[3]))
    if cmd == "flood":
        return flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    print("unknown command %s" % cmd)
    return 2


if __name__ == "__main__":
    sys.exit(main())
