#!/usr/bin/env python3
"""observe_check.py - the telemetry checks of observe.sh and protected_observe.sh.

Runs inside the test's network namespace (its TCP clients reach the
server; the telemetry socket is a unix socket in the file system, which a
network namespace does not hide). Every telemetry query goes through the
stock dpdk-telemetry.py, as an operator would type it.

    observe_check.py telemetry PREFIX IP MODE CAPFILE   # httpd: rtc | dlibos11
    observe_check.py protected PREFIX IP APPNAME        # dlibosd + attached httpd

Prints "ok: ..." per check; exits 1 with the values involved on the first
failure.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

TELEMETRY = "dpdk-telemetry.py"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def query(prefix, *cmds):
    """Answers of dpdk-telemetry.py to each command, parsed."""
    text = "".join(c + "\n" for c in cmds)
    r = subprocess.run([TELEMETRY, "-f", prefix], input=text.encode(), capture_output=True,
                       timeout=30)
    lines = [ln for ln in r.stdout.decode().splitlines() if ln.strip()]
    if r.returncode != 0 or len(lines) != len(cmds):
        fail("dpdk-telemetry.py -f %s: status %d, %d lines for %d commands:\n%s\n%s"
             % (prefix, r.returncode, len(lines), len(cmds), r.stdout.decode(),
                r.stderr.decode()))
    out = []
    for cmd, line in zip(cmds, lines):
        try:
            reply = json.loads(line)
        except ValueError:
            fail("%s: not JSON: %r" % (cmd, line[:300]))
        key = cmd.split(",")[0]
        if not isinstance(reply, dict) or key not in reply:
            fail("%s: reply without the command: %r" % (cmd, line[:300]))
        out.append(reply[key])
    return out


def q1(prefix, cmd):
    return query(prefix, cmd)[0]


def need(cond, msg, value=None):
    if not cond:
        fail(msg + ("" if value is None else ": %s" % json.dumps(value)[:1500]))


def http_get(ip, n):
    for _ in range(n):
        with urllib.request.urlopen("http://%s/" % ip, timeout=10) as r:
            r.read()


def all_conns(prefix):
    """Every connection of /dlibos/conns, following 'next'."""
    conns, cursor = {}, None
    for _ in range(100):
        page = q1(prefix, "/dlibos/conns" + ("" if cursor is None else "," + cursor))
        need(page is not None and "error" not in page, "/dlibos/conns answers", page)
        conns.update(page.get("conns", {}))
        cursor = page.get("next")
        if cursor is None:
            return page.get("total"), conns
    fail("/dlibos/conns: more than 100 pages")


def held_connection(prefix, ip, app_core_ok):
    """A connection held open by us appears with its 4-tuple and state."""
    s = socket.create_connection((ip, 80), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # incomplete: the server waits
    lport = s.getsockname()[1]
    mine = None
    for _ in range(50):
        total, conns = all_conns(prefix)
        for cid, c in conns.items():
            if c.get("remote_port") == lport and c.get("remote_ip") == "10.0.0.1":
                mine = (cid, c)
        if mine is not None:
            break
        time.sleep(0.1)
    need(mine is not None, "our connection (10.0.0.1:%d) in /dlibos/conns" % lport, conns)
    cid, c = mine
    need(c["local_ip"] == ip and c["local_port"] == 80, "4-tuple local side", c)
    need(c["state"] == "ESTABLISHED", "state ESTABLISHED", c)
    need(app_core_ok(c), "owner cores", c)
    need(c["cwnd"] > 0 and c["rto_us"] > 0 and c["mss"] > 0 and c["rcv_wnd"] > 0,
         "cwnd, rto, mss, rcv_wnd positive", c)
    cc = os.environ.get("DL_CC", "cubic")
    need(c.get("cc") == cc and c.get("min_rtt_us", 0) > 0,
         "congestion control %s and a minimum RTT" % cc, c)
    if cc == "bbr":
        # a page fetched on this connection: the model has a min RTT at least
        need("bbr_bw_bytes_per_s" in c and c.get("bbr_min_rtt_us", 0) > 0,
             "BBR's model (bandwidth, min RTT) shown", c)
        need(c.get("bbr_mode") in ("startup", "drain", "probe_bw", "probe_rtt"),
             "BBR's mode shown", c)
        # paced by default (--tcp pacing=bbr): the rate is shown (0 here: a
        # veth's RTT is below the 1 ms pacing needs)
        need("pacing_rate_bytes_per_s" in c, "BBR's pacing rate shown", c)
    else:
        need("bbr_bw_bytes_per_s" not in c and "pacing_rate_bytes_per_s" not in c,
             "no BBR or pacing fields without BBR (default pacing=bbr)", c)
    need(total >= 1, "/dlibos/conns total >= 1", total)
    one = q1(prefix, "/dlibos/conn," + cid)
    need(one.get("conn") == int(cid) and one.get("remote_port") == lport
         and one.get("state") == "ESTABLISHED", "/dlibos/conn,%s" % cid, one)
    one = q1(prefix, "/dlibos/conn,%d:%d" % (one["net"], int(cid) & 0xffffffff))
    need(one.get("conn") == int(cid), "/dlibos/conn,NET:ID", one)
    ok("held connection 10.0.0.1:%d -> %s:80 in /dlibos/conns and /dlibos/conn: %s, "
       "net core %d, app core %d, cwnd %d, srtt %d us, rto %d us"
       % (lport, ip, c["state"], c["net_core"], c["app_core"], c["cwnd"], c["srtt_us"],
          c["rto_us"]))
    s.close()
    for _ in range(50):
        _, conns = all_conns(prefix)
        c2 = conns.get(cid)
        if c2 is None or c2["state"] != "ESTABLISHED":
            ok("after our close: %s" % ("gone" if c2 is None else c2["state"]))
            return
        time.sleep(0.1)
    fail("connection %s still ESTABLISHED 5 s after our close" % cid)


def all_timewait(prefix):
    """Every entry of /dlibos/timewait, following 'next'."""
    entries, cursor = {}, None
    for pages in range(1, 101):
        page = q1(prefix, "/dlibos/timewait" + ("" if cursor is None else "," + cursor))
        need(page is not None and "error" not in page, "/dlibos/timewait answers", page)
        entries.update(page.get("entries", {}))
        cursor = page.get("next")
        if cursor is None:
            all_timewait.pages = pages
            return page.get("total"), entries
    fail("/dlibos/timewait: more than 100 pages")


def closed_by_server(ip):
    """One request with 'Connection: close'; returns our port."""
    s = socket.create_connection((ip, 80), timeout=10)
    lport = s.getsockname()[1]
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass  # until the server's FIN
    s.close()
    return lport


def time_wait_entry(prefix, ip):
    """Requests with 'Connection: close': the server closes first, so its
    side of each connection waits out 2*MSL as a compact TIME_WAIT entry,
    listed by /dlibos/timewait (more than one page for 150 of them) and
    counted by /dlibos/conns."""
    ports = [closed_by_server(ip) for _ in range(150)]
    lport = ports[-1]
    mine, seen = None, set()
    for _ in range(50):
        total, entries = all_timewait(prefix)
        seen = {w.get("remote_port") for w in entries.values() if w.get("remote_ip") == "10.0.0.1"}
        for key, w in entries.items():
            if w.get("remote_port") == lport and w.get("remote_ip") == "10.0.0.1":
                mine = w
        if mine is not None and seen.issuperset(ports):
            break
        time.sleep(0.1)
    need(seen.issuperset(ports), "all 150 closed connections in /dlibos/timewait",
         sorted(set(ports) - seen))
    need(all_timewait.pages >= 2, "/dlibos/timewait paged (150 entries)", all_timewait.pages)
    need(mine is not None, "our closed connection (10.0.0.1:%d) in /dlibos/timewait" % lport,
         entries)
    need(mine["local_ip"] == ip and mine["local_port"] == 80, "TIME_WAIT 4-tuple", mine)
    need(0 < mine["expires_ms"] <= 61000, "TIME_WAIT expires_ms within 2*MSL (60 s)", mine)
    need(total >= 1, "/dlibos/timewait total >= 1", total)
    conns = q1(prefix, "/dlibos/conns")
    need(conns.get("time_wait", 0) >= 1, "/dlibos/conns time_wait >= 1", conns.get("time_wait"))
    ok("150 connections closed by the server in /dlibos/timewait (%d pages); 10.0.0.1:%d -> "
       "%s:80 has %d ms left (%d entries)"
       % (all_timewait.pages, lport, ip, mine["expires_ms"], total))


def check_common(prefix, ip):
    """Every command answers JSON; numbers move with traffic."""
    cmds = ["/dlibos/info", "/dlibos/counters", "/dlibos/counters,tcp", "/dlibos/cores",
            "/dlibos/noc", "/dlibos/conns", "/dlibos/capture", "/dlibos/timewait"]
    answers = query(prefix, *cmds)
    for cmd, a in zip(cmds, answers):
        need(isinstance(a, dict) and "error" not in a, cmd + " answers without error", a)
    info, counters, tcp, cores, noc, conns, cap, tw = answers
    need("time_wait" in conns and "total" in tw and "entries" in tw, "/dlibos/timewait", tw)
    need(info["version"] and info["cores"] == len(info["roles"]), "/dlibos/info", info)
    need("tcp" in counters and "noc" in counters or info["cores"] == 1, "/dlibos/counters", None)
    need("total" in tcp and "core0" in tcp and "rx_segments" in tcp["total"],
         "/dlibos/counters,tcp: total and per core", tcp)
    need(cores["cores"] == info["cores"] and "0" in cores, "/dlibos/cores", cores)
    need(noc["ncores"] == info["cores"], "/dlibos/noc", noc)
    ok("all %d commands answer JSON (dpdk-telemetry.py)" % len(cmds))
    # Errors are answers, not nulls.
    bad = query(prefix, "/dlibos/conn,999999999", "/dlibos/counters,nosuchmodule",
                "/dlibos/capture,bogus", "/dlibos/conns,x", "/dlibos/timewait,x")
    for a in bad:
        need(isinstance(a, dict) and "error" in a, "a bad parameter gets an error", a)
    need("tcp" in bad[1].get("modules", []), "unknown module: the modules are listed", bad[1])
    ok("bad parameters answer with an error")
    # Numbers move.
    before = query(prefix, "/dlibos/counters", "/dlibos/cores", "/dlibos/noc")
    http_get(ip, 20)
    after = query(prefix, "/dlibos/counters", "/dlibos/cores", "/dlibos/noc")
    d_rx = after[0]["tcp"]["rx_segments"] - before[0]["tcp"]["rx_segments"]
    need(d_rx >= 40, "tcp.rx_segments moved by >= 40 for 20 requests", d_rx)
    # The service has no application counters (they are in the attached
    # process); an httpd process has httpd.requests.
    if info.get("application") == "httpd":
        d_req = after[0]["httpd"]["requests"] - before[0]["httpd"]["requests"]
        need(d_req >= 20, "httpd.requests moved by >= 20", d_req)
    else:
        need("httpd" not in after[0], "no application counters in the service", after[0])
        d_req = 0
    net = [k for k, v in after[1].items() if isinstance(v, dict) and v.get("net", -1) >= 0]
    d_pk = sum(after[1][k]["rx_packets"] - before[1][k]["rx_packets"] for k in net)
    need(d_pk >= 40, "network cores' rx_packets moved", d_pk)
    d_it = after[1]["0"]["iterations"] - before[1]["0"]["iterations"]
    need(d_it > 0, "core 0 iterations moved", d_it)
    # dlibos mode: application traffic crosses the fabric (in protected
    # mode it crosses the slots' fabrics: /dlibos/apps counts it).
    if info["mode"] == "dlibos":
        a, b = after[2]["channels"], before[2]["channels"]
        need("0_1" in a and "1_0" in a, "channels 0_1 and 1_0", a)
        d01 = a["0_1"]["msgs"] - b["0_1"]["msgs"]
        d10 = a["1_0"]["msgs"] - b["1_0"]["msgs"]
        need(d01 >= 20 and d10 >= 20, "NoC messages both ways >= 20", [d01, d10])
        need(a["0_1"]["credits"] > 0, "credits on 0_1", a["0_1"])
        ok("NoC 0->1 +%d, 1->0 +%d messages for 20 requests" % (d01, d10))
    ok("20 requests moved tcp.rx_segments +%d, requests +%d, packets +%d" % (d_rx, d_req, d_pk))
    return info


def check_capture(prefix, ip, capfile):
    st = q1(prefix, "/dlibos/capture")
    if st.get("running"):
        need(st.get("file") and st["rx_frames"] > 0 and st["tx_frames"] > 0,
             "--capture running with frames both ways", st)
        ok("capture from the start: %d rx, %d tx frames so far" % (st["rx_frames"],
                                                                    st["tx_frames"]))
        st = q1(prefix, "/dlibos/capture,stop")
        need(st.get("running") == 0 and st.get("written", 0) > 0, "stop the --capture", st)
    st = q1(prefix, "/dlibos/capture,start," + capfile + ",snaplen=128,frames=1000")
    need("error" not in st and st.get("running") == 1 and st.get("snaplen") == 128,
         "/dlibos/capture,start", st)
    busy = q1(prefix, "/dlibos/capture,start," + capfile + "2")
    need("error" in busy, "a second capture is refused", busy)
    http_get(ip, 3)
    time.sleep(0.3)
    st = q1(prefix, "/dlibos/capture,stop")
    need(st.get("running") == 0 and st.get("written", 0) >= 12 and st["write_errors"] == 0
         and st["dropped_ring_full"] == 0, "/dlibos/capture,stop: frames written", st)
    ok("capture at run time: %d frames written to %s" % (st["written"], capfile))


def telemetry(prefix, ip, mode, capfile):
    info = check_common(prefix, ip)
    want_mode = "rtc" if mode == "rtc" else "dlibos"
    need(info["mode"] == want_mode and info["application"] == "httpd", "mode", info)
    app_core = (lambda c: c["app_core"] == 0) if mode == "rtc" else \
        (lambda c: c["app_core"] == 1 and c["net_core"] == 0)
    held_connection(prefix, ip, app_core)
    time_wait_entry(prefix, ip)
    check_capture(prefix, ip, capfile)


def protected(prefix, ip, appname):
    check_common(prefix, ip)
    apps = q1(prefix, "/dlibos/apps")
    need(isinstance(apps, dict) and apps.get("attached") == 1, "/dlibos/apps: one attached", apps)
    slot = [v for k, v in apps.items() if isinstance(v, dict) and v.get("state") == "active"]
    need(len(slot) == 1 and slot[0]["name"] == appname and slot[0]["app_cores"] >= 1
         and slot[0]["events_sent"] > 0 and slot[0]["commands_received"] > 0
         and slot[0]["bad_commands"] == 0, "/dlibos/apps: the slot", apps)
    ok("/dlibos/apps: %s in a slot, %d events sent, %d commands received"
       % (appname, slot[0]["events_sent"], slot[0]["commands_received"]))
    held_connection(prefix, ip, lambda c: c["app_core"] == -1 and c["slot"] >= 0
                    and c["slot_core"] == 0)


def main():
    if len(sys.argv) < 2:
        fail("usage: observe_check.py telemetry|protected ...")
    if sys.argv[1] == "telemetry" and len(sys.argv) == 6:
        telemetry(*sys.argv[2:6])
    elif sys.argv[1] == "protected" and len(sys.argv) == 5:
        protected(*sys.argv[2:5])
    else:
        fail("bad arguments: %s" % sys.argv[1:])


if __name__ == "__main__":
    main()
