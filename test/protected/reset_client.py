#!/usr/bin/python3
"""Echo client that tells resets from completions (protected_kill.sh).

Opens --conns connections to HOST:PORT; each streams --bytes bytes of
seeded data in 64 KiB writes while reading the echo, and ends as one of:
  ok       every byte echoed, byte-exact
  reset    the connection was reset or closed (EOF) before the end, and
           what was echoed until then was exact
  corrupt  echoed bytes differ from what was sent
  timeout  nothing conclusive within --timeout
Prints "connected N" once every connection is open (or failed to), then
one JSON line with the counts. Exit 0 when every connection ended as
--expect says (ok or reset), 1 otherwise.
"""
import argparse
import asyncio
import json
import random
import sys


BLOCK = 1 << 20


def expected(block, pos, n):
    """n bytes of the stream (block repeated) from position pos."""
    out = bytearray()
    while len(out) < n:
        at = (pos + len(out)) % BLOCK
        out += block[at:at + n - len(out)]
    return bytes(out)


def opened(res, conns):
    res["opened"] += 1
    if res["opened"] == conns:
        print(f"connected {conns - res['connect_failed']}", flush=True)


async def one(host, port, idx, nbytes, timeout, res, conns):
    block = random.Random(idx).randbytes(BLOCK)
    state = {"got": 0, "bad": False}
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    except Exception:  # noqa: BLE001
        res["connect_failed"] += 1
        opened(res, conns)
        return
    opened(res, conns)

    async def wr():
        for off in range(0, nbytes, 65536):
            writer.write(expected(block, off, min(65536, nbytes - off)))
            await writer.drain()

    async def rd():
        while state["got"] < nbytes:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionResetError("EOF")
            if chunk != expected(block, state["got"], len(chunk)):
                state["bad"] = True
            state["got"] += len(chunk)

    outcome = "ok"
    try:
        await asyncio.wait_for(asyncio.gather(wr(), rd()), timeout)
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        outcome = "reset"
    except asyncio.TimeoutError:
        outcome = "timeout"
    if state["bad"]:
        outcome = "corrupt"
    elif outcome == "ok" and state["got"] != nbytes:
        outcome = "timeout"
    res[outcome] += 1
    try:
        writer.close()
    except Exception:  # noqa: BLE001
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--expect", choices=["ok", "reset"], default="ok")
    a = ap.parse_args()
    res = {"ok": 0, "reset": 0, "corrupt": 0, "timeout": 0, "connect_failed": 0, "opened": 0}
    await asyncio.gather(*(one(a.host, a.port, i, a.bytes, a.timeout, res, a.conns)
                           for i in range(a.conns)))
    del res["opened"]
    print(json.dumps(res), flush=True)
    return 0 if res[a.expect] == a.conns else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
