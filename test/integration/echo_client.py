#!/usr/bin/python3
"""Concurrent TCP echo client used by the integration tests.

Opens --conns connections to HOST:PORT at once; each sends --bytes bytes of
seeded pseudo-random data in random-sized writes while reading the echo,
and checks the echoed bytes are exactly what it sent. Prints one JSON line
with the counts; exits 0 only if every connection completed byte-exact
(or, with --allow-stalled, if the ones that did not finish only stalled
without corruption).

--upper expects the echo in upper case (ASCII a-z to A-Z, every other byte
unchanged): the tutorial's server (docs/tutorial/upper.c).

--hold S keeps every connection open until all have finished their echo,
prints "holding N open" (N connections open at once), waits S seconds (the
caller inspects the server meanwhile) and only then closes them all.
"""
import argparse
import asyncio
import json
import random
import sys
import time


class Hold:
    """Barrier for --hold: the last connection to finish its echo reports
    how many are open, waits, and releases the others to close."""

    def __init__(self, conns, seconds):
        self.left = conns
        self.seconds = seconds
        self.open = 0
        self.release = asyncio.Event()

    async def finished(self):
        self.left -= 1
        if self.left == 0:
            print(f"holding {self.open} open", flush=True)
            await asyncio.sleep(self.seconds)
            self.release.set()
        await self.release.wait()


async def one(host, port, idx, nbytes, seed, timeout, result, hold=None, upper=False):
    rng = random.Random(seed * 1000003 + idx)
    data = rng.randbytes(nbytes)
    want = data.upper() if upper else data  # bytes.upper(): ASCII a-z only
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except Exception as e:  # noqa: BLE001 - report every failure kind
        result["connect_failed"] += 1
        result["errors"].append(f"conn {idx}: connect: {e!r}")
        if hold:
            await hold.finished()
        return
    if hold:
        hold.open += 1
    received = bytearray()

    async def writer_task():
        off = 0
        while off < nbytes:
            n = min(nbytes - off, rng.choice([1, 7, 100, 1460, 4000, 16384, 65536]))
            writer.write(data[off:off + n])
            await writer.drain()
            off += n

    async def reader_task():
        while len(received) < nbytes:
            chunk = await reader.read(65536)
            if not chunk:
                break
            received.extend(chunk)

    try:
        await asyncio.wait_for(asyncio.gather(writer_task(), reader_task()), timeout)
    except asyncio.TimeoutError:
        pass
    except Exception as e:  # noqa: BLE001
        result["errors"].append(f"conn {idx}: {e!r}")
    if bytes(received) == want:
        result["ok"] += 1
        result["max_s"] = max(result["max_s"], time.monotonic() - t0)
    elif want.startswith(bytes(received)):
        result["stalled"] += 1
    else:
        result["corrupt"] += 1
        result["errors"].append(f"conn {idx}: echoed bytes differ after {len(received)} bytes")
    if hold:
        await hold.finished()
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 5)
    except Exception:  # noqa: BLE001 - closing a stalled/reset connection may fail
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--bytes", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--allow-stalled", action="store_true")
    ap.add_argument("--upper", action="store_true", help="expect the echo in upper case")
    ap.add_argument("--hold", type=float, default=None,
                    help="keep all open until every echo finished, then S seconds more")
    a = ap.parse_args()
    result = {"conns": a.conns, "bytes": a.bytes, "ok": 0, "stalled": 0, "corrupt": 0,
              "connect_failed": 0, "max_s": 0.0, "errors": []}
    hold = Hold(a.conns, a.hold) if a.hold is not None else None
    await asyncio.gather(*(one(a.host, a.port, i, a.bytes, a.seed, a.timeout, result, hold,
                               a.upper)
                           for i in range(a.conns)))
    result["errors"] = result["errors"][:10]
    print(json.dumps(result))
    bad = result["corrupt"] + result["connect_failed"]
    if not a.allow_stalled:
        bad += result["stalled"]
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
