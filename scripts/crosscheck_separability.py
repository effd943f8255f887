"""Cross-check a sweep's |S_j| = 1 separability decisions with two independent solvers.

    python scripts/crosscheck_separability.py OUTDIR [--limit 600]

For |S_j| = 1, NTP-separability is multiclass linear separability of (h_j, y_j) through the
origin (theory.md sections 3 and 8). Rows with support 1 (first those of cells where both
outcomes occur, up to --limit) are redrawn from OUTDIR/sweep.yaml and decided
by (a) an LP feasibility problem, find W with (w_y - w_v) . h_j >= 1, solved by scipy's HiGHS, and
(b) scikit-learn's LinearSVC (Crammer-Singer, no intercept, C = 1e6): separable when its training
accuracy is 100 %. Prints how often each agrees with the exact decision in the table.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np

from ntpverify.instance import parse_case
from ntpverify.sweep import Cell, instance_text
from ntpverify.sweep_report import load_rows


def lp_separable(H: np.ndarray, y: list[int], V: int) -> bool:
    """Is there W with (w_{y_j} - w_v) . h_j >= 1 for every j and v != y_j? (HiGHS feasibility)"""
    from scipy.optimize import linprog

    m, d = H.shape
    rows = []
    for j in range(m):
        for v in range(V):
            if v != y[j]:
                row = np.zeros(V * d)
                row[y[j] * d:(y[j] + 1) * d] = -H[j]
                row[v * d:(v + 1) * d] = H[j]
                rows.append(row)
    res = linprog(np.zeros(V * d), A_ub=np.array(rows), b_ub=-np.ones(len(rows)), bounds=(None, None),
                  method="highs")
    if res.status not in (0, 2):            # 0 feasible, 2 infeasible; anything else is no answer
        raise RuntimeError(f"HiGHS gave no decision: {res.message}")
    return res.status == 0


def svc_separable(H: np.ndarray, y: list[int]) -> bool:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    if len(set(y)) == 1:
        return bool(np.all(np.any(H != 0, axis=1)))   # one class: separable iff no zero embedding
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LinearSVC(C=1e6, fit_intercept=False, multi_class="crammer_singer", max_iter=200000, tol=1e-8)
        clf.fit(H, y)
    return bool(np.all(clf.predict(H) == np.array(y)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--limit", type=int, default=600)
    a = ap.parse_args()
    sweep, rows = load_rows(a.outdir)          # the final table and any part files
    rows = [r for r in rows if r["support"] == 1 and r["status"] == "ok"]
    # the contested cells first: separable fraction of the cell strictly between 0 and 1
    frac: dict[str, list[bool]] = {}
    for r in rows:
        frac.setdefault(r["cell"], []).append(bool(r["separable"]))
    contested = [r for r in rows if 0 < sum(frac[r["cell"]]) < len(frac[r["cell"]])]
    rest = [r for r in rows if r not in contested]
    chosen = (contested + rest)[:a.limit]
    tally = {"lp": [0, 0], "svc": [0, 0]}
    disagreements = []
    for r in chosen:
        cell = Cell(r["m"], r["d"], r["V"], r["support"])
        inst = parse_case(instance_text(sweep, cell, r["seed"]).encode(), "x").instance
        H = np.array([[float(x) for x in h] for h in inst.H])
        y = [S[0] for S in inst.supports]
        for name, got in (("lp", lp_separable(H, y, inst.V)), ("svc", svc_separable(H, y))):
            tally[name][got == r["separable"]] += 1
            if got != r["separable"]:
                disagreements.append(f"{name}: {r['cell']}:{r['seed']} exact {r['separable']}, {name} {got}")
    n = len(chosen)
    print(f"{n} rows with |S_j| = 1 ({len(contested)} from cells with both outcomes)")
    for name in ("lp", "svc"):
        print(f"  {name}: agrees on {tally[name][1]} of {n}, disagrees on {tally[name][0]}")
    for line in disagreements[:20]:
        print("   ", line)
    sys.exit(0)


if __name__ == "__main__":
    main()
