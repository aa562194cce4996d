#!/usr/bin/env python3
"""synflood.py DST PORT COUNT - send COUNT TCP SYNs to DST:PORT from spoofed
addresses 10.0.0.100-199 (hosts that do not exist, so nobody answers the
SYN-ACKs with a RST) and random ports, through a raw socket. Bounded: sends
COUNT segments and exits. Prints how many were sent.

The SYNs go in bursts of 100 with a 2 ms pause: a TAP device queues at most
its txqueuelen (1000) frames for the DPDK side, which polls with an idle
policy; an unpaced flood overflows that kernel queue on a loaded machine
and most SYNs never reach the stack."""
import random
import time
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(src, dst, sport, dport, seq):
    # TCP header with the MSS option (4 bytes): data offset 6 words.
    opts = struct.pack("!BBH", 2, 4, 1460)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 6 << 4, 0x02, 64240, 0, 0) + opts
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.randrange(65536), 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp


def main():
    dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    for i in range(count):
        src = "10.0.0.%d" % (100 + i % 100)
        s.sendto(syn(src, dst, random.randrange(1024, 65536), port, random.randrange(1 << 32)), (dst, 0))
        if i % 100 == 99:
            time.sleep(0.002)
    print("synflood: %d SYNs sent" % count)


if __name__ == "__main__":
    main()
