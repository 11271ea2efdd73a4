#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Turns the BENCH-* lines of suite.py runs into the comparison table (stdout and table.txt),
results.json and a PNG bar chart (gnuplot).

    report.py --out DIR --host-info JSON_FILE LOG [LOG...]

Each LOG is the output of one suite.py run (the in-L1 run and, in the test bed, the host's
tiny-guest run). Exit status 1 when a metric failed or has no samples for a VMM that should
have them, 0 otherwise. Medians are of the repetitions; nothing is filled in for a missing
value.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

KB, QEMU = "kbhyve", "qemu"
# QEMU has no clock of its own for boot_self, and no manager for vmlist
KB_ONLY = {"boot_self_1", "boot_self_2", "vmlist_100", "host_vmlist_100"} | {
    f"storage_{m}_{k}" for m in ("snapshot", "clone", "copy") for k in ("btrfs", "xfs")} | {
    # a checkpoint's vCPU pause by bhyve's clock: QEMU 7.2 has no save that leaves the guest
    # running but a live migration (bench/snapshot.py)
    f"snap_pause_{mb}" for mb in (256, 1024)}
# QEMU's microvm machine: a yardstick with no kbhyve counterpart of its own (compare boot_init_N)
QEMU_ONLY = {"microvm_init_1", "microvm_init_2"}


def parse_logs(paths):
    metrics, infos, samples, errors = {}, [], [], []
    profiles.clear()
    for path in paths:
        with open(path, errors="replace") as f:
            for line in f:
                kind, _, rest = line.strip().partition(" ")
                if not kind.startswith("BENCH-"):
                    continue
                try:
                    obj = json.loads(rest)
                except ValueError:
                    continue
                if kind == "BENCH-META":
                    for m in obj["metrics"]:
                        metrics.setdefault(m["id"], m)
                elif kind == "BENCH-INFO":
                    infos.append(obj)
                elif kind == "BENCH-SAMPLE":
                    samples.append(obj)
                elif kind == "BENCH-ERROR":
                    errors.append(obj)
                elif kind == "BENCH-PROFILE":
                    profiles.append(obj)
    return metrics, infos, samples, errors


# BENCH-PROFILE lines (bench/bootprofile.py), filled by parse_logs
profiles = []


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def profile_table(profs):
    """The boot profile side by side: per key the median over repetitions of the count and of
    the time in ms (a key missing in a repetition counts 0)."""
    if not profs:
        return ""
    out = []
    reps = {vmm: [p for p in profs if p["vmm"] == vmm] for vmm in (KB, QEMU)}

    def section(title, field, top):
        keys = set()
        for vmm in (KB, QEMU):
            for p in reps[vmm]:
                keys |= set(p[field])
        med = {}
        for vmm in (KB, QEMU):
            for k in keys:
                rows = [p[field].get(k, {"n": 0, "us": 0.0}) for p in reps[vmm]]
                med[vmm, k] = (median([r["n"] for r in rows]) if rows else 0,
                               median([r["us"] for r in rows]) / 1000.0 if rows else 0.0)
        order = sorted(keys, key=lambda k: -(med[KB, k][0] + med[QEMU, k][0]))[:top]
        out.append(f"{title:<22} {'kbhyve n':>10} {'ms':>9} {'QEMU n':>10} {'ms':>9}")
        for k in order:
            out.append(f"  {k:<20} {med[KB, k][0]:>10.0f} {med[KB, k][1]:>9.1f} "
                       f"{med[QEMU, k][0]:>10.0f} {med[QEMU, k][1]:>9.1f}")
        out.append("")

    n = {vmm: len(reps[vmm]) for vmm in (KB, QEMU)}
    out.append(f"Boot profile (perf kvm stat, 1 vCPU, spawn -> exit; medians of {n[KB]} kbhyve "
               f"and {n[QEMU]} QEMU runs)")
    out.append("")
    section("KVM exit reason", "exits", 20)
    section("port I/O", "pio", 15)
    section("MMIO", "mmio", 10)
    for vmm in (KB, QEMU):
        init = [p["init_ms"] for p in reps[vmm] if p.get("init_ms") is not None]
        last = reps[vmm][-1]["initcalls"] if reps[vmm] else []
        out.append(f"{vmm}: guest clock at /init {median(init) if init else float('nan'):.0f} ms;"
                   f" slowest initcalls (last run, us): " +
                   ", ".join(f"{name} {us}" for name, us in last[:8]))
    return "\n".join(out)


def stats(values):
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values), "values": values}


def fmt(v, unit):
    if v is None:
        return "-"
    if unit == "kB":
        return f"{v / 1024:.1f}"
    if unit in ("count", "IOPS"):
        return f"{v:.0f}" if v >= 10 else f"{v:.1f}"
    if unit == "ms" and v < 10:
        return f"{v:.2f}"
    if unit == "MB/s" and v < 10:
        return f"{v:.2f}" if v >= 0.1 else f"{v:.3f}"
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}"


def shown_unit(unit):
    return {"kB": "MiB", "ms": "ms", "count": "n", "MB/s": "MB/s", "IOPS": "IOPS"}[unit]


def build_results(metrics, samples, errors):
    rows = []
    for mid, m in metrics.items():
        per = {}
        for vmm in (KB, QEMU):
            per[vmm] = stats([s["value"] for s in samples
                              if s["metric"] == mid and s["vmm"] == vmm])
        errs = [e for e in errors if e["metric"] == mid]
        if not per[KB] and not per[QEMU] and not errs:
            continue   # not run here (e.g. host_tiny_* on a host with real KVM)
        ratio = None
        if per[KB] and per[QEMU] and per[QEMU]["median"]:
            ratio = per[KB]["median"] / per[QEMU]["median"]
        rows.append({"id": mid, "label": m["label"], "unit": m["unit"],
                     "better": m.get("better", "lower"), "kbhyve": per[KB], "qemu": per[QEMU],
                     "ratio_kbhyve_over_qemu": ratio,
                     "errors": [{k: e[k] for k in ("vmm", "rep", "error")} for e in errs]})
    return rows


def table(rows):
    head = ["metric (lower is better, [+]: higher is better)", "unit", "kbhyve", "QEMU",
            "kb/QEMU", "reps", "kbhyve min-max", "QEMU min-max"]
    lines = []
    for r in rows:
        k, q, u = r["kbhyve"], r["qemu"], r["unit"]
        label = r["label"] + (" [+]" if r["better"] == "higher" else "")
        if r["errors"]:
            bad = sorted({e["vmm"] for e in r["errors"]})
            lines.append([label, shown_unit(u),
                          "FAILED" if KB in bad else fmt(k and k["median"], u),
                          "FAILED" if QEMU in bad else fmt(q and q["median"], u),
                          "-", "-", r["errors"][0]["error"][:60], ""])
            continue
        ratio = r["ratio_kbhyve_over_qemu"]
        reps = "/".join(str(x["n"]) for x in (k, q) if x)
        lines.append([label, shown_unit(u), fmt(k and k["median"], u),
                      fmt(q and q["median"], u) if q else "n/a",
                      f"{ratio:.2f}" if ratio is not None else "-", reps,
                      f"{fmt(k['min'], u)}-{fmt(k['max'], u)}" if k else "-",
                      f"{fmt(q['min'], u)}-{fmt(q['max'], u)}" if q else "-"])
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    out = []
    for j, row in enumerate([head] + lines):
        cells = [str(c).ljust(widths[i]) if i == 0 else str(c).rjust(widths[i])
                 for i, c in enumerate(row)]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


# Chart panels: (title, y label, unit divisor, metric ids)
PANELS = [
    ("Boot and start-up", "seconds (log scale)", 1000.0,
     ["boot_init_1", "boot_exit_1", "boot_init_2", "boot_exit_2", "tiny_first_out",
      "tiny_exit", "host_tiny_first_out"]),
    ("10 guests (1 vCPU, 128 MiB)", "seconds", 1000.0, ["many_seq", "many_par_init"]),
    ("Memory", "MiB (log scale)", 1024.0,
     ["mem_overhead", "mem_rss", "many_par_overhead", "many_par_pss_overhead", "many_par_rss"]),
    ("virtio-blk, QD1 (higher is better)", "MB/s", 1.0, ["blk_seq_write", "blk_seq_read"]),
    ("virtio-blk 4 KiB random read (higher is better)", "IOPS", 1.0, ["blk_rand_read"]),
    ("virtio-net TCP over a tap (higher is better)", "MB/s", 1.0, ["net_g2h", "net_h2g"]),
    ("KVM exits per unit of I/O (diagnostic)", "exits per MiB or per I/O (log scale)", 1.0,
     ["blk_seq_write_exits", "blk_seq_read_exits", "blk_rand_read_exits", "net_g2h_exits",
      "net_h2g_exits"]),
    ("VMM CPU outside the guest (diagnostic)", "ms per MiB or per 1000 I/Os (log scale)", 1.0,
     ["blk_seq_write_cpu", "blk_seq_read_cpu", "blk_rand_read_cpu", "net_g2h_cpu",
      "net_h2g_cpu"]),
    ("Snapshot save and restore (half-filled guest)", "seconds", 1000.0,
     ["snap_suspend_256", "snap_restore_256", "snap_suspend_1024", "snap_restore_1024"]),
    ("Snapshot size on disk", "MiB", 1024.0, ["snap_size_256", "snap_size_1024"]),
    ("Live migration, 1 GiB guest (idle; busy: 256 MiB rewritten in a loop)", "seconds", 1000.0,
     ["migrate_total_idle", "migrate_pause_idle", "migrate_total_busy", "migrate_pause_busy"]),
]
SHORT = {"boot_init_1": "init 1vCPU", "boot_exit_1": "exit 1vCPU", "boot_init_2": "init 2vCPU",
         "boot_exit_2": "exit 2vCPU", "tiny_first_out": "tiny 1st byte",
         "tiny_exit": "tiny exit", "host_tiny_first_out": "tiny 1st byte (host)",
         "many_seq": "10 in a row", "many_par_init": "10 at once: all init",
         "mem_overhead": "overhead", "mem_rss": "RSS", "many_par_overhead": "10x overhead",
         "many_par_pss_overhead": "10x overhead (PSS)",
         "many_par_rss": "10x RSS", "blk_seq_write": "seq write 1M", "blk_seq_read": "seq read 1M",
         "blk_rand_read": "rand read 4k", "net_g2h": "guest -> host", "net_h2g": "host -> guest",
         "blk_seq_write_exits": "blk seq write /MiB", "blk_seq_read_exits": "blk seq read /MiB",
         "blk_rand_read_exits": "blk rand read /IO", "net_g2h_exits": "net g2h /MiB",
         "net_h2g_exits": "net h2g /MiB", "blk_seq_write_cpu": "blk seq write /MiB",
         "blk_seq_read_cpu": "blk seq read /MiB", "blk_rand_read_cpu": "blk rand read /1000",
         "net_g2h_cpu": "net g2h /MiB", "net_h2g_cpu": "net h2g /MiB",
         "snap_suspend_256": "save 256M", "snap_restore_256": "restore 256M",
         "snap_suspend_1024": "save 1G", "snap_restore_1024": "restore 1G",
         "snap_size_256": "256 MiB guest", "snap_size_1024": "1 GiB guest",
         "migrate_total_idle": "total idle", "migrate_pause_idle": "pause idle",
         "migrate_total_busy": "total busy", "migrate_pause_busy": "pause busy"}


def chart(rows, out_dir, subtitle):
    """Grouped bars (median, whiskers min-max), kbhyve next to QEMU, one panel per scale."""
    by_id = {r["id"]: r for r in rows}
    plots = []
    for p, (title, ylabel, div, ids) in enumerate(PANELS):
        dat = os.path.join(out_dir, f"chart-{p}.dat")
        n = 0
        with open(dat, "w") as f:
            for mid in ids:
                r = by_id.get(mid)
                if not r or not r[KB] or not r[QEMU]:
                    continue   # the chart compares: a metric that failed is left out
                cols = []
                for vmm in (KB, QEMU):
                    s = r[vmm]
                    cols += [f"{s[k] / div:.6g}" for k in ("median", "min", "max")] if s \
                        else ["NaN"] * 3
                f.write(f"\"{SHORT.get(mid, mid)}\" " + " ".join(cols) + "\n")
                n += 1
        if n:
            plots.append((title, ylabel, dat, "log" in ylabel))
    if not plots:
        return None
    png = os.path.join(out_dir, "bench.png")
    subtitle = subtitle.replace('"', "'")
    ncols = min(len(plots), 4)
    nrows = (len(plots) + ncols - 1) // ncols
    gp = [f"set terminal pngcairo size {420 * ncols + 200},{560 * nrows} font 'sans,10'",
          f"set output '{png}'",
          f"set multiplot layout {nrows},{ncols} title \"kbhyve vs QEMU/KVM: median of the "
          f"repetitions, whiskers min-max\\n{subtitle}\"",
          "set style data histograms", "set style histogram errorbars gap 1 lw 1",
          "set style fill solid 0.7 border -1", "set boxwidth 0.9", "set xtics rotate by -30",
          "set key outside top center horizontal", "set grid ytics"]
    for title, ylabel, dat, log in plots:
        gp += [f"set title '{title}'", f"set ylabel '{ylabel}'",
               "set logscale y" if log else "unset logscale y",
               "set yrange [*:*]" if log else "set yrange [0:*]",
               f"plot '{dat}' using 2:3:4:xtic(1) title 'kbhyve' lc rgb '#2a6fb0', "
               f"'' using 5:6:7 title 'QEMU' lc rgb '#d08a2a'"]
    gp.append("unset multiplot")
    script = os.path.join(out_dir, "chart.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        raise RuntimeError(f"gnuplot failed: {r.stderr.strip()[-500:]}")
    return png


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--host-info", required=True)
    p.add_argument("logs", nargs="+")
    a = p.parse_args()
    metrics, infos, samples, errors = parse_logs(a.logs)
    with open(a.host_info) as f:
        host = json.load(f)
    if not metrics:
        print("report.py: no BENCH-META line: the suite did not run", file=sys.stderr)
        return 1
    rows = build_results(metrics, samples, errors)
    # a VMM that should have a metric but has no sample (and no error line: the suite died)
    problems = [f"{r['id']}: {e['vmm']} rep {e['rep']}: {e['error']}"
                for r in rows for e in r["errors"]]
    for r in rows:
        for vmm in (KB, QEMU):
            if (vmm == QEMU and r["id"] in KB_ONLY) or (vmm == KB and r["id"] in QEMU_ONLY):
                continue
            if not r[vmm] and not any(e["vmm"] == vmm for e in r["errors"]):
                problems.append(f"{r['id']}: no {vmm} sample")
    where = next((i for i in infos if i.get("where") != "host"), infos[0] if infos else {})
    subtitle = (f"{where.get('where', '?')}, guest kernel {host.get('guest_kernel', '?')}, "
                f"{host.get('cpu_model', '?')}, {host.get('git_commit', '?')[:12]}")
    results = {"host": host, "machines": infos, "metrics": rows,
               "problems": problems, "samples": samples}
    os.makedirs(a.out, exist_ok=True)
    text = table(rows)
    with open(os.path.join(a.out, "table.txt"), "w") as f:
        f.write(text + "\n")
    print(text)
    print()
    print("ratio = kbhyve median / QEMU median: below 1 kbhyve is better, except for the rows "
          "marked [+] (throughput, IOPS),\nwhere above 1 kbhyve is better. Times in ms, "
          "memory in MiB, n = count, MB = 10^6 bytes.")
    try:
        png = chart(rows, a.out, subtitle)
        results["chart"] = png
        print(f"chart: {png}")
    except (OSError, RuntimeError) as e:
        problems.append(f"chart: {e}")
    prof = profile_table(profiles)
    if prof:
        results["profiles"] = profiles
        with open(os.path.join(a.out, "profile.txt"), "w") as f:
            f.write(prof + "\n")
        print()
        print(prof)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(f"results: {os.path.join(a.out, 'results.json')}")
    if problems:
        print("\nFAILED metrics (no number is reported for them):", file=sys.stderr)
        for pr in problems:
            print("  " + pr, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
