"""Claims that need no long numerics: ``remark1``, ``lemma1``, ``prop1`` (theory.md section 4)."""

from __future__ import annotations

from fractions import Fraction

import mpmath

from .linalg import mat
from .status import ClaimResult, Status

PROP1_G = (1, 2, 4, 8, 16, 32, 64, 128)
PROP1_RATIO_TOL = Fraction(1, 10**3)


def remark1(ex) -> ClaimResult:
    """Every S_j a single token => H = 0, F = {0}, W* = 0, NTP-SVM = hard-margin Crammer-Singer."""
    inst = ex.inst
    multi = [inst.contexts[j] for j, s in enumerate(inst.supports) if len(s) != 1]
    if multi:
        return ClaimResult("remark1", Status.NOT_APPLICABLE,
                           f"hypothesis fails: context {multi[0]} has more than one next token",
                           {"contexts_with_several_tokens": multi})
    zero_W = ex.compat.compatible and all(not v.terms for row in ex.compat.W_star for v in row)
    # Crammer-Singer hard margin without bias: w_{y_j}.h_j - w_v.h_j >= 1 for all v != y_j.
    cs_pairs = sorted((j, v) for j in range(inst.m) for v in range(inst.V) if v != inst.supports[j][0])
    ntp_pairs = sorted((g.j, g.token) for g in ex.geo.I)
    same_program = cs_pairs == ntp_pairs and all(g.plus == inst.supports[g.j][0] for g in ex.geo.I)
    checks = {"H_is_zero": not ex.H.terms, "F_dim_is_zero": ex.F.dim == 0,
              "W_star_is_zero": zero_W, "svm_is_crammer_singer": same_program}
    ok = all(checks.values())
    summary = ("one-hot: H = 0, F = {0}, W* = 0 and the NTP-SVM is the hard-margin Crammer-Singer SVM"
               if ok else "one-hot, but " + ", ".join(k for k, v in checks.items() if not v) + " does not hold")
    return ClaimResult("remark1", Status.PASS if ok else Status.FAIL, summary, checks)


def lemma1(ex) -> ClaimResult:
    """d > m and rank(Hbar) = m => compatible and separable."""
    inst = ex.inst
    rank = mat([list(h) for h in inst.H]).rank()
    ev = {"d": inst.d, "m": inst.m, "rank": rank}
    if not (inst.d > inst.m and rank == inst.m):
        why = f"d = {inst.d} is not > m = {inst.m}" if inst.d <= inst.m else f"rank(Hbar) = {rank} < m = {inst.m}"
        return ClaimResult("lemma1", Status.NOT_APPLICABLE, f"hypothesis fails: {why}", ev)
    ok = ex.compat.compatible and ex.svm.separable
    ev.update(compatible=ex.compat.compatible, separable=ex.svm.separable)
    summary = ("d > m and rank m: compatible and separable, as claimed" if ok else
               "COUNTEREXAMPLE: d > m and rank m, but " +
               ("not compatible" if not ex.compat.compatible else "not separable"))
    return ClaimResult("lemma1", Status.PASS if ok else Status.FAIL, summary, ev)


def prop1(ex, precision: int) -> ClaimResult:
    """CE(W* + g W^mm) - H > 0 and -> 0 like C e^{-g}.

    Prediction (exact algebra, see docs): the gap equals sum_j pi_j log(1 + r_j(g)) with
    r_j = p_{j,a_j} sum_{v not in S_j} exp(-<A_{j,v}, W*> - g <A_{j,v}, W^mm>), so
    gap * e^g -> C = sum over tight pairs of pi_j p_{j,a_j} exp(-<A_{j,v}, W*>). The check computes
    the gap directly from CE (log-sum-exp) and compares it with C e^{-g}.
    """
    if ex.trivial:
        return ClaimResult("prop1", Status.NOT_APPLICABLE, "trivial instance: every support is the whole vocabulary")
    if not (ex.compat.compatible and ex.svm.separable):
        failing = "compatible" if not ex.compat.compatible else "separable"
        return ClaimResult("prop1", Status.NOT_APPLICABLE, f"hypothesis fails: not {failing}")
    inst = ex.inst
    ctx = mpmath.MPContext()
    ctx.dps = max(precision, 30) + 70
    Ws = [[v.to_mpf(ctx) for v in row] for row in ex.compat.W_star]
    Wm = [[ctx.mpf(x.numerator) / x.denominator for x in row] for row in ex.svm.W]
    Hs = [[ctx.mpf(x.numerator) / x.denominator for x in h] for h in inst.H]
    H = ex.H.to_mpf(ctx)

    def logits(W, j):
        return [ctx.fsum(W[r][c] * Hs[j][c] for c in range(inst.d)) for r in range(inst.V)]

    Ls = [logits(Ws, j) for j in range(inst.m)]
    Lm = [logits(Wm, j) for j in range(inst.m)]
    C = ctx.mpf(0)
    for i in ex.svm.tight:
        g = ex.geo.all[i]
        a, v = g.plus, g.minus
        C += inst.pi[g.j] * ctx.mpf(inst.P[g.j][a].numerator) / inst.P[g.j][a].denominator \
            * ctx.exp(-(Ls[g.j][a] - Ls[g.j][v]))
    rows, gaps = [], []
    for gval in PROP1_G:
        ce = ctx.mpf(0)
        for j in range(inst.m):
            l = [Ls[j][r] + gval * Lm[j][r] for r in range(inst.V)]
            mx = max(l)
            lse = mx + ctx.log(ctx.fsum(ctx.exp(x - mx) for x in l))
            for z in inst.supports[j]:
                p = inst.P[j][z]
                ce -= inst.pi[j] * ctx.mpf(p.numerator) / p.denominator * (l[z] - lse)
        gap = ce - H
        gaps.append(gap)
        ratio = gap * ctx.exp(gval) / C
        rows.append({"g": gval, "gap": ctx.nstr(gap, 12), "gap_times_e^g_over_C": ctx.nstr(ratio, 15)})
    final = abs(gaps[-1] * ctx.exp(PROP1_G[-1]) / C - 1)
    before = abs(gaps[-2] * ctx.exp(PROP1_G[-2]) / C - 1)
    positive = all(x > 0 for x in gaps)
    decreasing = all(b < a for a, b in zip(gaps, gaps[1:]))
    ev = {"working_digits": ctx.dps, "C": ctx.nstr(C, 20), "table": rows,
          "criterion": (f"pass: gap > 0 at every g, decreasing, and |gap e^g / C - 1| <= {PROP1_RATIO_TOL} at "
                        f"g = {PROP1_G[-1]}; fail: gap not positive and decreasing, or |gap e^g / C - 1| above "
                        f"the tolerance and not falling between the last two g; else inconclusive"),
          "final_ratio_error": ctx.nstr(final, 5)}
    if not positive or not decreasing:
        return ClaimResult("prop1", Status.FAIL, "CE(W* + g W^mm) - H is not positive and decreasing", ev)
    tol = ctx.mpf(PROP1_RATIO_TOL.numerator) / PROP1_RATIO_TOL.denominator
    if final > tol and final >= before:
        return ClaimResult("prop1", Status.FAIL,
                           f"CE - H does not decay like C e^(-g): gap e^g / C moves away from 1 "
                           f"({ctx.nstr(before, 3)} at g = {PROP1_G[-2]}, {ctx.nstr(final, 3)} at g = {PROP1_G[-1]})", ev)
    if final <= tol:
        return ClaimResult("prop1", Status.PASS,
                           f"CE - H > 0 and decays like C e^(-g): ratio error {ctx.nstr(final, 3)} at g = {PROP1_G[-1]}", ev)
    return ClaimResult("prop1", Status.INCONCLUSIVE,
                       f"CE - H > 0 and decreasing, but gap e^g / C is still {ctx.nstr(final, 3)} from 1 at g = {PROP1_G[-1]}", ev)
