"""What gradient descent does when compatibility or separability fails (observed, not judged).

theory.md section 7 states the limits; this module only reports what a run shows: the estimated
inf CE, whether ||W_k|| stays bounded, and what the finite part P_F(W_k) converges to.
"""

from __future__ import annotations

from ..errors import InternalError
from .estimate import dist_l2, fmt
from .gd import Checkpoint, Evaluator, GdRun, frob, mscale, msub
from .gd_claims import _flat, decade_ks
from .problem import NumericProblem

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
           "H": fmt(ctx, ev.entropy, 20)}
    out["inf_ce"] = _inf_ce(ctx, ks, cps, ev, run)
    out["norm"] = _norm_behaviour(ctx, ks, cps)
    out["finite_part"] = _finite_part(ctx, ks, cps, ev, problem)
    return out


def _inf_ce(ctx, ks, cps, ev, run) -> dict:
    ce = [c.ce for c in cps]
    res = {"ce": [{"k": k, "ce": fmt(ctx, x, 20)} for k, x in zip(ks, ce)],
           "upper_bound": fmt(ctx, ce[-1], 20),
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
    res.update({"estimate": fmt(ctx, est, 20), "uncertainty": fmt(ctx, unc, 3), "method": method,
                "gap_to_H": fmt(ctx, est - ev.entropy, 12)})
    return res


def _norm_behaviour(ctx, ks, cps) -> dict:
    norms = [c.norm for c in cps]
    growth = [{"from_k": a, "to_k": b, "growth": fmt(ctx, y - x)}
              for a, b, x, y in zip(ks, ks[1:], norms, norms[1:])]
    res = {"norms": [{"k": k, "norm": fmt(ctx, n, 12)} for k, n in zip(ks, norms)],
           "growth_per_decade": growth}
    if len(norms) < 3:
        res["verdict"] = "undetermined (run too short)"
        return res
    g1, g2 = norms[-2] - norms[-3], norms[-1] - norms[-2]
    if g2 <= 0 or (g1 > 0 and g2 / g1 < ctx.mpf(1) / 2):
        res["verdict"] = ("appears bounded: growth per decade shrinks "
                          f"({fmt(ctx, g1, 3)} then {fmt(ctx, g2, 3)})")
        if g1 > 0 and 0 < g2 / g1 < 1:
            r = g2 / g1
            res["extrapolated_limit"] = fmt(ctx, norms[-1] + g2 * r / (1 - r), 10)
    elif g1 > 0 and abs(g2 / g1 - 1) <= ctx.mpf(1) / 4:
        res["verdict"] = f"diverges like c log k: about {fmt(ctx, g2, 3)} per decade"
    else:
        res["verdict"] = f"undetermined (growth {fmt(ctx, g1, 3)} then {fmt(ctx, g2, 3)} per decade)"
    return res


def _finite_part(ctx, ks, cps, ev, problem) -> dict:
    last = cps[-1]
    res = {"P_F_W_final": [[fmt(ctx, x, 20) for x in row] for row in last.PF]}
    if len(cps) >= 2:
        res["change_over_last_decade"] = fmt(ctx, dist_l2(ctx, _flat(last.PF), _flat(cps[-2].PF)), 4)
        res["W_change_over_last_decade"] = fmt(ctx, dist_l2(ctx, _flat(last.W), _flat(cps[-2].W)), 4)
    if problem.compatible and ev.W_star is not None:
        res["distance_to_W_star"] = fmt(ctx, dist_l2(ctx, _flat(last.PF), _flat(ev.W_star)), 6)
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
    return {"growth_direction": [[fmt(ctx, x, 12) for x in row] for row in D],
            "growth_per_unit_log_k": fmt(ctx, frob(ctx, D), 6),
            "finite_part": [[fmt(ctx, x, 12) for x in row] for row in fin],
            "finite_part_change_over_last_decade": fmt(ctx, frob(ctx, msub(fin, fin_prev)), 4),
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
    return {"W_F": [[fmt(ctx, x, 20) for x in row] for row in W_F],
            "min_CE_F": fmt(ctx, ce_f, 20),
            "distance_P_F_W_final_to_W_F": fmt(ctx, dist_l2(ctx, _flat(last.PF), _flat(W_F)), 6),
            "method": "Newton on the coefficients of the F basis, stopped at a step below 10^-(digits-10)"}


def ce_f_minimiser(ev: Evaluator):
    """(W_F, CE_F(W_F)): the minimiser on F of CE_F(W) = sum_j pi_j sum_{z in S_j} p_{j,z}
    (logsumexp over S_j of l_j - l_{j,z}); strictly convex on F, found by damped Newton
    (``infce.minimise_ce``, the same Newton that finds Wbar on Fbar)."""
    from ..infce import minimise_ce

    ex = ev.exact
    _, W, val = minimise_ce(ev.ctx, ev.problem.instance, list(ex.F_pairs), [list(s) for s in ex.supports])
    return W, val
