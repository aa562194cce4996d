#!/usr/bin/python3
"""kvs_report.py OUT SWEEP... - summarise bench/kvs.sh's memcaslap outputs.

Reads OUT/memcaslap-<server>-<run>.txt, prints a table (ops/s, latency
average, geometric mean, log2-bucket percentiles, ratios to memcached),
writes OUT/kvs.csv and, when matplotlib is there, OUT/kvs.png: ops/s against
concurrency (the sweep) and the latency distribution of the main text run.

memcaslap's latency histogram has log2 buckets: bucket i counts operations
that took more than 2^(i-1) and at most 2^i microseconds, so a percentile
is reported as the upper bound of its bucket ("<= 64").
"""
import csv
import os
import re
import sys

SERVERS = ["dlibos-rtc", "dlibos-1+1", "dlibos-rtc-tap", "memcached"]


def parse(path):
    r = {"tps": 0.0, "ops": 0, "misses": 0, "dist": {}, "avg": 0.0, "geo": 0.0,
         "std": 0.0, "min": 0, "max": 0}
    text = open(path).read()
    m = re.search(r"^Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)", text, re.M)
    if m:
        r["ops"] = int(m.group(2))
        r["tps"] = float(m.group(3))
    m = re.search(r"^get_misses: (\d+)", text, re.M)
    if m:
        r["misses"] = int(m.group(1))
    # the final "Total Statistics (N events)" block
    blk = text.split("Total Statistics (")
    if len(blk) > 1:
        b = blk[-1]
        for key in ("Min", "Max", "Avg", "Geo", "Std"):
            m = re.search(r"^\s+%s:\s+([\d.]+)" % key, b, re.M)
            if m:
                r[key.lower()] = float(m.group(1))
        dist = b.split("Log2 Dist:")[1] if "Log2 Dist:" in b else ""
        for line in dist.strip().splitlines():
            m = re.match(r"\s*(\d+):((?:\s+\d+)+)\s*$", line)
            if not m:
                break
            base = int(m.group(1))
            for i, n in enumerate(m.group(2).split()):
                r["dist"][base + i] = int(n)
    return r


def pct(dist, p):
    total = sum(dist.values())
    if total == 0:
        return 0
    acc = 0
    for i in sorted(dist):
        acc += dist[i]
        if acc >= p * total:
            return 2 ** i
    return 2 ** max(dist)


def main():
    out = sys.argv[1]
    sweep = [int(c) for c in sys.argv[2:]]
    res = {}
    for s in SERVERS:
        for tag in ["text", "binary"] + ["sweep-c%d" % c for c in sweep]:
            f = os.path.join(out, "memcaslap-%s-%s.txt" % (s, tag))
            if os.path.exists(f):
                res[(s, tag)] = parse(f)

    rows = []
    print("\n%-14s %-7s %10s %7s %8s %8s %7s %7s %7s %9s %9s" %
          ("server", "proto", "ops/s", "misses", "avg_us", "geo_us", "p50<=", "p99<=",
           "p999<=", "ops/mc", "avg/mc"))
    for proto in ("text", "binary"):
        base = res.get(("memcached", proto))
        for s in SERVERS:
            r = res.get((s, proto))
            if r is None:
                continue
            ratio = r["tps"] / base["tps"] if base and base["tps"] else float("nan")
            lat = r["avg"] / base["avg"] if base and base["avg"] else float("nan")
            p50, p99, p999 = pct(r["dist"], 0.5), pct(r["dist"], 0.99), pct(r["dist"], 0.999)
            print("%-14s %-7s %10.0f %7d %8.0f %8.1f %7d %7d %7d %9.2f %9.2f" %
                  (s, proto, r["tps"], r["misses"], r["avg"], r["geo"], p50, p99, p999,
                   ratio, lat))
            rows.append([s, proto, "main", r["tps"], r["misses"], r["avg"], r["geo"], r["std"],
                         r["min"], r["max"], p50, p99, p999, "%.3f" % ratio])
    if sweep:
        print("\nops/s against connections (text, memcaslap -T 1 -c N)")
        print("%-14s" % "server" + "".join("%10s" % ("c=%d" % c) for c in sweep))
        for s in SERVERS:
            line = "%-14s" % s
            for c in sweep:
                r = res.get((s, "sweep-c%d" % c))
                line += "%10.0f" % (r["tps"] if r else float("nan"))
                if r:
                    rows.append([s, "text", "c=%d" % c, r["tps"], r["misses"], r["avg"],
                                 r["geo"], r["std"], r["min"], r["max"],
                                 pct(r["dist"], 0.5), pct(r["dist"], 0.99),
                                 pct(r["dist"], 0.999), ""])
            print(line)

    with open(os.path.join(out, "kvs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["server", "protocol", "run", "ops_per_s", "get_misses", "avg_us", "geo_us",
                    "std_us", "min_us", "max_us", "p50_le_us", "p99_le_us", "p999_le_us",
                    "ops_ratio_to_memcached"])
        w.writerows(rows)

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s, mk in zip(SERVERS, ("o-", "s-", "^-")):
        xs = [c for c in sweep if (s, "sweep-c%d" % c) in res]
        if xs:
            a.plot(xs, [res[(s, "sweep-c%d" % c)]["tps"] for c in xs], mk, label=s)
        r = res.get((s, "text"))
        if r and r["dist"]:
            total = sum(r["dist"].values())
            xs2, ys2, acc = [], [], 0
            for i in sorted(r["dist"]):
                acc += r["dist"][i]
                xs2.append(2 ** i)
                ys2.append(acc / total)
            b.step(xs2, ys2, where="post", label=s)
    a.set_xscale("log", base=2)
    a.set_xlabel("connections (memcaslap -T 1 -c N, text)")
    a.set_ylabel("operations/s")
    a.set_title("throughput, server on one CPU")
    a.grid(True, alpha=0.3)
    a.legend()
    b.set_xscale("log", base=2)
    b.set_xlabel("latency (us, log2 buckets)")
    b.set_ylabel("fraction of operations")
    b.set_title("latency CDF, text, -c %s" % os.environ.get("CONNS", "16"))
    b.grid(True, alpha=0.3)
    b.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "kvs.png"), dpi=110)
    print("\nwrote %s and %s" % (os.path.join(out, "kvs.csv"), os.path.join(out, "kvs.png")))


if __name__ == "__main__":
    main()
