"""GD claims for theory.md section 7 (extensions: compatibility or separability fails).

- ``ext-inf-ce``: CE(W_k) -> inf CE, inside the exact bracket. A value CE(W_k) below the proven
  lower bound (beyond the evaluation floor) contradicts inf CE <= CE(W) outright: fail. Otherwise
  the limit is judged by ``estimate_limit`` with the rate 1/k, an assumed rate (section 7 states
  none; it is the separable loss gap's, theory.md 6), so the whole extrapolation counts as
  uncertainty. The identity CE(W_k) - inf CE = sum pi KL(qbar || q(W_k)) is reported.
- ``ext-finite-part``: P_Fbar(W_k) -> Wbar (assumed rate 1/k, as ext-proj-rate's), with
  q_j(W_k) -> qbar_j reported (stuck tokens keep positive probability).
- ``ext-growth`` (a conjecture: the paper's Thm 2 proof with F, W* replaced by Fbar, Wbar): when
  a pair vanishes, the decade growth direction unit(W_k - W_{k/10}) -> What / ||What|| and
  ||W_k|| grows by ||What|| ln 10 per decade; vanishing probabilities decay like
  k^-<A_{j,v}, What> (reported). Never failed: a conjecture with an assumed rate.

All three are not applicable on compatible-and-separable instances (lemma2 and thm2 say it all)
and when the step is not proven admissible.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..exactnum import LinLog, fmt_q
from ..linalg import mat, to_frac
from ..status import ClaimResult
from .estimate import FAIL, INC, PASS, Estimate, RateModel, estimate_limit, fmt, worst
from .gd import GdRun, frob, q2mpf
from .gd_claims import SETTLE_K, _flat, _unit, decade_ks, floor_for, not_applicable
from .problem import NumericProblem

EXT7_CLAIMS = ("ext-inf-ce", "ext-finite-part", "ext-growth")
INF_CE_TOL = Fraction(3, 100000)       # nats: the limit pinned to this (as lemma2's loss gap)
FINITE_TOL = Fraction(3, 10000)        # times max(1, ||Wbar||) (as thm2's projection)
DIRECTION_TOL = Fraction(1, 20)        # about radians (as thm2's direction)
NORM_BAND = Fraction(2)                # growth per decade within this factor of ||What|| ln 10


@dataclass(frozen=True)
class Section7:
    """Exact section-7 data for the numeric layer (pairs as (context index, token index)).

    ``fbar_pairs``: (j, z) whose generators (e_z - e_{a_j}) h_j^T form a basis of Fbar;
    ``W_bar``: LinLog entries (exact) or rationals within 1e-45 of Newton's minimiser;
    ``q_bar``: exact or rounded the same way; ``inf_lower`` <= inf CE <= ``inf_upper`` (proven)."""

    stuck: tuple
    vanishing: tuple
    sbar: tuple
    fbar_pairs: tuple
    W_hat: tuple | None
    W_hat_norm_sq: Fraction | None
    W_bar: tuple
    q_bar: tuple
    inf_lower: Fraction
    inf_upper: Fraction
    inf_exact: bool


def ext7_hypotheses(problem: NumericProblem) -> str | None:
    if problem.compatible and problem.separable:
        return "compatible and separable: the paper's case, where lemma2 and thm2 say it all"
    if problem.section7 is None:
        return "no section-7 data (exact layer skipped)"
    if not problem.eta_admissible:
        return f"step eta = {fmt_q(Fraction(problem.eta))} is not proven admissible"
    return None


def _mp(ctx, x):
    return x.to_mpf(ctx) if isinstance(x, LinLog) else q2mpf(ctx, x)


class Ext7View:
    """The decade checkpoints with the section-7 targets in the run's context."""

    def __init__(self, problem: NumericProblem, run: GdRun):
        self.problem, self.run, self.ctx = problem, run, run.ctx
        s = self.sec = problem.section7
        ctx = self.ctx
        self.ev = run.evaluator_for(problem)
        self.ks = decade_ks(run)
        self.cps = [run.at(k) for k in self.ks]
        self.W_bar = [[_mp(ctx, x) for x in row] for row in s.W_bar]
        self.q_bar = [[_mp(ctx, x) for x in row] for row in s.q_bar]
        self.lower, self.upper = q2mpf(ctx, s.inf_lower), q2mpf(ctx, s.inf_upper)
        self.W_hat = [[q2mpf(ctx, x) for x in row] for row in s.W_hat] if s.W_hat is not None else None
        inst = problem.instance
        a, n = inst.anchors, len(s.fbar_pairs)
        hh = problem.exact.hh
        G = [[((z == z2) - (z == a[j2]) - (a[j] == z2) + (a[j] == a[j2])) * hh[j][j2] for (j2, z2) in s.fbar_pairs]
             for (j, z) in s.fbar_pairs]
        self.G_inv = None
        if n:                          # the exact Gram matrix inverted exactly (flint), then rounded
            inv = mat(G, n, n).inv()
            self.G_inv = ctx.matrix([[q2mpf(ctx, to_frac(inv[i, k])) for k in range(n)] for i in range(n)])
        self.model = RateModel("power", ctx.one, "assumed: 1/k, the rate of the separable case's loss gap "
                               "and F-part (theory.md 6); section 7 states no rate", from_theory=False)

    def project_fbar(self, W):
        """P_Fbar(W) = sum_i c_i G_i with c = Gram^-1 (<G_i, W>)_i."""
        ctx, inst, s = self.ctx, self.problem.instance, self.sec
        out = [[ctx.zero] * inst.d for _ in range(inst.V)]
        if self.G_inv is None:
            return out
        L = self.ev.logits(W)
        a = inst.anchors
        b = ctx.matrix([L[j][z] - L[j][a[j]] for j, z in s.fbar_pairs])
        c = self.G_inv * b
        for i, (j, z) in enumerate(s.fbar_pairs):
            for col, hv in enumerate(self.ev.H[j]):
                out[z][col] += c[i] * hv
                out[a[j]][col] -= c[i] * hv
        return out

    def kl_to_qbar(self, W):
        """sum_j pi_j KL(qbar_j || q_j(W)) (= CE(W) - inf CE by the identity of section 7)."""
        ctx = self.ctx
        S = self.ev.softmaxes(self.ev.logits(W))
        return ctx.fsum(pi * ctx.fsum(q * ctx.log(q / s) for q, s in zip(qb, srow) if q)
                        for pi, qb, srow in zip(self.ev.pi, self.q_bar, S))


def ext7_claims(problem: NumericProblem, run: GdRun) -> list[ClaimResult]:
    why = ext7_hypotheses(problem)
    if why is not None:
        return [not_applicable(cid, why) for cid in EXT7_CLAIMS]
    v = Ext7View(problem, run)
    out = [check_inf_ce(v), check_finite_part(v), check_growth(v)]
    for c in out:
        c.evidence.setdefault("run", {"iterations": run.iterations, "backend": run.backend,
                                      "precision": run.precision, "eta": fmt_q(run.eta),
                                      "rounding_bound": fmt(run.ctx, run.rounding.bound, 3)})
    return out


def _lipschitz(v: Ext7View):
    return max(frob(v.ctx, c.grad) for c in v.cps[-3:]) + v.run.rounding.bound


def check_inf_ce(v: Ext7View) -> ClaimResult:
    ctx, run = v.ctx, v.run
    ce = [c.ce for c in v.cps]
    floor = floor_for(run, _lipschitz(v), ce[-1]) + (v.upper - v.lower)
    mid = (v.lower + v.upper) / 2
    est = estimate_limit(ctx, v.ks, [[x] for x in ce], [mid], q2mpf(ctx, INF_CE_TOL), floor,
                         "CE(W_k) -> inf CE", v.model, settle_from=SETTLE_K)
    ev = est.evidence
    ev["bracket"] = {"lower": fmt(ctx, v.lower, 20), "upper": fmt(ctx, v.upper, 20),
                     "exact": v.sec.inf_exact}
    ev["ce"] = [{"k": k, "ce": fmt(ctx, x, 15), "ce_minus_lower": fmt(ctx, x - v.lower, 4)} for k, x in zip(v.ks, ce)]
    kl = v.kl_to_qbar(v.cps[-1].W)
    ev["identity"] = {"ce_minus_inf": fmt(ctx, ce[-1] - mid, 8), "sum_pi_KL_qbar_q": fmt(ctx, kl, 8),
                      "note": "theory.md 7: equal for every W (qbar to ~1e-45)"}
    if v.W_hat is not None and v.sec.W_hat_norm_sq:
        ratio = v.ev.eta * v.ks[-1] * (ce[-1] - mid) / q2mpf(ctx, v.sec.W_hat_norm_sq)
        ev["eta_k_gap_over_What_sq"] = {"value": fmt(ctx, ratio, 6), "note": (
            "observed only: the analogue of ext-loss-rate would be 1 (not claimed by theory.md 7)")}
    below = [(k, x) for k, x in zip(v.ks, ce) if x < v.lower - floor]
    if below:
        k, x = below[0]
        return ClaimResult("ext-inf-ce", FAIL, (f"CE(W_k) = {fmt(ctx, x, 12)} at k = {k} is below the proven lower "
                                                f"bound {fmt(ctx, v.lower, 12)} by more than the floor "
                                                f"{fmt(ctx, floor, 2)}: impossible (inf CE <= CE(W) for every W)"), ev)
    return ClaimResult("ext-inf-ce", est.status, f"extension: {est.note}", ev)


def check_finite_part(v: Ext7View) -> ClaimResult:
    ctx, run = v.ctx, v.run
    target = _flat(v.W_bar)
    scale = ctx.sqrt(ctx.fsum(x * x for x in target))
    xs = [_flat(v.project_fbar(c.W)) for c in v.cps]
    est = estimate_limit(ctx, v.ks, xs, target, q2mpf(ctx, FINITE_TOL) * max(ctx.one, scale),
                         floor_for(run, 1, scale), "P_Fbar(W_k) -> Wbar", v.model, settle_from=SETTLE_K)
    S = v.ev.softmaxes(v.ev.logits(v.cps[-1].W))
    l1 = max(ctx.fsum(abs(a - b) for a, b in zip(s, q)) for s, q in zip(S, v.q_bar))
    inst = v.problem.instance
    stuck = [{"pair": [inst.contexts[j], inst.vocab[t]], "q_bar": fmt(ctx, v.q_bar[j][t], 8),
              "observed": fmt(ctx, S[j][t], 8)} for j, t in v.sec.stuck]
    est.evidence["probabilities"] = {"max_l1_q_minus_qbar": fmt(ctx, l1, 4), "stuck_tokens": stuck[:20],
                                     "note": "q_j(W_k) -> qbar_j: stuck tokens keep positive probability"}
    return ClaimResult("ext-finite-part", est.status,
                       f"extension: {est.note}; max_j ||q_j(W_k) - qbar_j||_1 = {fmt(ctx, l1, 3)} at k = {v.ks[-1]}",
                       est.evidence)


def check_growth(v: Ext7View) -> ClaimResult:
    ctx, run = v.ctx, v.run
    if v.W_hat is None:
        return not_applicable("ext-growth", "no pair vanishes: inf CE is attained at Wbar and W_k stays bounded")
    what = _flat(v.W_hat)
    nh = ctx.sqrt(ctx.fsum(x * x for x in what))
    sks, secants = [], []
    for (k0, c0), (k1, c1) in zip(zip(v.ks, v.cps), zip(v.ks[1:], v.cps[1:])):
        sks.append(k1)
        secants.append(_unit(ctx, [a - b for a, b in zip(_flat(c1.W), _flat(c0.W))]))
    lip = 4 / (ctx.log(10) * nh)
    direc = (estimate_limit(ctx, sks, secants, _unit(ctx, what), q2mpf(ctx, DIRECTION_TOL),
                            floor_for(run, lip, 1), "decade growth direction -> What/||What||", v.model,
                            fail_allowed=False, model_note="a conjecture, judged with an assumed rate",
                            agreement="error", settle_from=SETTLE_K)
             if len(sks) >= 1 else Estimate(INC, "too few checkpoints", {}))
    norms = [c.norm for c in v.cps]
    ev = {"direction": direc.evidence, "norms": [{"k": k, "norm": fmt(ctx, n)} for k, n in zip(v.ks, norms)]}
    status, note = INC, "run too short to see ||W_k|| grow"
    if len(norms) >= 2:
        growth = norms[-1] - norms[-2]
        pred = nh * ctx.log(ctx.mpf(v.ks[-1]) / v.ks[-2])
        ratio = growth / pred
        band = q2mpf(ctx, NORM_BAND)
        ev["norm_growth"] = {"last_decade": fmt(ctx, growth), "predicted": fmt(ctx, pred), "ratio": fmt(ctx, ratio, 4)}
        status = PASS if 1 / band <= ratio <= band else INC
        note = f"||W_k|| grows {fmt(ctx, growth, 3)} over the last decade ({fmt(ctx, ratio, 3)} x ||What|| ln 10)"
    ev["vanishing_decay"] = _decay_exponents(v)
    summary = (f"conjecture (theory.md 7; not proven): {direc.note}; {note}")
    return ClaimResult("ext-growth", worst(direc.status, status) if direc.status != FAIL else INC, summary, ev)


def section7_series(problem: NumericProblem, run: GdRun) -> list[dict] | None:
    """Per checkpoint: CE(W_k) - inf CE (bracket midpoint), ||P_Fbar(W_k) - Wbar||, 1 - cos(W_k, What)
    and ||W_k||, for the report's plots against section 7's predictions (None when not applicable)."""
    if ext7_hypotheses(problem) is not None:
        return None
    v = Ext7View(problem, run)
    ctx = v.ctx
    mid, target = (v.lower + v.upper) / 2, _flat(v.W_bar)
    what = _flat(v.W_hat) if v.W_hat is not None else None
    nh = ctx.sqrt(ctx.fsum(x * x for x in what)) if what else None
    out = []
    for c in run.checkpoints:
        row = {"k": c.k, "ce_minus_inf": fmt(ctx, c.ce - mid), "norm": fmt(ctx, c.norm),
               "fbar_err": fmt(ctx, ctx.sqrt(ctx.fsum((a - b) ** 2 for a, b in zip(_flat(v.project_fbar(c.W)), target))))}
        if what and c.norm:
            row["cos_gap_W_hat"] = fmt(ctx, 1 - ctx.fdot(_flat(c.W), what) / (c.norm * nh))
        out.append(row)
    return out


def _decay_exponents(v: Ext7View) -> list:
    """Observed -d log s_{j,v} / d log k over the last decade vs the predicted <A_{j,v}, What>."""
    ctx, inst = v.ctx, v.problem.instance
    if len(v.cps) < 2:
        return []
    S1, S0 = (v.ev.softmaxes(v.ev.logits(c.W)) for c in (v.cps[-1], v.cps[-2]))
    span = ctx.log(ctx.mpf(v.ks[-1]) / v.ks[-2])
    out = []
    for j, t in v.sec.vanishing[:20]:
        a = inst.anchors[j]
        pred = ctx.fdot(v.W_hat[a], v.ev.H[j]) - ctx.fdot(v.W_hat[t], v.ev.H[j])
        obs = -ctx.log(S1[j][t] / S0[j][t]) / span if S1[j][t] > 0 and S0[j][t] > 0 else None
        out.append({"pair": [inst.contexts[j], inst.vocab[t]], "predicted": fmt(ctx, pred, 5),
                    "observed": fmt(ctx, obs, 5)})
    return out

