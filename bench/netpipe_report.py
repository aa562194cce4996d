#!/usr/bin/python3
"""netpipe_report.py OUT PLOT BASELINE NAME... - summary of bench/netpipe.sh.

Reads OUT/np-NAME.out (NPtcp -o: bytes, Mbps, one-way seconds per line)
and OUT/lat-NAME.txt (one-way usec of the short 64-byte runs, one per
line), prints for each receiver the median 64-byte one-way latency of the
short runs (and the 64-byte point of the long run), the peak
throughput and the size it was reached at, with ratios to BASELINE (the
first name), writes OUT/summary.txt and plots Mbps against message size
(log-log) for every receiver into PLOT (needs python3-matplotlib; the table
is printed without it).
"""
import os
import sys


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 3:
                rows.append((int(p[0]), float(p[1]), float(p[2])))
    return rows


def median(v):
    v = sorted(v)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summary(rows, lat_runs):
    lat = {b: t for b, _, t in rows}
    peak = max(rows, key=lambda r: r[1])
    small = [t for b, _, t in rows if b <= 64]
    return {
        "lat64_us": median(lat_runs),
        "lat64_min": min(lat_runs) if lat_runs else float("nan"),
        "lat64_max": max(lat_runs) if lat_runs else float("nan"),
        "curve64_us": lat.get(64, float("nan")) * 1e6,
        "min_lat_us": min(small) * 1e6 if small else float("nan"),
        "peak_mbps": peak[1],
        "peak_bytes": peak[0],
        "points": len(rows),
        "largest": rows[-1][0],
    }


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, plot, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    data = {n: load(os.path.join(out, "np-%s.out" % n)) for n in names}
    lats = {}
    for n in names:
        path = os.path.join(out, "lat-%s.txt" % n)
        lats[n] = [float(x) for x in open(path).read().split()] if os.path.exists(path) else []
    sums = {n: summary(r, lats[n]) for n, r in data.items()}
    base = sums[names[0]]
    lines = [
        "%-14s %13s %15s %9s %11s %13s %11s %9s %7s"
        % ("receiver", "64B lat (us)", "(min..max, n)", "x " + names[0], "curve@64B",
           "peak (Mbps)", "at (bytes)", "x " + names[0], "points")
    ]
    for n in names:
        s = sums[n]
        lines.append(
            "%-14s %13.2f %15s %9.2f %11.2f %13.1f %11d %9.2f %7d"
            % (n, s["lat64_us"], "(%.1f..%.1f, %d)" % (s["lat64_min"], s["lat64_max"],
                                                        len(lats[n])),
               s["lat64_us"] / base["lat64_us"], s["curve64_us"], s["peak_mbps"],
               s["peak_bytes"], s["peak_mbps"] / base["peak_mbps"], s["points"]))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no matplotlib: no plot)")
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    for n in names:
        rows = data[n]
        ax.plot([r[0] for r in rows], [r[1] for r in rows], marker=".", label=n)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("throughput (Mbps)")
    ax.set_title("NetPIPE ping-pong: NPtcp transmitter against each receiver")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(plot, dpi=110)
    print("plot: %s" % plot)


if __name__ == "__main__":
    main()
