#!/usr/bin/env python3
"""Summarises an ncu --csv log of an `ollmlx bench` run: splits the kernels into forward passes
(each starts with the embedding kernel), and for the last pass prints, per kernel name, the
launches, GPU time and DRAM bytes, and the achieved bandwidth.
    tools/ncu_summary.py ncu.csv"""
import csv
import re
import sys
from collections import OrderedDict, defaultdict


def short(name):
    name = re.sub(r"\(.*", "", name)
    name = re.sub(r"ollmlx::cuda::(\(anonymous namespace\)::)?", "", name)
    return name[:60]


def main():
    rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
    head = rows[0]
    idx = {k: i for i, k in enumerate(head)}
    kernels = OrderedDict()
    for r in rows[1:]:
        if r[idx["ID"]] == "ID":
            continue
        kid = int(r[idx["ID"]])
        k = kernels.setdefault(kid, {"name": r[idx["Kernel Name"]], "grid": r[idx["Grid Size"]],
                                     "block": r[idx["Block Size"]]})
        unit = r[idx["Metric Unit"]]
        v = float(r[idx["Metric Value"]].replace(",", ""))
        m = r[idx["Metric Name"]]
        if m == "gpu__time_duration.sum":
            v *= {"nsecond": 1e-9, "ns": 1e-9, "usecond": 1e-6, "us": 1e-6, "msecond": 1e-3, "ms": 1e-3, "second": 1.0}.get(unit, 1e-9)
            k["t"] = v
        else:
            v *= {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9}.get(unit, 1)
            k[m] = v
    passes, cur = [], []
    for k in kernels.values():
        if "embed_kernel" in k["name"] and cur:
            passes.append(cur)
            cur = []
        cur.append(k)
    passes.append(cur)
    print(f"{len(kernels)} kernels, {len(passes)} passes; last pass: {len(passes[-1])} kernels")
    agg = defaultdict(lambda: [0, 0.0, 0.0])
    for k in passes[-1]:
        a = agg[short(k["name"])]
        a[0] += 1
        a[1] += k.get("t", 0)
        a[2] += k.get("dram__bytes_read.sum", 0) + k.get("dram__bytes_write.sum", 0)
    tot_t = sum(a[1] for a in agg.values())
    tot_b = sum(a[2] for a in agg.values())
    print(f"last pass GPU time {tot_t*1e3:.3f} ms, DRAM {tot_b/1e9:.3f} GB, {tot_b/max(tot_t,1e-12)/1e12:.2f} TB/s")
    print(f"{'kernel':60s} {'n':>4s} {'ms':>8s} {'%':>5s} {'GB':>7s} {'TB/s':>6s} {'us/launch':>9s}")
    for name, (n, t, b) in sorted(agg.items(), key=lambda x: -x[1][1]):
        print(f"{name:60s} {n:4d} {t*1e3:8.3f} {100*t/tot_t:5.1f} {b/1e9:7.3f} {b/max(t,1e-12)/1e12:6.2f} {t/n*1e6:9.1f}")


if __name__ == "__main__":
    main()
