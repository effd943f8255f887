"""Limits estimated with the rate the theory predicts, and the verdict rule every limit claim uses.

A limit claim says x_t -> X_claimed as t -> oo (t = k for gradient descent, t = B for the path,
t = g for prop1). The theory gives the rate at which x_t approaches its limit (theory.md sections
4-6): 1/k for the F-part and the loss gap, k^-rho for the growth direction (rho from the
instance: the smallest eigenvalue mu of diag(lambda) Gram(P_perp A_SV) and the smallest margin
excess of the non-support constraints), e^(-B/||W^mm||) for the path's F-part, and so on.

``estimate_limit`` uses that model, never a generic one:

- increments Delta_i = ||x_i - x_{i-1}|| between consecutive checkpoints; under the model
  Delta_N / Delta_{N-1} equals the predicted ratio q_pred;
- **regime test**: the observed ratio shrinks at least half as fast (in log scale) as predicted,
  log q_obs <= log q_pred / 2, or the increment is at the precision floor. In a transient (the
  error still growing, or shrinking slower than theory) nothing is failed;
- **estimate** (Richardson with the model's rate, slowed to the observed rate when that is
  slower): X_N = x_N + (x_N - x_{N-1}) r / (1 - r), r the contraction from t_{N-1} to t_N;
- **uncertainty** u = max(r * ||X_N - X_{N-1}||, MODEL_SHARE * ||X_N - x_N||): the estimate with the
  last checkpoint left out, shrunk by one step of the model, and a share of the extrapolation
  correction for the model's own error (next-order terms such as log k / k). When the observed
  contraction is more than twice as fast (log scale) as the model's, the slowest mode is not
  visible yet and the whole correction counts (the extrapolation may overshoot); so does it when
  the rate is assumed rather than given by the theory. When the observed rate is slower, the
  estimate uses it, and the spread between the estimates at the two rates counts (a rate fitted
  to the same points makes the left-out change blind); when it is faster by at most a factor 2,
  that spread counts too (slow rates amplify small rate errors);
- **resolution** = KAPPA * u + floor (amplified by the extrapolation): the smallest discrepancy
  between the limit and the claimed value this run can resolve; written into every evidence;
- pass: in regime, ||X_N - X_claimed|| <= resolution <= tolerance;
- fail: each of the last two ratios shrinks at least SETTLE_SLACK as fast as predicted (log scale),
  and the claimed value is farther than the resolution from the estimate and from the whole
  segment between the last value and the estimate (an extrapolation that overshot never fails);
- inconclusive otherwise, with the t a run would need (from the model) to bring the
  resolution below the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ..exactnum import fmt_q
from ..status import Status

PASS, FAIL, INC, NA = Status.PASS, Status.FAIL, Status.INCONCLUSIVE, Status.NOT_APPLICABLE
_RANK = {PASS: 0, Status.NOT_APPLICABLE: 0, INC: 1, FAIL: 2}

KAPPA = Fraction(3)            # resolution = KAPPA x uncertainty + floor
MODEL_SHARE = Fraction(1, 10)  # share of the extrapolation correction counted as model error
REGIME_SLACK = Fraction(1, 2)  # observed log-contraction must be >= this share of the predicted
SETTLE_SLACK = Fraction(3, 4)  # ... and >= this share over both of the last two steps for a fail


def contradicts(est: "Estimate") -> bool:
    """In regime, and the claimed value farther from the estimate than its resolution: evidence
    against the claim even when not judged a fail (e.g. the model is known not to apply)."""
    return bool(est.in_regime and est.distance is not None and est.resolution is not None
                and est.distance > est.resolution)


def not_judged(est: "Estimate", why: str) -> "Estimate":
    """``est`` with a fail downgraded to inconclusive (and no longer settled), saying why; any
    other status is returned as it is."""
    if est.status != FAIL:
        return est
    return replace(est, status=INC, note=est.note.replace("the limit differs", "its limit differs") + why,
                   settled=False)


def superseded(est: "Estimate", cont: "Estimate", what: str) -> "Estimate":
    """A fail of a finite run's estimate when the continuation of the same trajectory (validated on
    the run, in its own regime) passes: the run was not in its asymptotic regime after all (the
    continuation shows where it goes), so the fail is not judged; ``what`` names the continuation."""
    if est.status == FAIL and cont.status == PASS:
        return not_judged(est, f"; not judged: {what} (the same trajectory, further on) reaches the "
                               "claimed limit")
    return est


def any_decides(statuses, blocked: bool = False) -> Status:
    """PASS when one of several estimates of the same limit passes and nothing blocks it (the
    caller says what does: another estimate's fail, a resolved discrepancy, ...); else the worst."""
    return PASS if PASS in statuses and not blocked else worst(*statuses)


def worst(*statuses: Status) -> Status:
    """FAIL over INCONCLUSIVE over PASS (not-applicable counts as pass here)."""
    return max(statuses, key=lambda s: _RANK[s])


def fmt(ctx, x, n: int = 6) -> str:
    if x is None:
        return "none"
    if not x:
        return "0"
    return ctx.nstr(x, n, strip_zeros=False)


def dist_l2(ctx, x, y):
    return ctx.sqrt(ctx.fsum((a - b) ** 2 for a, b in zip(x, y)))


def dist_max(ctx, x, y):
    return max((abs(a - b) for a, b in zip(x, y)), default=ctx.zero)


def pow10_text(ctx, x) -> str:
    """'about 1e+07' style text for a positive mpf (log10 used, so e^150 is fine)."""
    if x is None or not ctx.isfinite(x):
        return "unknown"
    e = ctx.log10(x)
    if e > 300:
        return f"about 1e{int(ctx.floor(e))}"
    return f"about {ctx.nstr(x, 2)}"


def _needed(ctx, ev: dict, axis: str, t) -> None:
    """Write the t a run would need into the evidence: as text ("k about 1.6e+07") and as
    ``needed_log10`` = {axis: log10 t} (a number for programs: t itself may be e^66000)."""
    ev["needed"] = f"{axis} {pow10_text(ctx, t)}"
    if t is not None and ctx.isfinite(t) and t > 0:
        ev["needed_log10"] = {axis: round(float(ctx.log10(t)), 6)}


def needed_t(evidence: dict, axis: str = "k") -> float | None:
    """The t an evidence says a run would need on this axis (from ``needed_log10``), as a float
    (inf beyond float range); None when it names none."""
    x = evidence.get("needed_log10", {}).get(axis) if isinstance(evidence, dict) else None
    if x is None:
        return None
    return 10.0 ** x if x < 308 else float("inf")


@dataclass(frozen=True)
class RateModel:
    """x_t - X ~ c t^-rate (``kind="power"``), c e^(-rate t) (``kind="exp"``) or c / log t
    (``kind="log"``, rate unused: the slowest the theory allows in degenerate cases); ``why`` names
    the source of the rate (theory.md section, instance quantity)."""

    kind: str
    rate: object          # mpf > 0
    why: str
    axis: str = "k"
    from_theory: bool = True    # False: an assumed rate; its whole correction counts as uncertainty

    def decay(self, ctx, t):
        """The model's error profile at t, up to the constant."""
        t = ctx.mpf(t.numerator) / t.denominator if isinstance(t, Fraction) else ctx.mpf(t)
        if self.kind == "log":
            return 1 / (1 + ctx.log(t))
        return ctx.power(t, -self.rate) if self.kind == "power" else ctx.exp(-self.rate * t)

    def text(self, ctx) -> str:
        if self.kind == "log":
            return f"x_{self.axis} - X ~ c / log {self.axis} ({self.why})"
        r = ctx.nstr(self.rate, 4)
        form = f"{self.axis}^-{r}" if self.kind == "power" else f"e^(-{r} {self.axis})"
        return f"x_{self.axis} - X ~ c {form} ({self.why})"

    def slowed(self, share):
        if self.kind == "log":
            return self
        return RateModel(self.kind, self.rate * share, self.why + ", slowed to the observed rate", self.axis,
                         self.from_theory)

    def t_needed(self, ctx, t_last, factor):
        """The t at which the model's error is ``factor`` (< 1) times its value at t_last."""
        t_last = ctx.mpf(t_last.numerator) / t_last.denominator if isinstance(t_last, Fraction) else ctx.mpf(t_last)
        if self.kind == "log":
            return ctx.exp((1 + ctx.log(t_last)) / factor - 1)
        if self.kind == "power":
            return t_last * ctx.power(factor, -1 / self.rate)
        return t_last - ctx.log(factor) / self.rate


@dataclass
class Estimate:
    status: Status
    note: str
    evidence: dict
    error_last: object = None          # ||x_N - X_claimed||
    distance: object = None            # ||X_N - X_claimed||
    resolution: object = None
    in_regime: bool = False          # the last increment ratio passes the regime test
    settled: bool = False            # ... and so does the one before it (what a fail needs)


def _label(t):
    if isinstance(t, Fraction):
        return str(t.numerator) if t.denominator == 1 else f"{float(t):.6g}"
    return t


def _segment_distance(ctx, P, Q, T, dist):
    """Distance from T to the segment from P (the last value) to Q (the estimate)."""
    d = [q - p for p, q in zip(P, Q)]
    dd = ctx.fsum(x * x for x in d)
    t = ctx.fsum((tt - p) * x for p, tt, x in zip(P, T, d)) / dd if dd else ctx.zero
    t = min(ctx.one, max(ctx.zero, t))
    return dist(ctx, [p + t * x for p, x in zip(P, d)], T)


def estimate_limit(ctx, ts: list, xs: list[list], target: list, tol, floor, label: str, model: RateModel,
                   norm: str = "l2", fail_allowed: bool = True,
                   model_note: str = "", agreement: str = "resolution", settle_from=None) -> Estimate:
    """Judge x_t -> target from values at ascending checkpoints ts; see the module doc.

    ``fail_allowed=False`` never fails (the model is known not to apply: degenerate instances);
    ``model_note`` then says why, and is written into the evidence. ``agreement="error"``
    passes when the last value itself is within the tolerance (and the estimate is consistent,
    in regime) instead of requiring the resolution within it: for slowly converging quantities
    (the direction, rate k^-rho with rho often below 0.1) whose limit no affordable run pins down.
    ``settle_from``: a fail also needs the two increments it rests on to start at t >= this
    (e.g. k >= 100: the first steps of GD are a transient whatever the rates say)."""
    dist = dist_l2 if norm == "l2" else dist_max
    ax = model.axis
    errs = [dist(ctx, x, target) for x in xs]
    ev = {"quantity": label, "norm": norm, "model": model.text(ctx), "tolerance": fmt(ctx, tol, 3),
          "floor": fmt(ctx, floor, 3),
          "errors": [{ax: _label(t), "error": fmt(ctx, e)} for t, e in zip(ts, errs)],
          "criterion": (f"estimate X = x_N + (x_N - x_N-1) r/(1-r) with the model's contraction r (slowed "
                        f"to the observed one when that is slower); uncertainty u = max(r |X_N - X_N-1|, "
                        f"{fmt_q(MODEL_SHARE)} |X_N - x_N| (all of it when the rate is assumed or the observed "
                        "one is over 2x faster), the spread between the estimates at the model's and the "
                        f"observed rate); resolution = {fmt_q(KAPPA)} u + floor; regime: increments shrink "
                        f"at least {fmt_q(REGIME_SLACK)} as fast (log scale) as the model predicts; pass: in "
                        "regime and |X - claimed| <= resolution <= tolerance; fail: the last two steps "
                        f"shrink at least {fmt_q(SETTLE_SLACK)} as fast as predicted and the claimed value "
                        "is farther than the resolution from X and from the segment from x_N to X; else "
                        "inconclusive")}
    if model_note:
        ev["model_applies"] = f"no: {model_note}"
    if len(ts) < 3:
        ev["needed"] = f"at least three checkpoints ({'k >= 100' if ax == 'k' else 'three radii'})"
        return Estimate(INC, f"{label}: too few checkpoints to see a trend", ev, errs[-1] if errs else None)
    incs = [dist(ctx, xs[i], xs[i - 1]) for i in range(1, len(xs))]
    prof = [model.decay(ctx, t) for t in ts]
    # regime test on the last two increment ratios (observed vs predicted)
    regime_rows = []
    for i in range(len(incs) - 1, max(0, len(incs) - 3), -1):
        if i < 1:
            break
        pred = (prof[i] - prof[i + 1]) / (prof[i - 1] - prof[i])
        d_new, d_old = incs[i], incs[i - 1]
        at_floor = d_new <= floor
        obs = d_new / d_old if d_old else (ctx.zero if not d_new else ctx.inf)
        share = (ctx.log(obs) / ctx.log(pred)) if (obs and ctx.isfinite(obs) and pred < 1) else (
            ctx.inf if not obs else ctx.zero)
        ok = bool(at_floor or share >= ctx.mpf(REGIME_SLACK.numerator) / REGIME_SLACK.denominator)
        steady = bool(at_floor or share >= ctx.mpf(SETTLE_SLACK.numerator) / SETTLE_SLACK.denominator)
        if settle_from is not None and ts[i - 1] < settle_from:
            steady = False
        regime_rows.append({"from": _label(ts[i]), "to": _label(ts[i + 1]), "observed_ratio": fmt(ctx, obs, 4),
                            "predicted_ratio": fmt(ctx, pred, 4), "at_floor": bool(at_floor), "ok": ok,
                            "steady": steady, "share": share})
    regime_rows.reverse()
    last = regime_rows[-1]
    in_regime = last["ok"]
    in_regime_2 = len(regime_rows) >= 2 and all(r["ok"] and r["steady"] for r in regime_rows)
    # the model's rate, slowed to the observed one when that is slower (but still in regime)
    share = last["share"]
    used = model
    if not last["at_floor"] and ctx.isfinite(share) and 0 < share < 1:
        used = model.slowed(share)
    for r in regime_rows:
        r["share"] = fmt(ctx, r["share"], 3) if ctx.isfinite(r["share"]) else "inf"

    def extrapolate(i, rate_model):
        """(estimate from checkpoints i-1 and i, its correction size, contraction r)."""
        a, b = rate_model.decay(ctx, ts[i - 1]), rate_model.decay(ctx, ts[i])
        r = b / a
        w = r / (1 - r)
        X = [c + w * (c - p) for p, c in zip(xs[i - 1], xs[i])]
        return X, incs[i - 1] * w, r

    X, corr, r = extrapolate(len(xs) - 1, used)
    Xp, _, _ = extrapolate(len(xs) - 2, used)
    # the spread between the estimates at the model's rate and at the observed one (when within
    # a factor 2 of it): a rate fitted to the same points makes the left-out change blind to it,
    # and slow rates amplify small rate errors (r/(1-r) is 17 at k^-0.025 per decade)
    spread = ctx.zero
    other = None
    if used is not model:
        other = model
    elif not last["at_floor"] and ctx.isfinite(share) and 1 < share <= 2 and model.kind != "log":
        other = RateModel(model.kind, model.rate * share, model.why, model.axis, model.from_theory)
    if other is not None:
        spread = dist(ctx, X, extrapolate(len(xs) - 1, other)[0])
    loo = dist(ctx, X, Xp)
    share_q = ctx.mpf(MODEL_SHARE.numerator) / MODEL_SHARE.denominator
    # the model's rate is confirmed when the observed one is within a factor 2 of it; when the
    # increments shrink much faster, the slowest mode is not visible yet and its extrapolation may
    # overshoot: then the whole correction counts as uncertainty
    validated = model.from_theory and (bool(last["at_floor"]) or (ctx.isfinite(share) and share <= 2))
    u = max(r * loo, (share_q if validated else 1) * corr, spread)
    floor_eff = floor * (1 + 2 * r / (1 - r))
    res = ctx.mpf(KAPPA.numerator) / KAPPA.denominator * u + floor_eff
    D = dist(ctx, X, target)
    D_seg = _segment_distance(ctx, xs[-1], X, target, dist)
    ev.update({"regime_test": regime_rows, "in_regime": bool(in_regime),
               "estimate": {"distance_to_claimed": fmt(ctx, D, 4),
                            "distance_from_last_value_to_estimate_segment": fmt(ctx, D_seg, 4),
                            "uncertainty": fmt(ctx, u, 3),
                            "left_out_change": fmt(ctx, loo, 3), "correction": fmt(ctx, corr, 3),
                            "rate_spread": fmt(ctx, spread, 3),
                            "contraction_used": fmt(ctx, r, 4), "rate_used": fmt(ctx, used.rate, 4),
                            "model_rate_confirmed": validated},
               "resolution": fmt(ctx, res, 3)})
    head = f"{label}: limit estimate {fmt(ctx, D, 3)} from the claimed value (resolution {fmt(ctx, res, 2)})"
    out = lambda st, why: Estimate(st, f"{head}; {why}", ev, errs[-1], D, res, bool(in_regime),  # noqa: E731
                                   bool(in_regime_2))
    if not in_regime:
        return out(INC, (f"not yet in the asymptotic regime: the last increment ratio {last['observed_ratio']} "
                         f"vs {last['predicted_ratio']} predicted; run longer"))
    if D > res:
        if fail_allowed and in_regime_2 and D_seg > res:
            return out(FAIL, "the limit differs from the claimed value beyond the resolution, on a "
                             "trajectory in the asymptotic regime over the last two steps")
        why = ("in regime over only one step" if not in_regime_2 else
               f"model does not apply ({model_note})" if not fail_allowed else
               f"the claimed value lies within {fmt(ctx, D_seg, 2)} of the way from the last value to the "
               "estimate (the extrapolation may have overshot)")
        ev["needed"] = "a longer run"
        return out(INC, f"differs beyond the resolution but not judged: {why}")
    if agreement == "error":
        ev["pass_rule"] = ("pass: in regime, estimate consistent with the claimed limit, and the last "
                           "value within the tolerance of it")
        if errs[-1] <= tol:
            return out(PASS, f"consistent; the last value is {fmt(ctx, errs[-1], 3)} from it, within the "
                             f"tolerance {fmt(ctx, tol, 2)}")
        _needed(ctx, ev, ax, used.t_needed(ctx, ts[-1], tol / errs[-1]))
        return out(INC, f"consistent so far; the last value is {fmt(ctx, errs[-1], 3)} from it, above the "
                        f"tolerance {fmt(ctx, tol, 2)}; needs {ev['needed']}")
    if res <= tol:
        return out(PASS, f"consistent, resolution within the tolerance {fmt(ctx, tol, 2)}")
    _needed(ctx, ev, ax, used.t_needed(ctx, ts[-1], tol / res))
    return out(INC, f"consistent so far, but the resolution is above the tolerance {fmt(ctx, tol, 2)}; "
                    f"needs {ev['needed']}")
