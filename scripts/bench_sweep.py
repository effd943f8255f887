"""Instances per second of `ntpverify sweep` (compute: exact) by shape, workers and batch size.

    python scripts/bench_sweep.py --shape small --workers 1 2 --batch 1 4 16
    python scripts/bench_sweep.py --shape paper --seeds 6 --workers 1 2
    python scripts/bench_sweep.py --shape small --inline      # CPU seconds per instance, no Dask

Each run is a fresh sweep into a temporary folder on a LocalCluster. The rate counts rows from the
first row's arrival to the last (cluster start-up and the workers' one-off warm-up excluded); the
total wall time includes them. The load average is printed too: on a shared machine it matters.
``--inline`` runs the same instances one after the other in this process (each still in its forked
child) and reports CPU seconds per instance (this process and its children): the rate one worker
reaches on a core of its own, whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from ntpverify.sweep import parse_sweep
from ntpverify.sweep_run import run_sweep

SHAPES = {
    # tiny exact instances (about 0.05-0.2 s each): where per-task overhead would show
    "small": "grid: {{m: [8], d: [2, 4, 6, 8], V: [3], support: [1, 2]}}\nseeds: {seeds}\n",
    # the paper's App. A.2 shape (m = 50, d = 60, V = 10, |S_j| = 6)
    "paper": "grid: {{m: [50], d: [60], V: [10], support: [6]}}\nseeds: {seeds}\ntime_limit: 3600\n",
}


def bench(text: str, workers: int, batch: int) -> dict:
    raw = text.encode()
    sweep = parse_sweep(raw, "<bench>")
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = run_sweep(sweep, raw, os.path.join(tmp, "out"), workers=workers, batch=batch,
                        progress=lambda done, total: stamps.append(time.perf_counter()))
        wall = time.perf_counter() - start
    rows = out.ran
    # stamps[0] is the call before any work; one stamp per finished batch after it
    first, last = stamps[1], stamps[-1]
    n_first = min(batch, rows)
    rate = (rows - n_first) / (last - first) if last > first else float("nan")
    return {"rows": rows, "wall": wall, "rate": rate, "per_worker": rate / workers, "counts": out.counts}


def inline(text: str) -> dict:
    import resource

    from ntpverify.sweep_run import Job, run_item, warm_up

    sweep = parse_sweep(text.encode(), "<bench>")
    job = Job.of(sweep)
    warm_up(job)

    def cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    rows = [run_item(job, c, s) for c in sweep.cells for s in sweep.seeds]
    n = len(rows)
    for r in rows:
        print(f"  {r['cell']}:{r['seed']} {r['status']} {r['seconds']:.1f} s wall"
              + (f" separable={r['separable']} compatible={r['compatible']}" if r["status"] == "ok"
                 else f": {r['error']}"), flush=True)
    return {"rows": n, "cpu_per": (cpu() - c0) / n, "wall_per": (time.perf_counter() - t0) / n,
            "ok": sum(r["status"] == "ok" for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="small")
    ap.add_argument("--seeds", type=int, default=25)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[4])
    ap.add_argument("--inline", action="store_true", help="CPU seconds per instance, in this process")
    a = ap.parse_args()
    text = "name: bench\ncompute: exact\n" + SHAPES[a.shape].format(seeds=a.seeds)
    print(f"shape {a.shape}: {parse_sweep(text, '<bench>').size} instances; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if a.inline:
        r = inline(text)
        print(f"{r['rows']} instances ({r['ok']} ok): {r['cpu_per']:.3f} CPU s each "
              f"({1 / r['cpu_per']:.2f} instances/s per worker with a core of its own); "
              f"wall {r['wall_per']:.3f} s each here")
        return
    print(f"{'workers':>7} {'batch':>5} {'rows':>5} {'wall s':>7} {'inst/s':>7} {'per worker':>10}")
    for w in a.workers:
        for b in a.batch:
            r = bench(text, w, b)
            print(f"{w:>7} {b:>5} {r['rows']:>5} {r['wall']:>7.1f} {r['rate']:>7.2f} {r['per_worker']:>10.3f}",
                  flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
