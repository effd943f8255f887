"""GD throughput per backend, against a plain float64 numpy loop, in one run.

    python scripts/bench_gd.py [--precision 50] [--budget 2.0] [--no-mpmath]

Cases: the 3-context case cases/three-contexts.yaml (V = 4, d = m = 3) and the paper's App. A.2
shape (m = 50, d = 60, V = 10, |S_j| = 6) from scripts/random_case.py, seed 0 (embeddings k/100,
supports of size 6, counts 1..9, weights from the count totals). Only the stepping loop is timed
(no checkpoint diagnostics). Prints steps per second of float64, flint and mpmath and each one's
time per step relative to the plain numpy loop. Targets: float64 >= 1e6 steps/s on the 3-context
case and within 1.5x of plain numpy at paper size; flint within 5x of numpy per step on the
3-context case, within 150x at paper size.
"""

from __future__ import annotations

import argparse
import time
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np

from random_case import random_case_text

from ntpverify.exactnum import LinLog
from ntpverify.instance import Instance, load_case, parse_case
from ntpverify.numeric.gd import Evaluator, exact_data, initial_point, make_stepper, working_digits
from ntpverify.numeric.problem import NumericProblem

F = Fraction


CASES = Path(__file__).resolve().parent.parent / "cases"


def three_contexts() -> NumericProblem:
    """cases/three-contexts.yaml (W*, W^mm are not needed for timing)."""
    return _timing_problem(load_case(CASES / "three-contexts.yaml").instance, F(1, 2))


def paper_size(m: int = 50, d: int = 60, V: int = 10, support: int = 6, seed: int = 0) -> NumericProblem:
    """The App. A.2-sized instance of scripts/random_case.py (the same one bench_exact times)."""
    inst = parse_case(random_case_text(m, d, V, support, seed).encode(), f"paper-size-seed{seed}").instance
    return _timing_problem(inst, F(1, 2))


def _timing_problem(inst: Instance, eta: Fraction) -> NumericProblem:
    return NumericProblem(instance=inst, entropy=LinLog(), compatible=False, separable=False,
                          W_star=None, W_mm=None, W_mm_norm_sq=None, F_basis=(), eta=eta,
                          eta_admissible=False)


def time_backend(pb: NumericProblem, backend: str, precision: int, budget: float) -> float:
    """Seconds per GD step of one backend (warm-up excluded), at precision + guard digits."""
    ctx = mpmath.MPContext()
    ctx.dps = working_digits(precision, 10**6)
    ev = Evaluator(pb, exact_data(pb), ctx)
    stepper = make_stepper(backend, ev, initial_point(pb.instance.V, pb.instance.d, None, F(0)))
    stepper.advance(2)
    n, spent = 1, 0.0
    while spent < budget / 4:
        start = time.perf_counter()
        stepper.advance(n)
        spent = time.perf_counter() - start
        if spent < budget / 4:
            n *= 4
    return spent / n


def time_numpy(pb: NumericProblem, budget: float) -> float:
    """Seconds per step of the same GD in float64 numpy (max-shifted softmax)."""
    inst = pb.instance
    Hb = np.array([[float(x) for x in h] for h in inst.H]).T            # d x m
    P = np.array([[float(x) for x in p] for p in inst.P]).T             # V x m
    pi = np.array([float(x) for x in inst.pi])
    eta = float(pb.eta)
    W = np.zeros((inst.V, inst.d))

    def run(W, n):
        for _ in range(n):
            L = W @ Hb
            E = np.exp(L - L.max(axis=0))
            S = E / E.sum(axis=0)
            W = W - eta * (((S - P) * pi) @ Hb.T)
        return W

    run(W, 10)
    n, spent = 10, 0.0
    while spent < budget / 4:
        start = time.perf_counter()
        run(W, n)
        spent = time.perf_counter() - start
        if spent < budget / 4:
            n *= 4
    return spent / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--precision", type=int, default=50)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds per measurement (about)")
    ap.add_argument("--no-mpmath", action="store_true", help="skip the (slow) mpmath backend")
    a = ap.parse_args()
    # (name, problem, float64 minimum steps/s or None, float64 max ratio to numpy or None, flint max ratio)
    cases = [("3-context (cases/three-contexts.yaml: V=4, d=3, m=3)", three_contexts(), 1e6, None, 5),
             ("paper-size (V=10, d=60, m=50, |S|=6)", paper_size(), None, 1.5, 150)]
    backends = ["float64", "flint"] + ([] if a.no_mpmath else ["mpmath"])
    print(f"GD steps; flint/mpmath at {a.precision} digits (+ guard digits); plain float64 numpy "
          "loop as the baseline")
    for name, pb, f64_rate, f64_ratio, flint_ratio_max in cases:
        base = time_numpy(pb, a.budget)
        rows = [("numpy float64", base)]
        for backend in backends:
            rows.append((backend, time_backend(pb, backend, a.precision, a.budget)))
        print(f"\n{name}")
        for label, sec in rows:
            print(f"  {label:14s} {sec * 1e6:12.2f} us/step {1 / sec:12.0f} steps/s   {sec / base:8.2f}x numpy")
        times = dict(rows)
        f64 = times["float64"]
        if f64_rate is not None:
            verdict = "met" if 1 / f64 >= f64_rate else "missed"
            print(f"  target: float64 >= {f64_rate:.0e} steps/s -> {verdict} ({1 / f64:.3g} steps/s)")
        if f64_ratio is not None:
            verdict = "met" if f64 / base <= f64_ratio else "missed"
            print(f"  target: float64 within {f64_ratio}x of numpy -> {verdict} ({f64 / base:.2f}x)")
        flint_ratio = times["flint"] / base
        verdict = "met" if flint_ratio <= flint_ratio_max else "missed"
        print(f"  target: flint within {flint_ratio_max}x of numpy -> {verdict} ({flint_ratio:.1f}x)")


if __name__ == "__main__":
    main()
