"""Claims that need no long numerics: ``remark1``, ``lemma1``, ``prop1`` (theory.md section 4)."""

from __future__ import annotations

from fractions import Fraction

import mpmath

from .linalg import mat
from .status import ClaimResult, Status

PROP1_G_MAX = 8192     # calibration seeds 4078, 4134, 4220, 4253 (margin excess 3.5e-4..9.5e-4) decide at 8192, not 4096
PROP1_DIGITS = 60        # the ratios are judged with this many digits (computed with >= 70 more)
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


def prop1(ex, precision: int, problem=None) -> ClaimResult:
    """CE(W* + g W^mm) - H > 0 and -> 0 like C e^{-g}.

    Prediction (exact algebra): the gap equals sum_j pi_j log(1 + r_j(g)) with
    r_j = p_{j,a_j} sum_{v not in S_j} exp(-<A_{j,v}, W*> - g <A_{j,v}, W^mm>), so
    gap * e^g -> C = sum over tight pairs of pi_j p_{j,a_j} exp(-<A_{j,v}, W*>), and the ratio
    gap e^g / C approaches 1 like e^(-c g), c = min(1, smallest margin excess <A, W^mm> - 1 of the
    constraints that are not tight). The check computes the gap directly from CE (log-sum-exp, at
    precision + g / ln 10 + 40 digits, so that the gap itself is resolved) at g = 1, 2, 4, ...,
    doubling g past 128 until decided (at most PROP1_G_MAX), and judges the
    ratio with ``numeric.estimate`` (model e^(-c g)). A gap <= 0 contradicts CE(W) > H outright.
    ``problem`` (a NumericProblem) supplies H, W* and W^mm when given (calibration hands wrong
    ones on purpose); otherwise they come from ``ex``.
    """
    from .numeric.estimate import RateModel, estimate_limit

    if ex.trivial:
        return ClaimResult("prop1", Status.NOT_APPLICABLE, "trivial instance: every support is the whole vocabulary")
    if not (ex.compat.compatible and ex.svm.separable):
        failing = "compatible" if not ex.compat.compatible else "separable"
        return ClaimResult("prop1", Status.NOT_APPLICABLE, f"hypothesis fails: not {failing}")
    inst = ex.inst
    entropy = problem.entropy if problem is not None else ex.H
    W_star = problem.W_star if problem is not None else ex.compat.W_star
    W_mm = problem.W_mm if problem is not None else ex.svm.W
    tight = [(ex.geo.all[i].j, ex.geo.all[i].plus, ex.geo.all[i].minus) for i in ex.svm.tight]
    gap_c = _margin_excess(inst, W_mm, {(j, v) for j, _, v in tight})
    rate = min(Fraction(1), gap_c) if gap_c is not None else Fraction(1)
    rows, xs, ts = [], [], []
    negative = None
    base = max(precision, 30) + 40
    g = 1
    while True:
        ctx = mpmath.MPContext()
        ctx.dps = base + int(g / 2.3) + 1
        q = lambda x: ctx.mpf(x.numerator) / x.denominator  # noqa: E731
        Hs = [[q(x) for x in h] for h in inst.H]
        Wg = [[v.to_mpf(ctx) + g * q(w) for v, w in zip(rs, rm)] for rs, rm in zip(W_star, W_mm)]
        Ws = [[v.to_mpf(ctx) for v in rs] for rs in W_star]
        C = ctx.fsum(q(inst.pi[j]) * q(inst.P[j][a]) *
                     ctx.exp(-(ctx.fdot(Ws[a], Hs[j]) - ctx.fdot(Ws[v], Hs[j]))) for j, a, v in tight)
        ce = ctx.zero
        for j in range(inst.m):
            l = [ctx.fdot(Wg[r], Hs[j]) for r in range(inst.V)]
            mx = max(l)
            lse = mx + ctx.log(ctx.fsum(ctx.exp(x - mx) for x in l))
            ce -= q(inst.pi[j]) * ctx.fsum(q(inst.P[j][z]) * (l[z] - lse) for z in inst.supports[j])
        gap = ce - entropy.to_mpf(ctx)
        ratio = gap * ctx.exp(g) / C
        rows.append({"g": g, "digits": ctx.dps, "gap": ctx.nstr(gap, 12), "gap_times_e^g_over_C": ctx.nstr(ratio, 15)})
        if gap <= 0 and negative is None:
            negative = (g, gap, ctx)
        ts.append(g)
        xs.append((ctx.nstr(ratio, PROP1_DIGITS), ctx.nstr(gap, PROP1_DIGITS)))
        if g >= 128:
            ectx = mpmath.MPContext()
            ectx.dps = PROP1_DIGITS + 10
            gap_est = estimate_limit(ectx, ts[-4:], [[ectx.mpf(x[1])] for x in xs[-4:]], [ectx.zero],
                                     ectx.power(10, -20), ectx.power(10, -(PROP1_DIGITS - 10)),
                                     "CE(W* + g W^mm) - H -> 0",
                                     RateModel("exp", ectx.one, "theory.md 4: C e^(-g)", axis="g"))
            est = estimate_limit(ectx, ts[-4:], [[ectx.mpf(x[0])] for x in xs[-4:]], [ectx.one],
                                 ectx.mpf(PROP1_RATIO_TOL.numerator) / PROP1_RATIO_TOL.denominator,
                                 ectx.power(10, -(PROP1_DIGITS - 10)), "gap e^g / C -> 1",
                                 RateModel("exp", ectx.mpf(rate.numerator) / rate.denominator,
                                           f"c = min(1, smallest margin excess) = {float(rate):.4g}", axis="g"))
            if gap_est.status == Status.FAIL:
                est = gap_est
            decided = est.status != Status.INCONCLUSIVE
            if negative is not None or decided or g >= PROP1_G_MAX:
                break
        g *= 2
    ev = {"C": ctx.nstr(C, 20), "table": rows, "rate_c": str(rate),
          "criterion": ("fail: CE(W* + g W^mm) - H <= 0 at some g (contradicts CE > H), or the ratio gap e^g / C "
                        "converges elsewhere than 1 (estimate, model e^(-c g)); pass: the estimated limit of "
                        f"the ratio is 1 to within {PROP1_RATIO_TOL}; else inconclusive; g doubles past 128 "
                        f"until decided (at most {PROP1_G_MAX})"),
          "limit": est.evidence, "gap_limit": gap_est.evidence}
    if negative is not None:
        g0, gap0, c0 = negative
        return ClaimResult("prop1", Status.FAIL, f"CE(W* + g W^mm) - H = {c0.nstr(gap0, 5)} <= 0 at g = {g0}: "
                           "contradicts CE(W) > H for every finite W", ev)
    return ClaimResult("prop1", est.status, f"CE - H > 0 at g = 1..{ts[-1]}; {est.note}", ev)


def _margin_excess(inst, W, tight: set) -> Fraction | None:
    """Smallest <A_{j,v}, W> - 1 over the inequality pairs not in ``tight`` (None if none)."""
    from .numeric.offsets import constraint_margins
    return min((m - 1 for pair, m in constraint_margins(inst, W) if pair not in tight), default=None)
