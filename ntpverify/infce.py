"""inf CE with a rigorous bracket, Wbar and qbar (theory.md section 7).

For any distributions r_j with sum_j pi_j (r_j - p_j) h_j^T = 0 and any W,
    sum_j pi_j H(r_j) <= inf CE <= CE(W).
The producer finds Wbar (the minimiser of CE_Fbar on Fbar) by Newton in a local mpmath context,
rounds qbar to a rational r and projects it exactly onto the moment equations (supported on the
extended supports), and evaluates both ends in ball arithmetic (python-flint ``arb``), rounded
outwards: the bracket is rigorous whatever Newton did. When qbar is rational (found by trying
short rationals first) the bracket closes: r's log-odds on the extended supports are then those
of an exact Wbar = sum_q M_q log q in Fbar, so CE(Wbar + t What) -> sum pi H(r) and
inf CE = sum_j pi_j H(r_j) exactly (expr). Compatible instances with no stuck pair have
inf CE = H (r = p, Wbar = W*: prop1) and take no Newton at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import flint
import mpmath
import numpy as np

from . import exact
from .constraints import Geometry
from .errors import InternalError
from .exactnum import LinLog
from .instance import Instance
from .linalg import mat, pivots, solve, submatrix, to_fmpq, to_frac
from .numeric.gd import arb_mid_to_mpf

DIGITS = 40              # significant digits of the bracket's decimals
NEWTON_DPS = 70          # working digits of Newton for Wbar
ROUND_DIGITS = 45        # r and the upper-bound point are rounded to this many decimals
SHORT_DENOMINATORS = (10**2, 10**4, 10**8)   # tried for an exact (rational) qbar
PUSH = 150               # the upper-bound point is Wbar + PUSH What: P's mass ~ e^-150


@dataclass
class InfCE:
    lower: str                                 # decimal, rounded down: <= inf CE (proven)
    upper: str                                 # decimal, rounded up: >= inf CE (proven)
    expr: LinLog | None                        # inf CE exactly, when qbar is rational
    sbar: list[list[int]]                      # extended supports
    r: list[list[Fraction]] | None = None      # the moment-matching point (None: r = p)
    W_upper: list[list[Fraction]] | None = None   # CE(W_upper) is the upper end (None: exact)
    W_bar_by_prime: dict | None = None         # exact Wbar: prime -> {(j, z): beta} on Fbar's generators
    W_bar: list[list] | None = None            # mpf (Newton) or LinLog (exact); None: it is W*
    q_bar: list[list] = field(default_factory=list)   # mpf or Fraction
    q_bar_l1: str = "0"                        # max_j ||qbar_j - r_j||_1 is at most this (Pinsker)
    method: str = ""


def extended_supports(inst: Instance, geo: Geometry, stuck: list[int]) -> list[list[int]]:
    sbar = [set(s) for s in inst.supports]
    for i in stuck:
        sbar[geo.all[i].j].add(geo.all[i].token)
    return [sorted(s) for s in sbar]


def inf_ce(inst: Instance, geo: Geometry, H: LinLog, compat: exact.Compat, dec, W_push) -> InfCE:
    """The bracket for one instance; ``W_push``: What (None when no pair vanishes)."""
    sbar = extended_supports(inst, geo, dec.stuck)
    if compat.compatible and not dec.stuck:
        lo, hi = _outward(_entropy_arb(inst.pi, inst.P))
        return InfCE(lo, hi, H, sbar, W_bar=None, q_bar=[list(p) for p in inst.P],
                     method="compatible, nothing stuck: inf CE = H (prop1), Wbar = W* (exact.W_star), qbar = p")
    ctx = mpmath.MPContext()
    ctx.dps = NEWTON_DPS
    basis = fbar_basis(geo, dec.stuck)
    coeffs, W_mp, _ = minimise_ce(ctx, inst, basis, sbar)
    project = _moment_projector(inst, sbar)
    q_mp = [_softmax(ctx, [ctx.fdot([ctx.mpf(x.numerator) / x.denominator for x in h], row) for row in W_mp], s)
            for h, s in zip(inst.H, sbar)]
    for den in SHORT_DENOMINATORS:            # a rational qbar closes the bracket
        r0 = [[Fraction(ctx.nstr(x, 30)).limit_denominator(den) for x in row] for row in q_mp]
        r = project(r0)
        if r == r0:                           # short rationals already on the moment equations
            closed = _exact_if_optimal(inst, sbar, r)
            if closed is not None:
                value, by_prime, W_exact = closed
                lo, hi = _outward(_entropy_arb(inst.pi, r))
                return InfCE(lo, hi, value, sbar, r=r, W_bar_by_prime=by_prime, W_bar=W_exact, q_bar=r,
                             method=f"qbar is rational (denominators <= {den}); its log-odds on the extended "
                                    "supports are those of an exact Wbar in Fbar: inf CE = sum pi H(qbar)")
    grid = Fraction(1, 10**ROUND_DIGITS)
    r = project([[_round(ctx, x, grid) for x in row] for row in q_mp]) or [list(p) for p in inst.P]
    W_up = [[_round(ctx, x, grid) for x in row] for row in W_mp]
    if W_push is not None:
        W_up = [[a + PUSH * b for a, b in zip(ra, rb)] for ra, rb in zip(W_up, W_push)]
    lo_arb, hi_arb = _entropy_arb(inst.pi, r), ce_arb(inst, W_up)
    lo, _ = _outward(lo_arb)
    _, hi = _outward(hi_arb)
    with flint.ctx.workprec(600):
        gap = flint.arb(hi) - flint.arb(lo)
        l1 = max(2 * (2 * gap / (flint.arb(p.numerator) / p.denominator)).sqrt() for p in inst.pi)
    return InfCE(lo, hi, None, sbar, r=r, W_upper=W_up, W_bar=W_mp, q_bar=q_mp,
                 q_bar_l1=_outward(l1)[1],
                 method=(f"lower: sum pi H(r), r = qbar (Newton: float64, then {NEWTON_DPS} digits) rounded to 1e-{ROUND_DIGITS} "
                         "and projected exactly onto the moment equations; upper: CE at Wbar rounded"
                         + (f" + {PUSH} What" if W_push is not None else "") + "; both in ball arithmetic"))


# ---------------------------------------------------------------------------------------------
# Newton for the minimiser of CE restricted to a subspace spanned by generators


def fbar_basis(geo: Geometry, stuck: list[int]) -> list[tuple[int, int]]:
    """(j, z) for a basis of Fbar among its generators (e_z - e_{a_j}) h_j^T: the B's and, for the
    stuck pairs, -A's (first independent ones, from the geometry's exact Gram matrix)."""
    cons = list(range(geo.nE)) + list(stuck)
    keep = pivots(submatrix(geo.Q, cons, cons)) if cons else []
    return [(geo.all[cons[k]].j, geo.all[cons[k]].token) for k in keep]


def minimise_ce(ctx, inst: Instance, pairs: list[tuple[int, int]], supports: list[list[int]]):
    """(coefficients, W, value) in ``ctx``: the minimiser over span{(e_z - e_{a_j}) h_j^T : (j, z) in
    pairs} (independent generators) of sum_j pi_j sum_{z in S_j} p_{j,z} log sum_{z' in supports_j}
    exp(l_{j,z'} - l_{j,z}); strictly convex there. Damped Newton in float64 (numpy), then
    simplified Newton steps on ball midpoints (flint) at ctx's precision."""
    a, n = inst.anchors, len(pairs)
    Hm = mat([list(h) for h in inst.H], inst.m, inst.d)
    hh = Hm * Hm.transpose()                      # <h_j, h_k>, exact
    # K_j[v][i] = <(e_z - e_{a_j'}) h_j'^T, e_v h_j^T> for generator i = (j', z): sign pattern x <h_j', h_j>
    K = [[[_sign(v, z, a[j1]) * hh[j1, j] if _sign(v, z, a[j1]) else 0 for (j1, z) in pairs]
          for v in S] for j, S in enumerate(supports)]
    P = [[inst.P[j][v] for v in S] for j, S in enumerate(supports)]
    c = np.zeros(n)
    Kf = [np.array([[float(x) for x in row] for row in Kj], dtype=float).reshape(len(Kj), n) for Kj in K]
    Pf = [np.array([float(x) for x in p]) for p in P]
    pif = [float(x) for x in inst.pi]

    def f_eval(c):
        val, g, Hs = 0.0, np.zeros(n), np.zeros((n, n))
        for w, Kj, p in zip(pif, Kf, Pf):
            l = Kj @ c
            mx = l.max()
            e = np.exp(l - mx)
            s = e / e.sum()
            val += w * (mx + math.log(e.sum()) - p @ l)
            g += w * Kj.T @ (s - p)
            ks = Kj.T @ s
            Hs += w * (Kj.T @ (s[:, None] * Kj) - np.outer(ks, ks))
        return val, g, Hs

    val, g, Hs = f_eval(c)
    for _ in range(200):
        if n == 0:
            break
        step = np.linalg.solve(Hs, -g)
        t = 1.0
        while True:
            val_t, g_t, H_t = f_eval(c + t * step)
            if val_t <= val + 1e-15 * abs(val) or t < 1e-9:
                break
            t /= 2
        decrement = -float(g @ step)              # g^T H^-1 g: the predicted decrease, x 2
        c, val, g, Hs = c + t * step, val_t, g_t, H_t
        # done when the step is negligible, or when the predicted decrease is at float64's noise
        # (an ill-conditioned Hessian keeps the step at ~cond x 1e-16: the refinement below takes over)
        if (t * np.linalg.norm(step) <= 1e-13 * max(1.0, np.linalg.norm(c))
                or decrement <= 1e-20 * max(1.0, abs(val))):
            break
    else:
        raise InternalError("Newton for the minimiser of the restricted cross-entropy did not converge")
    bits = int(ctx.prec) + 20
    # the Hessian's condition costs its digits in every solve: work with that many more bits
    extra = 20 + (2 * int(math.log2(max(np.linalg.cond(Hs), 1.0))) if n else 0)
    with flint.ctx.workprec(bits + extra):
        # Newton on ball midpoints, the Hessian rebuilt in arb at each step (n is small)
        Ka = [flint.arb_mat(len(Kj), n, [_fq_arb(x) for row in Kj for x in row]) if n else None for Kj in K]
        Pa = [[_fq_arb(to_fmpq(x)) for x in p] for p in P]
        wa = [_fq_arb(to_fmpq(x)) for x in inst.pi]
        ca = flint.arb_mat(n, 1, [flint.arb(float(x)) for x in c])
        for _ in range(60):
            value, g, Hn = flint.arb(0), flint.arb_mat(n, 1), flint.arb_mat(n, n)
            for w, Kj, p in zip(wa, Ka, Pa):
                l = Kj * ca if n else flint.arb_mat(len(p), 1)
                mx = max((l[r, 0].mid() for r in range(len(p))), key=float)
                e = [(l[r, 0] - mx).exp() for r in range(len(p))]
                tot = sum(e, flint.arb(0))
                value += w * (mx + tot.log() - sum((q * l[r, 0] for r, q in enumerate(p)), flint.arb(0)))
                if n:
                    sv = [x / tot for x in e]
                    g += w * (Kj.transpose() * flint.arb_mat(len(p), 1, [x - q for x, q in zip(sv, p)]))
                    ks = Kj.transpose() * flint.arb_mat(len(p), 1, sv)
                    D = flint.arb_mat(len(p), len(p))
                    for r, x in enumerate(sv):
                        D[r, r] = x
                    Hn += w * (Kj.transpose() * D * Kj - ks * ks.transpose())
            if n == 0:
                break
            step = Hn.mid().solve(g.mid(), algorithm="approx").mid()
            ca = (ca - step).mid()
            size = max(abs(float(step[r, 0])) for r in range(n))
            if size <= 2.0 ** -(bits - 30) * max(1.0, max(abs(float(ca[r, 0])) for r in range(n))):
                break
        else:
            raise InternalError("the high-precision refinement of the restricted cross-entropy's minimiser "
                                "did not converge")
        cm = [arb_mid_to_mpf(ctx, ca[r, 0]) for r in range(n)]
        value = arb_mid_to_mpf(ctx, value)
    q = lambda x: ctx.mpf(x.numerator) / x.denominator  # noqa: E731
    W = [[ctx.zero] * inst.d for _ in range(inst.V)]
    for ci, (j, z) in zip(cm, pairs):
        for col, hji in enumerate(inst.H[j]):
            W[z][col] += ci * q(hji)
            W[a[j]][col] -= ci * q(hji)
    return cm, W, value


def _sign(v: int, z: int, a: int) -> int:
    """The coefficient of e_v in e_z - e_a."""
    return (v == z) - (v == a)


def _fq_arb(x) -> flint.arb:
    return flint.arb(int(x.p)) / int(x.q) if isinstance(x, flint.fmpq) else flint.arb(x)


def _softmax(ctx, logits, support) -> list:
    mx = max(logits[z] for z in support)
    e = {z: ctx.exp(logits[z] - mx) for z in support}
    tot = ctx.fsum(e.values())
    return [e[z] / tot if z in e else ctx.zero for z in range(len(logits))]


def _round(ctx, x, grid: Fraction) -> Fraction:
    return Fraction(int(ctx.nint(x * grid.denominator / grid.numerator))) * grid


# ---------------------------------------------------------------------------------------------
# The moment-matching point and the exact case


def _moment_projector(inst: Instance, sbar):
    """r0 -> r0 projected exactly (least change) onto {r : r_j on sbar_j, sum r_j = 1,
    sum_j pi_j (r_j - p_j) h_j^T = 0}, or None if that leaves an entry <= 0 on sbar."""
    cells = [(j, z) for j, s in enumerate(sbar) for z in s]
    col = {c: k for k, c in enumerate(cells)}
    n = len(cells)
    w = [[to_fmpq(pi * x) for x in h] for pi, h in zip(inst.pi, inst.H)]
    A = flint.fmpq_mat(inst.m + inst.V * inst.d, n)
    rhs = []
    for j, s in enumerate(sbar):
        for z in s:
            A[j, col[(j, z)]] = 1
        rhs.append(1)
    for v in range(inst.V):
        for c in range(inst.d):
            r = inst.m + v * inst.d + c
            for j in range(inst.m):
                if (j, v) in col:
                    A[r, col[(j, v)]] = w[j][c]
            rhs.append(sum((w[j][c] * to_fmpq(inst.P[j][v]) for j in range(inst.m) if inst.P[j][v]), flint.fmpq(0)))
    keep = pivots(A.transpose())
    As = flint.fmpq_mat(len(keep), n, [A[i, k] for i in keep for k in range(n)])
    gram = As * As.transpose()
    b = flint.fmpq_mat(len(keep), 1, [rhs[i] for i in keep])

    def project(r0):
        x0 = flint.fmpq_mat(n, 1, [to_fmpq(r0[j][z]) for j, z in cells])
        x = x0 + As.transpose() * solve(gram, b - As * x0)
        r = [[Fraction(0)] * inst.V for _ in range(inst.m)]
        for k, (j, z) in enumerate(cells):
            r[j][z] = to_frac(x[k, 0])
        return None if any(r[j][z] <= 0 for j, z in cells) else r

    return project


def _exact_if_optimal(inst: Instance, sbar, r):
    """(sum pi H(r), {prime: {(j, z): beta}}, Wbar) when r's log-odds on the extended supports are
    those of some W (then r = qbar); None otherwise. Decided exactly by exact.compatibility on the
    instance with distributions r (its supports are the extended ones, its F is Fbar)."""
    inst_r = Instance(name=inst.name, vocab=inst.vocab, contexts=inst.contexts, H=inst.H, pi=inst.pi,
                      P=tuple(tuple(row) for row in r))
    geo_r = Geometry(inst_r)
    comp = exact.compatibility(geo_r, exact.subspace_F(geo_r))
    if not comp.compatible:
        return None
    by_prime = {q: {(geo_r.E[i].j, geo_r.E[i].token): b for i, b in e["beta"].items()} for q, e in comp.by_prime.items()}
    return exact.entropy(inst_r), by_prime, comp.W_star


# ---------------------------------------------------------------------------------------------
# Ball arithmetic (the checker does the same, independently)


def _entropy_arb(pi, P):
    with flint.ctx.workprec(600):
        total = flint.arb(0)
        for w, row in zip(pi, P):
            for x in row:
                if x:
                    xa = flint.arb(x.numerator) / x.denominator
                    total -= flint.arb(w.numerator) / w.denominator * xa * xa.log()
        return total


def ce_arb(inst: Instance, W) -> flint.arb:
    """CE(W) for a rational W, in ball arithmetic."""
    with flint.ctx.workprec(600):
        total = flint.arb(0)
        for w, h, row in zip(inst.pi, inst.H, inst.P):
            logits = [sum((x * y for x, y in zip(Wv, h)), Fraction(0)) for Wv in W]
            top = max(logits)
            arb = lambda x: flint.arb(x.numerator) / x.denominator  # noqa: E731
            lse = sum((arb(l - top).exp() for l in logits), flint.arb(0)).log()
            part = sum((arb(p) * (lse - arb(l - top)) for p, l in zip(row, logits) if p), flint.arb(0))
            total += flint.arb(w.numerator) / w.denominator * part
        return total


def _outward(x: flint.arb, digits: int = DIGITS) -> tuple[str, str]:
    """Decimals lo <= x <= hi with ``digits`` significant digits, one unit further out than the
    rounding (so that parsing them back into balls keeps the inequalities strict)."""
    if x.is_exact() and x == 0:
        return "0", "0"
    out = []
    with flint.ctx.workprec(600):
        ends = ((x.lower().man_exp(), math.floor), (x.upper().man_exp(), math.ceil))
    for (man, e), rnd in ends:
        v = Fraction(int(man)) * Fraction(2) ** int(e)
        if v == 0:
            out.append(f"{'-' if rnd is math.floor else ''}1e-{digits + 300}")
            continue
        k = math.floor(math.log10(abs(float(v)))) if abs(v) > Fraction(1, 10**300) else -300
        unit = Fraction(10) ** (k - digits + 1)
        n = rnd(v / unit) + (-1 if rnd is math.floor else 1)
        out.append(_sci(n, k - digits + 1))
    return out[0], out[1]


def _sci(n: int, e: int) -> str:
    """n * 10^e as a decimal string."""
    sign, s = ("-" if n < 0 else ""), str(abs(n))
    point = len(s) + e
    if 0 < point <= len(s):
        return f"{sign}{s[:point]}.{s[point:] or '0'}"
    if point <= 0 and point > -10:
        return f"{sign}0.{'0' * -point}{s}"
    return f"{sign}{s[0]}.{s[1:] or '0'}e{point - 1}"
