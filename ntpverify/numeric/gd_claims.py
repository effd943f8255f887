"""Claims judged on a gradient-descent run: lemma2, thm2 and the GD extensions.

Numeric evidence is never a proof: every claim reports "observed vs predicted" with the model it
fitted, its estimate, uncertainty, resolution and regime test (``numeric.estimate``), and every
tolerance it used. The checkpoints used are the decade points N/1000, N/100, N/10, N.

- ``lemma2``: CE(W_k) - H -> 0 (rate 1/k; a value below -floor contradicts CE >= H outright) and
  ||W_k|| -> oo (growth over the last decade within a factor ``norm_growth`` of the predicted
  ||W^mm|| ln 10). When the run alone leaves the limit undecided, it is judged again on the run's
  checkpoints followed by GD's whole-W flow continued three decades in log time
  (``whole_continuation``, ``logtime.FullFlow``, validated on the run's last decade), same model.
- ``thm2``: P_F(W_k) -> W* (rate 1/k; undecided on the run, judged again on the whole-W
  continuation like lemma2's loss; no fail while W_k's direction is in its transient) and cos(W_k, W^mm) -> 1, judged through the decade growth
  direction unit(W_k - W_{k/10}) -> W^mm / ||W^mm|| (rate k^-rho, rho = min(mu, margin gap, 1),
  ``OffsetStructure.direction_rate``): if it converges to W^mm's direction then W_k / log k does
  too (Stolz-Cesaro), hence cos -> 1. (The gradient's own direction has the same limit but a
  Lipschitz constant ~ k in W, so a float64 rounding bound of 1e-8 would blur it; the decade
  difference has one ~ 1/||W^mm||.) In degenerate instances the model does not apply: the
  slowest rate 1/log k is used and nothing is failed. Beside it, the claim's own W_k / ||W_k||
  with 1/log k assumed (its error is |(W* + Wtilde)_perp| / (||W^mm|| log k)); and third, GD
  continued in log time (``numeric.logtime``, validated on the run's last decade), whose growth
  direction reaches its limit (tolerance ``direction_limit``): any one passing decides the
  direction unless another fails; a fail of the run's own estimates is not judged when the
  continuation (the same trajectory, further on) passes. A continuation slower than the claimed
  rho predicts is judged again at the slowest rate (1/log k, never failing), and a discrepancy it
  resolves there blocks a pass.
- ``ext-loss-rate``: eta k (CE - H) / ||W^mm||^2 -> 1 (rate k^-rho); decided on the continuation
  (its tail part of CE - H) when the run cannot.
- ``ext-proj-rate``: log-log slope of ||P_F(W_k) - W*|| about -1 (on the whole-W continuation
  when thm2 decided there); fails only when thm2's projection estimate is in its regime and the
  slope is slower than -1 by more than 3 x ``rate_slope`` on both of the last two decades (faster
  is a transient that no finite run can rule out).
- ``ext-offset``: support-pair offsets -> predicted values (rate k^-mu, max norm); not applicable
  unless the P_perp A_{j,v} are independent; decided on the continuation when the run cannot;
  otherwise, far from the limit, it reports the k needed.
- ``ext-angle-rate``: d cot(angle) / d log k positive and stable; never fails (log k moves 15 %
  per decade at k = 1e7: a Theta(1/log^2 k) rate cannot be refuted by a reachable run).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields, replace
from fractions import Fraction

import numpy as np

from ..errors import InternalError
from ..exactnum import fmt_q
from ..status import ClaimResult
from .estimate import (FAIL, INC, NA, PASS, Estimate, RateModel, any_decides, contradicts, dist_l2,
                       estimate_limit, fmt, not_judged, pow10_text, superseded, worst)
from . import logtime
from .gd import Checkpoint, GdRun, frob, mscale, msub, q2mpf
from .offsets import OffsetStructure
from .problem import NumericProblem, failing_condition

GD_CLAIMS = ("lemma2", "thm2", "ext-loss-rate", "ext-proj-rate", "ext-offset", "ext-angle-rate")
CORE_GD_CLAIMS = ("lemma2", "thm2")
SETTLE_K = 100           # no fail rests on an increment that starts below this k


@dataclass(frozen=True)
class Tolerances:
    """Every tolerance a verdict uses (each one is copied into the claim's evidence). A claim
    passes only when its limit is pinned to within the tolerance (resolution <= tolerance).

    - loss_gap: lemma2's estimated lim CE(W_k) within this of H (nats).
    - proj: thm2's estimated lim P_F(W_k) within proj * max(1, ||W*||) of W*.
    - direction: the decade growth direction at the last checkpoint within this of W^mm / ||W^mm||
      (about this many radians), its estimated limit consistent with it, in regime. The direction
      converges like k^-rho with rho often below 0.1, so no affordable run pins its limit to a
      tolerance this size; the resolution is reported, and a wrong W^mm fails once it exceeds it.
    - direction_limit: the same direction's limit, estimated on GD continued in log time
      (``numeric.logtime``), within this of W^mm / ||W^mm||, resolution within it too.
    - loss_rate, offset: ext-loss-rate's ratio within this of 1; ext-offset's offsets (max norm).
    - rate_slope: |observed log-log slope + 1| for ext-proj-rate, and the relative change of
      the slope of cot(angle) against log k between decades for ext-angle-rate.
    - path_rate: relative deviation of the fitted exponential rate from 1/||W^mm|| (ext-path-rate).
    - norm_growth: ||W_k|| growth per decade / (||W^mm|| ln 10) must lie in [1/x, x] (lemma2).
    """

    loss_gap: Fraction = Fraction(3, 100000)
    proj: Fraction = Fraction(3, 10000)
    direction: Fraction = Fraction(1, 20)
    direction_limit: Fraction = Fraction(1, 1000)
    loss_rate: Fraction = Fraction(1, 100)
    offset: Fraction = Fraction(1, 100)
    rate_slope: Fraction = Fraction(1, 10)
    path_rate: Fraction = Fraction(1, 10)
    norm_growth: Fraction = Fraction(2)

    def to_json(self) -> dict:
        return {f.name: fmt_q(getattr(self, f.name)) for f in fields(self)}


DEFAULT_TOL = Tolerances()


def _flat(M) -> list:
    return [x for row in M for x in row]


def _unit(ctx, x):
    n = ctx.sqrt(ctx.fsum(a * a for a in x))
    return [a / n for a in x] if n else list(x)


def decade_ks(run: GdRun) -> list[int]:
    """The checkpoints N//10000, ..., N//10, N that exist (ascending, distinct)."""
    N = run.iterations
    out = []
    for q in (10000, 1000, 100, 10, 1):
        k = N // q
        if k >= 1 and k not in out and run.at(k) is not None:
            out.append(k)
    return out


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


def not_applicable(cid: str, why: str) -> ClaimResult:
    return ClaimResult(cid, NA, f"not applicable: {why}", {"hypothesis_failed": why})


class GdView:
    """The run's checkpoints at the decade points, with mpmath versions of W*, W^mm and the
    rate models of this instance."""

    def __init__(self, problem: NumericProblem, run: GdRun):
        self.problem, self.run, self.ctx = problem, run, run.ctx
        self.exact = problem.exact
        self.ev = run.evaluator_for(problem)
        self.ks = decade_ks(run)
        self.cps: list[Checkpoint] = [run.at(k) for k in self.ks]
        ctx = self.ctx
        self.W_star = _flat(self.ev.W_star)
        self.W_mm = _flat(self.ev.W_mm)
        self.mm_norm = self.ev.W_mm_norm
        self.mm_norm_sq = q2mpf(ctx, problem.W_mm_norm_sq)
        self.eta = self.ev.eta
        self.L_bar = ctx.fsum(p * ctx.fsum(x * x for x in h) for p, h in zip(self.ev.pi, self.ev.H)) / 2
        self.offsets: OffsetStructure = problem.offsets
        self.degenerate = self.offsets.degenerate_reason
        rho = self.offsets.direction_rate()
        if rho is None:
            self.dir_model = RateModel("log", ctx.one, "degenerate instance: the linearised model "
                                       "does not apply; the slowest rate, 1/log k, is assumed",
                                       from_theory=False)
        else:
            gap = self.offsets.margin_gap
            self.dir_model = RateModel("power", ctx.mpf(rho), (
                f"theory.md 6: rho = min(mu = {self.offsets.mu:.4g}, smallest margin excess = "
                f"{float(gap) if gap is not None else 'none'}, 1)"))
        self.one_over_k = RateModel("power", ctx.one, "theory.md 6: 1/k")
        self.continued = None     # (s_i, P(s_i), frozen F-part) once thm2 validated the continuation
        self._whole = None        # (points, evidence, mismatches) of the whole-W continuation, once computed

    @functools.cached_property
    def Q(self) -> np.ndarray:
        """An orthonormal basis of F (float64, ``logtime.f_basis``), built once per view."""
        return logtime.f_basis(self.exact)

    def pf(self, w: np.ndarray) -> np.ndarray:
        """P_F(W) of a flattened float64 W."""
        return self.Q @ (self.Q.T @ w)

    def loss_gap(self, c: Checkpoint):
        """CE(W_k) - H with the H of the problem being checked (not the one of the run)."""
        return c.ce - self.ev.entropy

    def proj_err(self, c: Checkpoint):
        return dist_l2(self.ctx, _flat(c.PF), self.W_star)

    def cos_gap(self, c: Checkpoint):
        return self.ev.cos_gap(c.W)

    def secant_dirs(self) -> tuple[list[int], list[list]]:
        """(k_i, unit(W_{k_i} - W_{k_{i-1}})) over consecutive decade checkpoints: the direction W_k
        grows in over a decade, -> W^mm / ||W^mm|| (W_k = W* + log k W^mm + Wtilde + o(1))."""
        ks, out = [], []
        for (k0, c0), (k1, c1) in zip(zip(self.ks, self.cps), zip(self.ks[1:], self.cps[1:])):
            ks.append(k1)
            out.append(_unit(self.ctx, [a - b for a, b in zip(_flat(c1.W), _flat(c0.W))]))
        return ks, out

    def grad_lipschitz(self):
        """A Lipschitz constant of CE near the last checkpoints: max ||grad|| there + L_bar x bound."""
        return max(frob(self.ctx, c.grad) for c in self.cps[-3:]) + self.L_bar * self.run.rounding.bound


def gd_claims(problem: NumericProblem, run: GdRun, tols: Tolerances = DEFAULT_TOL) -> list[ClaimResult]:
    """lemma2, thm2 and the GD extensions judged on one GD run; not-applicable (hypothesis named)
    when one fails."""
    why = gd_hypotheses(problem)
    if why is not None:
        return [not_applicable(cid, why) for cid in GD_CLAIMS]
    v = GdView(problem, run)
    thm2, proj, _ = check_thm2(v, tols)
    out = [check_lemma2(v, tols), thm2, check_loss_rate(v, tols), check_proj_rate(v, tols, proj),
           check_offset(v, tols), check_angle_rate(v, tols)]
    for c in out:
        c.evidence.setdefault("run", {"iterations": run.iterations, "backend": run.backend,
                                      "precision": run.precision, "eta": fmt_q(run.eta),
                                      "rounding_bound": fmt(run.ctx, run.rounding.bound, 3)})
    return out


def check_lemma2(v: GdView, tols: Tolerances) -> ClaimResult:
    """CE(W_k) -> H (rate 1/k) and ||W_k|| -> oo (growth per decade against ||W^mm|| ln 10)."""
    ctx, run = v.ctx, v.run
    gaps = [v.loss_gap(c) for c in v.cps]
    floor = floor_for(run, v.grad_lipschitz(), v.cps[-1].ce)
    loss = estimate_limit(ctx, v.ks, [[g] for g in gaps], [ctx.zero], q2mpf(ctx, tols.loss_gap), floor,
                          "CE(W_k) - H -> 0", v.one_over_k, settle_from=SETTLE_K)
    if loss.status == INC:
        loss = continued_limit(v, loss, "CE(W_k) - H -> 0", [[g] for g in gaps],
                               lambda ctx, k, w, ce: [ctx.mpf(ce) - v.ev.entropy], [ctx.zero],
                               q2mpf(ctx, tols.loss_gap), floor, "ce")
    neg = [(k, g) for k, g in zip(v.ks, gaps) if g < -floor]
    if neg:
        k, g = neg[0]
        loss = Estimate(FAIL, (f"CE(W_k) - H = {fmt(ctx, g, 3)} < 0 at k = {k} (beyond the floor "
                               f"{fmt(ctx, floor, 2)}): impossible, since CE - H is a sum of KL divergences"),
                        {**loss.evidence, "negative_gap": {"k": k, "gap": fmt(ctx, g)}}, abs(g))
    norm_status, norm_note, norm_ev = _norm_growth(v, tols, loss)
    return ClaimResult("lemma2", worst(loss.status, norm_status), f"{loss.note}; {norm_note}",
                       {"loss": loss.evidence, "norm": norm_ev, "tolerances": tols.to_json()})


def _norm_growth(v: GdView, tols: Tolerances, loss: Estimate):
    ctx = v.ctx
    norms = [c.norm for c in v.cps]
    ev = {"norms": [{"k": k, "norm": fmt(ctx, n)} for k, n in zip(v.ks, norms)],
          "criterion": (f"pass if the growth over the last decade is within a factor "
                        f"{fmt_q(tols.norm_growth)} of the predicted ||W^mm|| ln(k_N / k_prev); "
                        "fail if ||W_k|| fell over both of the last two decades while the loss gap is "
                        "in its asymptotic regime; else inconclusive")}
    if len(v.ks) < 3:
        return INC, "run too short to see ||W_k|| grow", ev
    k1, k2 = v.ks[-2], v.ks[-1]
    growth = norms[-1] - norms[-2]
    pred = v.mm_norm * ctx.log(ctx.mpf(k2) / k1)
    ratio = growth / pred
    ev.update({"growth_last_decade": fmt(ctx, growth), "predicted": fmt(ctx, pred), "ratio": fmt(ctx, ratio, 4)})
    band = q2mpf(ctx, tols.norm_growth)
    if growth <= 0:
        if norms[-2] <= norms[-3] and loss.settled:
            return FAIL, f"||W_k|| fell over the last two decades (to {fmt(ctx, norms[-1], 4)} at k = {k2})", ev
        return INC, f"||W_k|| fell by {fmt(ctx, -growth, 3)} from k = {k1} to {k2} (transient?)", ev
    if 1 / band <= ratio <= band:
        return PASS, (f"||W_k|| grows {fmt(ctx, growth, 3)} from k = {k1} to {k2} "
                      f"(predicted {fmt(ctx, pred, 3)})"), ev
    note = f"||W_k|| grows {fmt(ctx, growth, 3)} from k = {k1} to {k2}, {fmt(ctx, ratio, 2)} x the predicted rate"
    # calibration seed 6035 (near-collinear): 0.38 x over GD's last decade; read it further on
    points = whole_continuation(v)[0]
    if points is not None and len(points) >= 2:
        (ka, wa, _), (kb, wb, _) = points[-2:]
        growth = float(np.linalg.norm(wb) - np.linalg.norm(wa))
        ratio = growth / float(v.mm_norm * ctx.log(ctx.mpf(kb) / ka))
        ev["continued"] = {"from_k": ka, "to_k": kb, "growth": f"{growth:.6g}", "ratio": f"{ratio:.4g}"}
        if 1 / band <= ratio <= band:
            return PASS, f"{note}; on GD continued in log time, {ratio:.3g} x from k = {ka:.0e} to {kb:.0e}", ev
        note += f"; on GD continued in log time, {ratio:.3g} x from k = {ka:.0e} to {kb:.0e}"
    return INC, note, ev


def check_thm2(v: GdView, tols: Tolerances) -> tuple[ClaimResult, Estimate, Estimate]:
    """P_F(W_k) -> W* (rate 1/k) and cos(W_k, W^mm) -> 1, judged on W_k / ||W_k|| (1/log k) and on
    the decade growth direction (rate k^-rho); see the module doc."""
    ctx, run = v.ctx, v.run
    ws_norm = ctx.sqrt(ctx.fsum(x * x for x in v.W_star))
    proj = estimate_limit(ctx, v.ks, [_flat(c.PF) for c in v.cps], v.W_star,
                          q2mpf(ctx, tols.proj) * max(ctx.one, ws_norm), floor_for(run, 1, ws_norm),
                          "P_F(W_k) -> W*", v.one_over_k, settle_from=SETTLE_K)
    uhat = _unit(ctx, v.W_mm)
    sks, secants = v.secant_dirs()
    # unit(x) moves <= 2 ||dx|| / ||x||; dx <= 2 x the bound; ||x|| ~ ln 10 ||W^mm||
    lip = 4 / (ctx.log(10) * v.mm_norm)
    direc = estimate_limit(ctx, sks, secants, uhat, q2mpf(ctx, tols.direction),
                           floor_for(run, lip, 1), "decade growth direction -> W^mm/||W^mm||", v.dir_model,
                           fail_allowed=v.degenerate is None,
                           model_note=v.degenerate or "", agreement="error", settle_from=SETTLE_K)
    # the claim itself, W_k/||W_k|| -> W^mm/||W^mm||: W_k = W* + log(k) W^mm + Wtilde + o(1) makes
    # its error ~ |(W* + Wtilde)_perp| / (||W^mm|| log k) (ext-angle-rate, an extension: assumed)
    own = RateModel("log", ctx.one, "1/log k from W_k = W* + log(k) W^mm + Wtilde + o(1) (assumed)",
                    from_theory=False)
    wdir = estimate_limit(ctx, v.ks, [_unit(ctx, _flat(c.W)) for c in v.cps], uhat, q2mpf(ctx, tols.direction),
                          floor_for(run, lip, 1), "W_k/||W_k|| -> W^mm/||W^mm||", own,
                          fail_allowed=v.degenerate is None, model_note=v.degenerate or "",
                          agreement="error", settle_from=SETTLE_K)
    cont = continued_direction(v, tols, uhat)
    # calibration seed 4059: the decade direction's increments shrank at the predicted k^-1/6 over
    # k = 1e5..1e7 while its error fell only 6 % a decade (a slower, saturated component), and its
    # estimate failed 0.163 from W^mm; the continuation from k = 1e7 reaches W^mm to 1e-11
    direc, wdir = (superseded(e, cont, "GD continued in log time") for e in (direc, wdir))
    # any one deciding is enough (the decade direction converging takes W_k / ||W_k|| with it, and
    # the continuation is GD's own flow), unless another fails
    alls = (wdir.status, direc.status, cont.status)
    # a continuation that resolves a discrepancy it may not judge (degenerate) still blocks a pass
    dir_status = any_decides(alls, blocked=FAIL in alls or contradicts(cont))
    gaps = [v.cos_gap(c) for c in v.cps]
    cos_ev = {"cos_gap": [{"k": k, "cos_gap": fmt(ctx, g)} for k, g in zip(v.ks, gaps)],
              "criterion": "pass needs 1 - cos(W_k, W^mm) to have fallen over the last decade, or to be at the floor"}
    cos_floor = floor_for(run, 1 / v.cps[-1].norm, 1)           # 0 to working precision cannot fall
    cos_status = PASS if len(gaps) >= 2 and (gaps[-1] < gaps[-2] or gaps[-1] <= cos_floor) else INC
    cos_note = f"1 - cos(W_k, W^mm) = {fmt(ctx, gaps[-1], 3)} at k = {v.ks[-1]}" + (
        "" if cos_status == PASS else " (not falling over the last decade)")
    if cos_status != PASS and dir_status == PASS:
        cos_status, cos_note = _continued_cos(v, cos_ev, cos_note)
    transient = "; not judged: W_k's direction is not in its asymptotic regime yet (increments of W_k/||W_k|| " \
                "and of the decade growth direction not shrinking as predicted)"
    if not (direc.in_regime or wdir.in_regime):
        # the F-part's own two decades can look settled while W_k as a whole is still in its
        # transient (calibration seed 1385 at budget 2: k = 1e5, 1 - cos = 0.13, both direction
        # estimates' increments still growing, P_F estimate 1.9e-3 from W*): no fail on that
        proj = not_judged(proj, transient)
    if proj.status == INC:
        # GD's flow continued three decades past the run, F-part included (near-collinear
        # instances: P_F(W_k) "needs k about 1e9" at the default budget's k = 1e7)
        proj = continued_limit(v, proj, "P_F(W_k) -> W*", [_flat(c.PF) for c in v.cps],
                               lambda ctx, k, w, ce: [ctx.mpf(float(x)) for x in v.pf(w)], v.W_star,
                               q2mpf(ctx, tols.proj) * max(ctx.one, ws_norm), floor_for(run, 1, ws_norm), "F_part")
        if not (direc.in_regime or wdir.in_regime or cont.status == PASS):
            proj = not_judged(proj, transient)
    status = worst(proj.status, dir_status, cos_status if dir_status == PASS else PASS)
    deg = f" [degenerate: {v.degenerate}]" if v.degenerate else ""
    res = ClaimResult("thm2", status, f"{proj.note}; {wdir.note}; {direc.note}; {cont.note}; {cos_note}{deg}",
                      {"projection": proj.evidence, "direction": direc.evidence,
                       "direction_of_W_k": wdir.evidence, "direction_continued": cont.evidence,
                       "cosine": cos_ev, "tolerances": tols.to_json()})
    return res, proj, direc


def _continued_cos(v: GdView, cos_ev: dict, cos_note: str) -> tuple:
    """1 - cos(W_k, W^mm) on GD's whole-W continuation (float64): PASS when it falls over the
    continuation's last decade (calibration seed 4165: 0.0278 at k = 1e7, still rising there,
    while the continued growth direction reaches W^mm to 2e-11)."""
    points = whole_continuation(v)[0]
    if points is None or len(points) < 2:
        return INC, cos_note
    mm = logtime.to_array(v.ev.W_mm).reshape(-1)
    gaps = [1 - float(w @ mm) / (np.linalg.norm(w) * np.linalg.norm(mm)) for _, w, _ in points]
    cos_ev["cos_gap_continued"] = [{"k": k, "cos_gap": f"{g:.6g}"} for (k, _, _), g in zip(points, gaps)]
    if gaps[-1] < gaps[-2]:
        return PASS, f"{cos_note}; falling on GD continued in log time: {gaps[-2]:.3g}, {gaps[-1]:.3g} at k = " \
                     f"{points[-2][0]:.0e}, {points[-1][0]:.0e}"
    return INC, f"{cos_note}; not falling on GD continued in log time either ({gaps[-1]:.3g} at k = {points[-1][0]:.0e})"


def whole_continuation(v: GdView) -> tuple[list | None, dict, dict | None]:
    """GD continued in log time as a whole (``logtime.FullFlow``, F-part included) from W_N for
    ``logtime.FULL_DECADES`` decades, once validated on the run's last decade: ([(k, W_k, CE(W_k))]
    or None, evidence, the validation's mismatches or None). Computed once per view."""
    if v._whole is None:
        v._whole = _whole_continuation(v)
    return v._whole


def _whole_continuation(v: GdView) -> tuple[list | None, dict, dict | None]:
    ev: dict = {"method": FullFlow_doc()}
    if len(v.ks) < 2:
        return None, {**ev, "not_used": "needs two checkpoints"}, None
    if v.exact.V * v.exact.d > logtime.FULL_MAX_SIZE:
        return None, {**ev, "not_used": f"V d = {v.exact.V * v.exact.d} > {logtime.FULL_MAX_SIZE}: the dense "
                                        "Jacobian is not built"}, None
    (k0, c0), (k1, c1) = zip(v.ks[-2:], v.cps[-2:])
    A = logtime.to_array
    try:
        mis = logtime.validate_full(v.exact, v.problem.eta, A(c0.W), k0, A(c1.W), k1, v.Q, float(c1.ce))
        ev["validation"] = logtime.validation_record("k", k0, k1, mis["relative"], (
            "W_k0 must reproduce GD's W_k1 - W_k0"))
        ev["validation"].update({"F_part_mismatch": f"{mis['F_part']:.3g}", "ce_mismatch": f"{mis['ce']:.3g}"})
        if not mis["relative"] <= logtime.VALIDATION_TOL:
            return None, {**ev, "not_used": (f"the continuation misses GD's last decade by {mis['relative']:.2g} "
                                             f"(relative; needs <= {logtime.VALIDATION_TOL:g}): GD is not yet on its "
                                             "flow")}, None
        points = logtime.continue_full(v.exact, v.problem.eta, A(c1.W), k1)
    except (FloatingPointError, ArithmeticError) as exc:
        return None, {**ev, "not_used": f"the continuation stopped ({exc})"}, None
    ev["continued_to"] = f"k = {points[-1][0]:.3g}"
    return points, ev, mis


def FullFlow_doc() -> str:
    return ("GD's gradient flow dW/ds = -eta e^s grad CE(W) in log time s = log k for the whole of W "
            f"(numeric.logtime.FullFlow; LSODA, rtol {logtime.FULL_RTOL:g}, analytic Jacobian), started at "
            f"GD's last checkpoint W_N and run {logtime.FULL_DECADES} decades of k further")


def continued_limit(v: GdView, gd_est: Estimate, label: str, xs_gd: list, value, target: list, tol, floor,
                    mismatch: str) -> Estimate:
    """``gd_est`` (undecided on the run) judged again on the run's checkpoints followed by GD's
    whole-W continuation (``whole_continuation``) with the same 1/k model: its decision when it
    makes one (the run's own estimate kept in the evidence), else ``gd_est`` with the attempt in
    its evidence. ``value(ctx, k, W_k, CE(W_k))`` is the quantity at a continued point; the floor
    adds 10 x the validation's absolute mismatch of that quantity (``mismatch``: F_part or ce) and
    the ODE tolerance's share."""
    ctx = v.ctx
    points, ev, mis = whole_continuation(v)
    if points is None:
        return replace(gd_est, evidence={**gd_est.evidence, "continued": ev})
    xs = xs_gd + [value(ctx, k, w, ce) for k, w, ce in points]
    scale = max(1.0, max(float(abs(x)) for x in xs[-1]))
    floor = max(floor, ctx.mpf(10 * mis[mismatch] + 10 * logtime.FULL_RTOL * scale))
    est = estimate_limit(ctx, v.ks + [k for k, _, _ in points], xs, target, tol, floor,
                         f"{label} (GD, then GD continued in log time)", v.one_over_k, settle_from=SETTLE_K)
    if est.status in (PASS, FAIL):
        return replace(est, note=f"{est.note} (GD itself: {gd_est.note})",
                       evidence={**est.evidence, "continued": ev, "gd": gd_est.evidence})
    return replace(gd_est, evidence={**gd_est.evidence, "continued": {**ev, "estimate": est.evidence}})


def continued_model(v: GdView, slowest: bool = False) -> RateModel:
    """The continuation's rate in s = log k: e^(-rho s), or 1/s assumed when degenerate (or asked
    for: the slowest rate the theory allows)."""
    rho = v.offsets.direction_rate()
    if rho is None or slowest:
        why = "degenerate instance" if rho is None else "the slowest rate the theory allows"
        return RateModel("power", v.ctx.one, f"{why}: 1/log k assumed", axis="log k", from_theory=False)
    return RateModel("exp", v.ctx.mpf(rho), v.dir_model.why + ", in s = log k", axis="log k")


def continued_direction(v: GdView, tols: Tolerances, uhat: list) -> Estimate:
    """The growth direction's limit judged on GD continued in log time (``numeric.logtime``): the
    continuation must first reproduce GD's own last decade; then unit(P(s_i) - P(s_i-1)) ->
    W^mm / ||W^mm|| with the rate e^(-rho s), s = log k (1/s, never failed, when degenerate)."""
    ctx = v.ctx
    label = "growth direction of GD continued in log time -> W^mm/||W^mm||"
    ev: dict = {"quantity": label, "method": logtime.__doc__.split("\n\n")[0].replace("\n", " ")}
    if len(v.ks) < 2:
        return Estimate(INC, f"{label}: needs two checkpoints", ev)
    (k0, c0), (k1, c1) = zip(v.ks[-2:], v.cps[-2:])
    A = logtime.to_array
    try:
        mismatch = logtime.validate(v.exact, v.problem.eta, A(c0.W), A(c0.PF), k0, A(c1.W), k1)
        ev["validation"] = logtime.validation_record("k", k0, k1, mismatch, (
            "W_k0 (F-part frozen at P_F(W_k0)) must reproduce GD's P_perp(W_k1) - P_perp(W_k0)"))
        start = (A(c1.W), A(c1.PF), k1)
        if not mismatch <= logtime.VALIDATION_TOL:
            # the frozen F-part still moves too much at k_N (calibration seed 4295: 0.029): start
            # further on, on GD's whole-W continuation, validated there on its own last decade
            start = _start_on_whole(v, ev)
            if start is None:
                return Estimate(INC, (f"{label}: not used, the continuation misses GD's last decade by {mismatch:.2g} "
                                      f"(relative; needs <= {logtime.VALIDATION_TOL:g}): GD is not yet on its "
                                      "log-time flow; run longer"), ev)
        rho = v.offsets.direction_rate()
        ss, Ps, info = logtime.continue_run(v.exact, v.problem.eta, *start, rho)
        v.continued = (ss, Ps, start[1], info)
    except (FloatingPointError, ArithmeticError) as exc:
        ev["error"] = str(exc)
        return Estimate(INC, f"{label}: the continuation stopped ({exc})", ev)
    secants = [_unit(ctx, [ctx.mpf(float(x)) for x in b - a]) for a, b in zip(Ps, Ps[1:])]
    ts = logtime.checkpoint_times(ss)
    floor = ctx.mpf(info["floor"])
    tol = q2mpf(ctx, tols.direction_limit)
    model = continued_model(v)
    est = estimate_limit(ctx, ts, secants, uhat, tol, floor, label, model,
                         fail_allowed=v.degenerate is None, model_note=v.degenerate or "")
    if not est.in_regime and model.kind == "exp":
        est = _slowest_rate_check(v, est, ts, secants, uhat, tol, floor, label)
    est.evidence.update(ev)
    est.evidence["continued_to"] = f"log k = {ts[-1]:g} (k about 1e{int(ts[-1] / math.log(10))})"
    est.evidence["continuation_stopped"] = info["stopped"]
    est.evidence["growth_per_log_k"] = [f"{float(ctx.sqrt(ctx.fsum(x * x for x in b - a))) / (s1 - s0):.8g}"
                                        for a, b, s0, s1 in zip(Ps, Ps[1:], ss, ss[1:])]
    est.evidence["predicted_growth_per_log_k"] = fmt(ctx, v.mm_norm, 8)
    return est


def _start_on_whole(v: GdView, ev: dict):
    """(W, P_F(W), k) at the end of GD's whole-W continuation when the frozen-F continuation
    reproduces that continuation's last decade (recorded in ``ev``); else None."""
    points, whole_ev, _ = whole_continuation(v)
    ev["whole_W_continuation"] = whole_ev
    if points is None or len(points) < 2:
        return None
    shape = (v.exact.V, v.exact.d)
    (ka, wa, _), (kb, wb, _) = points[-2:]
    Wa, Wb = wa.reshape(shape), wb.reshape(shape)
    PFa, PFb = v.pf(wa).reshape(shape), v.pf(wb).reshape(shape)
    mismatch = logtime.validate(v.exact, v.problem.eta, Wa, PFa, ka, Wb, kb)
    ev["validation_on_whole_W_continuation"] = logtime.validation_record("k", ka, kb, mismatch, (
        "the whole-W continuation's W_ka (F-part frozen) must reproduce its P_perp(W_kb) - P_perp(W_ka)"))
    return (Wb, PFb, kb) if mismatch <= logtime.VALIDATION_TOL else None


def _slowest_rate_check(v: GdView, est: Estimate, ts, secants, uhat, tol, floor, label) -> Estimate:
    """The continuation converges slower than the claimed W^mm's rho predicts: judge it again with
    the slowest rate the theory allows (1/log k, degenerate instances), never failing. When that
    estimate resolves a discrepancy, it is returned (inconclusive, in regime) so that it blocks a
    pass; else ``est``. Calibration seed 2017 (weakly active) with W^mm turned by 0.028 rad: the
    continued direction settled 0.0279 from it like 1/log k while the turned W^mm predicted
    e^(-0.12 s), and the decade direction passed through its 0.05 tolerance."""
    slow = estimate_limit(v.ctx, ts, secants, uhat, tol, floor, label, continued_model(v, slowest=True),
                          fail_allowed=False, model_note="the rate W^mm predicts is not observed")
    if not contradicts(slow):
        est.evidence["slowest_rate_check"] = {"model": slow.evidence["model"], "in_regime": slow.in_regime,
                                              "estimate": slow.evidence.get("estimate"),
                                              "resolution": slow.evidence.get("resolution"),
                                              "blocks_a_pass": False}
        return est
    slow.evidence["predicted_rate_estimate"] = est.evidence
    return replace(slow, status=INC, note=f"{est.note}; at the slowest rate the theory allows, {slow.note}",
                   settled=False)


def check_loss_rate(v: GdView, tols: Tolerances) -> ClaimResult:
    """eta k (CE(W_k) - H) / ||W^mm||^2 -> 1 (rate k^-rho)."""
    ctx, run = v.ctx, v.run
    xs = [[v.eta * k * v.loss_gap(c) / v.mm_norm_sq] for k, c in zip(v.ks, v.cps)]
    res = estimate_limit(ctx, v.ks, xs, [ctx.one], q2mpf(ctx, tols.loss_rate),
                         floor_for(run, v.eta * v.ks[-1] * v.grad_lipschitz() / v.mm_norm_sq, 1),
                         "eta k (CE - H) / ||W^mm||^2 -> 1", v.dir_model,
                         fail_allowed=v.degenerate is None, model_note=v.degenerate or "",
                         settle_from=SETTLE_K)
    res.evidence["observed_ratio"] = fmt(ctx, xs[-1][0], 8)
    if v.continued is not None:
        ss, Ps, W_F, info = v.continued
        flow = logtime.TailFlow(v.exact, v.problem.eta, W_F)
        cx = [[ctx.mpf(float(v.problem.eta) * flow.scaled_tail(s, P)) / v.mm_norm_sq] for s, P in zip(ss[1:], Ps[1:])]
        cont = estimate_limit(ctx, logtime.checkpoint_times(ss), cx, [ctx.one], q2mpf(ctx, tols.loss_rate),
                              ctx.mpf(info["floor"]), "eta k T(W) / ||W^mm||^2 of GD continued in log time -> 1 "
                              "(T the out-of-support part of CE - H; the in-support part is O(1/k^2))",
                              continued_model(v), fail_allowed=v.degenerate is None, model_note=v.degenerate or "")
        if cont.status in (PASS, FAIL):
            cont.evidence["gd"] = res.evidence
            cont.evidence["observed_ratio"] = res.evidence["observed_ratio"]
            res = Estimate(cont.status, f"{cont.note} (GD itself: {res.note})", cont.evidence)
    return ClaimResult("ext-loss-rate", res.status,
                       f"ratio {fmt(ctx, xs[-1][0], 6)} at k = {v.ks[-1]} (predicted -> 1); {res.note}",
                       {"limit": res.evidence})


def check_proj_rate(v: GdView, tols: Tolerances, proj: Estimate) -> ClaimResult:
    """||P_F(W_k) - W*|| = Theta(1/k): the log-log slope over the last decade is about -1."""
    ctx = v.ctx
    ks, errs = list(v.ks), [v.proj_err(c) for c in v.cps]
    floor = floor_for(v.run, 1, 1)
    if "gd" in proj.evidence:
        # thm2 decided P_F(W_k) on GD's whole-W continuation: the slopes are read there too, where
        # that estimate's regime test was passed (calibration seed 4025: GD's own last decades,
        # still in their transient at slope -0.69, were failed against the continuation's regime)
        points = whole_continuation(v)[0]
        ws = np.array([float(x) for x in v.W_star])
        ks += [k for k, _, _ in points]
        errs += [ctx.mpf(float(np.linalg.norm(v.pf(w) - ws))) for _, w, _ in points]
        floor = max(floor, ctx.mpf(proj.evidence["floor"]))
        # the slope is read where the error is still 10 x above the continuation's floor
        while len(errs) > 3 and errs[-1] <= 10 * floor:
            ks, errs = ks[:-1], errs[:-1]
    ev = {"errors": [{"k": k, "proj_err": fmt(ctx, e), "k_times_err": fmt(ctx, k * e)}
                     for k, e in zip(ks, errs)],
          "predicted_slope": "-1", "tolerance": fmt_q(tols.rate_slope), "floor": fmt(ctx, floor, 3),
          "criterion": (f"pass if |slope + 1| <= {fmt_q(tols.rate_slope)} over the last decade; fail if "
                        f"slope + 1 > {fmt_q(3 * tols.rate_slope)} (slower than 1/k) over each of the last two "
                        "decades while thm2's projection estimate is in its asymptotic regime; else inconclusive")}
    if len(ks) < 3:
        return ClaimResult("ext-proj-rate", INC, "run too short", ev)
    if "gd" not in proj.evidence and all(e <= floor * max(ctx.one, e) for e in errs[-2:]):
        return ClaimResult("ext-proj-rate", NA, "not applicable: degenerate case, P_F(W_k) equals W* to "
                           "working precision (no rate to measure)", ev)
    if "gd" in proj.evidence and min(errs[-3:]) <= 10 * floor:
        return ClaimResult("ext-proj-rate", INC, f"||P_F(W_k) - W*|| within 10 x its floor {fmt(ctx, floor, 2)}: "
                           "no slope to read", ev)
    slopes = [ctx.log(errs[i] / errs[i - 1]) / ctx.log(ctx.mpf(ks[i]) / ks[i - 1])
              for i in range(len(errs) - 2, len(errs))]
    ev.update({"slope_last_decade": fmt(ctx, slopes[-1], 4), "slope_previous_decade": fmt(ctx, slopes[-2], 4)})
    tol = q2mpf(ctx, tols.rate_slope)
    if abs(slopes[-1] + 1) <= tol:
        st, note = PASS, "matches Theta(1/k)"
    elif proj.settled and all(s + 1 > 3 * tol for s in slopes):
        st, note = FAIL, "slower than the predicted -1 on both of the last two decades, in the asymptotic regime"
    elif all(s + 1 < -3 * tol for s in slopes):
        # faster than 1/k is a transient until the 1/k term shows: no finite run shows it absent
        # (calibration seed 6086, tiny multiplier: -1.44 on the whole-W continuation to k = 1e7)
        st, note = INC, "faster than 1/k so far: a faster component still above the 1/k term"
    else:
        st, note = INC, "not at the predicted slope yet (transient, or a degenerate case)"
    return ClaimResult("ext-proj-rate", st, f"log-log slope {fmt(ctx, slopes[-1], 4)} over the last decade "
                       f"(predicted -1): {note}", ev)


def check_angle_rate(v: GdView, tols: Tolerances) -> ClaimResult:
    """1 - cos(W_k, W^mm) = Theta(1/log^2 k): cot(angle) grows linearly in log k (stable slope)."""
    ctx = v.ctx
    cots, cgs = [], [v.cos_gap(c) for c in v.cps]
    for cg in cgs:
        sin = ctx.sqrt(cg * (2 - cg)) if cg > 0 else ctx.zero
        cots.append((1 - cg) / sin if sin else ctx.inf)
    ev = {"cot_angle": [{"k": k, "cot": fmt(ctx, t), "cos_gap_log2k": fmt(ctx, cg * ctx.log(k) ** 2)}
                        for k, t, cg in zip(v.ks, cots, cgs)],
          "tolerance": fmt_q(tols.rate_slope),
          "criterion": (f"pass if d cot / d log k is positive over the last two decades and changes by at "
                        f"most {fmt_q(tols.rate_slope)} (relative) between them; else inconclusive (never "
                        "fail: a Theta(1/log^2 k) rate cannot be refuted at reachable k)"),
          "degenerate": v.degenerate or "no"}
    cos_floor = 10 * (v.run.rounding.bound / v.cps[-1].norm + ctx.power(10, -(v.run.working_digits - 5)))
    ev["floor"] = fmt(ctx, cos_floor, 3)
    if len(v.ks) < 3 or not all(ctx.isfinite(t) for t in cots) or min(cgs[-3:]) <= cos_floor:
        return ClaimResult("ext-angle-rate", INC, "run too short, or 1 - cos at the precision floor "
                           f"({fmt(ctx, cos_floor, 2)}): no rate to measure", ev)
    a1 = (cots[-1] - cots[-2]) / ctx.log(ctx.mpf(v.ks[-1]) / v.ks[-2])
    a2 = (cots[-2] - cots[-3]) / ctx.log(ctx.mpf(v.ks[-2]) / v.ks[-3])
    ev.update({"slope_last_decade": fmt(ctx, a1, 4), "slope_previous_decade": fmt(ctx, a2, 4)})
    tail = f" (degenerate case: {v.degenerate}; a log log k drift is expected)" if v.degenerate else ""
    if a1 <= 0:
        return ClaimResult("ext-angle-rate", INC, f"the angle to W^mm grew over the last decade "
                           f"(d cot / d log k = {fmt(ctx, a1, 3)}): a transient, or a contradiction that "
                           f"no affordable run can tell apart (log k changes by 15 % per decade at 1e7){tail}", ev)
    change = abs(a1 / a2 - 1) if a2 > 0 else ctx.inf
    ev["relative_change"] = fmt(ctx, change, 3)
    if change <= q2mpf(ctx, tols.rate_slope):
        return ClaimResult("ext-angle-rate", PASS, f"(1 - cos) log^2 k levels off: d cot / d log k = "
                           f"{fmt(ctx, a1, 4)}, changed {fmt(ctx, change, 2)} over a decade{tail}", ev)
    return ClaimResult("ext-angle-rate", INC, f"d cot / d log k = {fmt(ctx, a1, 4)} still changing "
                       f"({fmt(ctx, change, 2)} per decade){tail}", ev)


# ---------------------------------------------------------------------------------------------
# ext-offset


def predicted_offsets(v: GdView, st: OffsetStructure) -> list:
    """log(eta pi_j p_{j,a_j} / lambda_{j,v}) - <A_{j,v}, W*> for each support pair."""
    ctx, ev = v.ctx, v.ev
    out = []
    for (j, t), lam in zip(st.pairs, st.lambdas):
        a = v.exact.anchors[j]
        aw = ctx.fdot(ev.W_star[a], ev.H[j]) - ctx.fdot(ev.W_star[t], ev.H[j])
        out.append(ctx.log(ev.eta * ev.pi[j] * ev.P[j][a] / q2mpf(ctx, lam)) - aw)
    return out


def observed_offsets(v: GdView, st: OffsetStructure, c: Checkpoint) -> list:
    """<A_{j,v}, P_perp(W_k) - log(k) W^mm> for each support pair."""
    ctx, ev = v.ctx, v.ev
    X = msub(msub(c.W, c.PF), mscale(ctx.log(c.k), ev.W_mm))
    out = []
    for j, t in st.pairs:
        a = v.exact.anchors[j]
        out.append(ctx.fdot(X[a], ev.H[j]) - ctx.fdot(X[t], ev.H[j]))
    return out


def check_offset(v: GdView, tols: Tolerances) -> ClaimResult:
    """Support-pair margins of P_perp(W_k) - log(k) W^mm converge to the predicted offsets (rate
    k^-mu); far from the limit, report the predicted k (inconclusive) instead of pass/fail."""
    ctx = v.ctx
    st = v.offsets
    if not st.independent:
        return not_applicable("ext-offset", st.degenerate_reason)
    pred = predicted_offsets(v, st)
    xs = [observed_offsets(v, st, c) for c in v.cps]
    amax = ctx.sqrt(2 * max(ctx.fsum(x * x for x in h) for h in v.ev.H))
    floor = floor_for(v.run, amax, max(abs(p) for p in pred))
    mu = ctx.mpf(st.mu)
    model = v.dir_model      # k^-rho: the non-support constraints' decaying mass moves the offsets too
    tol = q2mpf(ctx, tols.offset)
    res = estimate_limit(ctx, v.ks, xs, pred, tol, floor,
                         "offsets -> log(eta pi_j p_{j,a_j} / lambda_{j,v}) - <A_{j,v}, W*>", model,
                         norm="max", fail_allowed=not st.weakly_active,
                         model_note=(f"weakly active constraints {st.weakly_active}" if st.weakly_active else ""),
                         settle_from=SETTLE_K)
    cont = continued_offsets(v, st, tols) if v.continued is not None else None
    if cont is not None and cont.status in (PASS, FAIL):
        xs = xs[:-1] + [cont.evidence.pop("last_offsets")]
        pred = cont.evidence.pop("predicted_values")
        res = replace(cont, note=f"{cont.note} (GD itself: {res.note})", evidence={**cont.evidence, "gd": res.evidence})
    errs_last = [abs(a - b) for a, b in zip(xs[-1], pred)]
    wi = max(range(len(errs_last)), key=lambda i: errs_last[i])
    ev = {"limit": res.evidence, "mu": ctx.nstr(mu, 4), "mu_max": ctx.nstr(ctx.mpf(st.mu_max), 4),
          "v_saturated": ctx.nstr(ctx.mpf(st.v_sat), 4),
          "pairs": [{"pair": list(p), "lambda": fmt(ctx, q2mpf(ctx, l), 10), "predicted": fmt(ctx, q, 10),
                     "observed": fmt(ctx, o, 10)} for p, l, q, o in zip(st.pairs, st.lambdas, pred, xs[-1])],
          "worst_pair": list(st.pairs[wi]), "weakly_active": [list(p) for p in st.weakly_active]}
    status = res.status
    summary = f"max offset error {fmt(ctx, errs_last[wi], 3)} at k = {v.ks[-1]}; {res.note}"
    if status != PASS and errs_last[wi] > tol:
        need = _offset_k_needed(ctx, v.ks[-1], errs_last[wi], tol, mu, ctx.mpf(st.v_sat))
        ev["predicted_k_needed"] = pow10_text(ctx, need)
        ev["k_model"] = ("linear regime: k_N (err/tol)^(1/mu); beyond err > 1 the offset first moves "
                         "about v_saturated per unit of log k")
        if status == FAIL and errs_last[wi] > 1:
            status = INC
            summary += "; far from the limit (saturated offsets, where the linearised model fails), so not judged"
        summary += f"; predicted k needed {ev['predicted_k_needed']}"
    if st.weakly_active:
        summary += (f"; degenerate case (weakly active constraints {st.weakly_active}): the prediction "
                    "assumes none and a log log k drift is expected")
    return ClaimResult("ext-offset", status, summary, ev)


def continued_offsets(v: GdView, st: OffsetStructure, tols: Tolerances) -> Estimate:
    """The offsets along GD's log-time continuation (thm2's, validated on the run) against the
    prediction with the continuation's own frozen F-part W_F = P_F(W_N) in place of W*:
    log(eta pi_j q_{j,a_j} / lambda_{j,v}) - <A_{j,v}, W_F>, q_j the softmax of W_F's logits on S_j
    (the two differ by O(1/N); W* itself is judged by thm2). Rate e^(-rho s)."""
    ctx, ev = v.ctx, v.ev
    ss, Ps, W_F, info = v.continued
    if v.offsets.direction_rate() is None:
        return Estimate(INC, "offsets of the continuation: no rate (degenerate instance)", {})
    mm = logtime.to_array(ev.W_mm).reshape(-1)
    H = logtime.to_array(ev.H)
    LF = H @ W_F.T
    _, log_q = logtime.log_softmax_parts(LF, logtime.support_mask(v.exact))
    pred, xs = [], [[] for _ in ss[1:]]
    for (j, t), lam in zip(st.pairs, st.lambdas):
        a = v.exact.anchors[j]
        pred.append(ctx.mpf(math.log(float(v.problem.eta) * float(v.exact.pi[j]) / float(lam)) + log_q[j, a]
                            - (LF[j, a] - LF[j, t])))
        for i, (s, P) in enumerate(zip(ss[1:], Ps[1:])):
            X = (P - s * mm).reshape(len(ev.W_mm), -1)
            xs[i].append(ctx.mpf(float((X[a] - X[t]) @ H[j])))
    amax = max(float(v.mm_norm) * s for s in ss) * 1e-15 * 100 + info["floor"]
    model = continued_model(v)
    est = estimate_limit(ctx, logtime.checkpoint_times(ss), xs, pred, q2mpf(ctx, tols.offset), ctx.mpf(amax),
                         "offsets of GD continued in log time -> log(eta pi_j q_{j,a_j} / lambda_{j,v}) - "
                         "<A_{j,v}, W_F>", model, norm="max", fail_allowed=not st.weakly_active)
    est.evidence.update({"last_offsets": xs[-1], "predicted_values": pred,
                         "frozen_F_part": "W_F = P_F(W_N) of the run (thm2 judges W_F -> W*)"})
    return est


def _offset_k_needed(ctx, N: int, err, tol, mu, v_sat):
    """k where the worst offset reaches tol: saturated drift to err = 1, then k^-mu decay."""
    log_k = ctx.log(N)
    if err > 1 and v_sat > 0:
        log_k += (err - 1) / v_sat
        err = ctx.one
    if mu > 0:
        log_k += ctx.log(err / tol) / mu
    return ctx.exp(log_k) if log_k < 690 else ctx.power(10, log_k / ctx.log(10))
