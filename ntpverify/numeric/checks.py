"""Claim checks from GD runs and norm-ball path runs, and what GD does when a condition fails.

Numeric evidence is never a proof: every claim reports "observed vs predicted" with residuals, and
every criterion and tolerance it used is written into its ``evidence``.

How a limit claim x_k -> x_inf is judged (``analyse_limit``), on the checkpoints N/1000, N/100,
N/10, N (N = last iteration):
- pass: the error ||x_N - x_inf|| fell over the last decade, ends at or below the stated tolerance
  (or at the working-precision floor), and the limit extrapolated from the last three decade
  checkpoints (Aitken's delta-squared) is consistent with x_inf;
- fail: the trend contradicts the claim: the extrapolation is trustworthy (the sequence contracts
  by at least 1/r_trust per decade) and its limit lies farther from x_inf than kappa times the
  remaining change it predicts (plus the floor), or the error rose over both of the last decades
  while above the tolerance;
- inconclusive: otherwise (the trend is right but the run is short); the evidence gives the k a run
  would need, extrapolated from the observed per-decade factor.
Direction converges only logarithmically, so ``thm2`` judges cos(W_k, W^mm) -> 1 through the
*growth direction* -eta k grad CE(W_k) = k (W_{k+1} - W_k): if it converges to W^mm's direction then
W_k / log k does too (Stolz-Cesaro), hence cos(W_k, W^mm) -> 1; 1 - cos itself is only required to
keep falling, and its rate is the separate claim ``ext-angle-rate``.

Claims and their criteria (tolerances in ``Tolerances``, copied into every evidence):
- ``lemma2``: CE(W_k) - H -> 0 (limit analysis, tolerance ``loss_gap``) and ||W_k|| -> oo (growth
  over the last decade within a factor ``norm_growth`` of the predicted ||W^mm|| ln 10; a fall fails).
- ``thm2``: P_F(W_k) -> W* (limit analysis, tolerance ``proj`` max(1, ||W*||)) and cos -> 1 by
  rate: 1 - cos falling over two decades with (1 - cos) log^2 k bounded (``cos_bound``) and the
  growth direction's error falling; a growth direction converging elsewhere fails (in degenerate
  cases its extrapolation is not used: it may converge only like 1/log k).
- ``ext-loss-rate``: eta k (CE - H) / ||W^mm||^2 -> 1 (limit analysis, tolerance ``loss_rate``).
- ``ext-proj-rate``: log-log slope of ||P_F(W_k) - W*|| over the last decade within ``rate_slope``
  of -1; slower than k^-1/2 fails; faster is reported as inconclusive (degenerate).
- ``ext-offset``: support-pair offsets -> the predicted values (max-norm limit analysis, tolerance
  ``offset``); not applicable unless the P_perp A_{j,v} are independent (exact rank); far from the
  limit (error > 1 or k needed > 1e9, from mu and the saturated speed) never fails, reports the k.
- ``ext-angle-rate``: d cot(angle) / d log k positive and stable to ``rate_slope`` over two decades;
  degenerate cases (dependent P_perp A, weakly active constraints) are named in the summary.
- ``thm1`` (path): nu > 0 and KKT residuals below 10^-precision at every radius (so W_B is the ball
  minimiser with ||W_B|| = B); P_F(W_B) -> W* to 10^-confirm_digits (a stall against the predicted
  e^{-B/||W^mm||} decay fails); the path tangent dW/dB -> W^mm's direction; 1 - cos falling.
- ``ext-path-rate``: the last local slope of ln ||P_F(W_B) - W*|| against B, times ||W^mm||, within
  ``path_rate`` of -1; no decay fails.
``failure_report`` describes (does not judge) GD when compatibility or separability fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from fractions import Fraction

import numpy as np

from ..errors import InternalError
from ..exactnum import fmt_q
from ..status import ClaimResult, Status
from .gd import (Checkpoint, Evaluator, ExactData, GdRun, constraint_inner, fmt_mpf, frob, integer_matrix,
                 mscale, msub, q2mpf)
from .path import PathRun, fmt_radius
from .problem import NumericProblem, failing_condition

PASS, FAIL, INC, NA = Status.PASS, Status.FAIL, Status.INCONCLUSIVE, Status.NOT_APPLICABLE
_RANK = {PASS: 0, INC: 1, FAIL: 2}


@dataclass(frozen=True)
class Tolerances:
    """Every tolerance a verdict uses (each one is copied into the claim's evidence).

    - loss_gap: CE(W_N) - H must end below this (nats).
    - proj: ||P_F(W_N) - W*|| must end below proj * max(1, ||W*||).
    - direction: ||u_N - W^mm/||W^mm|| || for the unit growth direction u_N (reported; the verdict
      on cos -> 1 is by rate, see ``cos_bound``).
    - cos_bound: (1 - cos) log^2 k may grow by at most this factor over the last two decades.
    - loss_rate, offset: |eta k (CE - H)/||W^mm||^2 - 1| and max offset error must end below these.
    - rate_slope: |observed log-log slope - predicted| for ext-proj-rate, and the relative change of
      the slope of cot(angle) against log k between decades for ext-angle-rate.
    - path_rate: relative deviation of the fitted exponential rate from 1/||W^mm|| (ext-path-rate).
    - norm_growth: ||W_k|| growth per decade / (||W^mm|| ln 10) must lie in [1/x, x] (lemma2).
    - kappa, r_trust: extrapolation consistency factor and largest per-decade contraction for which
      Aitken's extrapolation is trusted enough to fail a claim.
    """

    loss_gap: Fraction = Fraction(1, 1000)
    proj: Fraction = Fraction(1, 100)
    direction: Fraction = Fraction(1, 100)
    loss_rate: Fraction = Fraction(1, 100)
    offset: Fraction = Fraction(1, 1000)
    rate_slope: Fraction = Fraction(1, 10)
    path_rate: Fraction = Fraction(1, 10)
    norm_growth: Fraction = Fraction(2)
    cos_bound: Fraction = Fraction(2)
    kappa: Fraction = Fraction(3)
    r_trust: Fraction = Fraction(1, 2)

    def to_json(self) -> dict:
        return {f.name: fmt_q(getattr(self, f.name)) for f in fields(self)}


DEFAULT_TOL = Tolerances()


# ---------------------------------------------------------------------------------------------
# small helpers


def worst(*statuses: Status) -> Status:
    """FAIL over INCONCLUSIVE over PASS."""
    return max(statuses, key=lambda s: _RANK[s])


def _s(ctx, x, n: int = 6) -> str:
    return fmt_mpf(ctx, x, n) if x is not None else "none"


def _flat(M) -> list:
    return [x for row in M for x in row]


def _dist(ctx, x, y):
    return ctx.sqrt(ctx.fsum((a - b) ** 2 for a, b in zip(x, y)))


def _maxdist(ctx, x, y):
    return max((abs(a - b) for a, b in zip(x, y)), default=ctx.zero)


def _unit(ctx, x):
    n = ctx.sqrt(ctx.fsum(a * a for a in x))
    return [a / n for a in x] if n else list(x)


def _q(ctx, q):
    return q2mpf(ctx, q)


def _pow10(ctx, x) -> str:
    """'about 1e+07' style text for a positive mpf (log10 used, so e^150 is fine)."""
    if x is None or not ctx.isfinite(x):
        return "unknown"
    e = ctx.log10(x)
    if e > 300:
        return f"about 1e{int(ctx.floor(e))}"
    return f"about {ctx.nstr(x, 2)}"


def decade_ks(run: GdRun) -> list[int]:
    """The checkpoints N//1000, N//100, N//10, N that exist (ascending, distinct)."""
    N = run.iterations
    out = []
    for q in (1000, 100, 10, 1):
        k = N // q
        if k >= 1 and k not in out and run.at(k) is not None:
            out.append(k)
    return out


def per_decade(ctx, e_new, e_old, k_new: int, k_old: int):
    """The factor by which e changes per factor 10 in k, from two checkpoints."""
    if not e_old or not e_new:
        return None
    return ctx.power(e_new / e_old, 1 / ctx.log10(ctx.mpf(k_new) / k_old))


def floor_for(run: GdRun, lipschitz, scale):
    """Working-precision floor of a quantity with the given Lipschitz constant in W and scale:
    10 x (rounding bound x lipschitz + 10^-(working digits - 5) x max(1, scale))."""
    ctx = run.ctx
    ulp = ctx.power(10, -(run.working_digits - 5))
    return 10 * (run.rounding.bound * lipschitz + ulp * max(ctx.one, abs(scale)))


def gd_hypotheses(problem: NumericProblem) -> str | None:
    """The first failing hypothesis of lemma2 / thm2 / ext-*, named; None when all hold."""
    shared = failing_condition(problem)
    if shared is not None:
        return shared
    if not problem.eta_admissible:
        return (f"step eta = {fmt_q(Fraction(problem.eta))} is not proven admissible "
                "(eta * lambda_max(M) <= 1 does not hold or was not shown)")
    if problem.W_star is None or problem.W_mm is None or not problem.W_mm_norm_sq:
        raise InternalError("a compatible, separable problem reached the numeric layer without W* "
                            "or W^mm")
    return None


def _not_applicable(cid: str, why: str) -> ClaimResult:
    return ClaimResult(cid, NA, f"not applicable: {why}", {"hypothesis_failed": why})


# ---------------------------------------------------------------------------------------------
# the generic limit analysis


@dataclass
class LimitAnalysis:
    status: Status
    note: str
    evidence: dict
    error_last: object


def analyse_limit(ctx, ks: list, xs: list[list], target: list, tol, floor, label: str,
                  tols: Tolerances = DEFAULT_TOL, predicted_factor=None, norm: str = "l2",
                  axis: str = "k", needed=None, extrapolate: bool = True,
                  confirm_previous: bool = False, extrapolate_off: str = "",
                  fail_beyond_tol: bool = False) -> LimitAnalysis:
    """Judge x -> target from values at checkpoints ks (ascending); see the module doc.

    ``axis="k"``: GD checkpoints a decade apart (factors are normalised per decade, the k needed is
    extrapolated from the last one). ``axis="B"``: path radii (factors are per radius step and
    ``needed(e_last, tol, factor)`` gives the text of the radius needed). Errors and distances use
    the Euclidean norm (``norm="l2"``) or the largest entry (``"max"``). ``extrapolate=False`` skips
    the Aitken test (for sequences whose contraction is not geometric, e.g. e^-B at doubling B, or
    degenerate cases; ``extrapolate_off`` says why). ``confirm_previous=True`` trusts the
    extrapolation only if the one from the previous three checkpoints predicted it: their limits
    differ by at most the remaining change the earlier one predicted (guards against mixed rates).
    ``fail_beyond_tol=True`` also requires the extrapolated limit to miss the target by more than
    the tolerance before failing (for scalar ratios whose error changes sign, where Aitken's
    extrapolation is trusted too easily while the error is far below the tolerance).
    """
    dist = _dist if norm == "l2" else _maxdist
    step = "decade" if axis == "k" else "radius step"
    errs = [dist(ctx, x, target) for x in xs]
    ev = {"quantity": label, "norm": norm, "tolerance": _s(ctx, tol), "floor": _s(ctx, floor, 3),
          "errors": [{axis: _label(k), "error": _s(ctx, e)} for k, e in zip(ks, errs)],
          "criterion": (f"pass: error fell over the last {step} and ends <= tolerance (or <= floor), "
                        "extrapolated limit consistent; fail: trusted extrapolation (contraction <= "
                        f"{fmt_q(tols.r_trust)} per {step}) lands farther than kappa = {fmt_q(tols.kappa)}"
                        " x its remaining change + floor from the claimed limit, or the error rose over "
                        f"the last two {step}s while above tolerance; else inconclusive")}
    if len(ks) < 3:
        ev["needed"] = "at least 100 iterations" if axis == "k" else "at least three radii"
        return LimitAnalysis(INC, f"{label}: too few checkpoints to see a trend ({ev['needed']})",
                             ev, errs[-1] if errs else None)
    e_N, e_10, e_100 = errs[-1], errs[-2], errs[-3]
    if axis == "k":
        f_last = per_decade(ctx, e_N, e_10, ks[-1], ks[-2])
        f_prev = per_decade(ctx, e_10, e_100, ks[-2], ks[-3])
    else:
        f_last = e_N / e_10 if e_10 else None
        f_prev = e_10 / e_100 if e_100 else None
    ev[f"factor_per_{step.replace(' ', '_')}"] = {
        "observed": _s(ctx, f_last, 4), "previous": _s(ctx, f_prev, 4),
        "predicted": _s(ctx, predicted_factor, 4)}
    extra = _aitken(ctx, xs[-3], xs[-2], xs[-1], dist) if extrapolate else None
    if not extrapolate:
        ev["extrapolation"] = {"used": False, "why": extrapolate_off or "not requested"}
    if extra is not None:
        X, r, corr = extra
        d_lim = dist(ctx, X, target)
        trusted = r <= _q(ctx, tols.r_trust)
        ev["extrapolation"] = {"method": "Aitken delta-squared on the last three checkpoints",
                               f"contraction_per_{step.replace(' ', '_')}": _s(ctx, r, 4),
                               "limit_distance": _s(ctx, d_lim), "remaining_change": _s(ctx, corr)}
        if trusted and confirm_previous:
            trusted = _previous_agrees(ctx, xs, X, floor, dist, ev["extrapolation"])
        ev["extrapolation"]["trusted"] = bool(trusted)
        if trusted and d_lim > _q(ctx, tols.kappa) * corr + floor and (not fail_beyond_tol or d_lim > tol):
            return LimitAnalysis(FAIL, f"{label}: converges (x{ctx.nstr(r, 2)} per {step}) to a limit "
                                 f"{_s(ctx, d_lim, 3)} away from the claimed one, beyond "
                                 f"{fmt_q(tols.kappa)} x the remaining change {_s(ctx, corr, 3)}",
                                 ev, e_N)
    if e_N <= floor:
        return LimitAnalysis(PASS, f"{label}: error {_s(ctx, e_N, 3)} at the precision floor", ev, e_N)
    if e_N >= e_10 and e_10 >= e_100 and e_N > tol:
        return LimitAnalysis(FAIL, f"{label}: error did not fall over the last two {step}s "
                             f"({_s(ctx, e_100, 3)} -> {_s(ctx, e_10, 3)} -> {_s(ctx, e_N, 3)})", ev, e_N)
    if e_N < e_10 and e_N <= tol:
        return LimitAnalysis(PASS, f"{label}: error {_s(ctx, e_N, 3)} <= {_s(ctx, tol, 3)}, falling "
                             f"x{_s(ctx, f_last, 2)} per {step}", ev, e_N)
    if e_N > tol:
        if needed is not None:
            ev["needed"] = needed(e_N, tol, f_last)
        else:
            need = _k_needed(ctx, ks[-1], e_N, tol, f_last)
            ev["needed"] = (f"k {_pow10(ctx, need)}" if need is not None
                            else "unknown (error not falling)")
        why = f"error {_s(ctx, e_N, 3)} above tolerance {_s(ctx, tol, 3)}; needs {ev['needed']}"
    else:
        why = f"error below tolerance but not falling over the last {step}"
    return LimitAnalysis(INC, f"{label}: {why}", ev, e_N)


def _previous_agrees(ctx, xs, X, floor, dist, ev) -> bool:
    """Whether the Aitken limit of the previous three checkpoints lies within its own predicted
    remaining change (plus the floor) of the current limit X."""
    if len(xs) < 4:
        ev["previous_triple"] = "not available"
        return False
    prev = _aitken(ctx, xs[-4], xs[-3], xs[-2], dist)
    if prev is None:
        ev["previous_triple"] = "not contracting"
        return False
    Xp, _, corr_p = prev
    gap = dist(ctx, X, Xp)
    ev["previous_triple"] = {"limit_gap": _s(ctx, gap), "its_remaining_change": _s(ctx, corr_p)}
    return gap <= corr_p + floor


def _label(k):
    return k if isinstance(k, int) else fmt_radius(k)


def _aitken(ctx, x1, x2, x3, dist=None):
    """(limit, contraction r, remaining change) by vector Aitken, or None if not contracting."""
    dist = dist or _dist
    d1, d2 = dist(ctx, x2, x1), dist(ctx, x3, x2)
    if not d2:
        return list(x3), ctx.zero, ctx.zero
    if not d1 or d2 >= d1:
        return None
    r = d2 / d1
    w = r / (1 - r)
    X = [c + w * (c - b) for b, c in zip(x2, x3)]
    return X, r, d2 * w


def _k_needed(ctx, N: int, e, tol, factor):
    """k at which e would reach tol, continuing at ``factor`` per decade (None if not falling)."""
    if factor is None or factor >= 1 or not tol:
        return None
    decades = ctx.log10(e / tol) / -ctx.log10(factor)
    return N * ctx.power(10, decades)


# ---------------------------------------------------------------------------------------------
# GD claims


class _GdView:
    """The run's checkpoints at the decade points, with mpmath versions of W*, W^mm."""

    def __init__(self, problem: NumericProblem, run: GdRun):
        self.problem, self.run, self.ctx = problem, run, run.ctx
        self.exact: ExactData = problem.exact
        self.ev = run.evaluator_for(problem)
        self.ks = decade_ks(run)
        self.cps: list[Checkpoint] = [run.at(k) for k in self.ks]
        ctx = self.ctx
        self.W_star = _flat(self.ev.W_star)
        self.W_mm = _flat(self.ev.W_mm)
        self.mm_norm = self.ev.W_mm_norm
        self.mm_norm_sq = _q(ctx, problem.W_mm_norm_sq)
        self.eta = self.ev.eta
        self.L_bar = ctx.fsum(p * ctx.fsum(x * x for x in h) for p, h in zip(self.ev.pi, self.ev.H)) / 2

    def offsets(self) -> "OffsetStructure":
        return self.problem.offsets

    def loss_gap(self, c: Checkpoint):
        """CE(W_k) - H with the H of the problem being checked (not the one of the run)."""
        return c.ce - self.ev.entropy

    def proj_err(self, c: Checkpoint):
        return _dist(self.ctx, _flat(c.PF), self.W_star)

    def cos_gap(self, c: Checkpoint):
        return self.ev.cos_gap(c.W)

    def growth_dir(self, c: Checkpoint) -> list:
        return _unit(self.ctx, [-g for g in _flat(c.grad)])


def gd_claims(problem: NumericProblem, run: GdRun, tols: Tolerances = DEFAULT_TOL) -> list[ClaimResult]:
    """lemma2, thm2 and the GD extensions (ext-loss-rate, ext-proj-rate, ext-offset,
    ext-angle-rate) judged on one GD run; not-applicable (hypothesis named) when one fails."""
    ids = ("lemma2", "thm2", "ext-loss-rate", "ext-proj-rate", "ext-offset", "ext-angle-rate")
    why = gd_hypotheses(problem)
    if why is not None:
        return [_not_applicable(cid, why) for cid in ids]
    view = _GdView(problem, run)
    out = [check_lemma2(view, tols), check_thm2(view, tols), check_loss_rate(view, tols),
           check_proj_rate(view, tols), check_offset(view, tols), check_angle_rate(view, tols)]
    for c in out:
        c.evidence.setdefault("run", {"iterations": run.iterations, "backend": run.backend,
                                      "precision": run.precision, "eta": fmt_q(run.eta),
                                      "rounding_bound": _s(run.ctx, run.rounding.bound, 3)})
    return out


def check_lemma2(v: _GdView, tols: Tolerances) -> ClaimResult:
    """CE(W_k) -> H (limit analysis of the loss gap) and ||W_k|| -> oo (growth per decade against
    the predicted ||W^mm|| ln 10)."""
    ctx, run = v.ctx, v.run
    gaps = [[v.loss_gap(c)] for c in v.cps]
    g_last = max(frob(ctx, c.grad) for c in v.cps)
    loss = analyse_limit(ctx, v.ks, gaps, [ctx.zero], _q(ctx, tols.loss_gap),
                         floor_for(run, g_last + 1, v.cps[-1].ce), "CE(W_k) - H", tols,
                         predicted_factor=ctx.mpf(1) / 10)
    norm_status, norm_note, norm_ev = _norm_growth(v, tols)
    status = worst(loss.status, norm_status)
    return ClaimResult("lemma2", status, f"{loss.note}; {norm_note}",
                       {"loss": loss.evidence, "norm": norm_ev, "tolerances": tols.to_json()})


def _norm_growth(v: _GdView, tols: Tolerances):
    ctx = v.ctx
    norms = [c.norm for c in v.cps]
    ev = {"norms": [{"k": k, "norm": _s(ctx, n)} for k, n in zip(v.ks, norms)],
          "criterion": (f"pass if the growth over the last decade is within a factor "
                        f"{fmt_q(tols.norm_growth)} of the predicted ||W^mm|| ln(k_N / k_prev); "
                        "fail if ||W_k|| decreased over it; else inconclusive")}
    if len(v.ks) < 2:
        return INC, "run too short to see ||W_k|| grow", ev
    k1, k2 = v.ks[-2], v.ks[-1]
    growth = norms[-1] - norms[-2]
    pred = v.mm_norm * ctx.log(ctx.mpf(k2) / k1)
    ratio = growth / pred
    ev.update({"growth_last_decade": _s(ctx, growth), "predicted": _s(ctx, pred), "ratio": _s(ctx, ratio, 4)})
    band = _q(ctx, tols.norm_growth)
    if growth <= 0:
        return FAIL, f"||W_k|| fell by {_s(ctx, -growth, 3)} from k = {k1} to {k2}", ev
    if 1 / band <= ratio <= band:
        return PASS, (f"||W_k|| grows {_s(ctx, growth, 3)} from k = {k1} to {k2} "
                      f"(predicted {_s(ctx, pred, 3)})"), ev
    return INC, (f"||W_k|| grows {_s(ctx, growth, 3)} from k = {k1} to {k2}, "
                 f"{_s(ctx, ratio, 2)} x the predicted rate"), ev


def check_thm2(v: _GdView, tols: Tolerances) -> ClaimResult:
    """P_F(W_k) -> W* and cos(W_k, W^mm) -> 1 (through the growth direction; see module doc)."""
    ctx, run = v.ctx, v.run
    ws_norm = ctx.sqrt(ctx.fsum(x * x for x in v.W_star))
    proj = analyse_limit(ctx, v.ks, [_flat(c.PF) for c in v.cps], v.W_star,
                         _q(ctx, tols.proj) * max(ctx.one, ws_norm),
                         floor_for(run, 1, ws_norm), "P_F(W_k) -> W*", tols,
                         predicted_factor=ctx.mpf(1) / 10)
    uhat = _unit(ctx, v.W_mm)
    gmin = min(frob(ctx, c.grad) for c in v.cps)
    lip = 2 * v.L_bar / gmin if gmin else ctx.zero   # unit(-grad) moves <= 2 L ||dW|| / ||grad||
    degenerate = v.offsets().degenerate_reason
    direc = analyse_limit(ctx, v.ks, [v.growth_dir(c) for c in v.cps], uhat, _q(ctx, tols.direction),
                          floor_for(run, lip, 1), "growth direction -> W^mm/||W^mm||", tols,
                          extrapolate=degenerate is None, confirm_previous=True,
                          extrapolate_off=f"degenerate case ({degenerate}): the direction may converge "
                                          "only like 1/log k" if degenerate else "")
    gaps = [v.cos_gap(c) for c in v.cps]
    dir_status, dir_note, cos_ev = _cos_verdict(ctx, v.ks, gaps, direc, tols)
    status = worst(proj.status, dir_status)
    deg_note = f" [degenerate: {degenerate}]" if degenerate else ""
    summary = f"{proj.note}; {dir_note}{deg_note}"
    return ClaimResult("thm2", status, summary,
                       {"projection": proj.evidence, "direction": direc.evidence, "cosine": cos_ev,
                        "tolerances": tols.to_json()})


def _cos_verdict(ctx, ks, gaps, direc: LimitAnalysis, tols: Tolerances, axis: str = "k"):
    """cos -> 1 judged by its rate, not a threshold. GD (``axis="k"``): pass if 1 - cos fell over
    each of the last two decades, (1 - cos) log^2 k at the last checkpoint is at most ``cos_bound``
    times its value two checkpoints earlier (bounded), and the growth direction's error fell over
    the last decade. Path (``axis="B"``): the same with (1 - cos) B^2 and the tangent direction.
    Fail if the direction converges elsewhere (trusted extrapolation) or 1 - cos rose over both of
    the last two steps; else inconclusive."""
    if axis == "k":
        scaled = [g * ctx.log(k) ** 2 for k, g in zip(ks, gaps)]
        name, at, step, what = "log^2 k", "k", "decade", "growth direction"
    else:
        scaled = [g * _q(ctx, b) ** 2 for b, g in zip(ks, gaps)]
        name, at, step, what = "B^2", "B", "radius step", "tangent direction"
    bound = _q(ctx, tols.cos_bound)
    key = f"cos_gap_times_{name.replace(' ', '')}"
    ev = {"cos_gap": [{at: _label(k), "cos_gap": _s(ctx, g), key: _s(ctx, x)}
                      for k, g, x in zip(ks, gaps, scaled)],
          "criterion": (f"pass if 1 - cos fell over each of the last two {step}s, (1 - cos) {name} grew by "
                        f"at most a factor {fmt_q(tols.cos_bound)} over them, and the {what}'s error fell "
                        f"over the last {step} (or is at the precision floor); fail if the {what} converges to another direction "
                        f"(trusted extrapolation) or 1 - cos rose over both {step}s; else inconclusive")}
    head = f"1 - cos(W, W^mm) = {_s(ctx, gaps[-1], 3)} at {at} = {_label(ks[-1])}"
    if direc.status == FAIL and "converges" in direc.note:
        return FAIL, f"{head}; {direc.note}", ev
    if len(gaps) < 3:
        return INC, f"{head}; too few checkpoints to judge the rate", ev
    falling = gaps[-1] < gaps[-2] < gaps[-3]
    rising = gaps[-1] > gaps[-2] > gaps[-3]
    bounded = scaled[-1] <= bound * scaled[-3]
    errs = direc.evidence["errors"]
    floor = ctx.mpf(direc.evidence.get("floor", 0))
    # an error already at the precision floor counts as converged (its last digits are noise)
    dir_falling = (ctx.mpf(errs[-1]["error"]) < ctx.mpf(errs[-2]["error"])
                   or ctx.mpf(errs[-1]["error"]) <= floor)
    ev.update({"falling": bool(falling), "scaled_bounded": bool(bounded),
               "direction_error_falling": bool(dir_falling)})
    if rising:
        return FAIL, f"{head}; 1 - cos rose over the last two {step}s", ev
    if falling and bounded and dir_falling:
        return PASS, (f"{head}, falling with (1 - cos) {name} = {_s(ctx, scaled[-1], 3)} bounded; "
                      f"{what} error {errs[-1]['error']}"), ev
    why = [w for w, ok in (("1 - cos not falling", falling), (f"(1 - cos) {name} growing", bounded),
                           (f"{what} error not falling", dir_falling)) if not ok]
    return INC, f"{head}; {', '.join(why)}", ev


def check_loss_rate(v: _GdView, tols: Tolerances) -> ClaimResult:
    """eta k (CE(W_k) - H) / ||W^mm||^2 -> 1."""
    ctx, run = v.ctx, v.run
    xs = [[v.eta * k * v.loss_gap(c) / v.mm_norm_sq] for k, c in zip(v.ks, v.cps)]
    g = max(frob(ctx, c.grad) for c in v.cps)
    res = analyse_limit(ctx, v.ks, xs, [ctx.one], _q(ctx, tols.loss_rate),
                        floor_for(run, v.eta * v.ks[-1] * (g + 1) / v.mm_norm_sq, 1),
                        "eta k (CE - H) / ||W^mm||^2 -> 1", tols, confirm_previous=True,
                        fail_beyond_tol=True)
    res.evidence["observed_ratio"] = _s(ctx, xs[-1][0], 8)
    return ClaimResult("ext-loss-rate", res.status,
                       f"ratio {_s(ctx, xs[-1][0], 6)} at k = {v.ks[-1]} (predicted -> 1); {res.note}",
                       {"limit": res.evidence})


def check_proj_rate(v: _GdView, tols: Tolerances) -> ClaimResult:
    """||P_F(W_k) - W*|| = Theta(1/k): the log-log slope over the last decade is about -1."""
    ctx, run = v.ctx, v.run
    errs = [v.proj_err(c) for c in v.cps]
    ws_norm = ctx.sqrt(ctx.fsum(x * x for x in v.W_star))
    floor = floor_for(run, 1, ws_norm)
    ev = {"errors": [{"k": k, "proj_err": _s(ctx, e), "k_times_err": _s(ctx, k * e)}
                     for k, e in zip(v.ks, errs)],
          "predicted_slope": "-1", "tolerance": fmt_q(tols.rate_slope), "floor": _s(ctx, floor, 3),
          "criterion": (f"pass if |slope + 1| <= {fmt_q(tols.rate_slope)} over the last decade; fail if "
                        "the slope is above -1/2 (slower than 1/sqrt(k)); inconclusive otherwise")}
    if len(v.ks) < 2:
        return ClaimResult("ext-proj-rate", INC, "run too short", ev)
    if all(e <= floor for e in errs[-2:]):
        return ClaimResult("ext-proj-rate", NA, "not applicable: degenerate case, P_F(W_k) equals W* to "
                           "working precision (no rate to measure)", ev)
    slope = ctx.log(errs[-1] / errs[-2]) / ctx.log(ctx.mpf(v.ks[-1]) / v.ks[-2])
    prev = (ctx.log(errs[-2] / errs[-3]) / ctx.log(ctx.mpf(v.ks[-2]) / v.ks[-3])) if len(v.ks) >= 3 else None
    ev.update({"slope_last_decade": _s(ctx, slope, 4), "slope_previous_decade": _s(ctx, prev, 4)})
    dev = abs(slope + 1)
    if dev <= _q(ctx, tols.rate_slope):
        st, note = PASS, "matches Theta(1/k)"
    elif slope > -ctx.mpf(1) / 2:
        st, note = FAIL, "decays slower than predicted"
    elif slope < -1:
        st, note = INC, "decays faster than the predicted 1/k (a degenerate case?)"
    else:
        st, note = INC, "not yet at the predicted slope"
    return ClaimResult("ext-proj-rate", st, f"log-log slope {_s(ctx, slope, 4)} over the last decade "
                       f"(predicted -1): {note}", ev)


def check_angle_rate(v: _GdView, tols: Tolerances) -> ClaimResult:
    """1 - cos(W_k, W^mm) = Theta(1/log^2 k): cot(angle) grows linearly in log k (stable slope)."""
    ctx = v.ctx
    degenerate = v.offsets().degenerate_reason
    cots, cgs = [], [v.cos_gap(c) for c in v.cps]
    for cg in cgs:
        cos = 1 - cg
        sin = ctx.sqrt(cg * (2 - cg)) if cg > 0 else ctx.zero
        cots.append(cos / sin if sin else ctx.inf)
    ev = {"cot_angle": [{"k": k, "cot": _s(ctx, t), "cos_gap_log2k": _s(ctx, cg * ctx.log(k) ** 2)}
                        for k, t, cg in zip(v.ks, cots, cgs)],
          "tolerance": fmt_q(tols.rate_slope),
          "criterion": (f"pass if d cot / d log k is positive over the last two decades and changes by at "
                        f"most {fmt_q(tols.rate_slope)} (relative) between them; fail if cot fell over "
                        "the last decade; else inconclusive"),
          "degenerate": degenerate or "no"}
    if len(v.ks) < 3 or not all(ctx.isfinite(t) for t in cots):
        return ClaimResult("ext-angle-rate", INC, "run too short or angle already zero", ev)
    a1 = (cots[-1] - cots[-2]) / ctx.log(ctx.mpf(v.ks[-1]) / v.ks[-2])
    a2 = (cots[-2] - cots[-3]) / ctx.log(ctx.mpf(v.ks[-2]) / v.ks[-3])
    ev.update({"slope_last_decade": _s(ctx, a1, 4), "slope_previous_decade": _s(ctx, a2, 4)})
    if a1 <= 0:
        return ClaimResult("ext-angle-rate", FAIL, f"the angle to W^mm grew over the last decade "
                           f"(d cot / d log k = {_s(ctx, a1, 3)})", ev)
    change = abs(a1 / a2 - 1) if a2 > 0 else ctx.inf
    ev["relative_change"] = _s(ctx, change, 3)
    tail = f" (degenerate case: {degenerate}; a log log k drift is expected)" if degenerate else ""
    if change <= _q(ctx, tols.rate_slope):
        return ClaimResult("ext-angle-rate", PASS, f"(1 - cos) log^2 k levels off: d cot / d log k = "
                           f"{_s(ctx, a1, 4)}, changed {_s(ctx, change, 2)} over a decade{tail}", ev)
    return ClaimResult("ext-angle-rate", INC, f"d cot / d log k = {_s(ctx, a1, 4)} still changing "
                       f"({_s(ctx, change, 2)} per decade){tail}", ev)


# ---------------------------------------------------------------------------------------------
# ext-offset


@dataclass
class OffsetStructure:
    """The support pairs of one multiplier set and their projected constraints P_perp A_{j,v}.

    ``independent`` is decided exactly; ``mu``, ``mu_max`` (extreme eigenvalues of
    J = diag(lambda) Gram(P_perp A_SV)) and ``v_sat`` (min lambda ||P_perp A||^2, the speed of a
    saturated offset per unit of log k) are float64 predictions of rates.
    """

    pairs: list[tuple[int, int]]
    lambdas: list[Fraction]
    independent: bool
    mu: float | None
    mu_max: float | None
    v_sat: float | None
    degenerate_reason: str | None
    weakly_active: list[tuple[int, int]] = field(default_factory=list)


def offset_structure(problem: NumericProblem, exact: ExactData) -> OffsetStructure:
    """Support pairs (positive multipliers), exact independence of their projections
    P_perp A_{j,v} (rank of the bordered Gram matrix [[G_B, C], [C^T, G_A]] equals
    dim F + #pairs, C_{i,s} = <B_i, A_s>), and the float64 rates of the linearised offsets."""
    pairs = sorted(p for p, lam in problem.multipliers.items() if lam > 0)
    lams = [Fraction(problem.multipliers[p]) for p in pairs]
    anchors, hh = exact.anchors, exact.hh
    weak = _weakly_active(problem, set(pairs))
    n = len(pairs)
    if n == 0:
        return OffsetStructure([], [], False, None, None, None,
                               "no positive multipliers supplied, so degeneracy cannot be ruled out", weak)
    A = [(j, anchors[j], v) for j, v in pairs]                  # A_{j,v} = (e_{a_j} - e_v) h_j^T
    B = [(j, z, anchors[j]) for j, z in exact.F_pairs]          # B_{j,z} = (e_z - e_{a_j}) h_j^T
    GA = [[constraint_inner(hh, p, q) for q in A] for p in A]
    C = [[constraint_inner(hh, b, p) for p in A] for b in B]
    nF = len(exact.F_pairs)
    bordered = [list(exact.gram[i]) + C[i] for i in range(nF)]
    bordered += [[C[i][s] for i in range(nF)] + GA[s] for s in range(n)]
    independent = integer_matrix(bordered).rank() == nF + n
    Gp = np.array([[float(x) for x in row] for row in GA])
    if nF:
        Cf = np.array([[float(x) for x in row] for row in C])
        Gf = np.array([[float(x) for x in row] for row in exact.gram])
        Gp = Gp - Cf.T @ np.linalg.solve(Gf, Cf)
    lam_f = np.array([float(x) for x in lams])
    v_sat = float(np.min(lam_f * np.diag(Gp)))
    mu = mu_max = None
    if independent:
        sq = np.sqrt(lam_f)
        eig = np.linalg.eigvalsh(Gp * np.outer(sq, sq))
        mu, mu_max = float(eig.min()), float(eig.max())
    reason = (None if independent
              else "the projected support constraints P_perp A_{j,v} are linearly dependent")
    if reason is None and weak:
        reason = f"weakly active constraints (margin 1, multiplier 0) at {weak}"
    return OffsetStructure(pairs, lams, independent, mu, mu_max, v_sat, reason, weak)


def _weakly_active(problem: NumericProblem, support: set) -> list[tuple[int, int]]:
    """Pairs (j, v) with <A_{j,v}, W^mm> = 1 exactly but no positive multiplier."""
    inst, W = problem.instance, problem.W_mm
    out = []
    for j, v in inst.ineq_pairs():
        if (j, v) in support:
            continue
        a = inst.anchors[j]
        margin = sum(((W[a][i] - W[v][i]) * h for i, h in enumerate(inst.H[j])), Fraction(0))
        if margin == 1:
            out.append((j, v))
    return out


def predicted_offsets(v: _GdView, st: OffsetStructure) -> list:
    """log(eta pi_j p_{j,a_j} / lambda_{j,v}) - <A_{j,v}, W*> for each support pair."""
    ctx, ev = v.ctx, v.ev
    out = []
    for (j, t), lam in zip(st.pairs, st.lambdas):
        a = v.exact.anchors[j]
        aw = ctx.fdot(ev.W_star[a], ev.H[j]) - ctx.fdot(ev.W_star[t], ev.H[j])
        out.append(ctx.log(ev.eta * ev.pi[j] * ev.P[j][a] / _q(ctx, lam)) - aw)
    return out


def observed_offsets(v: _GdView, st: OffsetStructure, c: Checkpoint) -> list:
    """<A_{j,v}, P_perp(W_k) - log(k) W^mm> for each support pair."""
    ctx, ev = v.ctx, v.ev
    X = msub(msub(c.W, c.PF), mscale(ctx.log(c.k), ev.W_mm))
    out = []
    for j, t in st.pairs:
        a = v.exact.anchors[j]
        out.append(ctx.fdot(X[a], ev.H[j]) - ctx.fdot(X[t], ev.H[j]))
    return out


def check_offset(v: _GdView, tols: Tolerances) -> ClaimResult:
    """Support-pair margins of P_perp(W_k) - log(k) W^mm converge to the predicted offsets;
    far from the limit, report the predicted k (inconclusive) instead of pass/fail."""
    ctx = v.ctx
    st = v.offsets()
    if not st.independent:
        return _not_applicable("ext-offset", st.degenerate_reason)
    pred = predicted_offsets(v, st)
    xs = [observed_offsets(v, st, c) for c in v.cps]
    amax = ctx.sqrt(2 * max(ctx.fsum(x * x for x in h) for h in v.ev.H))
    floor = floor_for(v.run, amax, max(abs(p) for p in pred))
    mu = ctx.mpf(st.mu)
    res = analyse_limit(ctx, v.ks, xs, pred, _q(ctx, tols.offset), floor,
                        "offsets -> log(eta pi_j p_{j,a_j} / lambda_{j,v}) - <A_{j,v}, W*>", tols,
                        predicted_factor=ctx.power(10, -mu), norm="max", confirm_previous=True)
    errs_last = [abs(a - b) for a, b in zip(xs[-1], pred)]
    worst_i = max(range(len(errs_last)), key=lambda i: errs_last[i])
    ev = {"limit": res.evidence, "mu": ctx.nstr(mu, 4), "mu_max": ctx.nstr(ctx.mpf(st.mu_max), 4),
          "v_saturated": ctx.nstr(ctx.mpf(st.v_sat), 4),
          "pairs": [{"pair": list(p), "lambda": fmt_q(l), "predicted": _s(ctx, q, 10),
                     "observed": _s(ctx, o, 10)} for p, l, q, o in zip(st.pairs, st.lambdas, pred, xs[-1])],
          "worst_pair": list(st.pairs[worst_i]),
          "weakly_active": [list(p) for p in (st.weakly_active or [])]}
    status = res.status
    summary = f"max offset error {_s(ctx, errs_last[worst_i], 3)} at k = {v.ks[-1]}; {res.note}"
    if status != PASS and res.error_last is not None and res.error_last > _q(ctx, tols.offset):
        need = _offset_k_needed(ctx, v.ks[-1], errs_last[worst_i], _q(ctx, tols.offset), mu,
                                ctx.mpf(st.v_sat))
        ev["predicted_k_needed"] = _pow10(ctx, need)
        ev["k_model"] = ("linear regime: k_N (err/tol)^(1/mu); beyond err > 1 the offset first moves "
                         "about v_saturated per unit of log k")
        if status == FAIL and (errs_last[worst_i] > 1 or ctx.log10(need) > 9):
            status = INC
            summary += "; far from the limit, so not judged (the k needed is out of reach)"
        summary += f"; predicted k needed {ev['predicted_k_needed']}"
    if st.weakly_active:
        summary += (f"; degenerate case (weakly active constraints {st.weakly_active}): the prediction "
                    "assumes none and a log log k drift is expected")
        if status == FAIL:
            status = INC
            summary += ", so a mismatch is not judged"
    return ClaimResult("ext-offset", status, summary, ev)


def _offset_k_needed(ctx, N: int, err, tol, mu, v_sat):
    """k where the worst offset reaches tol: saturated drift to err = 1, then k^-mu decay."""
    log_k = ctx.log(N)
    if err > 1 and v_sat > 0:
        log_k += (err - 1) / v_sat
        err = ctx.one
    if mu > 0:
        log_k += ctx.log(err / tol) / mu
    return ctx.exp(log_k) if log_k < 690 else ctx.power(10, log_k / ctx.log(10))


# ---------------------------------------------------------------------------------------------
# path claims


def path_claims(problem: NumericProblem, path: PathRun, tols: Tolerances = DEFAULT_TOL) -> list[ClaimResult]:
    """thm1 and ext-path-rate judged on a norm-ball path run (errors recomputed from W_B against the
    problem given here); not-applicable with the failing hypothesis named."""
    why = failing_condition(problem) or path.skipped
    if why:
        return [_not_applicable(cid, why) for cid in ("thm1", "ext-path-rate")]
    if path.not_run:
        return [ClaimResult(cid, Status.NOT_CHECKED, f"not checked: {path.not_run}",
                            {"not_run": path.not_run}) for cid in ("thm1", "ext-path-rate")]
    if problem.W_star is None or problem.W_mm is None:
        raise InternalError("a compatible, separable problem reached the path checks without W* or W^mm")
    if len(path.points) < 3:
        ev = {"radii": [fmt_radius(p.B) for p in path.points]}
        return [ClaimResult(cid, INC, "fewer than three radii: no trend to judge", ev)
                for cid in ("thm1", "ext-path-rate")]
    view = _PathView(problem, path)
    return [check_thm1(view, tols), check_path_rate(view, tols)]


class _PathView:
    def __init__(self, problem: NumericProblem, path: PathRun):
        from .path import PATH_GUARD
        self.problem, self.path, self.ctx = problem, path, path.ctx
        self.ev = Evaluator(problem, problem.exact, path.ctx)
        ctx = self.ctx
        self.Bs = [p.B for p in path.points]
        self.W_star = _flat(self.ev.W_star)
        self.ws_norm = ctx.sqrt(ctx.fsum(x * x for x in self.W_star))
        self.mm_norm = self.ev.W_mm_norm
        self.PF = [_flat(self.ev.project_F(p.W)) for p in path.points]
        self.errs = [_dist(ctx, x, self.W_star) for x in self.PF]
        B_last = max(ctx.one, _q(ctx, self.Bs[-1]))
        self.floor = 10 * ctx.power(10, -(path.precision + PATH_GUARD // 2)) * B_last


def check_thm1(v: _PathView, tols: Tolerances) -> ClaimResult:
    """||W_B|| = B (nu > 0 and small KKT residuals: for convex CE the KKT point is the ball
    minimiser), P_F(W_B) -> W* (confirmed to the path's digits) and cos(W_B, W^mm) -> 1 (through
    the path's tangent direction dW/dB -> W^mm)."""
    ctx, path = v.ctx, v.path
    pts = path.points
    res_tol = ctx.power(10, -path.precision)
    worst_norm = max(abs(p.norm_residual) / _q(ctx, p.B) for p in pts)
    worst_stat = max(p.stationarity for p in pts)
    min_nu = min(p.nu for p in pts)
    kkt_ev = {"min_nu": _s(ctx, min_nu, 4), "max_relative_norm_residual": _s(ctx, worst_norm, 3),
              "max_relative_stationarity": _s(ctx, worst_stat, 3), "tolerance": _s(ctx, res_tol, 3),
              "criterion": ("pass if nu > 0 at every radius (the constraint is active; with the KKT "
                            "residuals below tolerance W_B is the ball minimiser and ||W_B|| = B); fail "
                            "if some nu <= 0; inconclusive if a residual exceeds the tolerance")}
    if min_nu <= 0:
        kkt = (FAIL, f"nu = {_s(ctx, min_nu, 3)} <= 0: the norm constraint is not active")
    elif worst_norm > res_tol or worst_stat > res_tol:
        kkt = (INC, "Newton residuals above tolerance")
    else:
        kkt = (PASS, f"||W_B|| = B to {_s(ctx, worst_norm, 2)} (relative) with nu > 0 at {len(pts)} radii")
    target = ctx.power(10, -path.confirm_digits) * max(ctx.one, v.ws_norm)
    mm = v.mm_norm

    def b_needed(e, tol, factor):
        extra = mm * ctx.log(e / tol)
        return f"B about {ctx.nstr(_q(ctx, v.Bs[-1]) + extra, 3)} (rate e^(-B/||W^mm||))"

    proj = analyse_limit(ctx, v.Bs, v.PF, v.W_star, target, v.floor, "P_F(W_B) -> W*", tols,
                         axis="B", needed=b_needed, extrapolate=False)
    proj = _path_stall(ctx, v, proj, target)
    digits = _confirmed_digits(ctx, v.errs[-1], v.ws_norm)
    uhat = _unit(ctx, _flat(v.ev.W_mm))
    tangents = [_unit(ctx, _flat(p.tangent)) for p in pts]
    degenerate = v.problem.offsets.degenerate_reason
    direc = analyse_limit(ctx, v.Bs, tangents, uhat, _q(ctx, tols.direction), v.floor,
                          "path tangent dW/dB -> W^mm/||W^mm||", tols, axis="B",
                          needed=lambda e, tol, f: "larger radii", extrapolate=degenerate is None,
                          confirm_previous=True,
                          extrapolate_off=f"degenerate case ({degenerate})" if degenerate else "")
    cosg = [v.ev.cos_gap(p.W) for p in pts]
    dir_status, dir_note, cos_ev = _cos_verdict(ctx, v.Bs, cosg, direc, tols, axis="B")
    status = worst(kkt[0], proj.status, dir_status)
    deg_note = f" [degenerate: {degenerate}]" if degenerate else ""
    summary = (f"{kkt[1]}; {proj.note}; W* confirmed to {digits} digits at B = {fmt_radius(v.Bs[-1])}; "
               f"{dir_note}{deg_note}")
    return ClaimResult("thm1", status, summary,
                       {"kkt": kkt_ev, "projection": proj.evidence, "digits_confirmed": digits,
                        "confirm_digits_target": path.confirm_digits, "direction": direc.evidence,
                        "cosine": cos_ev, "radii": [fmt_radius(b) for b in v.Bs],
                        "added_radii": [fmt_radius(p.B) for p in pts if p.added],
                        "tolerances": tols.to_json()})


def _path_stall(ctx, v: _PathView, proj: LimitAnalysis, target) -> LimitAnalysis:
    """Fail when ln(error) fell by less than a quarter of the predicted (B_i - B_{i-1})/||W^mm|| over
    each of the last two radius steps while the error is above the target: the predicted
    exponential decay is contradicted (the error stalls at a wrong limit)."""
    e, Bs = v.errs, v.Bs
    rows = []
    for i in (len(e) - 2, len(e) - 1):
        obs = ctx.log(e[i - 1] / e[i]) if e[i] and e[i - 1] else ctx.inf
        pred = _q(ctx, Bs[i] - Bs[i - 1]) / v.mm_norm
        rows.append({"from_B": fmt_radius(Bs[i - 1]), "to_B": fmt_radius(Bs[i]),
                     "log_decay": _s(ctx, obs, 4), "predicted": _s(ctx, pred, 4)})
    proj.evidence["stall_test"] = {"steps": rows, "criterion": ("fail if above the target and ln(error) "
                                   "fell by less than 1/4 of (B_i - B_{i-1})/||W^mm|| over each of the "
                                   "last two radius steps")}
    stalled = all(ctx.mpf(r["log_decay"]) < ctx.mpf(r["predicted"]) / 4 for r in rows)
    if stalled and e[-1] > target and proj.status != FAIL:
        return LimitAnalysis(FAIL, f"P_F(W_B) -> W*: the error stalls at {_s(ctx, e[-1], 3)} instead of "
                             "decaying like e^(-B/||W^mm||)", proj.evidence, e[-1])
    return proj


def _confirmed_digits(ctx, err, scale) -> int:
    if not err:
        return 10**6
    return max(0, int(ctx.floor(-ctx.log10(err / max(ctx.one, scale)))))


def check_path_rate(v: _PathView, tols: Tolerances) -> ClaimResult:
    """||P_F(W_B) - W*|| decays like e^{-B/||W^mm||}: local slopes of ln(err) against B."""
    ctx = v.ctx
    rows, slopes = [], []
    for i in range(1, len(v.Bs)):
        e0, e1 = v.errs[i - 1], v.errs[i]
        if e0 > v.floor and e1 > v.floor:
            s = ctx.log(e1 / e0) / _q(ctx, v.Bs[i] - v.Bs[i - 1])
            slopes.append(s)
            rows.append({"from_B": fmt_radius(v.Bs[i - 1]), "to_B": fmt_radius(v.Bs[i]),
                         "slope": _s(ctx, s, 5), "slope_times_norm_W_mm": _s(ctx, s * v.mm_norm, 5)})
    ev = {"predicted_slope": _s(ctx, -1 / v.mm_norm, 6), "local_slopes": rows,
          "errors": [{"B": fmt_radius(b), "proj_err": _s(ctx, e)} for b, e in zip(v.Bs, v.errs)],
          "tolerance": fmt_q(tols.path_rate),
          "criterion": (f"pass if the last local slope times ||W^mm|| is within {fmt_q(tols.path_rate)} "
                        "of -1; fail if it is >= 0 (no decay); else inconclusive")}
    if not slopes:
        return ClaimResult("ext-path-rate", NA, "not applicable: the projection error is at the precision "
                           "floor at every radius (degenerate case)", ev)
    dev = abs(slopes[-1] * v.mm_norm + 1)
    ev["deviation"] = _s(ctx, dev, 3)
    if slopes[-1] >= 0:
        return ClaimResult("ext-path-rate", FAIL, f"the projection error does not decay (slope "
                           f"{_s(ctx, slopes[-1], 3)} at the last radii)", ev)
    st = PASS if dev <= _q(ctx, tols.path_rate) else INC
    return ClaimResult("ext-path-rate", st, f"ln ||P_F(W_B) - W*|| falls {_s(ctx, -slopes[-1], 5)} per unit "
                       f"of B at the last radii; predicted 1/||W^mm|| = {_s(ctx, 1 / v.mm_norm, 5)}", ev)


# ---------------------------------------------------------------------------------------------
# what GD does when a condition fails (theory.md section 7)

MAX_CE_F_DIM = 60


def failure_report(problem: NumericProblem, run: GdRun) -> dict:
    """Observed behaviour of GD when compatibility or separability fails (observed, not proven):
    the estimated inf CE and its gap to H, whether ||W_k|| stays bounded, and what the finite part
    P_F(W_k) converges to (for separable-but-not-compatible data, against the minimiser on F of the
    in-support loss CE_F, computed by Newton when dim F <= MAX_CE_F_DIM)."""
    ctx = run.ctx
    ev = run.evaluator_for(problem)
    ks = decade_ks(run)
    cps = [run.at(k) for k in ks]
    out = {"compatible": problem.compatible, "separable": problem.separable,
           "trivial": problem.instance.is_trivial(), "iterations": run.iterations,
           "H": _s(ctx, ev.entropy, 20)}
    out["inf_ce"] = _inf_ce(ctx, ks, cps, ev, run)
    out["norm"] = _norm_behaviour(ctx, ks, cps)
    out["finite_part"] = _finite_part(ctx, ks, cps, ev, problem)
    return out


def _inf_ce(ctx, ks, cps, ev, run) -> dict:
    ce = [c.ce for c in cps]
    res = {"ce": [{"k": k, "ce": _s(ctx, x, 20)} for k, x in zip(ks, ce)],
           "upper_bound": _s(ctx, ce[-1], 20),
           "note": ("GD with an admissible step decreases CE at every step, so CE(W_N) bounds inf CE "
                    "from above" if run.eta_admissible else "step not proven admissible: CE(W_N) is only "
                    "the last value")}
    est, unc, method = ce[-1], None, "last value (fewer than three decade checkpoints)"
    if len(ce) >= 3:
        d1, d2 = ce[-2] - ce[-3], ce[-1] - ce[-2]
        fl = ctx.power(10, -(run.working_digits - 5)) * max(ctx.one, abs(ce[-1]))
        if abs(d2) <= fl:
            method = "converged: CE changed by less than the precision floor over the last decade"
            unc = abs(d2)
        elif d1 and 0 < d2 / d1 < 1:
            r = d2 / d1
            est = ce[-1] + d2 * r / (1 - r)
            unc = abs(est - ce[-1])
            method = (f"Aitken delta-squared on CE at k = {ks[-3]}, {ks[-2]}, {ks[-1]} "
                      f"(contraction {ctx.nstr(r, 3)} per decade)")
        else:
            method = "last value (no geometric trend over the last decades)"
    res.update({"estimate": _s(ctx, est, 20), "uncertainty": _s(ctx, unc, 3), "method": method,
                "gap_to_H": _s(ctx, est - ev.entropy, 12)})
    return res


def _norm_behaviour(ctx, ks, cps) -> dict:
    norms = [c.norm for c in cps]
    growth = [{"from_k": a, "to_k": b, "growth": _s(ctx, y - x)}
              for a, b, x, y in zip(ks, ks[1:], norms, norms[1:])]
    res = {"norms": [{"k": k, "norm": _s(ctx, n, 12)} for k, n in zip(ks, norms)],
           "growth_per_decade": growth}
    if len(norms) < 3:
        res["verdict"] = "undetermined (run too short)"
        return res
    g1, g2 = norms[-2] - norms[-3], norms[-1] - norms[-2]
    if g2 <= 0 or (g1 > 0 and g2 / g1 < ctx.mpf(1) / 2):
        res["verdict"] = ("appears bounded: growth per decade shrinks "
                          f"({_s(ctx, g1, 3)} then {_s(ctx, g2, 3)})")
        if g1 > 0 and 0 < g2 / g1 < 1:
            r = g2 / g1
            res["extrapolated_limit"] = _s(ctx, norms[-1] + g2 * r / (1 - r), 10)
    elif g1 > 0 and abs(g2 / g1 - 1) <= ctx.mpf(1) / 4:
        res["verdict"] = f"diverges like c log k: about {_s(ctx, g2, 3)} per decade"
    else:
        res["verdict"] = f"undetermined (growth {_s(ctx, g1, 3)} then {_s(ctx, g2, 3)} per decade)"
    return res


def _finite_part(ctx, ks, cps, ev, problem) -> dict:
    last = cps[-1]
    res = {"P_F_W_final": [[_s(ctx, x, 20) for x in row] for row in last.PF]}
    if len(cps) >= 2:
        res["change_over_last_decade"] = _s(ctx, _dist(ctx, _flat(last.PF), _flat(cps[-2].PF)), 4)
        res["W_change_over_last_decade"] = _s(ctx, _dist(ctx, _flat(last.W), _flat(cps[-2].W)), 4)
    if problem.compatible and ev.W_star is not None:
        res["distance_to_W_star"] = _s(ctx, _dist(ctx, _flat(last.PF), _flat(ev.W_star)), 6)
    if problem.separable and not problem.compatible:
        res["predicted"] = _ce_f_prediction(ctx, ev, last)
    if not problem.separable and len(cps) >= 2:
        res["split"] = _split(ctx, ks, cps, ev)
    return res


def _split(ctx, ks, cps, ev) -> dict:
    """W_k ~ W_fin + log(k) D (Ji-Telgarsky-like split, observed): D from the growth direction
    -eta N grad CE(W_N) = N (W_{N+1} - W_N); the finite part is W_N - log(N) D, and its change over
    the last decade (with the same D) shows whether it settles."""
    N, prev = cps[-1], cps[-2]
    D = mscale(-ev.eta * N.k, N.grad)
    fin = msub(N.W, mscale(ctx.log(N.k), D))
    fin_prev = msub(prev.W, mscale(ctx.log(prev.k), D))
    return {"growth_direction": [[_s(ctx, x, 12) for x in row] for row in D],
            "growth_per_unit_log_k": _s(ctx, frob(ctx, D), 6),
            "finite_part": [[_s(ctx, x, 12) for x in row] for row in fin],
            "finite_part_change_over_last_decade": _s(ctx, frob(ctx, msub(fin, fin_prev)), 4),
            "method": ("D = -eta N grad CE(W_N) (the increment times N); finite part = W_N - log(N) D; "
                       "observed, not a theorem (the paper gives none for non-separable data)")}


def _ce_f_prediction(ctx, ev: Evaluator, last: Checkpoint) -> dict:
    """The minimiser W_F of CE_F on F (expected limit of P_F(W_k)) and min CE_F (expected inf CE)."""
    n = len(ev.exact.F_pairs)
    if n > MAX_CE_F_DIM:
        return {"note": f"not computed: dim F = {n} exceeds {MAX_CE_F_DIM}"}
    try:
        W_F, ce_f = ce_f_minimiser(ev)
    except InternalError as exc:
        return {"note": f"not computed: {exc}"}
    return {"W_F": [[_s(ctx, x, 20) for x in row] for row in W_F],
            "min_CE_F": _s(ctx, ce_f, 20),
            "distance_P_F_W_final_to_W_F": _s(ctx, _dist(ctx, _flat(last.PF), _flat(W_F)), 6),
            "method": "Newton on the coefficients of the F basis, stopped at a step below 10^-(digits-10)"}


def ce_f_minimiser(ev: Evaluator):
    """(W_F, CE_F(W_F)): the minimiser on F of CE_F(W) = sum_j pi_j sum_{z in S_j} p_{j,z}
    (logsumexp over S_j of l_j - l_{j,z}); strictly convex on F, found by damped Newton."""
    ctx, ex = ev.ctx, ev.exact
    pairs = ex.F_pairs
    n = len(pairs)
    K = [[[(q2mpf(ctx, ((v == z) - (v == ex.anchors[j1])) * ex.hh[j1][j])) for (j1, z) in pairs]
          for v in range(ex.V)] for j in range(ex.m)]

    def evaluate(c):
        val, grad = ctx.zero, [ctx.zero] * n
        hess = [[ctx.zero] * n for _ in range(n)]
        for j, S in enumerate(ex.supports):
            l = [ctx.fdot(K[j][v], c) if n else ctx.zero for v in S]
            mx = max(l)
            e = [ctx.exp(x - mx) for x in l]
            tot = ctx.fsum(e)
            s = [x / tot for x in e]
            p = [ev.P[j][v] for v in S]
            val += ev.pi[j] * (mx + ctx.log(tot) - ctx.fdot(p, l))
            rows = [K[j][v] for v in S]
            for i in range(n):
                grad[i] += ev.pi[j] * ctx.fsum((sv - pv) * r[i] for sv, pv, r in zip(s, p, rows))
            ks = [ctx.fdot(s, [r[i] for r in rows]) for i in range(n)]
            for i in range(n):
                for i2 in range(i, n):
                    h = ctx.fsum(sv * r[i] * r[i2] for sv, r in zip(s, rows)) - ks[i] * ks[i2]
                    hess[i][i2] += ev.pi[j] * h
        for i in range(n):
            for i2 in range(i):
                hess[i][i2] = hess[i2][i]
        return val, grad, hess

    c = [ctx.zero] * n
    val, grad, hess = evaluate(c)
    tol = ctx.power(10, -(ctx.dps - 10))
    for _ in range(200):
        if n == 0:
            break
        step = ctx.lu_solve(ctx.matrix(hess), ctx.matrix([-g for g in grad]))
        delta = [step[i] for i in range(n)]
        t = ctx.one
        while True:
            c_t = [a + t * b for a, b in zip(c, delta)]
            val_t, grad_t, hess_t = evaluate(c_t)
            if val_t <= val or t < ctx.power(2, -30):
                break
            t /= 2
        c, val, grad, hess = c_t, val_t, grad_t, hess_t
        if t * ctx.sqrt(ctx.fsum(x * x for x in delta)) <= tol:
            break
    else:
        raise InternalError("Newton for the minimiser of CE_F did not converge")
    W = [[ctx.zero] * ex.d for _ in range(ex.V)]
    for ci, (j, z) in zip(c, pairs):
        a = ex.anchors[j]
        for i, hji in enumerate(ev.H[j]):
            W[z][i] += ci * hji
            W[a][i] -= ci * hji
    return W, val
