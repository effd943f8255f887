"""The NTP-SVM (theory.md section 3): numeric guess, exact active-set refinement, Farkas.

The numeric solver (cvxpy + Clarabel) only proposes which constraints are tight. The exact part
then solves the KKT system on that set in rationals and repairs the set until every KKT condition
holds exactly: equalities and margins (primal feasibility), lambda >= 0, complementary slackness,
stationarity. If the instance is not separable, an exact Farkas combination is built instead.
Whatever the numeric solver returns (even garbage), the result is either an exactly verified
certificate or an InternalError; the checker re-verifies it independently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import flint
import numpy as np

from .constraints import Geometry
from .errors import InternalError
from .linalg import nullspace, pivots, solve, submatrix, to_fmpq, to_frac


@dataclass
class SvmResult:
    separable: bool
    W: list[list[Fraction]] | None = None
    norm_sq: Fraction | None = None
    lam: dict[int, Fraction] = field(default_factory=dict)   # geometry index -> lambda (ineq)
    mu: dict[int, Fraction] = field(default_factory=dict)    # geometry index -> mu (eq)
    tight: list[int] = field(default_factory=list)           # ineq indices with <A, W> = 1
    farkas: dict | None = None                                # {"lam": {...}, "mu": {...}}
    log: list[str] = field(default_factory=list)              # what the refinement did


# ---------------------------------------------------------------------------------------------
# Numeric guesses (untrusted)

def _dense_rows(geo: Geometry) -> np.ndarray:
    inst = geo.inst
    Hf = np.array([[float(x) for x in h] for h in inst.H])
    G = np.zeros((len(geo.all), inst.V * inst.d))
    for i, g in enumerate(geo.all):
        G[i, g.plus * inst.d:(g.plus + 1) * inst.d] += Hf[g.j]
        G[i, g.minus * inst.d:(g.minus + 1) * inst.d] -= Hf[g.j]
    return G


def numeric_qp(geo: Geometry):
    """(status, slack per ineq, lambda per ineq) from cvxpy/Clarabel, or (status, None, None)."""
    import cvxpy as cp

    G = _dense_rows(geo)
    nE = geo.nE
    w = cp.Variable(G.shape[1])
    cons = []
    if nE:
        cons.append(G[:nE] @ w == 0)
    cons.append(G[nE:] @ w >= 1)
    prob = cp.Problem(cp.Minimize(cp.sum_squares(w)), cons)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12,
                       max_iter=500)
    except Exception as exc:  # the numeric solver is only a hint
        return f"error: {type(exc).__name__}", None, None
    if prob.status not in ("optimal", "optimal_inaccurate") or w.value is None:
        return prob.status, None, None
    slack = G[nE:] @ w.value - 1
    lam = np.asarray(cons[-1].dual_value, dtype=float).reshape(-1)
    return prob.status, slack, lam


def numeric_ldp(geo: Geometry) -> list[int] | None:
    """A second, independent guess: least-distance programming via Lawson-Hanson NNLS
    (min ||x|| s.t. G x >= b, equalities as two inequalities); the tight set it finds."""
    from scipy.optimize import nnls

    G = _dense_rows(geo)
    nE = geo.nE
    Gi = np.vstack([G[:nE], -G[:nE], G[nE:]])
    h = np.concatenate([np.zeros(2 * nE), np.ones(len(geo.I))])
    E = np.vstack([Gi.T, h])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    try:
        u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    except Exception:
        return None
    r = E @ u - f
    if abs(r[-1]) < 1e-12:
        return None            # NNLS says: infeasible
    x = -r[:-1] / r[-1]
    slack = G[nE:] @ x - 1
    return [nE + k for k in range(len(geo.I)) if slack[k] <= 1e-7]


def numeric_farkas(geo: Geometry):
    """lambda (ineq), mu (eq) from an LP: sum lam A + sum mu B = 0, lam >= 0, sum lam = 1."""
    import cvxpy as cp

    G = _dense_rows(geo)
    nE = geo.nE
    lam = cp.Variable(len(geo.I), nonneg=True)
    expr = G[nE:].T @ lam
    mu = None
    if nE:
        mu = cp.Variable(nE)
        expr = expr + G[:nE].T @ mu
    prob = cp.Problem(cp.Minimize(0), [expr == 0, cp.sum(lam) == 1])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prob.solve(solver=cp.CLARABEL)
        if prob.status in ("optimal", "optimal_inaccurate") and lam.value is not None:
            return lam.value, (mu.value if mu is not None else np.zeros(0))
    except Exception:   # Clarabel can fail on this LP (seen at m = 80, d = 60); try HiGHS
        pass
    return _farkas_highs(G, nE, len(geo.I))


def _farkas_highs(G: np.ndarray, nE: int, nI: int):
    """The same Farkas LP with SciPy's HiGHS (a second, independent numeric hint)."""
    from scipy.optimize import linprog

    A_eq = np.vstack([np.hstack([G[nE:].T, G[:nE].T]), np.concatenate([np.ones(nI), np.zeros(nE)])[None, :]])
    b_eq = np.concatenate([np.zeros(G.shape[1]), [1.0]])
    bounds = [(0, None)] * nI + [(None, None)] * nE
    try:
        res = linprog(np.zeros(nI + nE), A_eq=A_eq, b_eq=b_eq, bounds=bounds, method="highs")
    except Exception:
        return None
    if res.status != 0:
        return None
    return res.x[:nI], res.x[nI:]


# ---------------------------------------------------------------------------------------------
# Exact refinement

def _kkt_on(geo: Geometry, S: list[int]):
    """Min-norm W with <G_i, W> = b_i for i in E + S, on an independent subset of those rows.

    Returns (coefficients over the independent rows, values <G_i, W> for every constraint)."""
    R = list(range(geo.nE)) + S
    piv = pivots(submatrix(geo.Q, R, R))
    Rp = [R[p] for p in piv]
    b = flint.fmpq_mat(len(Rp), 1, [geo.rhs(i) for i in Rp])
    x = solve(submatrix(geo.Q, Rp, Rp), b)
    coeffs = {Rp[r]: x[r, 0] for r in range(len(Rp)) if x[r, 0] != 0}
    return coeffs, geo.values(coeffs)


def refine(geo: Geometry, guess: list[int], max_rounds: int | None = None) -> SvmResult | None:
    """Exact KKT point of the NTP-SVM from a guessed tight set, or None if the repair loop stalls.

    Loop: solve the equality-constrained min-norm problem on E + S exactly; add every violated
    margin constraint; if some multiplier is negative, first try non-unique multipliers on the
    whole tight set (exact LP), else drop the most negative one. Stops only at an exact KKT point.
    """
    nE = geo.nE
    nI = len(geo.I)
    S = sorted(set(guess))
    max_rounds = max_rounds or (20 + 2 * nI)
    log = []
    seen = set()
    for _ in range(max_rounds):
        key = tuple(S)
        if key in seen:
            log.append("cycle detected")
            return None
        seen.add(key)
        coeffs, vals = _kkt_on(geo, S)
        violated = [i for i in range(nE, nE + nI) if vals[i] < 1]
        bad_eq = [i for i in range(nE) if vals[i] != 0]
        if bad_eq:   # cannot happen with E first in the elimination order; keep the check honest
            raise InternalError("exact min-norm solve broke an equality constraint")
        negative = [i for i, c in coeffs.items() if i >= nE and c < 0]
        new = set(violated) - set(S)
        if new:
            log.append(f"|S|={len(S)}: {len(new)} violated margin constraints added")
            S = sorted(set(S) | new)
            continue
        if violated:   # S cannot be tight all at once: drop the worst multiplier and go on
            if not negative:
                log.append("inconsistent tight set without a negative multiplier")
                return None
            worst = min(negative, key=lambda i: coeffs[i])
            log.append(f"|S|={len(S)}: inconsistent; dropped {geo.label(worst)}")
            S = [i for i in S if i != worst]
            continue
        if not negative:
            return _result(geo, coeffs, vals, log)
        tight = [i for i in range(nE, nE + nI) if vals[i] == 1]
        if len(tight) + nE > len(coeffs) and len(tight) > len(S):
            log.append(f"|S|={len(S)}: tight constraints are dependent; multipliers left to the exact NNLS")
            return None
        worst = min(negative, key=lambda i: coeffs[i])
        log.append(f"|S|={len(S)}: dropped {geo.label(worst)} (lambda < 0)")
        S = [i for i in S if i != worst and vals[i] == 1]
    log.append("round limit reached")
    return None


def _result(geo: Geometry, coeffs, vals, log) -> SvmResult:
    nE = geo.nE
    lam = {i: to_frac(c) for i, c in coeffs.items() if i >= nE and c != 0}
    mu = {i: to_frac(c) for i, c in coeffs.items() if i < nE and c != 0}
    W = geo.matrix({**lam, **mu})
    norm_sq = sum((x * x for row in W for x in row), Fraction(0))
    tight = [i for i in range(nE, len(geo.all)) if vals[i] == 1]
    ok = (all(vals[i] == 0 for i in range(nE)) and all(vals[i] >= 1 for i in range(nE, len(geo.all)))
          and all(v > 0 for v in lam.values()) and all(vals[i] == 1 for i in lam)
          and norm_sq == sum(lam.values(), Fraction(0)))
    if not ok:
        raise InternalError("an exact KKT point failed its own KKT conditions")
    return SvmResult(True, W=W, norm_sq=norm_sq, lam=lam, mu=mu, tight=tight, log=log)


def exact_farkas(geo: Geometry, lam_num, mu_num) -> dict | None:
    """An exact Farkas combination near the numeric one: lam >= 0, sum lam = 1, sum lam A + mu B = 0."""
    nE = geo.nE
    order = np.argsort(-lam_num)
    scale = max(float(np.max(lam_num)), 1e-300)
    for tol in (1e-9, 1e-7, 1e-5, 1e-3):
        support = sorted(int(k) + nE for k in order if lam_num[k] > tol * scale)
        if not support:
            continue
        cols = list(range(nE)) + support
        N = nullspace(submatrix(geo.Q, cols, cols))
        if not N:
            continue
        # least-squares projection of the numeric vector onto the null space, done exactly
        target = [Fraction(float(mu_num[i])).limit_denominator(10**9) if i < nE else
                  Fraction(float(lam_num[i - nE])).limit_denominator(10**9) for i in cols]
        Nm = flint.fmpq_mat(len(N), len(cols), [to_fmpq(x) for vec in N for x in vec])
        gram = Nm * Nm.transpose()
        t = flint.fmpq_mat(len(cols), 1, [to_fmpq(x) for x in target])
        try:
            z = solve(gram, Nm * t)
        except Exception:
            continue
        proj = (Nm.transpose() * z)
        vec = {i: to_frac(proj[p, 0]) for p, i in enumerate(cols)}
        total = sum((vec[i] for i in support), Fraction(0))
        if total <= 0:
            continue
        vec = {i: v / total for i, v in vec.items()}
        if all(vec[i] >= 0 for i in support):
            return {"lam": {i: vec[i] for i in support if vec[i] != 0},
                    "mu": {i: vec[i] for i in range(nE) if vec[i] != 0}}
        for vecN in N:   # a single null vector may already do
            s = sum((vecN[p] for p, i in enumerate(cols) if i >= nE), Fraction(0))
            if s != 0:
                cand = {i: vecN[p] / s for p, i in enumerate(cols)}
                if all(cand[i] >= 0 for i in support):
                    return {"lam": {i: cand[i] for i in support if cand[i] != 0},
                            "mu": {i: cand[i] for i in range(nE) if cand[i] != 0}}
    return None


def exact_ldp(geo: Geometry, warm: list[int] | None = None, max_rounds: int | None = None) -> SvmResult:
    """The exact decision: least-distance programming by Lawson-Hanson NNLS in rationals.

    min ||W|| s.t. <G_i, W> >= b_i (each equality as two inequalities) is solved through
    min ||E u - f||, u >= 0, with columns E_i = (G_i, b_i) and f = (0, 1) (Lawson & Hanson 1974,
    ch. 23), here in Gram form C = s s^T Q + b b^T. Finite in exact arithmetic. If b^T u = 1 the
    residual vanishes: sum u_i s_i G_i = 0 with sum over margin constraints = 1, a Farkas
    certificate. Otherwise W = sum u_i s_i G_i / (1 - b^T u), with multipliers u / (1 - b^T u).
    ``warm``: margin constraints to start the passive set from (e.g. a numeric guess).
    """
    nE, nI = geo.nE, len(geo.I)
    cols = [(i, 1) for i in range(nE)] + [(i, -1) for i in range(nE)] + [(nE + k, 1) for k in range(nI)]
    b = [flint.fmpq(0)] * (2 * nE) + [flint.fmpq(1)] * nI
    n = len(cols)
    C = [[geo.Q[gi][gk] * (si * sk) + b[a] * b[c] for c, (gk, sk) in enumerate(cols)]
         for a, (gi, si) in enumerate(cols)]
    u = [flint.fmpq(0)] * n
    P: list[int] = []
    if warm:
        start = [2 * nE + (i - nE) for i in sorted(set(warm)) if i >= nE]
        keep = pivots(submatrix(C, start, start))
        start = [start[p] for p in keep]
        z = solve(submatrix(C, start, start), flint.fmpq_mat(len(start), 1, [b[a] for a in start])) if start else None
        if z is not None and all(z[r, 0] > 0 for r in range(len(start))):
            P = start
            for r, a in enumerate(start):
                u[a] = z[r, 0]
    log = [f"exact NNLS (Lawson-Hanson), warm start with {len(P)} columns"]
    max_rounds = max_rounds or 20 * n + 100
    for _ in range(max_rounds):
        w = [b[a] - sum((C[a][c] * u[c] for c in P), flint.fmpq(0)) for a in range(n)]
        passive = set(P)
        free = [a for a in range(n) if a not in passive and w[a] > 0]
        if not free:
            break
        P.append(max(free, key=lambda a: (w[a], -a)))
        while True:
            z = solve(submatrix(C, P, P), flint.fmpq_mat(len(P), 1, [b[a] for a in P]))
            zP = {a: z[r, 0] for r, a in enumerate(P)}
            if all(v > 0 for v in zP.values()):
                for a in range(n):
                    u[a] = zP.get(a, flint.fmpq(0))
                break
            alpha = min(u[a] / (u[a] - zP[a]) for a in P if zP[a] <= 0)
            for a in range(n):
                u[a] = u[a] + alpha * (zP.get(a, flint.fmpq(0)) - u[a])
            P = [a for a in P if u[a] > 0]
    else:
        raise InternalError("the exact NNLS did not terminate within its round limit")
    total = sum((u[a] for a in range(2 * nE, n)), flint.fmpq(0))
    if total == 1:
        lam = {cols[a][0]: to_frac(u[a]) for a in range(2 * nE, n) if u[a] != 0}
        mu = {i: to_frac(u[i] - u[nE + i]) for i in range(nE) if u[i] != u[nE + i]}
        return SvmResult(False, farkas={"lam": lam, "mu": mu}, log=log + ["residual zero: not separable"])
    scale = 1 / (1 - total)
    coeffs: dict[int, flint.fmpq] = {}
    for a, (gi, si) in enumerate(cols):
        if u[a] != 0:
            coeffs[gi] = coeffs.get(gi, flint.fmpq(0)) + u[a] * si * scale
    coeffs = {k: v for k, v in coeffs.items() if v != 0}
    return _result(geo, coeffs, geo.values(coeffs), log)


def _farkas_holds(geo: Geometry, cert: dict) -> bool:
    """Exact self-check of a Farkas combination before it leaves the producer."""
    lam, mu = cert["lam"], cert["mu"]
    coeffs = {**{i: to_fmpq(v) for i, v in lam.items()}, **{i: to_fmpq(v) for i, v in mu.items()}}
    return (all(v >= 0 for v in lam.values()) and sum(lam.values(), Fraction(0)) > 0
            and all(v == 0 for v in geo.values(coeffs).values()))


def solve_svm(geo: Geometry) -> SvmResult:
    """Separability decided and certified exactly: a KKT certificate or a Farkas certificate."""
    nE, nI = geo.nE, len(geo.I)
    if nI == 0:
        return SvmResult(True, W=geo.matrix({}), norm_sq=Fraction(0), log=["no margin constraints"])
    status, slack, lam = numeric_qp(geo)
    log = [f"numeric QP (cvxpy/Clarabel): {status}"]
    if slack is not None:
        scale = max(1.0, float(np.max(np.abs(lam))) if lam is not None else 1.0)
        for tol in (1e-9, 1e-6, 1e-3):
            guess = [nE + k for k in range(nI) if slack[k] <= tol or lam[k] > tol * scale]
            res = refine(geo, guess)
            if res is not None:
                res.log = log + [f"guess: {len(guess)} constraints with slack or lambda beyond {tol:g}"] + res.log
                return res
        log.append("refinement from the numeric guess stalled")
    ldp = numeric_ldp(geo)
    if ldp is not None:
        res = refine(geo, ldp)
        if res is not None:
            res.log = log + ["guess from the NNLS least-distance solve"] + res.log
            return res
    fk = numeric_farkas(geo)
    if fk is not None:
        cert = exact_farkas(geo, *fk)
        if cert is not None and _farkas_holds(geo, cert):
            return SvmResult(False, farkas=cert, log=log + ["numeric Farkas LP rounded to an exact certificate"])
        log.append("numeric Farkas LP could not be made exact")
    # The numeric hints failed, disagree or are degenerate: decide exactly (always ends).
    warm = [nE + k for k in range(nI) if slack is not None and slack[k] <= 1e-6]
    res = exact_ldp(geo, warm)
    res.log = log + res.log
    if res.separable or _farkas_holds(geo, res.farkas):
        return res
    raise InternalError("neither a KKT certificate nor a Farkas certificate could be built; "
                        "this is a bug, please report the case file")
