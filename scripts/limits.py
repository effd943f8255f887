"""Measure how large an instance the exact layer handles within a minute on this machine.

    python scripts/limits.py [--budget 60] [--by cpu|wall] [--timeout 150] [--axes V m d joint] [--seed 0]
    python scripts/limits.py --sizes 50,60,25,6 80,60,10,6 --seeds 0 1 2   # just these sizes (m,d,V,|S|)
    python scripts/limits.py --one M D V S SEED       # one measurement (used internally)

Instances come from scripts/random_case.py (``random_case_text(m, d, V, support, seed)``: entries
k/100, supports of size |S|, counts 1..9), grown from the paper size (m = 50, d = 60, V = 10,
|S| = 6) along V, m and d separately and along all three jointly. Each measurement runs in its own
subprocess (the loader's size bounds and the work envelope lifted in that process only), timing parse, ``run_exact``,
``exact_json`` and ``checker.verify``; a run is killed after ``--timeout`` seconds, and an axis
stops at the first size whose run_exact + checker.verify takes more than ``--budget`` seconds
(CPU time by default: robust against other load on the machine; ``--by wall`` for wall time).
Prints one table row per size: CPU and wall seconds of the exact part and the checker, the exact
part's CPU by phase (geometry, F, compatibility, SVM, step), peak memory, certificate size, the
longest number in it, and what the instance turned out to be (compatible, separable, dim F, tight
constraints, verified).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PAPER = dict(m=50, d=60, V=10, S=6)
AXES = {
    "V": [dict(PAPER, V=v) for v in (10, 15, 20, 25, 30, 40, 80)],
    "m": [dict(PAPER, m=m) for m in (50, 60, 70, 80, 100, 150, 200)],
    "d": [dict(PAPER, d=d) for d in (60, 120, 240, 480, 1000)],
    "joint": [dict(m=round(50 * f), d=round(60 * f), V=round(10 * f), S=round(6 * f))
              for f in (1, 1.2, 1.4, 1.6, 2, 3)],
}


def measure_one(m: int, d: int, V: int, S: int, seed: int) -> dict:
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    from random_case import random_case_text

    import ntpverify.instance as inst_mod
    for name in ("MAX_V", "MAX_M", "MAX_D", "MAX_CELLS"):      # this process only
        if hasattr(inst_mod, name):
            setattr(inst_mod, name, 10**9)
    from ntpverify import checker
    from ntpverify.runner import exact_json, run_exact

    import cvxpy  # noqa: F401  (imported here so that its import time is not counted as work)
    from ntpverify import exact, runner, svm

    phases: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            c = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.process_time() - c
        return wrapper

    runner.Geometry = timed("geometry", runner.Geometry)
    exact.subspace_F = timed("F", exact.subspace_F)
    exact.compatibility = timed("compat", exact.compatibility)
    svm.solve_svm = timed("svm", svm.solve_svm)
    exact.choose_step = timed("step", exact.choose_step)

    text = random_case_text(m, d, V, S, seed)
    t0 = time.perf_counter()
    case = inst_mod.parse_case(text.encode(), f"<random m={m} d={d} V={V} S={S} seed={seed}>", allow_large=True)
    t1 = time.perf_counter()
    c1 = time.process_time()
    ex = run_exact(case.instance, None)
    t2 = time.perf_counter()
    c2 = time.process_time()
    cert = {"format": "ntpverify-certificate/1",
            "case": {"V": V, "d": d, "m": m, "instance": case.instance.to_json()},
            "exact": exact_json(ex)}
    t3 = time.perf_counter()
    digits = max_digits(cert["exact"])       # the longest numerator or denominator, in digits
    c3 = time.process_time()
    problems = checker.verify(cert)
    t4 = time.perf_counter()
    c4 = time.process_time()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {"load": t1 - t0, "exact": t2 - t1, "json": t3 - t2, "check": t4 - t3,
            "total": t4 - t1, "cpu_exact": c2 - c1, "cpu_check": c4 - c3, "cpu_total": c4 - c1,
            "phases": {k: round(v, 2) for k, v in phases.items()}, "rss_mb": ru.ru_maxrss / 1024,
            "verified": not problems, "max_digits": digits,
            "compatible": ex.compat.compatible, "separable": ex.svm.separable,
            "F_dim": ex.F.dim, "tight": len(ex.svm.tight), "cert_kb": len(json.dumps(cert)) / 1024}


def max_digits(node) -> int:
    """The most digits of a numerator or denominator in the number strings of ``node``."""
    if isinstance(node, dict):
        return max((max_digits(v) for v in node.values()), default=0)
    if isinstance(node, list):
        return max((max_digits(v) for v in node), default=0)
    if isinstance(node, str) and node and node.lstrip("-").replace("/", "").isdigit():
        return max(len(p) for p in node.lstrip("-").split("/"))
    return 0


def run_child(size: dict, seed: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--one",
           str(size["m"]), str(size["d"]), str(size["V"]), str(size["S"]), str(seed)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": True, "wall": time.perf_counter() - start}
    finally:
        if proc.poll() is None:             # timeout, Ctrl-C or SIGTERM: stop our own child
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        return {"error": (err.strip().splitlines() or ["?"])[-1], "wall": time.perf_counter() - start}
    res = json.loads(out.strip().splitlines()[-1])
    res["wall"] = time.perf_counter() - start
    return res


def fmt_row(axis: str, size: dict, r: dict) -> str:
    head = (f"{axis:6} m={size['m']:5} d={size['d']:5} V={size['V']:4} |S|={size['S']:3} "
            f"Vd={size['V'] * size['d']:6} Vm={size['V'] * size['m']:6}")
    if r.get("timeout"):
        return f"{head}  TIMEOUT after {r['wall']:.0f} s"
    if "error" in r:
        return f"{head}  ERROR {r['error']}"
    ph = " ".join(f"{k} {v:.1f}" for k, v in r["phases"].items())
    return (f"{head}  cpu: exact {r['cpu_exact']:6.1f} check {r['cpu_check']:6.1f} total {r['cpu_total']:6.1f} s"
            f" | wall: exact {r['exact']:6.1f} check {r['check']:6.1f} total {r['total']:6.1f} s"
            f"  (exact cpu by phase: {ph}; load {r['load']:.2f}, json {r['json']:.2f}, rss {r['rss_mb']:.0f} MB,"
            f" cert {r['cert_kb']:.0f} kB) comp={int(r['compatible'])} sep={int(r['separable'])}"
            f" F={r['F_dim']} tight={r['tight']} digits={r.get('max_digits', '?')} ok={int(r['verified'])}"
            + ("  [> 4300 digits: needs the checker's flint parsing (commit 7040746)]"
               if r.get("max_digits", 0) > 4300 else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=5, type=int, metavar=("M", "D", "V", "S", "SEED"))
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=150.0)
    ap.add_argument("--axes", nargs="+", default=list(AXES), choices=list(AXES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", nargs="+", metavar="M,D,V,S",
                    help="measure just these sizes (for each of --seeds) instead of growing the axes")
    ap.add_argument("--seeds", nargs="+", type=int, default=None)
    ap.add_argument("--by", choices=["cpu", "wall"], default="cpu",
                    help="which time the budget applies to (cpu: robust against other load on the machine)")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure_one(*a.one)))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))     # so that run_child's finally runs
    print(f"# {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; budget {a.budget:.0f} s "
          f"({a.by} time of run_exact + checker.verify), timeout {a.timeout:.0f} s, seed {a.seed}", flush=True)
    if a.sizes:
        for text in a.sizes:
            m, d, V, S = map(int, text.split(","))
            for seed in a.seeds or [a.seed]:
                r = run_child(dict(m=m, d=d, V=V, S=S), seed, a.timeout)
                print(fmt_row(f"seed{seed}", dict(m=m, d=d, V=V, S=S), r), flush=True)
        return
    for axis in a.axes:
        for size in AXES[axis]:
            r = run_child(size, a.seed, a.timeout)
            print(fmt_row(axis, size, r), flush=True)
            if r.get("timeout") or "error" in r or r["cpu_total" if a.by == "cpu" else "total"] > a.budget:
                break


if __name__ == "__main__":
    main()
