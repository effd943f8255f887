"""Stuck and vanishing pairs, What (theory.md section 7): known answers, an independent route,
and negative controls that the trusted checker must reject."""

from __future__ import annotations

import copy
from fractions import Fraction as F

import numpy as np
import pytest
from scipy.optimize import linprog

from clihelp import CASES
from random_ext_case import ext_case_text
from test_exact import certificate, instance

from ntpverify import checker, extended
from ntpverify.instance import load_case, parse_case
from ntpverify.runner import run_case, run_exact


def worked_example():
    """theory.md section 7: V = {a, b, c}, h_1 = h_2 = [1], p_1 = {a: 1}, p_2 = {a: 1/3, b: 2/3}."""
    return instance([[1], [1]], [[1, 0, 0], [F(1, 3), F(2, 3), 0]])


def _labels(ex, idx):
    return sorted(ex.geo.label(i) for i in idx)


def test_worked_example_matches_theory():
    inst = worked_example()
    ex = run_exact(inst, None)
    d = ex.dec
    assert _labels(ex, d.stuck) == [("c0", "t1")]                       # E = {(1, b)}
    assert _labels(ex, d.vanishing) == [("c0", "t2"), ("c1", "t2")]     # P = {(1, c), (2, c)}
    assert d.W_hat == [[F(1, 3)], [F(1, 3)], [F(-2, 3)]]
    assert d.W_hat_norm_sq == F(2, 3)
    assert checker.verify(certificate(inst, ex)) == []


def test_exact_rounds_alone_give_the_same_answer(monkeypatch):
    """Without the floating point proposal the exact Farkas rounds find the same E, P, What."""
    cases = [worked_example()] + [load_case(CASES / "not-separable.yaml").instance]
    want = [run_exact(inst, None).dec for inst in cases]
    monkeypatch.setattr(extended, "numeric_stuck", lambda geo: None)
    for inst, w in zip(cases, want):
        ex = run_exact(inst, None)
        assert (ex.dec.stuck, ex.dec.vanishing, ex.dec.W_hat) == (w.stuck, w.vanishing, w.W_hat)
        assert any("exact Farkas rounds only" in line for line in ex.dec.log)
        assert checker.verify(certificate(inst, ex)) == []


def test_not_separable_case_by_hand():
    """P and Q share h = (1, 1) with supports {a} and {b}: (P, b) and (Q, a) are stuck; What is
    perpendicular to Fbar = span{(e_c - e_a)(1, 0)^T, (e_a - e_b)(1, 1)^T} (derived in the case file)."""
    ex = run_exact(load_case(CASES / "not-separable.yaml").instance, None)
    assert _labels(ex, ex.dec.stuck) == [("P", "b"), ("Q", "a")]
    assert _labels(ex, ex.dec.vanishing) == [("P", "c"), ("Q", "c"), ("R", "b")]
    assert ex.dec.W_hat == [[F(1, 3), 0], [F(-2, 3), 1], [F(1, 3), -1]]
    assert ex.dec.W_hat_norm_sq == F(8, 3)


@pytest.fixture(scope="module")
def bundled():
    return {p.stem: run_case(load_case(p), numeric=False) for p in sorted(CASES.glob("*.yaml"))}


def test_W_hat_is_W_mm_on_every_separable_bundled_case(bundled):
    seen = 0
    for name, cert in bundled.items():
        ex = cert["exact"]
        assert cert["exact_verified"], name
        if ex["separable"] and not ex["trivial"]:
            assert ex["decomposition"]["stuck"] == [], name
            assert ex["W_hat"] == ex["W_mm"] and ex["W_hat_norm_sq"] == ex["W_mm_norm_sq"], name
            seen += 1
        if ex["trivial"]:
            assert ex["decomposition"] == {"stuck": [], "vanishing": [], "lambda": [], "mu": []}
            assert ex["W_hat"] is None
    assert seen >= 10


def _independent_vanishing(inst) -> set:
    """P by another route: (j, v) vanishes iff max <A_{j,v}, U> over U in C with <A_{j,v}, U> <= 1
    is positive (one floating point LP per pair, HiGHS, on vec(U))."""
    V, d = inst.V, inst.d
    H = np.array([[float(x) for x in h] for h in inst.H])

    def row(j, plus, minus):
        r = np.zeros(V * d)
        r[plus * d:(plus + 1) * d] += H[j]
        r[minus * d:(minus + 1) * d] -= H[j]
        return r

    a = inst.anchors
    B = [row(j, z, a[j]) for j, z in inst.eq_pairs()]
    A = {(j, v): row(j, a[j], v) for j, v in inst.ineq_pairs()}
    out = set()
    for key, Ak in A.items():
        res = linprog(-Ak, A_ub=np.vstack([-x for x in A.values()] + [Ak]),
                      b_ub=np.concatenate([np.zeros(len(A)), [1.0]]),
                      A_eq=np.vstack(B) if B else None, b_eq=np.zeros(len(B)) if B else None,
                      bounds=[(None, None)] * (V * d), method="highs")
        assert res.status == 0
        if -res.fun > 1e-6:
            out.add(key)
    return out


@pytest.mark.parametrize("seed", range(12))
def test_random_instances_agree_with_an_independent_route(seed):
    inst = parse_case(ext_case_text(seed).encode(), f"seed {seed}").instance
    ex = run_exact(inst, None)
    got = {(ex.geo.all[i].j, ex.geo.all[i].token) for i in ex.dec.vanishing}
    assert got == _independent_vanishing(inst)
    assert checker.verify(certificate(inst, ex)) == []


# ---------------------------------------------------------------------------------------------
# Negative controls: each must be rejected by the trusted checker


@pytest.fixture(scope="module")
def example_cert():
    inst = worked_example()
    return certificate(inst, run_exact(inst, None))


def _move(cert, pair, src, dst):
    dec = cert["exact"]["decomposition"]
    dec[src].remove(pair)
    dec[dst].append(pair)


def test_stuck_pair_moved_to_vanishing_is_rejected(example_cert):
    cert = copy.deepcopy(example_cert)
    _move(cert, ["c0", "t1"], "stuck", "vanishing")
    problems = checker.verify(cert)          # nothing stuck left: What would have to be W^mm
    assert any("W_hat.equals_W_mm" in p for p in problems), problems
    ns = run_case(load_case(CASES / "not-separable.yaml"), numeric=False)
    _move(ns, ["P", "b"], "stuck", "vanishing")
    problems = checker.verify(ns)
    assert any("U0_positive_on_vanishing" in p for p in problems), problems


def test_vanishing_pair_moved_to_stuck_is_rejected(example_cert):
    cert = copy.deepcopy(example_cert)
    _move(cert, ["c1", "t2"], "vanishing", "stuck")
    problems = checker.verify(cert)
    assert any("lambda_positive_on_stuck" in p for p in problems), problems


def test_moved_and_multipliers_forged_is_rejected(example_cert):
    """A vanishing pair declared stuck with a positive multiplier: the combination is no longer 0."""
    cert = copy.deepcopy(example_cert)
    _move(cert, ["c1", "t2"], "vanishing", "stuck")
    cert["exact"]["decomposition"]["lambda"].append({"context": "c1", "token": "t2", "lambda": "1"})
    assert any("combination_zero" in p for p in checker.verify(cert))


def test_moved_and_back_verifies(example_cert):
    cert = copy.deepcopy(example_cert)
    _move(cert, ["c0", "t1"], "stuck", "vanishing")
    _move(cert, ["c0", "t1"], "vanishing", "stuck")
    assert checker.verify(cert) == []


@pytest.mark.parametrize("edit", [
    lambda c: c["exact"]["W_hat"][0].__setitem__(0, "1/2"),
    lambda c: c["exact"].__setitem__("W_hat_norm_sq", "1"),
    lambda c: c["exact"]["W_hat_multipliers"]["lambda"][0].__setitem__("lambda", "1"),
    lambda c: c["exact"]["W_hat_multipliers"]["mu"].clear(),
    lambda c: c["exact"].__setitem__("W_hat", None),
    lambda c: c["exact"]["decomposition"]["lambda"].clear(),
    lambda c: c["exact"]["decomposition"]["stuck"].clear(),
])
def test_wrong_W_hat_or_certificate_is_rejected(example_cert, edit):
    cert = copy.deepcopy(example_cert)
    edit(cert)
    assert checker.verify(cert)


def test_W_hat_differing_from_W_mm_on_a_separable_case_is_rejected(bundled):
    cert = copy.deepcopy(bundled["three-contexts"])
    cert["exact"]["W_hat"][0][0] = "7"
    assert any("W_hat.equals_W_mm" in p for p in checker.verify(cert))


# ---------------------------------------------------------------------------------------------
# The bundled section-7 cases: expect blocks confirmed, and refuted when wrong

EXT_CASES = ("ext-worked-example", "ext-pooled-contexts", "ext-incompatible-separable", "ext-underparam-random")


@pytest.mark.parametrize("name", EXT_CASES)
def test_ext_case_expectations_pass(bundled, name):
    cert = bundled[name]
    keys = {e["key"]: e["status"] for e in cert["expectations"]}
    assert {"stuck", "vanishing", "W_hat"} <= set(keys)
    assert set(keys.values()) == {"pass"}, cert["expectations"]


def test_wrong_expectations_fail():
    text = (CASES / "ext-worked-example.yaml").read_text()
    bad = (text.replace('stuck: [["1", b]]', 'stuck: [["1", c]]')
           .replace("W_hat: [[1/3], [1/3], [-2/3]]", "W_hat: [[1/3], [-2/3], [1/3]]"))
    cert = run_case(parse_case(bad.encode(), "bad"), numeric=False)
    got = {e["key"]: e["status"] for e in cert["expectations"]}
    assert got["stuck"] == "fail" and got["W_hat"] == "fail" and got["vanishing"] == "pass"


def test_underparam_case_expect_block_by_an_independent_route():
    """E/P by one float LP per pair, What by a float QP (cvxpy) on Fbar-perp: both agree with the
    hand-derived expect block of ext-underparam-random."""
    import cvxpy as cp

    case = load_case(CASES / "ext-underparam-random.yaml")
    inst = case.instance
    idx = {(c, t): (inst.contexts.index(c), inst.vocab.index(t)) for c in inst.contexts for t in inst.vocab}
    van = {idx[p] for p in case.expect["vanishing"]}
    stuck = {idx[p] for p in case.expect["stuck"]}
    assert van == _independent_vanishing(inst) and stuck == set(inst.ineq_pairs()) - van
    H = np.array([[float(x) for x in h] for h in inst.H])
    U = cp.Variable((inst.V, inst.d))
    sbar = [set(s) | {v for (j, v) in stuck if j == jj} for jj, s in enumerate(inst.supports)]
    cons = [(U[a] - U[b]) @ H[j] == 0 for j, s in enumerate(sbar) for a in s for b in s if a < b]
    cons += [(U[inst.anchors[j]] - U[v]) @ H[j] >= 1 for j, v in van]
    cp.Problem(cp.Minimize(cp.sum_squares(U)), cons).solve(solver=cp.CLARABEL)
    want = np.array([[float(x.as_rational()) for x in row] for row in case.expect["W_hat"]])
    assert np.max(np.abs(U.value - want)) < 1e-6
