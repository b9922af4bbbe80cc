#!/usr/bin/env python3
"""Turns the raw samples of ci/bench/run.sh into the performance table (markdown) and JSON.

    report.py SAMPLES.jsonl OUT.json   prints the markdown table, writes OUT.json

Each sample line is {"figure": ..., "value": number, ...labels}; every figure is reported as the
median of its samples with their min and max.
"""
import json
import statistics
import sys
from collections import OrderedDict


def load(path):
    groups = OrderedDict()
    meta = {}
    with open(path) as f:
        for line in f:
            s = json.loads(line)
            if s.get("figure") == "meta":
                meta.update(s["meta"])
                continue
            key = (s["figure"], s.get("endpoint", ""), s.get("connections", 0))
            groups.setdefault(key, []).append(s["value"])
    return meta, groups


def stat(values):
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def fmt(st, unit="", digits=0):
    def one(v):
        return f"{v:,.{digits}f}"

    if st["runs"] == 1 or st["min"] == st["max"]:
        return f"{one(st['median'])}{unit}"
    return f"{one(st['median'])}{unit} ({one(st['min'])}–{one(st['max'])})"


def main():
    meta, groups = load(sys.argv[1])
    figures = {}
    for (figure, endpoint, conns), values in groups.items():
        figures.setdefault(figure, {}).setdefault(endpoint or "-", {})[str(conns)] = stat(values)

    def get(figure, endpoint="-", conns="0"):
        return figures.get(figure, {}).get(endpoint, {}).get(conns)

    out = []
    out.append(f"Machine: {meta.get('machine', '?')}. Date: {meta.get('date', '?')}. "
               f"Command: `{meta.get('command', 'bash ci/bench/run.sh')}`. "
               f"Each figure: median of {meta.get('runs', '?')} runs (min–max).")
    if "load_start" in meta:
        out.append("")
        out.append(f"Load average (1, 5, 15 min) at start: {meta['load_start']}; at end: "
                   f"{meta['load_end']}. Transparent huge pages: `{meta.get('thp', '?')}`.")
    out.append("")
    out.append("| figure | value | goal |")
    out.append("|---|---|---|")
    rows = [
        ("static binary size", get("binary_bytes"), " B", 0, "≈ 1 MB"),
        ("RPM size", get("rpm_bytes"), " B", 0, ""),
        ("idle RSS of the service", get("idle_rss_kb"), " kB", 0, "≤ 3 MB"),
        ("AnonHugePages of the service, idle", get("idle_huge_kb"), " kB", 0, "0 kB"),
        (f"idle RSS of the host build (`cargo build --release`, glibc), "
         f"{meta.get('host_idle_seconds', 10)} s after start", get("host_idle_rss_kb"), " kB", 0,
         ""),
        ("AnonHugePages of the host build, idle", get("host_idle_huge_kb"), " kB", 0, "0 kB"),
        (f"CPU time over {meta.get('idle_seconds', 60)} idle seconds", get("idle_cpu_ticks"),
         " ticks", 0, "0 ticks"),
        ("cold start: connect → first response (socket activation)", get("cold_ms"), " ms", 2,
         "≤ 10 ms"),
        ("warm first response on a new connection", get("warm_ms"), " ms", 2, ""),
        ("peak RSS during the 256-connection runs", get("peak_rss_kb"), " kB", 0, "≤ 10 MB"),
        ("one stand-in `gopher-ctl probe get` (gala-gopher 2.x)", get("gopherctl_get_ms"), " ms",
         2, ""),
    ]
    for name, st, unit, digits, goal in rows:
        if st:
            out.append(f"| {name} | {fmt(st, unit, digits)} | {goal} |")
    out.append("")
    out.append("| endpoint | conns | p50 | p99 | req/s | errors | processes/request | peak RSS |")
    out.append("|---|---|---|---|---|---|---|---|")
    endpoints = [e for e in figures.get("rps", {})]
    for ep in endpoints:
        procs = get("procs_per_request", ep)
        for conns in sorted(figures["rps"][ep], key=int):
            p50 = get("p50_us", ep, conns)
            p99 = get("p99_us", ep, conns)
            rps = get("rps", ep, conns)
            err = get("errors", ep, conns)
            peak = get("run_peak_rss_kb", ep, conns)
            out.append(
                f"| {ep} | {conns} | {fmt(p50, ' µs')} | {fmt(p99, ' µs')} | {fmt(rps)} | "
                f"{fmt(err)} | {fmt(procs, '', 2) if procs else '?'} | "
                f"{fmt(peak, ' kB') if peak else ''} |"
            )
    text = "\n".join(out)
    print(text)
    with open(sys.argv[2], "w") as f:
        json.dump({"meta": meta, "figures": figures}, f, indent=2, sort_keys=True)
        f.write("\n")


main()
