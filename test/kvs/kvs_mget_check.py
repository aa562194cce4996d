#!/usr/bin/python3
"""kvs_mget_check.py HOST PORT [SEED] - multi-gets checked exactly.

memcaslap's multi-get verification is not reliable (it reports misses and
failures against memcached itself), so this client checks multi-key gets
against a model: it stores random values (pipelined noreply sets, binary
SETQ), sends them cut into random-sized pieces, then asks for random key
sets with one text "get k1 k2 ..." or a pipeline of binary GETKQ ended by a
NOOP, and requires exactly the stored values back, in request order, and
nothing for keys never stored. Starts with flush_all. Exit status 0 when
everything matched.
"""
import random
import socket
import struct
import sys

HOST, PORT = sys.argv[1], int(sys.argv[2])
random.seed(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
KEYS = ["key%05d" % i for i in range(3000)]


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.b = b""

    def send_pieces(self, data):
        pos = 0
        while pos < len(data):
            n = random.randint(1, 4000)
            self.s.sendall(data[pos:pos + n])
            pos += n

    def need(self, n):
        while len(self.b) < n:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.b += d

    def take(self, n):
        self.need(n)
        d, self.b = self.b[:n], self.b[n:]
        return d

    def line(self):
        while b"\r\n" not in self.b:
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("connection closed")
            self.b += d
        ln, self.b = self.b.split(b"\r\n", 1)
        return ln


def value(alphabet):
    return bytes(random.choice(alphabet) for _ in range(random.randint(0, 3000)))


def check(ks, got, model, what):
    for k in ks:
        if k in model:
            if got.get(k) != model[k]:
                sys.exit("%s: %s: wrong or missing value" % (what, k))
        elif k in got:
            sys.exit("%s: %s: never stored, yet returned" % (what, k))


def text(model, rounds):
    c = Conn()
    c.s.sendall(b"flush_all\r\n")
    if c.line() != b"OK":
        sys.exit("flush_all failed")
    for _ in range(rounds):
        out = b""
        for k in random.sample(KEYS, 50):
            v = value(b"abcdefghij")
            model[k] = v
            out += b"set %s 0 0 %d noreply\r\n%s\r\n" % (k.encode(), len(v), v)
        ks = random.sample(KEYS, random.randint(1, 100))
        out += b"get " + b" ".join(k.encode() for k in ks) + b"\r\n"
        c.send_pieces(out)
        got, order = {}, []
        while True:
            ln = c.line()
            if ln == b"END":
                break
            p = ln.split()
            if p[0] != b"VALUE":
                sys.exit("text: unexpected line %r" % ln)
            got[p[1].decode()] = c.take(int(p[3]) + 2)[:-2]
            order.append(p[1].decode())
        check(ks, got, model, "text")
        if order != [k for k in ks if k in model]:
            sys.exit("text: values not in request order")


def hdr(op, key=b"", ext=b"", val=b"", opaque=0):
    return struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(ext), 0, 0,
                       len(ext) + len(key) + len(val), opaque, 0) + ext + key + val


def binary(model, rounds):
    c = Conn()
    for _ in range(rounds):
        out = b""
        for k in random.sample(KEYS, 30):
            v = value(b"klmnop")
            model[k] = v
            out += hdr(0x11, k.encode(), struct.pack(">II", 0, 0), v)  # SETQ
        ks = random.sample(KEYS, random.randint(1, 100))
        for i, k in enumerate(ks):
            out += hdr(0x0d, k.encode(), opaque=i)  # GETKQ
        out += hdr(0x0a, opaque=0xffff)  # NOOP
        c.send_pieces(out)
        got = {}
        while True:
            _, op, kl, el, _, st, bl, opq, _ = struct.unpack(">BBHBBHIIQ", c.take(24))
            body = c.take(bl)
            if op == 0x0a:
                break
            if op != 0x0d or st != 0:
                sys.exit("binary: unexpected response op %#x status %d %r" % (op, st, body))
            k = body[el:el + kl].decode()
            if ks[opq] != k:
                sys.exit("binary: opaque %d is not %s" % (opq, k))
            got[k] = body[el + kl:]
        check(ks, got, model, "binary")


model = {}
text(model, 100)
binary(model, 100)
print("ok: multi-gets: %d keys stored, every value exact (text and binary)" % len(model))
