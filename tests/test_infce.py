"""inf CE's rigorous bracket, Wbar and qbar (theory.md section 7): known answers, an independent
route, and brackets that exclude the true value (rejected by the trusted checker)."""

from __future__ import annotations

import copy
from fractions import Fraction as F

import mpmath
import pytest

from clihelp import CASES
from test_decomposition import worked_example
from test_exact import certificate, instance

from ntpverify import checker
from ntpverify.exact import decimal
from ntpverify.exactnum import LinLog
from ntpverify.instance import load_case
from ntpverify.runner import run_exact

LOG2, LOG3 = LinLog.log(F(2)), LinLog.log(F(3))


def _cert(inst):
    return certificate(inst, run_exact(inst, None))


def test_worked_example_values_match_theory():
    ex = run_exact(worked_example(), None)
    b = ex.infce
    assert b.expr == LOG3 - LinLog.rational(F(2, 3)) * LOG2                 # log 3 - (2/3) log 2
    assert b.expr != ex.H and ex.H == LinLog.rational(F(1, 2)) * b.expr      # > H = half of it
    assert b.q_bar[0] == b.q_bar[1] == [F(2, 3), F(1, 3), 0]
    half = LinLog.rational(F(1, 2)) * LOG2
    assert [list(r) for r in b.W_bar] == [[half], [-half], [LinLog()]]       # [1/2 log 2; -1/2 log 2; 0]
    assert F(b.lower) < F(b.upper) and F(b.upper) - F(b.lower) < F(1, 10**38)


@pytest.mark.parametrize("name", ["ill-conditioned-fbar", "refine-stall-1", "refine-stall-2"])
def test_ill_conditioned_restricted_newton_still_brackets(name):
    """Bundled-sweep instances whose CE_Fbar Hessian is ill-conditioned at the minimiser (the first,
    m = 12, d = 9, V = 3, seed 55: condition 3e9): float64 Newton stalls at steps of ~1e-10 and
    hands over to the ball refinement, whose Newton steps (the Hessian rebuilt in arb, the condition's
    digits added to the working precision) must converge; the bracket is then 40 digits wide and
    verifies. Each raised an internal error before. On the two refine-stall instances qbar has
    entries below 1e-30 on the extended supports, the rounded moment point leaves the simplex and
    the lower end falls back to H: the bracket is rigorous but wide (5.7e-2 on the first)."""
    from pathlib import Path

    case = load_case(Path(__file__).parent / "data" / f"{name}.yaml")
    cert = _cert(case.instance)
    assert checker.verify(cert) == []
    lo, hi = F(cert["exact"]["inf_CE"]["lower"]), F(cert["exact"]["inf_CE"]["upper"])
    assert lo < hi < lo + (F(1, 10**30) if name == "ill-conditioned-fbar" else F(1, 10))


def test_compatible_separable_cases_have_inf_CE_equal_to_H():
    for name in ("three-contexts", "fig1-toy", "onehot-multiclass"):
        ex = run_exact(load_case(CASES / f"{name}.yaml").instance, None)
        assert ex.infce.expr == ex.H and ex.infce.r is None, name


def test_incompatible_separable_bracket_by_an_independent_route():
    """P = [1], Q = [2], odds 1 and 2 (ext-incompatible-separable): with t = e^(x_b - x_a) the
    moment equation is the cubic 7 t^3 + t^2 - 5 t - 11 = 0; inf CE = CE at its real root."""
    ex = run_exact(load_case(CASES / "ext-incompatible-separable.yaml").instance, None)
    ctx = mpmath.MPContext()
    ctx.dps = 60
    t = [r for r in ctx.polyroots([7, 1, -5, -11], extraprec=200) if abs(ctx.im(r)) < ctx.mpf(10) ** -50][0].real
    ce_P = -(ctx.log(1 / (1 + t)) + ctx.log(t / (1 + t))) / 2
    ce_Q = -(ctx.log(1 / (1 + t * t)) + 2 * ctx.log(t * t / (1 + t * t))) / 3
    value = (ce_P + ce_Q) / 2
    assert ex.infce.expr is None
    assert ctx.mpf(ex.infce.lower) <= value <= ctx.mpf(ex.infce.upper)
    assert ctx.mpf(ex.infce.upper) - ctx.mpf(ex.infce.lower) < ctx.mpf(10) ** -38


def test_trivial_but_incompatible_instance():
    """Full supports (nothing to separate) with incompatible odds: inf CE > H, attained."""
    inst = instance([[1], [2]], [[F(1, 2), F(1, 2)], [F(1, 3), F(2, 3)]])
    ex = run_exact(inst, None)
    assert inst.is_trivial() and not ex.compat.compatible
    assert F(ex.infce.lower) > F(decimal(ex.H)) + F(1, 1000)
    assert ex.infce.r is not None and ex.infce.W_upper is not None    # no pair vanishes: attained
    assert checker.verify(certificate(inst, ex)) == []


# ---------------------------------------------------------------------------------------------
# Negative controls


def _bump_decimal(text: str, delta: str) -> str:
    return mpmath.nstr(mpmath.mpf(text) + mpmath.mpf(delta), 45)


@pytest.fixture(scope="module")
def certs():
    return {"worked": _cert(worked_example()),
            "irrational": certificate(load_case(CASES / "ext-incompatible-separable.yaml").instance,
                                      run_exact(load_case(CASES / "ext-incompatible-separable.yaml").instance, None))}


@pytest.mark.parametrize("which", ["worked", "irrational"])
@pytest.mark.parametrize("edit,check", [
    # a bracket that excludes the true value: lower raised past it, upper lowered below it
    (lambda b: b.__setitem__("lower", _bump_decimal(b["upper"], "1e-30")), "inf_CE.lower"),
    (lambda b: b.__setitem__("upper", _bump_decimal(b["lower"], "-1e-30")), "inf_CE.upper"),
    (lambda b: b.__setitem__("lower", _bump_decimal(b["lower"], "1e-20")), "inf_CE.lower"),
])
def test_bracket_excluding_the_true_value_is_rejected(certs, which, edit, check):
    cert = copy.deepcopy(certs[which])
    edit(cert["exact"]["inf_CE"])
    problems = checker.verify(cert)
    assert any(p.startswith(check) for p in problems), problems


def test_moment_point_off_the_equations_is_rejected(certs):
    cert = copy.deepcopy(certs["irrational"])
    r = cert["exact"]["inf_CE"]["r"][0]["next"]
    a, b = sorted(r)
    r[a], r[b] = str(F(r[a]) + F(1, 10**6)), str(F(r[b]) - F(1, 10**6))
    assert any(p.startswith("inf_CE.r_feasible") for p in checker.verify(cert))


def test_upper_point_moved_is_rejected(certs):
    cert = copy.deepcopy(certs["irrational"])
    W = cert["exact"]["inf_CE"]["W_upper"]
    W[0][0] = str(F(W[0][0]) + F(1, 10))
    assert any(p.startswith("inf_CE.upper") for p in checker.verify(cert))


def test_exact_form_claimed_without_proof_is_rejected(certs):
    """An exact expr on the irrational case, with a forged Wbar: the log-odds do not match."""
    cert = copy.deepcopy(certs["irrational"])
    inf = cert["exact"]["inf_CE"]
    inf["expr"] = "1/6*log(2) + 1/2*log(3)"
    inf["W_bar_by_prime"] = [{"prime": 2, "beta": [{"generator": ["P", "b"], "beta": "1"}]}]
    inf["W_upper"] = None
    problems = checker.verify(cert)
    assert any(p.startswith("inf_CE.exact") for p in problems), problems


def test_wrong_exact_expression_is_rejected(certs):
    cert = copy.deepcopy(certs["worked"])
    cert["exact"]["inf_CE"]["expr"] = "log(3) - 1/2*log(2)"
    assert any(p.startswith("inf_CE.expr") for p in checker.verify(cert))


def test_wrong_inf_CE_expectation_fails():
    from ntpverify.instance import parse_case
    from ntpverify.runner import run_case

    for name, bad in (("ext-worked-example", "log(3) - 1/2*log(2)"), ("ext-incompatible-separable", "log(2)")):
        text = (CASES / f"{name}.yaml").read_text()
        text = text.split("\nexpect:\n")[0] + f"\nexpect:\n  inf_CE: {bad}\n"
        cert = run_case(parse_case(text.encode(), name), numeric=False)
        assert [e["status"] for e in cert["expectations"]] == ["fail"], cert["expectations"]
