#!/usr/bin/env python3
"""test_dlibos_top.py - dlibos-top against a fake telemetry server.

A SOCK_SEQPACKET unix server speaks DPDK's telemetry protocol v2 (the
greeting with max_output_len, then one JSON answer per command) with
counters that advance by known amounts between readings; dlibos-top
--once --json must report the rates, requests source, connections,
drops and the NoC matrix that follow from them, page /dlibos/noc, and
fail cleanly (status 1) when nothing listens. No DPDK needed.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

TOP = sys.argv[1]


def state(k):
    """The process's state at its k-th reading (k = 0, 1, ...)."""
    return {
        "/dlibos/info": {"version": "0", "pid": 1, "mode": "dlibos", "application": "httpd",
                         "idle_policy": "sleep", "cores": 2},
        "/dlibos/cores": {
            "cores": 2,
            "0": {"role": "network", "cpu": 0, "busy_us": 250000 * k, "rx_packets": 1000 * k,
                  "tx_packets": 900 * k, "noc_tx_msgs": 500 * k, "noc_rx_msgs": 400 * k,
                  "iterations": 10 * k, "conns": 7},
            "1": {"role": "application", "cpu": 1, "busy_us": 0, "noc_tx_msgs": 400 * k,
                  "noc_rx_msgs": 500 * k, "iterations": 10 * k},
        },
        "/dlibos/counters": {
            "httpd": {"requests": 300 * k},
            "tcp": {"rx_segments": 5, "drop_bad_checksum": 2 * k},
            "port": {"rx_packets": 1000 * k, "tx_packets": 900 * k, "rx_missed": k},
            "ipv4": {"drop_truncated": 0},
        },
    }


def noc(k, page):
    if page == "":
        return {"ncores": 2, "cores": {"0": {}, "1": {}},
                "channels": {"0_1": {"msgs": 500 * k}}, "next": 1}
    assert page == "1", page
    return {"ncores": 2, "cores": {"0": {}, "1": {}}, "channels": {"1_0": {"msgs": 400 * k}}}


def serve(path, ready):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv.bind(path)
    srv.listen(1)
    ready.set()
    conn, _ = srv.accept()
    conn.send(json.dumps({"version": "DPDK 22.11", "pid": 1, "max_output_len": 16384}).encode())
    reads = 0
    while True:
        data = conn.recv(1024)
        if not data:
            break
        text = data.decode()
        cmd, _, params = text.partition(",")
        if cmd == "/dlibos/cores":
            reads += 1
        k = max(reads - 1, 0)
        if cmd == "/dlibos/noc":
            value = noc(k, params)
        else:
            value = state(k).get(cmd)
        conn.send(json.dumps({cmd: value}).encode())
    conn.close()
    srv.close()


def main():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "dpdk_telemetry.v2")
    ready = threading.Event()
    t = threading.Thread(target=serve, args=(path, ready), daemon=True)
    t.start()
    ready.wait(5)
    r = subprocess.run([sys.executable, TOP, "--socket", path, "--once", "--json",
                        "--interval", "0.5"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    out = json.loads(r.stdout.decode())
    dt = out["interval_s"]
    t_ = out["totals"]

    def near(got, want):
        assert abs(got - want) <= 0.02 * want + 0.2, (got, want)

    near(t_["requests_per_s"], 300 / dt)
    assert t_["requests_source"] == "httpd.requests", t_
    assert t_["connections"] == 7, t_
    near(t_["drops_per_s"], 3 / dt)  # tcp.drop_bad_checksum +2, port.rx_missed +1
    near(t_["rx_pps"], 1000 / dt)
    c0 = out["cores"][0]
    near(c0["busy_pct"], min(25 / dt, 100))
    near(c0["rx_pps"], 1000 / dt)
    near(c0["noc_tx_per_s"], 500 / dt)
    m = out["noc_matrix"]
    assert m[0][0] == 0 and m[1][1] == 0, m
    near(m[0][1], 500 / dt)
    near(m[1][0], 400 / dt)  # from the second page of /dlibos/noc
    print("ok: rates, sources, connections, drops and the paged NoC matrix")
    # Nothing listening: a clean error.
    os.unlink(path)
    r = subprocess.run([sys.executable, TOP, "--socket", path, "--once"], capture_output=True,
                       timeout=10)
    assert r.returncode == 1 and b"cannot connect" in r.stderr, r
    print("ok: no process: status 1 and why")
    # The terminal view renders the same sample.
    ready.clear()
    t = threading.Thread(target=serve, args=(path, ready), daemon=True)
    t.start()
    ready.wait(5)
    r = subprocess.run([sys.executable, TOP, "--socket", path, "--once", "--interval", "0.2"],
                       capture_output=True, timeout=30)
    text = r.stdout.decode()
    assert r.returncode == 0 and "requests/s" in text and "NoC messages/s" in text, text
    print("ok: the terminal view")


if __name__ == "__main__":
    main()
