"""The exact layer against closed forms (theory.md section 8) and its negative controls."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closed_forms import orthogonal_problem
from ntpverify import checker, claims, svm
from ntpverify.constraints import Geometry
from ntpverify.exactnum import LinLog
from ntpverify.instance import Instance
from ntpverify.runner import exact_json, run_exact
from ntpverify.status import Status


def instance(H, P, pi=None, name="t") -> Instance:
    m, V = len(H), len(P[0])
    pi = tuple(F(1, m) for _ in range(m)) if pi is None else tuple(F(x) for x in pi)
    return Instance(name=name, vocab=tuple(f"t{v}" for v in range(V)), contexts=tuple(f"c{j}" for j in range(m)),
                    H=tuple(tuple(F(x) for x in h) for h in H), pi=pi,
                    P=tuple(tuple(F(x) for x in p) for p in P))


def certificate(inst: Instance, ex) -> dict:
    return {"format": "ntpverify-certificate/1",
            "case": {"V": inst.V, "d": inst.d, "m": inst.m, "instance": inst.to_json()},
            "exact": exact_json(ex)}


@st.composite
def orthogonal_contexts(draw):
    V = draw(st.integers(2, 5))
    m = draw(st.integers(1, 4))
    contexts = []
    for _ in range(m):
        c = draw(st.sampled_from([F(1), F(2), F(1, 2), F(3), F(2, 3)]))
        size = draw(st.integers(1, V))
        toks = draw(st.permutations(range(V)))[:size]
        counts = [draw(st.integers(1, 6)) for _ in toks]
        total = sum(counts)
        contexts.append((c, {t: F(n, total) for t, n in zip(toks, counts)}))
    return contexts, V


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orthogonal_contexts())
def test_orthogonal_embeddings_match_closed_forms(data):
    contexts, V = data
    oracle = orthogonal_problem(contexts, V)
    inst = oracle.instance
    ex = run_exact(inst, None)
    assert ex.H == oracle.entropy
    assert ex.compat.compatible
    assert [list(r) for r in ex.compat.W_star] == [list(r) for r in oracle.W_star]
    assert ex.F.dim == len(inst.eq_pairs())
    if inst.is_trivial():
        assert ex.svm.separable and ex.svm.norm_sq == 0
    else:
        assert ex.svm.separable
        assert [list(r) for r in ex.svm.W] == [list(r) for r in oracle.W_mm]
        assert ex.svm.norm_sq == oracle.W_mm_norm_sq
        # every inequality is active with the closed-form multiplier (unique here)
        got = {(ex.geo.all[i].j, ex.geo.all[i].token): v for i, v in ex.svm.lam.items()}
        assert got == oracle.multipliers
        assert len(ex.svm.tight) == len(inst.ineq_pairs())
    assert checker.verify(certificate(inst, ex)) == []


def hard_margin_svm_2d(points):
    """Classical hard-margin SVM without bias, by brute force over active sets (exact)."""
    best = None
    n = len(points)
    for mask in range(1, 2 ** n):
        act = [points[i] for i in range(n) if mask >> i & 1]
        if len(act) > 2:
            continue
        # w in span of active points with w . x = 1 on them (min norm)
        G = [[sum(a * b for a, b in zip(x, y)) for y in act] for x in act]
        if len(act) == 1:
            if G[0][0] == 0:
                continue
            coef = [1 / G[0][0]]
        else:
            det = G[0][0] * G[1][1] - G[0][1] * G[1][0]
            if det == 0:
                continue
            coef = [(G[1][1] - G[0][1]) / det, (G[0][0] - G[1][0]) / det]
        w = [sum(c * x[k] for c, x in zip(coef, act)) for k in range(2)]
        if any(c < 0 for c in coef) or any(sum(a * b for a, b in zip(w, x)) < 1 for x in points):
            continue
        norm = w[0] ** 2 + w[1] ** 2
        if best is None or norm < best[0]:
            best = (norm, w)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_one_hot_binary_is_the_classical_svm(seed):
    rng = random.Random(seed)
    pts, labels = [], []
    while len(pts) < 4:
        x = (F(rng.randint(-5, 5), 2), F(rng.randint(-5, 5), 2))
        y = 1 if x[0] + 2 * x[1] > 0 else -1            # separable through the origin
        if x[0] + 2 * x[1] != 0:
            pts.append(x)
            labels.append(y)
    inst = instance(pts, [(1, 0) if y == 1 else (0, 1) for y in labels])
    ex = run_exact(inst, None)
    norm, w = hard_margin_svm_2d([tuple(y * c for c in x) for x, y in zip(pts, labels)])
    assert ex.svm.separable
    assert ex.svm.W == [[w[0] / 2, w[1] / 2], [-w[0] / 2, -w[1] / 2]]
    assert ex.svm.norm_sq == norm / 2
    assert claims.remark1(ex).status == Status.PASS


@pytest.mark.parametrize("seed", range(4))
def test_one_hot_multiclass_is_crammer_singer(seed):
    """Cross-check against scikit-learn's Crammer-Singer LinearSVC at large C (hard margin)."""
    sklearn_svm = pytest.importorskip("sklearn.svm")
    rng = random.Random(100 + seed)
    V, d, m = 3, 3, 7
    protos = [(4, 0, 0), (0, 4, 0), (0, 0, 4)]      # noise +-1: w_v = e_v separates
    H, P, y = [], [], []
    for j in range(m):
        c = j % V
        H.append([F(protos[c][k] + rng.randint(-1, 1), 4) for k in range(d)])
        P.append([1 if v == c else 0 for v in range(V)])
        y.append(c)
    inst = instance(H, P)
    ex = run_exact(inst, None)
    assert ex.svm.separable
    clf = sklearn_svm.LinearSVC(multi_class="crammer_singer", fit_intercept=False, C=1e6, tol=1e-10,
                                max_iter=10**6)
    clf.fit(np.array([[float(x) for x in h] for h in H]), np.array(y))
    W = np.array([[float(x) for x in r] for r in ex.svm.W])
    assert np.max(np.abs(clf.coef_ - W)) < 1e-3 * max(1.0, np.max(np.abs(W)))
    assert claims.remark1(ex).status == Status.PASS


def test_log_odds_that_add_up_are_compatible_and_a_near_miss_is_not():
    """h3 = h1 + h2: odds 2 and 3 on h1, h2 force odds 6 on h3. 6 + 1e-12 is incompatible,
    although a float least-squares residual is ~1e-13, below any usual tolerance."""
    def inst_for(odds3):
        return instance([(1, 0), (0, 1), (1, 1)],
                        [(F(1, 3), F(2, 3)), (F(1, 4), F(3, 4)), (1 / (1 + odds3), odds3 / (1 + odds3))])
    ok = run_exact(inst_for(F(6)), None)
    assert ok.compat.compatible and ok.compat.witness is None
    near = F(6000000000001, 1000000000000)
    bad = run_exact(inst_for(near), None)
    assert not bad.compat.compatible
    assert bad.compat.witness["product"] in (F(6) / near, near / F(6))
    # floating point: the log-odds system is solvable to ~1e-13
    G = np.array([[-1, 0, 1, 0], [0, -1, 0, 1], [-1, -1, 1, 1]], dtype=float)   # (W h)_1 - (W h)_0
    b = np.array([math.log(2), math.log(3), math.log(float(near))])
    x, *_ = np.linalg.lstsq(G, b, rcond=None)
    assert np.linalg.norm(G @ x - b) < 1e-12
    cert = certificate(inst_for(near), bad)
    assert checker.verify(cert) == []
    cert["exact"]["incompatibility"]["product"] = "1"
    assert any("incompatibility.product" in p for p in checker.verify(cert))


def test_not_separable_gets_a_farkas_certificate_that_the_checker_checks():
    inst = instance([(1, 0), (1, 0)], [(1, 0), (0, 1)])
    ex = run_exact(inst, None)
    assert not ex.svm.separable
    cert = certificate(inst, ex)
    assert checker.verify(cert) == []
    lam = cert["exact"]["farkas"]["lambda"]
    lam[0]["lambda"] = str(F(lam[0]["lambda"]) * 2)
    assert any("farkas.combination_zero" in p for p in checker.verify(cert))


def test_zero_embedding_is_not_separable():
    inst = instance([(0, 0), (1, 0)], [(1, 0, 0), (F(1, 2), F(1, 2), 0)])
    ex = run_exact(inst, None)
    assert not ex.svm.separable
    assert checker.verify(certificate(inst, ex)) == []


def test_garbage_hints_still_end_in_a_verified_certificate(monkeypatch):
    rng = random.Random(7)
    H = [[F(rng.randint(-9, 9), 3) for _ in range(3)] for _ in range(5)]
    P = [[F(1, 2), F(1, 2), 0, 0], [0, F(1, 3), F(2, 3), 0], [1, 0, 0, 0], [0, 0, 0, 1], [F(1, 4), 0, 0, F(3, 4)]]
    inst = instance(H, P)
    truth = run_exact(inst, None)

    def garbage(geo):
        n = len(geo.I)
        return "optimal", np.array([rng.uniform(-1, 1) for _ in range(n)]), np.array([rng.uniform(-1, 1) for _ in range(n)])
    monkeypatch.setattr(svm, "numeric_qp", garbage)
    for _ in range(5):
        ex = run_exact(inst, None)
        assert ex.svm.separable == truth.svm.separable
        if ex.svm.separable:
            assert ex.svm.W == truth.svm.W
        assert checker.verify(certificate(inst, ex)) == []
    monkeypatch.setattr(svm, "numeric_qp", lambda geo: ("solver_error", None, None))
    monkeypatch.setattr(svm, "numeric_ldp", lambda geo: None)
    ex = run_exact(inst, None)
    assert ex.svm.W == truth.svm.W


def test_refinement_repairs_a_wrong_active_set():
    inst = instance([(1, 0, 0), (0, 1, 0), (1, 1, 1)], [(F(2, 3), F(1, 3), 0, 0), (0, F(1, 2), F(1, 2), 0), (1, 0, 0, 0)])
    geo = Geometry(inst)
    right = svm.refine(geo, list(range(geo.nE, len(geo.all))))
    for guess in ([], [geo.nE], list(range(geo.nE, geo.nE + 3))):
        res = svm.refine(geo, guess)
        assert res is not None and res.W == right.W


def test_step_auto_is_within_two_percent_and_proven():
    inst = instance([(1, 0, 0), (0, 1, 0), (1, 1, 1)], [(F(2, 3), F(1, 3), 0, 0), (0, F(1, 2), F(1, 2), 0), (1, 0, 0, 0)])
    ex = run_exact(inst, None)
    M = np.zeros((3, 3))
    for h in inst.H:
        v = np.array([float(x) for x in h])
        M += np.outer(v, v) / 3
    lam = np.linalg.eigvalsh(M)[-1]
    assert ex.step.admissible and 0.98 <= float(ex.step.eta) * lam <= 1
    assert checker.verify(certificate(inst, ex)) == []


def test_an_inadmissible_step_is_caught_with_a_witness():
    inst = instance([(1, 0), (0, 2)], [(F(1, 2), F(1, 2), 0), (0, 0, 1)])
    ex = run_exact(inst, F(1))                     # lambda_max(M) = 2, so eta = 1 is too large
    assert not ex.step.admissible
    cert = certificate(inst, ex)
    assert checker.verify(cert) == []
    cert["exact"]["step"]["eta"] = "1/4"           # now the witness does not prove anything
    assert any("step.inadmissible_witness" in p for p in checker.verify(cert))
    ok = run_exact(inst, F(1, 2))                   # exactly 1/lambda_max: singular, still admissible
    assert ok.step.admissible
    assert checker.verify(certificate(inst, ok)) == []


def test_prop1_fails_for_a_perturbed_w_star():
    inst = instance([(1, 0, 0), (0, 1, 0), (1, 1, 1)], [(F(2, 3), F(1, 3), 0, 0), (0, F(1, 2), F(1, 2), 0), (1, 0, 0, 0)])
    ex = run_exact(inst, None)
    assert claims.prop1(ex, 30).status == Status.PASS
    Ws = [list(r) for r in ex.compat.W_star]
    Ws[0][0] = Ws[0][0] + LinLog.rational(F(1, 1000))
    bad = replace(ex, compat=replace(ex.compat, W_star=Ws))
    assert claims.prop1(bad, 30).status == Status.FAIL


def test_prop1_doubles_g_to_8192_for_a_small_margin_excess(monkeypatch):
    """Calibration seed 4078 (one-hot, margin excess 6.6e-4 above the tight constraints): the
    ratio gap e^g / C approaches 1 like e^(-6.6e-4 g), undecided at g = 4096, decided at 8192."""
    from ntpverify import calibration
    from ntpverify.instance import parse_case
    cc = calibration.generate(4078)
    ex = run_exact(parse_case(cc.text.encode(), cc.name).instance, None)
    res = claims.prop1(ex, 30)
    assert res.status == Status.PASS and "g = 1..8192" in res.summary, res.summary
    monkeypatch.setattr(claims, "PROP1_G_MAX", 4096)
    assert claims.prop1(ex, 30).status == Status.INCONCLUSIVE


def test_lemma1_applies_to_independent_embeddings_in_higher_dimension():
    rng = random.Random(3)
    H = [[F(rng.randint(-5, 5), 2) for _ in range(5)] for _ in range(3)]
    P = [[F(1, 2), F(1, 2), 0], [0, F(1, 3), F(2, 3)], [1, 0, 0]]
    ex = run_exact(instance(H, P), None)
    res = claims.lemma1(ex)
    assert res.status == Status.PASS and ex.compat.compatible and ex.svm.separable
    low = run_exact(instance([(1, 0), (0, 1), (1, 1)], P), None)
    assert claims.lemma1(low).status == Status.NOT_APPLICABLE


def test_w_mm_properties_zero_column_sums_and_orthogonal_to_F():
    rng = random.Random(11)
    H = [[F(rng.randint(-5, 5), 3) for _ in range(4)] for _ in range(4)]
    P = [[F(1, 2), F(1, 2), 0, 0], [0, F(1, 3), F(2, 3), 0], [F(1, 5), 0, 0, F(4, 5)], [0, 0, 1, 0]]
    inst = instance(H, P)
    ex = run_exact(inst, None)
    W = ex.svm.W
    assert all(sum(W[r][c] for r in range(inst.V)) == 0 for c in range(inst.d))
    for g in ex.geo.E:
        h = inst.H[g.j]
        assert sum((W[g.plus][c] - W[g.minus][c]) * h[c] for c in range(inst.d)) == 0


@st.composite
def small_instances(draw):
    V, d, m = draw(st.integers(2, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    num = st.integers(-2, 2)
    H = [[F(draw(num), draw(st.sampled_from([1, 2]))) for _ in range(d)] for _ in range(m)]
    if m > 1 and draw(st.booleans()):
        H[-1] = list(H[0])                                   # a duplicated embedding (degenerate)
    P = []
    for _ in range(m):
        toks = draw(st.permutations(range(V)))[:draw(st.integers(1, V))]
        counts = [draw(st.integers(1, 3)) for _ in toks]
        P.append([F(counts[toks.index(v)], sum(counts)) if v in toks else F(0) for v in range(V)])
    return instance(H, P)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_instances())
def test_exact_nnls_alone_decides_like_the_guided_solver(inst):
    """The exact Lawson-Hanson fallback needs no numeric hint and agrees with the main path."""
    geo = Geometry(inst)
    guided = svm.solve_svm(geo)
    alone = svm.exact_ldp(geo) if geo.I else guided
    assert alone.separable == guided.separable
    if guided.separable:
        assert alone.W == guided.W
    ex = run_exact(inst, None)
    assert checker.verify(certificate(inst, ex)) == []


def test_sympy_free_fallback_on_a_case_where_hints_mislead(monkeypatch):
    """A separable instance where a garbage hint used to end in sympy's LP returning zeros."""
    H = [[F(-1), F(1)], [F(2), F(1, 2)], [F(-1), F(-1)]]
    P = [[F(0), F(1), F(0)], [F(1, 6), F(1, 3), F(1, 2)], [F(1), F(0), F(0)]]
    inst = instance(H, P)
    truth = run_exact(inst, None)
    assert truth.svm.separable
    monkeypatch.setattr(svm, "numeric_qp", lambda geo: ("optimal", np.ones(len(geo.I)) * 0.3, -np.ones(len(geo.I))))
    monkeypatch.setattr(svm, "numeric_ldp", lambda geo: None)
    ex = run_exact(inst, None)
    assert ex.svm.separable and ex.svm.W == truth.svm.W
    assert checker.verify(certificate(inst, ex)) == []
