"""Orchestration: a loaded case in, a certificate (plain JSON-ready dict) out.

Producers run here; verdicts on exact certificates come only from ``ntpverify.checker``, which
the runner calls on the certificate it has just built (so a producer bug shows up as a failed
verification, never as a silent wrong answer).
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from fractions import Fraction

import mpmath

from . import __version__, checker, claims, exact, extended, infce, svm
from .constraints import Geometry
from .exactnum import LinLog, fmt_q, sqrt_text
from .expectations import check_expectations
from .instance import Case, Instance
from .numeric.problem import NumericProblem
from .status import ClaimResult, Status, verdict

FORMAT = "ntpverify-certificate/1"
DEFAULT_BUDGET = 60.0
GD_SHARE = 0.75          # share of the budget gradient descent may spend; the path gets the rest
NUMERIC_CLAIMS = ("thm1", "lemma2", "thm2", "ext-loss-rate", "ext-proj-rate", "ext-offset",
                  "ext-angle-rate", "ext-path-rate", "ext-inf-ce", "ext-finite-part", "ext-growth")


@dataclass
class Exact:
    """Every exact object of the theory for one instance."""

    inst: Instance
    geo: Geometry
    trivial: bool
    H: LinLog
    F: exact.FResult
    compat: exact.Compat
    svm: svm.SvmResult
    step: exact.Step
    margin_sq: Fraction | None      # 1 / ||W^mm||^2 (the margin is its square root)
    dec: extended.Decomposition | None = None   # stuck/vanishing pairs and What (section 7)
    infce: infce.InfCE | None = None            # inf CE's bracket, Wbar, qbar (section 7)


def run_exact(inst: Instance, eta: Fraction | None) -> Exact:
    geo = Geometry(inst)
    F = exact.subspace_F(geo)
    compat = exact.compatibility(geo, F)
    res = svm.solve_svm(geo)
    step = exact.choose_step(inst, eta)
    margin_sq = 1 / res.norm_sq if res.separable and res.norm_sq else None
    dec = extended.decompose(geo, res)
    H = exact.entropy(inst)
    bracket = infce.inf_ce(inst, geo, H, compat, dec, dec.W_hat if dec.vanishing else None)
    return Exact(inst, geo, inst.is_trivial(), H, F, compat, res, step, margin_sq, dec, bracket)


def numeric_problem(ex: Exact) -> NumericProblem:
    W_star = tuple(tuple(r) for r in ex.compat.W_star) if ex.compat.compatible else None
    sep = ex.svm.separable and not ex.trivial
    return NumericProblem(
        instance=ex.inst, entropy=ex.H, compatible=ex.compat.compatible, separable=sep,
        W_star=W_star, W_mm=tuple(tuple(r) for r in ex.svm.W) if sep else None,
        W_mm_norm_sq=ex.svm.norm_sq if sep else None,
        multipliers={(ex.geo.all[i].j, ex.geo.all[i].token): v for i, v in ex.svm.lam.items()},
        F_basis=tuple((ex.geo.E[i].j, ex.geo.E[i].token) for i in ex.F.basis),
        eta=ex.step.eta, eta_admissible=ex.step.admissible, section7=section7_data(ex))


def section7_data(ex: Exact):
    """The numeric layer's view of E, P, Fbar, What, Wbar, qbar and the inf CE bracket."""
    from .numeric.ext_claims import Section7

    d, b = ex.dec, ex.infce
    if b.W_bar is None:                # compatible, nothing stuck: the paper's objects (W*) apply
        return None
    pair = lambda i: (ex.geo.all[i].j, ex.geo.all[i].token)  # noqa: E731

    def q(x):                          # an mpf is a binary fraction: converted exactly
        if isinstance(x, (LinLog, Fraction)):
            return x
        man, exp = x.man_exp          # mpmath's mantissa is unsigned
        return (-1 if x < 0 else 1) * Fraction(int(man)) * Fraction(2) ** int(exp)

    return Section7(stuck=tuple(pair(i) for i in d.stuck), vanishing=tuple(pair(i) for i in d.vanishing),
                    sbar=tuple(tuple(s) for s in b.sbar), fbar_pairs=tuple(infce.fbar_basis(ex.geo, d.stuck)),
                    W_hat=tuple(tuple(r) for r in d.W_hat) if d.vanishing else None,
                    W_hat_norm_sq=d.W_hat_norm_sq if d.vanishing else None,
                    W_bar=tuple(tuple(q(x) for x in r) for r in b.W_bar),
                    q_bar=tuple(tuple(q(x) for x in r) for r in b.q_bar),
                    inf_lower=Fraction(b.lower), inf_upper=Fraction(b.upper), inf_exact=b.expr is not None)


# ---------------------------------------------------------------------------------------------
# JSON

def _mat(rows) -> list[list[str]]:
    return [[fmt_q(x) for x in row] for row in rows]


def _pair(ex: Exact, i: int) -> list[str]:
    return list(ex.geo.label(i))


def exact_json(ex: Exact) -> dict:
    geo = ex.geo
    out: dict = {"trivial": ex.trivial}
    out["entropy"] = {"expr": str(ex.H), "value": exact.decimal(ex.H),
                      "log_coefficients": {str(q): fmt_q(c) for q, c in sorted(ex.H.log_coeffs().items())}}
    out["F_dim"] = ex.F.dim
    out["F_basis"] = [_pair(ex, i) for i in ex.F.basis]
    out["F_span"] = [{"generator": _pair(ex, i),
                      "coefficients": [{"generator": _pair(ex, k), "x": fmt_q(x)} for k, x in sorted(c.items())]}
                     for i, c in sorted(ex.F.span.items())]
    n = ex.inst.V * ex.inst.d
    out["F_projector"] = (_mat(exact.projector(geo, ex.F)) if n <= exact.PROJECTOR_MAX_CELLS else None)
    out["compatible"] = ex.compat.compatible
    if ex.compat.compatible:
        out["W_star"] = {
            "expr": [[str(v) for v in row] for row in ex.compat.W_star],
            "value": [[exact.decimal(v) for v in row] for row in ex.compat.W_star],
            "by_prime": [{"prime": q,
                          "beta": [{"generator": _pair(ex, k), "beta": fmt_q(b)} for k, b in sorted(e["beta"].items())]}
                         for q, e in sorted(ex.compat.by_prime.items())],
        }
        out["incompatibility"] = None
    else:
        w = ex.compat.witness
        out["W_star"] = None
        out["incompatibility"] = {
            "y": [{"generator": _pair(ex, i), "y": y} for i, y in enumerate(w["y"]) if y],
            "product": None if w["product"] is None else fmt_q(w["product"]),
            "product_exponents": {str(q): k for q, k in w["exponents"].items()}}
    r = ex.svm
    out["separable"] = r.separable
    if r.separable:
        out["W_mm"] = _mat(r.W)
        out["W_mm_norm_sq"] = fmt_q(r.norm_sq)
        out["margin"] = ({"expr": sqrt_text(ex.margin_sq), "value": exact.sqrt_decimal(ex.margin_sq)}
                         if ex.margin_sq is not None else None)
        out["multipliers"] = [{"context": geo.label(i)[0], "token": geo.label(i)[1], "lambda": fmt_q(v)}
                              for i, v in sorted(r.lam.items())]
        out["equality_multipliers"] = [{"context": geo.label(i)[0], "token": geo.label(i)[1], "mu": fmt_q(v)}
                                       for i, v in sorted(r.mu.items())]
        out["support"] = [_pair(ex, i) for i in r.tight]
        out["farkas"] = None
    else:
        out.update(W_mm=None, W_mm_norm_sq=None, margin=None, multipliers=[], equality_multipliers=[],
                   support=[])
        out["farkas"] = {
            "lambda": [{"context": geo.label(i)[0], "token": geo.label(i)[1], "lambda": fmt_q(v)}
                       for i, v in sorted(r.farkas["lam"].items())],
            "mu": [{"context": geo.label(i)[0], "token": geo.label(i)[1], "mu": fmt_q(v)}
                   for i, v in sorted(r.farkas["mu"].items())]}
    out.update(decomposition_json(ex))
    s = ex.step
    out["step"] = {"eta": fmt_q(s.eta), "requested": "auto" if s.auto else fmt_q(s.eta),
                   "admissible": s.admissible, "auto": s.auto,
                   "lambda_max_M": s.lambda_max,
                   "ldl": {"L": _mat(s.ldl[0]), "D": [fmt_q(x) for x in s.ldl[1]]} if s.ldl else None,
                   "rayleigh_vector": [fmt_q(x) for x in s.rayleigh] if s.rayleigh else None}
    return out


def _lambdas(ex: Exact, values: dict, field: str) -> list[dict]:
    return [{"context": ex.geo.label(i)[0], "token": ex.geo.label(i)[1], field: fmt_q(v)}
            for i, v in sorted(values.items())]


def decomposition_json(ex: Exact) -> dict:
    """``decomposition``, ``W_hat`` (theory.md section 7). U0 of the Goldman-Tucker certificate
    is W_hat (when a pair vanishes); What's own KKT multipliers are given unless What is W^mm."""
    d = ex.dec
    out = {"decomposition": {"stuck": [_pair(ex, i) for i in d.stuck],
                             "vanishing": [_pair(ex, i) for i in d.vanishing],
                             "lambda": _lambdas(ex, d.lam, "lambda"), "mu": _lambdas(ex, d.mu, "mu")}}
    has = d.W_hat is not None and bool(d.vanishing)
    out["W_hat"] = _mat(d.W_hat) if has else None
    out["W_hat_norm_sq"] = fmt_q(d.W_hat_norm_sq) if has else None
    out["W_hat_multipliers"] = ({"lambda": _lambdas(ex, d.hat_lam, "lambda"), "mu": _lambdas(ex, d.hat_mu, "mu")}
                                if has and not d.same_as_W_mm else None)
    b, inst = ex.infce, ex.inst
    out["inf_CE"] = {
        "lower": b.lower, "upper": b.upper, "expr": None if b.expr is None else str(b.expr),
        "r": None if b.r is None else [{"context": c, "next": {inst.vocab[z]: fmt_q(x) for z, x in enumerate(row) if x}}
                                       for c, row in zip(inst.contexts, b.r)],
        "W_upper": None if b.W_upper is None else _mat(b.W_upper),
        "W_bar_by_prime": None if b.W_bar_by_prime is None else [
            {"prime": q, "beta": [{"generator": [inst.contexts[j], inst.vocab[z]], "beta": fmt_q(x)}
                                  for (j, z), x in sorted(e.items())]} for q, e in sorted(b.W_bar_by_prime.items())]}
    return out


def inf_ce_detail(ex: Exact) -> dict:
    """Wbar and qbar as decimals, and how far the bracket pins qbar down (not checked: derived)."""
    b = ex.infce

    def dec(x):
        return x if isinstance(x, str) else (exact.decimal(x, 20) if isinstance(x, LinLog) else
                                             fmt_q(x) if isinstance(x, Fraction) else mpmath.nstr(x, 20))

    return {"W_bar": None if b.W_bar is None else [[dec(x) for x in row] for row in b.W_bar],
            "q_bar": [{"context": c, "next": {ex.inst.vocab[z]: dec(row[z]) for z in s}}
                      for c, row, s in zip(ex.inst.contexts, b.q_bar, b.sbar)],
            "extended_supports": [{"context": c, "tokens": [ex.inst.vocab[z] for z in s]}
                                  for c, s in zip(ex.inst.contexts, b.sbar)],
            "q_bar_l1_bound": b.q_bar_l1, "method": b.method,
            "q_bar_bound_rule": ("Pinsker: sum_j pi_j KL(qbar_j || q_j(W)) = CE(W) - inf CE <= upper - lower, and the "
                                 "same for r; so ||qbar_j - r_j||_1 <= 2 sqrt(2 (upper - lower) / pi_j)")}


def library_versions() -> dict:
    """Installed versions, read from package metadata (importing sympy and cvxpy just for their
    version took 1.4-4.4 s of every check)."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:  # pragma: no cover
            return "missing"

    return {"python": platform.python_version(),
            **{name: of(name) for name in ("python-flint", "mpmath", "sympy", "numpy", "cvxpy")}}


def run_case(case: Case, *, precision: int | None = None, iterations: int | None = None,
             numeric: bool = True, backend: str = "auto", progress=None, problem_hook=None,
             budget: float | None = DEFAULT_BUDGET) -> dict:
    """Everything for one case: exact layer, claims, expectations, checker, certificate.

    ``problem_hook(problem) -> problem`` replaces the numeric layer's exact inputs (calibration:
    wrong closed forms handed to the numeric claims on purpose); the exact layer is unchanged."""
    inst = case.instance
    prec = precision or case.settings.precision
    t0 = time.perf_counter()
    ex = run_exact(inst, case.settings.gd.step)
    t_exact = time.perf_counter() - t0
    prob = numeric_problem(ex)
    if problem_hook is not None:
        prob = problem_hook(prob)
    claim_list: list[ClaimResult] = [claims.remark1(ex), claims.lemma1(ex),
                                     claims.prop1(ex, prec, prob if problem_hook else None)]
    t1 = time.perf_counter()
    numeric_json: dict = {"precision": prec}
    claim_list += _numeric_claims(ex, prob, case, prec, iterations, numeric, backend, progress,
                                  numeric_json, budget)
    t_numeric = time.perf_counter() - t1
    expectations = check_expectations(case.expect, ex, claim_list)
    cert = {
        "format": FORMAT,
        "tool": {"name": "ntpverify", "version": __version__, "libraries": library_versions()},
        "case": {"name": inst.name, "sha256": case.sha256, "V": inst.V, "d": inst.d, "m": inst.m,
                 "instance": inst.to_json()},
        "verdict": None,
        "exact": exact_json(ex),
        "claims": [c.to_json() for c in claim_list],
        "expectations": [e.to_json() for e in expectations],
        "numeric": numeric_json,
        "inf_CE_detail": inf_ce_detail(ex),
        "solver_log": ex.svm.log,
    }
    problems = checker.verify(cert)
    cert["exact_verified"] = not problems
    cert["exact_problems"] = problems
    statuses = [c.status for c in claim_list if not c.id.startswith("ext-")]
    statuses += [e.status for e in expectations]
    if problems:
        statuses.append(Status.FAIL)
    cert["verdict"] = verdict(statuses).value
    cert["timing"] = {"exact_seconds": round(t_exact, 3), "numeric_seconds": round(t_numeric, 3)}
    return cert


def _numeric_claims(ex: Exact, prob: NumericProblem, case: Case, prec: int, iterations: int | None,
                    numeric: bool, backend: str, progress, numeric_json: dict,
                    budget: float | None = None) -> list[ClaimResult]:
    """GD and path claims (numeric, untrusted; reported as observed vs predicted). Without
    ``iterations`` GD runs decade by decade until its claims are decided or GD_SHARE of the
    ``budget`` (modelled seconds: ``numeric.drive``) is spent; the path gets what is left."""
    if not numeric:
        return [ClaimResult(cid, Status.NOT_CHECKED, "not checked: the numeric part was skipped (--exact-only)")
                for cid in NUMERIC_CLAIMS]
    from .numeric import drive, ext_claims, failure, path, path_claims

    settings = case.settings

    def report(label):
        return None if progress is None else (lambda k, n: progress(k, n, label))

    gd_budget = None if budget is None else GD_SHARE * budget
    out = drive.run_gd_claims(prob, precision=prec, backend=backend,
                              iterations=iterations or settings.gd.iterations,
                              budget=gd_budget, init_seed=settings.gd.init_seed,
                              init_scale=settings.gd.init_scale,
                              progress=None if progress is None else (
                                  lambda k, n: progress(k, n, f"gradient descent to k = {n}")))
    run = out.run
    numeric_json["gd"] = run.to_json()
    numeric_json["gd"]["adaptive"] = {"schedule": out.schedule, "stopped": out.stop_reason,
                                      "backend_choice": out.backend_choice}
    found = {c.id: c for c in out.claims}
    series = ext_claims.section7_series(prob, run)
    if series is not None:
        numeric_json["gd"]["section7"] = series
    if not (prob.compatible and prob.separable) and not ex.trivial:
        numeric_json["gd"]["failure_report"] = failure.failure_report(prob, run)
    path_budget = None if budget is None else budget - out.schedule[-1]["modelled_seconds"]
    pr = path.run_path(prob, settings.radii, prec, progress=report("regularization path"), budget=path_budget)
    numeric_json["path"] = pr.to_json()
    found.update({c.id: c for c in path_claims.path_claims(prob, pr)})
    return [found.get(cid) or ClaimResult(cid, Status.NOT_CHECKED, "not checked") for cid in NUMERIC_CLAIMS]
