"""Measured vs modelled seconds of the adaptive GD driver's cost model (``numeric/drive.py``).

    python scripts/bench_cost_model.py [--seeds 0-39] [--repeats 20] [--no-paper]

The driver spends its budget by a model: a + b m V d + c m V + e m d seconds per float64 step
(STEP_NUMBA up to f64.NUMBA_MAX_WORK, STEP_NUMPY above) and a + b m V d per checkpoint's
diagnostics (DIAG_SECONDS). This script measures, per instance (calibration seeds, and
``scripts/random_case.py`` shapes for the larger m V d and the numpy loop):

- seconds per step of the loop the driver uses, at an iterate 10^5 steps in (tiny softmax
  entries, as in a long run), in chunks of about 10 ms;
- one checkpoint's ``gd.diagnose`` at a default run's working precision (corpus instances only:
  it needs the exact layer), and one evaluation of the GD claims (not in the model; reported);

each the minimum over --repeats of the wall and the CPU time (``timed``), and prints measured vs
modelled and the tightest model nowhere below the measured values (a linear program). The
machine may be shared: run with ``nice``; the minima are the figures to trust.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench_gd import paper_size

from ntpverify import calibration, runner
from ntpverify.instance import parse_case
from ntpverify.numeric import drive, gd
from ntpverify.numeric.ext_claims import ext7_claims
from ntpverify.numeric.f64 import NUMBA_MAX_WORK
from ntpverify.numeric.gd_claims import gd_claims

WARM = 10**5          # steps before timing: the iterate of a long run
STEP_CHUNK = 20000    # steps per timed call (GdSession.extend advances N / 100 at a time)
PRECISION = 50        # the default settings.precision
# random_case.py shapes (m, d, V, |S_j|): numba up to NUMBA_MAX_WORK, numpy above
PAPER_SHAPES = ((20, 24, 10, 4), (12, 20, 40, 10), (30, 40, 10, 5), (40, 30, 12, 5), (30, 50, 12, 5),
                (60, 80, 8, 4), (50, 60, 10, 6), (20, 30, 50, 10), (60, 100, 10, 6), (30, 60, 25, 10),
                (50, 100, 17, 10))


def corpus_problem(seed: int):
    case = parse_case(calibration.generate(seed).text.encode(), f"<seed {seed}>")
    return runner.numeric_problem(runner.run_exact(case.instance, case.settings.gd.step))


def loop_of(pb) -> str:
    i = pb.instance
    return "numba" if i.m * i.V * i.d <= NUMBA_MAX_WORK else "numpy"


def timed(fn, repeats: int) -> float:
    """Seconds of fn() on a quiet machine, estimated on a shared one: the minimum over repeats of
    the wall time and of the process CPU time, whichever is smaller (CPU time leaves out the time
    other jobs took the core; wall time is the smaller when BLAS runs threads in parallel)."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - w), min(cpu, time.process_time() - c)
    return min(wall, cpu)


def step_time(pb, repeats: int) -> float:
    """Seconds per float64 step at an iterate WARM steps in, in chunks of about 10 ms."""
    sess = gd.GdSession(pb, PRECISION, "float64", drive.MAX_N)
    sess.stepper.advance(WARM)
    n = max(100, min(STEP_CHUNK, int(0.01 / drive.step_seconds(pb, "float64"))))
    return timed(lambda: sess.stepper.advance(n), repeats) / n


def checkpoint_time(pb, repeats: int) -> tuple[float, float]:
    """(seconds of one diagnose, seconds of one claims evaluation) on a 10^5-step run."""
    sess = gd.GdSession(pb, PRECISION, "float64", drive.MAX_N)
    run = sess.extend(WARM)
    W = sess.stepper.current()
    diag = timed(lambda: gd.diagnose(sess.ev, sess.k, W), repeats)
    claims = timed(lambda: gd_claims(pb, run) + ext7_claims(pb, run), max(1, repeats // 4))
    return diag, claims


FEATURES = {"1": lambda m, V, d: 1, "mVd": lambda m, V, d: m * V * d, "mV": lambda m, V, d: m * V,
            "md": lambda m, V, d: m * d, "m(V+d)": lambda m, V, d: m * (V + d)}


def fit(X, y) -> list[float]:
    """Nonnegative coefficients c with X c >= y that minimise max (X c / y): the tightest
    conservative model (a linear program in (c, t): X c / y <= t, X c / y >= 1; rows divided by y
    and columns by their largest entry, as the solver's tolerances are absolute)."""
    from scipy.optimize import linprog
    X, y = np.asarray(X, float), np.asarray(y, float)
    R = X / y[:, None]
    scale = R.max(axis=0)
    R = R / scale
    n, k = R.shape
    A = np.vstack([np.hstack([R, -np.ones((n, 1))]), np.hstack([-R, np.zeros((n, 1))])])
    res = linprog(np.r_[np.zeros(k), 1.0], A_ub=A, b_ub=np.r_[np.zeros(n), -np.ones(n)],
                  bounds=[(0, None)] * (k + 1))
    return [float(c) for c in res.x[:k] / scale]


def report(label: str, rows: list[tuple], terms: tuple[str, ...]) -> None:
    """rows: (name, (m, V, d), measured, modelled) seconds; prints them and the tightest model on
    ``terms`` (keys of FEATURES) that is nowhere below the measured value."""
    if not rows:
        return
    print(f"\n{label}")
    print(f"  {'instance':28s} {'m':>3s} {'V':>3s} {'d':>3s} {'m V d':>6s} {'measured':>10s} {'modelled':>10s} "
          f"{'model/meas':>10s}")
    for name, (m, V, d), meas, mod in rows:
        print(f"  {name:28s} {m:3d} {V:3d} {d:3d} {m * V * d:6d} {meas:10.3e} {mod:10.3e} {mod / meas:10.2f}")

    def spread(ratios):
        r = sorted(ratios)
        return f"min {r[0]:.2f}, median {r[len(r) // 2]:.2f}, max {r[-1]:.2f}"
    print(f"  current model / measured: {spread(mod / meas for _, _, meas, mod in rows)}")
    X = [[FEATURES[t](*shape) for t in terms] for _, shape, _, _ in rows]
    y = [meas for _, _, meas, _ in rows]
    coef = fit(X, y)
    fitted = [sum(c * x for c, x in zip(coef, xs)) / meas for xs, meas in zip(X, y)]
    print(f"  tightest model nowhere below: {' + '.join(f'{c:.3g} {t}' for c, t in zip(coef, terms))}; "
          f"model / measured then: {spread(fitted)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0-39", help="calibration seeds, e.g. 0-39")
    ap.add_argument("--repeats", type=int, default=20, help="timed repeats (a quarter for the claims)")
    ap.add_argument("--no-paper", action="store_true", help="skip the random_case.py shapes")
    a = ap.parse_args()
    lo, _, hi = a.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    print(f"model: numba {drive.STEP_NUMBA}, numpy {drive.STEP_NUMPY} (a, b, c, e of a + b m V d + c m V "
          f"+ e m d), diagnostics {drive.DIAG_SECONDS} (a, b of a + b m V d); numba up to m V d = {NUMBA_MAX_WORK}")
    steps: dict[str, list] = {"numba": [], "numpy": []}
    diags, claims = [], []
    for seed in seeds:
        pb = corpus_problem(seed)
        shape = (pb.instance.m, pb.instance.V, pb.instance.d)
        steps[loop_of(pb)].append((f"seed {seed}", shape, step_time(pb, a.repeats), drive.step_seconds(pb, "float64")))
        diag, claim = checkpoint_time(pb, a.repeats)
        diags.append((f"seed {seed}", shape, diag, drive.diag_seconds(pb)))
        claims.append((f"seed {seed}", shape, claim))
        print(".", end="", flush=True)
    if not a.no_paper:
        for m, d, V, s in PAPER_SHAPES:
            pb = paper_size(m, d, V, s)
            steps[loop_of(pb)].append((f"random_case {m}x{d}x{V} |S|={s}", (m, V, d), step_time(pb, a.repeats),
                                       drive.step_seconds(pb, "float64")))
            print(".", end="", flush=True)
    print()
    report("float64 seconds per step, numba loop (e = c: m (V + d))", steps["numba"], ("1", "mVd", "m(V+d)"))
    report("float64 seconds per step, numpy loop", steps["numpy"], ("1", "mVd", "mV"))
    report("seconds per checkpoint: gd.diagnose", diags, ("1", "mVd"))
    claims.sort(key=lambda r: r[2])
    print("\nseconds per evaluation of the GD claims (one after each extension; not in the model): median "
          f"{claims[len(claims) // 2][2]:.3g}, max {claims[-1][2]:.3g}; the slowest: "
          + ", ".join(f"{name} {sec:.3g}" for name, _, sec in claims[-5:]))


if __name__ == "__main__":
    main()
