"""The section-7 GD claims: pass on honest instances, fail on wrong targets, stay inside the bracket."""

from __future__ import annotations

import dataclasses
from fractions import Fraction as F

import mpmath
import pytest

from clihelp import CASES
from random_ext_case import ext_case_text

from ntpverify.exactnum import LinLog
from ntpverify.instance import load_case, parse_case
from ntpverify.numeric import gd
from ntpverify.runner import numeric_problem, run_case, run_exact

EXT = ("ext-inf-ce", "ext-finite-part", "ext-growth")


def _claims(cert) -> dict:
    return {c["id"]: c for c in cert["claims"] if c["id"] in EXT}


@pytest.fixture(scope="module")
def worked():
    return load_case(CASES / "ext-worked-example.yaml")


def test_worked_example_claims_pass(worked):
    got = _claims(run_case(worked, budget=30))
    assert {k: c["status"] for k, c in got.items()} == dict.fromkeys(EXT, "pass")
    assert got["ext-growth"]["summary"].startswith("conjecture")
    assert all(c["summary"].startswith(("extension", "conjecture")) for c in got.values())


def test_not_applicable_on_the_papers_case():
    got = _claims(run_case(load_case(CASES / "three-contexts.yaml"), numeric=True, iterations=1000))
    assert {c["status"] for c in got.values()} == {"not-applicable"}
    assert "compatible and separable" in got["ext-inf-ce"]["summary"]


def _shifted(delta: F, wbar: F = F(0)):
    def hook(problem):
        s = problem.section7
        W_bar = [list(r) for r in s.W_bar]
        x = W_bar[0][0]
        W_bar[0][0] = x + (LinLog.rational(wbar) if isinstance(x, LinLog) else wbar)
        return dataclasses.replace(problem, section7=dataclasses.replace(
            s, inf_lower=s.inf_lower + delta, inf_upper=s.inf_upper + delta, W_bar=tuple(map(tuple, W_bar))))
    return hook


def test_wrong_inf_CE_fails(worked):
    """The bracket moved down by 1e-3 (a wrong, too low inf CE): the limit estimate contradicts it."""
    got = _claims(run_case(worked, budget=30, problem_hook=_shifted(F(-1, 1000))))
    assert got["ext-inf-ce"]["status"] == "fail"


def test_lower_bound_above_the_truth_is_a_hard_contradiction(worked):
    got = _claims(run_case(worked, budget=30, problem_hook=_shifted(F(1, 100))))
    assert got["ext-inf-ce"]["status"] == "fail" and "impossible" in got["ext-inf-ce"]["summary"]


def test_wrong_Wbar_fails(worked):
    got = _claims(run_case(worked, budget=30, problem_hook=_shifted(F(0), F(1, 20))))
    assert got["ext-finite-part"]["status"] == "fail"
    assert got["ext-inf-ce"]["status"] == "pass"


def _vanishing_seeds(n: int) -> list[int]:
    out, seed = [], 0
    while len(out) < n:
        inst = parse_case(ext_case_text(seed).encode(), "s").instance
        ex = run_exact(inst, None)
        if ex.dec.vanishing and ex.dec.stuck:
            out.append(seed)
        seed += 1
    return out


@pytest.mark.parametrize("seed", _vanishing_seeds(6))
def test_gd_stays_inside_the_bracket(seed):
    """float64 GD (1e6 steps on the first three, 1e5 on the others): CE(W_k) never crosses below
    the proven lower bound (beyond float64's proven rounding effect) and ends near inf CE."""
    inst = parse_case(ext_case_text(seed).encode(), "s").instance
    ex = run_exact(inst, None)
    pb = numeric_problem(ex)
    n = 10**6 if seed in _vanishing_seeds(3) else 10**5
    run = gd.run_gd(pb, n, 20, backend="float64")
    ctx = run.ctx
    lower, upper = mpmath.mpf(ex.infce.lower), mpmath.mpf(ex.infce.upper)
    grad_max = max(gd.frob(ctx, c.grad) for c in run.checkpoints)
    slack = run.rounding.bound * grad_max + ctx.mpf(10) ** -15
    ces = [c.ce for c in run.checkpoints]
    assert all(x >= lower - slack for x in ces)
    assert all(b <= a + slack for a, b in zip(ces, ces[1:]))          # GD decreases CE
    assert ces[-1] - upper < ctx.mpf(10) ** -3
