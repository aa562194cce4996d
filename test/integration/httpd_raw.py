#!/usr/bin/env python3
"""httpd_raw.py - raw-socket checks of dlibos-httpd that curl cannot make.

    httpd_raw.py protocol HOST PORT ROOT   status codes, pipelining, keep-alive,
                                           split requests, bodies, Date
    httpd_raw.py limits HOST PORT MAXCONNS IDLE_S
                                           connection limit and idle timeout

Every check prints what it sent and got when it fails; the exit status is
the number of failed checks (0: all passed). Bounded: every socket has a
timeout, every loop a count.
"""
import email.utils
import os
import socket
import sys
import time

TIMEOUT = 10.0
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL: " + msg, flush=True)


def ok(msg):
    print("ok: " + msg, flush=True)


def connect(host, port):
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Reader:
    """Reads HTTP/1.1 responses framed by Content-Length from a socket."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.eof = False

    def fill(self):
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
        self.buf += d
        return bool(d)

    def response(self, head_only=False):
        """(status, headers dict lower-case, body) or None at EOF."""
        while b"\r\n\r\n" not in self.buf:
            if not self.fill():
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise ValueError("bad status line %r" % lines[0])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            if not self.fill():
                raise ValueError("EOF inside a body (%d of %d bytes)" % (len(self.buf), n))
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(parts[1]), hdrs, body

    def closed(self):
        """True if the server closes the connection (EOF) with nothing more."""
        while not self.eof:
            if not self.fill():
                break
        return self.eof and not self.buf


def exchange(host, port, raw, nresp=1, head_only=False):
    s = connect(host, port)
    s.sendall(raw)
    r = Reader(s)
    out = [r.response(head_only) for _ in range(nresp)]
    return s, r, out


def check_status(host, port, name, raw, want, want_close, extra=None):
    try:
        s, r, (resp,) = exchange(host, port, raw)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (name, e))
        return
    if resp is None:
        fail("%s: no response to %r" % (name, raw[:80]))
        return
    st, h, body = resp
    if st != want:
        fail("%s: status %d, want %d (sent %r)" % (name, st, want, raw[:80]))
    elif want_close and h.get("connection", "").lower() != "close":
        fail("%s: no 'Connection: close' in %r" % (name, h))
    elif want_close and not r.closed():
        fail("%s: connection not closed after the response" % name)
    elif extra and not extra(h, body):
        fail("%s: unexpected headers/body %r %r" % (name, h, body[:80]))
    else:
        ok("%s -> %d" % (name, st))
    s.close()


def read_file(root, rel):
    with open(os.path.join(root, rel), "rb") as f:
        return f.read()


def protocol(host, port, root):
    host1 = b"Host: t\r\n"
    index = read_file(root, "index.html")
    small = read_file(root, "small.txt")
    big = read_file(root, "100k.bin")

    # Status codes.
    check_status(host, port, "404", b"GET /missing HTTP/1.1\r\n" + host1 + b"\r\n", 404, False)
    check_status(host, port, "405", b"DELETE / HTTP/1.1\r\n" + host1 + b"\r\n", 405, False,
                 lambda h, b: h.get("allow") == "GET, HEAD")
    check_status(host, port, "400 garbage", b"\x16\x03\x01garbage\r\n\r\n", 400, True)
    check_status(host, port, "400 no Host", b"GET / HTTP/1.1\r\n\r\n", 400, True)
    check_status(host, port, "400 obs-fold",
                 b"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400, True)
    check_status(host, port, "400 traversal",
                 b"GET /../../etc/passwd HTTP/1.1\r\n" + host1 + b"\r\n", 400, True)
    check_status(host, port, "400 encoded traversal",
                 b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n" + host1 + b"\r\n", 400, True)
    check_status(host, port, "414", b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n" + host1 + b"\r\n",
                 414, True)
    check_status(host, port, "431",
                 b"GET / HTTP/1.1\r\n" + host1 + b"".join(
                     b"X-Pad-%03d: %s\r\n" % (i, b"p" * 100) for i in range(100)) + b"\r\n",
                 431, True)
    check_status(host, port, "505", b"GET / HTTP/2.0\r\n\r\n", 505, True)
    check_status(host, port, "301", b"GET /sub HTTP/1.1\r\n" + host1 + b"\r\n", 301, False,
                 lambda h, b: h.get("location") == "/sub/")
    check_status(host, port, "percent-decoding",
                 b"GET /sub%20dir/page.html?x=1 HTTP/1.1\r\n" + host1 + b"\r\n", 200, False,
                 lambda h, b: b == read_file(root, "sub dir/page.html"))

    # Date: IMF-fixdate, within 2 s of this clock.
    try:
        s, r, ((st, h, _),) = exchange(host, port, b"HEAD / HTTP/1.1\r\n" + host1 + b"\r\n",
                                       head_only=True)
        s.close()
        d = email.utils.parsedate_to_datetime(h["date"]).timestamp()
        if abs(d - time.time()) > 2 or not h["date"].endswith(" GMT"):
            fail("Date %r is %.1f s off" % (h["date"], d - time.time()))
        elif h.get("server") != "dlibos-httpd" or h.get("content-type") != "text/html":
            fail("headers %r" % h)
        else:
            ok("Date %r, Server, Content-Type" % h["date"])
    except (OSError, ValueError, KeyError) as e:
        fail("Date: %s" % e)

    # Pipelining: answered in order, HEAD without a body.
    reqs = [(b"GET /small.txt", small, False), (b"HEAD /100k.bin", b"", True),
            (b"GET /missing", None, False), (b"GET /", index, False),
            (b"GET /100k.bin", big, False)]
    raw = b"".join(m + b" HTTP/1.1\r\n" + host1 + b"\r\n" for m, _, _ in reqs)
    try:
        s = connect(host, port)
        s.sendall(raw)
        r = Reader(s)
        good = True
        for i, (m, body, head) in enumerate(reqs):
            st, h, b = r.response(head)
            want = 404 if body is None else 200
            if st != want or (body is not None and not head and b != body):
                fail("pipelined #%d %r: status %d, %d body bytes" % (i, m, st, len(b)))
                good = False
            if head and h.get("content-length") != str(len(big)):
                fail("pipelined HEAD: Content-Length %r" % h.get("content-length"))
                good = False
        s.close()
        if good:
            ok("%d pipelined requests answered in order" % len(reqs))
    except (OSError, ValueError, TypeError) as e:
        fail("pipelining: %s" % e)

    # HTTP/1.0 keep-alive, then a 1.0 request without it closes.
    try:
        s = connect(host, port)
        r = Reader(s)
        for i in range(3):
            s.sendall(b"GET /small.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            st, h, b = r.response()
            if st != 200 or b != small or h.get("connection", "").lower() != "keep-alive" \
                    or "keep-alive" not in h or "content-length" not in h:
                fail("HTTP/1.0 keep-alive #%d: %d %r" % (i, st, h))
        s.sendall(b"GET /small.txt HTTP/1.0\r\n\r\n")
        st, h, b = r.response()
        if st != 200 or b != small or h.get("connection", "").lower() != "close":
            fail("HTTP/1.0 close: %d %r" % (st, h))
        elif not r.closed():
            fail("HTTP/1.0 without keep-alive: connection left open")
        else:
            ok("HTTP/1.0 keep-alive x3 then close")
        s.close()
    except (OSError, ValueError, TypeError) as e:
        fail("HTTP/1.0: %s" % e)

    # HTTP/1.1 Connection: close; a request sent after it is not answered.
    try:
        s = connect(host, port)
        s.sendall(b"GET /small.txt HTTP/1.1\r\n" + host1 + b"Connection: close\r\n\r\n"
                  b"GET / HTTP/1.1\r\n" + host1 + b"\r\n")
        r = Reader(s)
        st, h, b = r.response()
        if st != 200 or b != small or not r.closed():
            fail("HTTP/1.1 Connection: close: %d, closed %s" % (st, r.eof))
        else:
            ok("HTTP/1.1 Connection: close (following request dropped, FIN)")
        s.close()
    except (OSError, ValueError, TypeError) as e:
        fail("HTTP/1.1 close: %s" % e)

    # A request split into single bytes (separate segments).
    try:
        s = connect(host, port)
        for c in b"GET /small.txt HTTP/1.1\r\n" + host1 + b"\r\n":
            s.send(bytes([c]))
            time.sleep(0.002)
        st, h, b = Reader(s).response()
        if st != 200 or b != small:
            fail("byte-by-byte request: %d" % st)
        else:
            ok("request sent byte by byte")
        s.close()
    except (OSError, ValueError, TypeError) as e:
        fail("byte-by-byte: %s" % e)

    # A body is skipped and the connection goes on.
    try:
        s = connect(host, port)
        s.sendall(b"POST /form HTTP/1.1\r\n" + host1 + b"Content-Length: 20\r\n\r\n0123456789")
        time.sleep(0.05)
        s.sendall(b"0123456789GET /small.txt HTTP/1.1\r\n" + host1 + b"\r\n")
        r = Reader(s)
        a, b2 = r.response(), r.response()
        if a[0] != 405 or b2[0] != 200 or b2[2] != small:
            fail("request body: %d then %d" % (a[0], b2[0]))
        else:
            ok("request body skipped, next request answered")
        s.close()
    except (OSError, ValueError, TypeError) as e:
        fail("request body: %s" % e)

    # Half-close right after the requests: still answered, then FIN.
    try:
        s = connect(host, port)
        s.sendall(b"GET /small.txt HTTP/1.1\r\n" + host1 + b"\r\n" +
                  b"GET / HTTP/1.1\r\n" + host1 + b"\r\n")
        s.shutdown(socket.SHUT_WR)
        r = Reader(s)
        a, b2 = r.response(), r.response()
        if a[2] != small or b2[2] != index or not r.closed():
            fail("half-close: answers or FIN missing")
        else:
            ok("requests then half-close: answered, then FIN")
        s.close()
    except (OSError, ValueError, TypeError) as e:
        fail("half-close: %s" % e)

    # Connect and close without a request (wrk's probe).
    for _ in range(5):
        connect(host, port).close()
    check_status(host, port, "after probe connections",
                 b"GET /small.txt HTTP/1.1\r\n" + host1 + b"\r\n", 200, False)


def limits(host, port, maxconns, idle_s):
    req = b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    held = []
    try:
        for i in range(maxconns):
            s = connect(host, port)
            s.sendall(req)
            if Reader(s).response() is None:
                fail("connection %d of %d not served" % (i + 1, maxconns))
            held.append(s)
        t0 = time.time()
        extra = connect(host, port)
        try:
            extra.sendall(req)
            r = Reader(extra)
            if r.response() is not None:
                fail("connection %d beyond --max-conns %d was served" % (maxconns + 1, maxconns))
            else:
                ok("connection beyond --max-conns %d refused" % maxconns)
        except (OSError, ValueError) as e:
            ok("connection beyond --max-conns refused (%s)" % e.__class__.__name__)
        extra.close()
        # Free one slot: a new connection is served again.
        held.pop().close()
        time.sleep(0.5)
        s = connect(host, port)
        s.sendall(req)
        if Reader(s).response() is None:
            fail("no service after a slot was freed")
        else:
            ok("served again after a slot was freed")
        held.append(s)
        # Idle connections are closed by the server after idle_s seconds.
        r = Reader(held[0])
        held[0].settimeout(idle_s + 5)
        if not r.closed():
            fail("idle connection not closed")
        else:
            waited = time.time() - t0
            if waited > idle_s + 3:
                fail("idle connection closed after %.1f s (timeout %d s)" % (waited, idle_s))
            else:
                ok("idle connection closed after %.1f s (timeout %d s)" % (waited, idle_s))
    except (OSError, ValueError) as e:
        fail("limits: %s" % e)
    for s in held:
        s.close()


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "protocol":
        protocol(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) >= 6 and sys.argv[1] == "limits":
        limits(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        print(__doc__)
        return 2
    print("%d check(s) failed" % failures)
    return min(failures, 100)


if __name__ == "__main__":
    sys.exit(main())
