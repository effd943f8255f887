"""Calibrate the section-7 claims (ext-inf-ce, ext-finite-part, ext-growth) on random instances.

    python scripts/calibrate_ext.py [--seeds 50] [--start 0] [--budget 60] [--wrong]

Each seed's instance comes from scripts/random_ext_case.py (underparameterized or pooled
contexts, alternating). Prints one line per seed (claim statuses, N reached, seconds) and the
counts pass / inconclusive / fail / not-applicable per claim. With ``--wrong`` the numeric layer
is handed wrong targets on purpose (inf CE bracket moved up by 1e-3, Wbar moved by 0.05 in one
entry, What with two different rows swapped): the counts then measure how often the claims notice.
A fail on the honest run is a false fail (the claims must have none).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from random_ext_case import ext_case_text  # noqa: E402

from ntpverify.exactnum import LinLog  # noqa: E402
from ntpverify.instance import parse_case  # noqa: E402
from ntpverify.runner import run_case  # noqa: E402

CLAIMS = ("ext-inf-ce", "ext-finite-part", "ext-growth")


def wrong_targets(problem):
    """The same problem with wrong section-7 targets (see the module doc)."""
    s = problem.section7
    if s is None:
        return problem
    shift = Fraction(1, 1000)
    W_bar = [list(r) for r in s.W_bar]
    x = W_bar[0][0]
    W_bar[0][0] = x + (LinLog.rational(Fraction(1, 20)) if isinstance(x, LinLog) else Fraction(1, 20))
    W_hat = s.W_hat
    if W_hat is not None:              # swap the first two rows that differ (else W_hat is unchanged)
        rows = list(W_hat)
        pair = next(((a, b) for a in range(len(rows)) for b in range(a + 1, len(rows)) if rows[a] != rows[b]), None)
        if pair is not None:
            a, b = pair
            rows[a], rows[b] = rows[b], rows[a]
        W_hat = tuple(rows)
    s2 = dataclasses.replace(s, inf_lower=s.inf_lower + shift, inf_upper=s.inf_upper + shift,
                             W_bar=tuple(tuple(r) for r in W_bar), W_hat=W_hat)
    return dataclasses.replace(problem, section7=s2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--wrong", action="store_true")
    a = ap.parse_args()
    counts = {c: collections.Counter() for c in CLAIMS}
    t_all = time.perf_counter()
    for seed in range(a.start, a.start + a.seeds):
        case = parse_case(ext_case_text(seed).encode(), f"<ext seed {seed}>")
        t0 = time.perf_counter()
        cert = run_case(case, budget=a.budget, problem_hook=wrong_targets if a.wrong else None)
        got = {c["id"]: c["status"] for c in cert["claims"] if c["id"] in CLAIMS}
        for c in CLAIMS:
            counts[c][got.get(c, "missing")] += 1
        ex = cert["exact"]
        gd = cert["numeric"].get("gd", {})
        print(f"seed {seed:3}: {case.instance.name:28} E={len(ex['decomposition']['stuck']):2} "
              f"P={len(ex['decomposition']['vanishing']):2} exact_inf={ex['inf_CE']['expr'] is not None!s:5} "
              f"N={gd.get('iterations')} {gd.get('backend')} "
              + " ".join(f"{c}={got.get(c)}" for c in CLAIMS) + f"  {time.perf_counter() - t0:.1f} s", flush=True)
        bad = [c for c in CLAIMS if got.get(c) == "fail"]
        if bad and not a.wrong:
            for c in cert["claims"]:
                if c["id"] in bad:
                    print(f"    FAIL {c['id']}: {c['summary']}")
    print(f"\n{a.seeds} instances ({'wrong targets' if a.wrong else 'honest'}), "
          f"{time.perf_counter() - t_all:.0f} s")
    for c in CLAIMS:
        print(f"  {c:16} " + "  ".join(f"{k} {counts[c][k]}" for k in
                                         ("pass", "inconclusive", "fail", "not-applicable", "missing") if counts[c][k]))


if __name__ == "__main__":
    main()
