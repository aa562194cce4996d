#!/usr/bin/env python3
"""httpd_report.py OUT SIZE... - summarise bench/httpd.sh's wrk outputs.

Reads OUT/wrk-SERVER-SIZE.txt for the servers dlibos-rtc, dlibos-1+1,
dlibos-rtc-tap, nginx and nginx-offl (when present), prints requests/s, latency percentiles (50/75/90/99) and the ratio
of each dlibos-httpd figure to nginx's, writes OUT/results.csv and, when
matplotlib is available, OUT/requests.png (requests/s against file size).
"""
import os
import re
import sys

SERVERS = ["dlibos-rtc", "dlibos-1+1", "dlibos-rtc-tap", "nginx", "nginx-offl"]
UNIT = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def parse(path):
    """{'rps':, 'p50':.., 'errors': str} from a wrk --latency output, or None."""
    try:
        text = open(path).read()
    except OSError:
        return None
    r = {"errors": ""}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        return None
    r["rps"] = float(m.group(1))
    for p in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
        r["p" + p] = float(m.group(1)) * UNIT[m.group(2)] if m else float("nan")
    m = re.search(r"Socket errors:.*", text)
    if m:
        r["errors"] = m.group(0)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        r["errors"] += " non-2xx %s" % m.group(1)
    return r


def main():
    out, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]]
    res = {(sv, s): parse(os.path.join(out, "wrk-%s-%d.txt" % (sv, s)))
           for sv in SERVERS for s in sizes}
    hdr = "%-14s %8s %10s %9s %9s %9s %9s %8s %8s" % (
        "server", "size", "req/s", "p50 us", "p75 us", "p90 us", "p99 us", "x nginx",
        "p99/ng")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for s in sizes:
        ng = res[("nginx", s)]
        for sv in SERVERS:
            r = res[(sv, s)]
            if r is None:
                continue
            ratio = r["rps"] / ng["rps"] if ng else float("nan")
            p99r = r["p99"] / ng["p99"] if ng else float("nan")
            print("%-14s %8d %10.0f %9.0f %9.0f %9.0f %9.0f %8.2f %8.2f %s" % (
                sv, s, r["rps"], r["p50"], r["p75"], r["p90"], r["p99"], ratio, p99r,
                r["errors"]))
            rows.append((sv, s, r["rps"], r["p50"], r["p75"], r["p90"], r["p99"], ratio))
    with open(os.path.join(out, "results.csv"), "w") as f:
        f.write("server,size_bytes,requests_per_s,p50_us,p75_us,p90_us,p99_us,ratio_to_nginx\n")
        for row in rows:
            f.write("%s,%d,%.0f,%.0f,%.0f,%.0f,%.0f,%.3f\n" % row)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return 0
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for sv in SERVERS:
        xs = [s for s in sizes if res[(sv, s)]]
        if not xs:
            continue
        ax[0].plot(xs, [res[(sv, s)]["rps"] for s in xs], marker="o", label=sv)
        ax[1].plot(xs, [res[(sv, s)]["p99"] for s in xs], marker="o", label=sv)
    ax[1].set_yscale("log")
    for a, t in ((ax[0], "requests/s"), (ax[1], "p99 latency (us)")):
        a.set_xscale("log")
        a.set_xlabel("file size (bytes)")
        a.set_ylabel(t)
        a.grid(True, which="both", alpha=0.3)
        a.legend()
    ax[0].set_title("wrk -t1 -c50, server on 1 CPU")
    ax[1].set_title("tail latency")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "requests.png"), dpi=100)
    print("plot: %s" % os.path.join(out, "requests.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
