"""benchmarks/plots.py: draws the documentation's performance plots (docs/plots/*.png) from the benchmarks' --json output.

Usage: python benchmarks/plots.py DATA_DIR OUT_DIR

DATA_DIR holds what `make plots` saved (each file is one `python -m manycore bench
NAME ... --json` output, unchanged):
  cpu.json   bench cpu --workers 1,2,4       -> cpu_scaling.png, memory_per_worker.png
  pool.json  bench pool --chunksizes ... --sizes ...
                                             -> tiny_tasks_by_chunksize.png, transfer_by_size.png
  data.json  bench data --json (optional: the codec benchmark). When present,
             transfer_by_size.png is drawn from it instead, with its "pickle" rows. The
             shape read: {"environment": {...}, "results": [{"label": str,
             "model": str (optional, picks the colour), "size_bytes": int,
             "best_s": float (seconds for one transfer of that size)}, ...]};
             rows without label, size_bytes or best_s are skipped.
Every figure names the benchmark, the Python and the load average it was measured at.
"""

import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI
import matplotlib.pyplot as plt  # noqa: E402

DPI = 110
SIZE = (6.4, 4.0)


# One colour per model in every figure (keys are the benchmarks' "model" fields).
COLORS = {
    "manycore": "tab:red", "manycore_executor": "tab:red", "manycore_pool": "tab:purple",
    "process_pool": "tab:blue", "mp_pool": "tab:brown", "threads": "tab:gray", "thread_pool": "tab:gray",
    "stdlib_interpreters": "tab:green", "stdlib_pool": "tab:green", "sequential": "black", "pickle": "black",
}


def display(label):
    """A legend label: matplotlib hides labels that start with '_' (the stdlib's private modules)."""
    if label.startswith("_"):
        return "stdlib " + label.lstrip("_").replace(" (stdlib)", "")
    return label


def style(model):
    ours = model.startswith("manycore")
    return {"color": COLORS.get(model), "marker": "o" if ours else ".", "linewidth": 2.5 if ours else 1.5,
            "zorder": 3 if ours else 2, "linestyle": "--" if model == "pickle" else "-"}


def lines(rows, x_key, y_of):
    """{(model, label): sorted [(x, y)]} from benchmark rows."""
    series = {}
    for row in rows:
        y = y_of(row)
        if y is not None and row.get(x_key) is not None:
            series.setdefault((row["model"], display(row["label"])), []).append((row[x_key], y))
    return {key: sorted(points) for key, points in sorted(series.items(), key=lambda item: item[0][1])}


def load(path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def footnote(figure, report, command):
    env = report["environment"]
    load_average = env.get("load_average_1_5_15")
    load_text = "/".join(f"{value:.1f}" for value in load_average) if load_average else "unknown"
    figure.text(0.01, 0.01, f"{command}\nPython {env['python']}, {env['cpus']} CPUs, "
                f"load average {load_text} (1/5/15 min) at the start, {env['date'][:16]}", fontsize=6.5,
                color="0.35")


def save(figure, out_dir, name):
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    path = out_dir / name
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    print(f"wrote {path}")


def cpu_scaling(cpu, out_dir):
    figure, axes = plt.subplots(figsize=SIZE)
    series = lines(cpu["results"], "workers", lambda row: row.get("speedup"))
    workers = sorted({w for points in series.values() for w, _ in points})
    cpus = cpu["environment"]["cpus"] or max(workers)
    axes.plot(workers, [min(w, cpus) for w in workers], color="0.7", linestyle=":", label=f"ideal on {cpus} cores")
    for (model, label), points in series.items():
        if model == "sequential":
            continue  # 1.0 by definition
        axes.plot([w for w, _ in points], [s for _, s in points], label=label, **style(model))
    axes.set_xticks(workers)
    axes.set_xlabel("workers (W copies of the task at once)")
    axes.set_ylabel("speedup over the same W calls in a row")
    axes.set_title("CPU-bound Python: speedup by number of workers")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    footnote(figure, cpu, "python -m manycore bench cpu --workers " + ",".join(map(str, workers)))
    save(figure, out_dir, "cpu_scaling.png")


def memory_per_worker(cpu, out_dir):
    memory, spawn = cpu["interpreter_memory"], cpu["spawn_process"]
    groups = [("manycore interpreter", memory["rss_per_interpreter_mib"], memory["rss_anon_per_interpreter_mib"]),
              ("spawned process\n(multiprocessing)", spawn["rss_mib"], spawn["rss_anon_mib"])]
    if any(value is None for _, rss, anon in groups for value in (rss, anon)):
        print("memory figures unavailable (no /proc): memory_per_worker.png not drawn")
        return
    figure, axes = plt.subplots(figsize=SIZE)
    positions = range(len(groups))
    width = 0.38
    rss_bars = axes.bar([p - width / 2 for p in positions], [rss for _, rss, _ in groups], width,
                        label="RSS (all resident pages)", color="tab:blue")
    anon_bars = axes.bar([p + width / 2 for p in positions], [anon for _, _, anon in groups], width,
                         label="private (RssAnon)", color="tab:orange")
    for bars in (rss_bars, anon_bars):
        axes.bar_label(bars, fmt="%.1f MiB", fontsize=8)
    axes.set_xticks(list(positions), [name for name, _, _ in groups])
    axes.set_ylabel("MiB per worker")
    axes.set_title("Memory per worker: interpreter vs process")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3, axis="y")
    footnote(figure, cpu, "python -m manycore bench cpu")
    save(figure, out_dir, "memory_per_worker.png")


def tiny_tasks(pool, out_dir):
    figure, axes = plt.subplots(figsize=SIZE)
    series = lines(pool["tiny"], "chunksize", lambda row: row["tasks_per_s"])
    chunksizes = sorted({c for points in series.values() for c, _ in points})
    for (model, label), points in series.items():
        if len(points) == 1 and len(chunksizes) > 1:  # threads ignore chunksize: one measurement, drawn across
            axes.axhline(points[0][1], linestyle="--", linewidth=1, color=COLORS.get(model, "0.5"),
                         label=f"{label} (no chunks)")
            continue
        axes.plot([c for c, _ in points], [t for _, t in points], label=label, **style(model))
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(chunksizes, [str(c) for c in chunksizes])
    axes.set_xlabel("chunksize")
    axes.set_ylabel("tasks per second (x + 1 per task)")
    axes.set_title("Tiny tasks through map, 2 workers")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3, which="both")
    footnote(figure, pool, "python -m manycore bench pool --chunksizes " + ",".join(map(str, chunksizes)))
    save(figure, out_dir, "tiny_tasks_by_chunksize.png")


def size_label(size):
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def transfer_by_size(pool, data, out_dir):
    figure, axes = plt.subplots(figsize=SIZE)
    if data is not None:
        rows = [{"model": row.get("model", row["label"]), **row} for row in data.get("results", [])
                if "label" in row and "best_s" in row]
        series = lines(rows, "size_bytes", lambda row: row["best_s"] * 1e6)
        source, ylabel = data, "microseconds per transfer"
        command = "python -m manycore bench data"
        title = "Data transfer cost by size"
    else:
        # One task carries the payload there and back (echo): the round trip's cost.
        series = lines(pool["bytes"], "size_bytes", lambda row: 1e6 / row["tasks_per_s"])
        source, ylabel = pool, "microseconds per task (payload there and back)"
        command = "python -m manycore bench pool --sizes ..."
        title = "Data transfer cost by size: echo task through map, 2 workers"
    sizes = sorted({s for points in series.values() for s, _ in points})
    for (model, label), points in series.items():
        axes.plot([s for s, _ in points], [t for _, t in points], label=label, **style(model))
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(sizes, [size_label(s) for s in sizes])
    axes.set_xlabel("payload size (bytes)")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3, which="both")
    footnote(figure, source, command)
    save(figure, out_dir, "transfer_by_size.png")


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    data_dir, out_dir = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    cpu, pool, data = load(data_dir / "cpu.json"), load(data_dir / "pool.json"), load(data_dir / "data.json")
    missing = [name for name, report in (("cpu.json", cpu), ("pool.json", pool)) if report is None]
    if missing:
        print(f"plots.py: {', '.join(missing)} missing in {data_dir}: run `make plots`", file=sys.stderr)
        return 1
    if data is None:
        print("bench data output absent (data.json): transfer_by_size.png drawn from bench pool --sizes")
    cpu_scaling(cpu, out_dir)
    memory_per_worker(cpu, out_dir)
    tiny_tasks(pool, out_dir)
    transfer_by_size(pool, data, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
