"""thm1 alone on the calibration corpus: the regularisation path and its verdict, without GD.

    python scripts/calibrate_path.py N [--start S] [--budget SEC] [--perturb KIND]

For each corpus seed the exact layer, then ``path.run_path`` with the case's radii and precision
and ``budget`` modelled seconds (default 15: the share a default ``check --budget 60`` leaves the
path when gradient descent uses all of its 75 %; the path gets more when GD decides early), then
``path_claims``. Prints one line per seed (thm1's status and the two direction estimates) and the
status counts. With --perturb (W_star or W_mm; ``ntpverify.calibration.perturb``) every fail is a
detection and the fail fraction is the power; without it every fail is a false alarm. Much faster
than scripts/calibrate.py when only the path's rule changed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter

from ntpverify import calibration
from ntpverify.numeric import path, path_claims
from ntpverify.runner import numeric_problem


def one(seed: int, budget: float, perturb: str | None) -> tuple[str, str]:
    cc = calibration.generate(seed)
    case, ex = calibration.validate(cc.text, f"<{cc.name}>")
    prob = numeric_problem(ex)
    if perturb:
        prob, _ = calibration.perturb(prob, perturb, random.Random(seed))
    prec = case.settings.precision
    run = path.run_path(prob, case.settings.radii, prec, budget=budget)
    thm1 = next(c for c in path_claims.path_claims(prob, run) if c.id == "thm1")
    ev = thm1.evidence or {}

    def est(key):
        e = ev.get(key, {}).get("estimate", {})
        return e.get("distance_to_claimed", "-")

    B = run.points[-1].B if run.points else "-"
    return thm1.status.value, (f"B={float(B) if B != '-' else B:<7g} W_B-dir {est('direction_of_W_B'):>10} "
                               f"tangent {est('direction'):>10}  {thm1.summary[:160] if thm1.status.value != 'pass' else ''}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--budget", type=float, default=15.0)
    ap.add_argument("--perturb", choices=("W_star", "W_mm"))
    a = ap.parse_args()
    counts: Counter = Counter()
    t0 = time.perf_counter()
    for seed in range(a.start, a.start + a.n):
        status, line = one(seed, a.budget, a.perturb)
        counts[status] += 1
        print(f"{seed:5} {status:13} {line}", flush=True)
    print(f"thm1: {dict(counts)} on {a.n} seeds in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
