"""Property tests of the exact layer on small random instances (V <= 4, d <= 3, m <= 4).

Each property is a statement of theory.md sections 1-4 that must hold on every instance; the
instances are built directly as ``Instance`` objects (rational embeddings with small denominators,
random supports, rational probabilities and weights). Extends tests/test_exact.py (closed forms):
here nothing is known in closed form, only invariances and the trusted checker.
"""

from __future__ import annotations

import os
from fractions import Fraction as F

import flint
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ntpverify import checker, claims
from ntpverify.exactnum import log_exponents
from ntpverify.instance import Instance
from ntpverify.runner import run_exact
from ntpverify.status import Status
from test_exact import certificate

SCALE = float(os.environ.get("NTPVERIFY_PROPERTY_SCALE", "1"))   # e.g. 10 for a long bug hunt


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

entry = st.builds(F, st.integers(-3, 3), st.sampled_from([1, 1, 2, 3]))


@st.composite
def instances(draw, V=(2, 4), d=(1, 3), m=(1, 4)):
    V = draw(st.integers(*V))
    d = draw(st.integers(*d))
    m = draw(st.integers(*m))
    H = [tuple(draw(entry) for _ in range(d)) for _ in range(m)]
    P = []
    for _ in range(m):
        support = draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=V, unique=True))
        counts = {z: draw(st.integers(1, 4)) for z in support}
        total = sum(counts.values())
        P.append(tuple(F(counts.get(z, 0), total) for z in range(V)))
    w = [draw(st.integers(1, 3)) for _ in range(m)]
    pi = tuple(F(x, sum(w)) for x in w)
    return Instance(name="prop", vocab=tuple(f"t{v}" for v in range(V)), contexts=tuple(f"c{j}" for j in range(m)),
                    H=tuple(H), pi=pi, P=tuple(P))


# ---------------------------------------------------------------------------------------------
# helpers (plain Fractions, independent of the checker)

def generators(inst: Instance) -> list[list[list[F]]]:
    """B_{j,z} = (e_z - e_{a_j}) h_j^T as V x d matrices."""
    out = []
    for j, z in inst.eq_pairs():
        a = inst.anchors[j]
        B = [[F(0)] * inst.d for _ in range(inst.V)]
        for c in range(inst.d):
            B[z][c] += inst.H[j][c]
            B[a][c] -= inst.H[j][c]
        out.append(B)
    return out


def inner(A, B) -> F:
    return sum((x * y for ra, rb in zip(A, B) for x, y in zip(ra, rb)), F(0))


def rank(mats) -> int:
    if not mats:
        return 0
    rows = [[x for r in M for x in r] for M in mats]
    return flint.fmpq_mat(len(rows), len(rows[0]), [flint.fmpq(x.numerator, x.denominator)
                                                    for r in rows for x in r]).rank()


def w_star(ex) -> dict:
    """W* as {prime: V x d matrix}, zero matrices dropped."""
    return {q: [list(r) for r in e["matrix"]] for q, e in ex.compat.by_prime.items()
            if any(x for r in e["matrix"] for x in r)}


def w_mm(ex):
    return [list(r) for r in ex.svm.W] if ex.svm.separable else None


def summary(ex) -> dict:
    """Everything that is determined by the instance (not a witness and not a choice)."""
    return {"H": ex.H, "F_dim": ex.F.dim, "compatible": ex.compat.compatible, "separable": ex.svm.separable,
            "W_star": w_star(ex) if ex.compat.compatible else None, "W_mm": w_mm(ex),
            "norm_sq": ex.svm.norm_sq if ex.svm.separable else None, "trivial": ex.trivial}


def rebuild(inst: Instance, **kw) -> Instance:
    fields = dict(name=inst.name, vocab=inst.vocab, contexts=inst.contexts, H=inst.H, pi=inst.pi, P=inst.P)
    fields.update(kw)
    return Instance(**fields)


# ---------------------------------------------------------------------------------------------

@settings(max_examples=examples(400), **SETTINGS)
@given(instances(), st.sampled_from([None, None, F(1, 10), F(1), F(10)]))
def test_the_certificate_always_verifies(inst, eta):
    """KKT (separable) or Farkas (not), W* or an incompatibility witness, and the step proof or
    its refutation: the trusted checker accepts every certificate the producers issue."""
    ex = run_exact(inst, eta)
    assert checker.verify(certificate(inst, ex)) == []
    assert ex.F.dim == rank(generators(inst))


@settings(max_examples=examples(400), **SETTINGS)
@given(instances())
def test_w_mm_in_F_perp_with_zero_column_sums_and_w_star_in_F(inst):
    ex = run_exact(inst, None)
    gens = generators(inst)
    if ex.svm.separable:
        W = w_mm(ex)
        assert all(sum(W[r][c] for r in range(inst.V)) == 0 for c in range(inst.d))
        assert all(inner(B, W) == 0 for B in gens)                         # W^mm in F-perp
        for j, v in inst.ineq_pairs():                                     # primal feasibility
            a = inst.anchors[j]
            assert sum((W[a][c] - W[v][c]) * inst.H[j][c] for c in range(inst.d)) >= 1
        # tokens with identical support patterns get identical rows
        pattern = [tuple(p[v] > 0 for p in inst.P) for v in range(inst.V)]
        for v in range(inst.V):
            for u in range(v):
                if pattern[u] == pattern[v]:
                    assert W[u] == W[v]
    if ex.compat.compatible:
        Ws = w_star(ex)
        for q, M in Ws.items():
            assert rank(gens + [M]) == rank(gens)                          # M_q in F = span(B)
            if ex.svm.separable:
                assert inner(M, w_mm(ex)) == 0                             # F and F-perp
        for (j, z), B in zip(inst.eq_pairs(), gens):                       # <B, W*> = log-odds
            want = log_exponents(inst.P[j][z] / inst.P[j][inst.anchors[j]])
            got = {q: inner(B, M) for q, M in Ws.items()}
            assert {q: e for q, e in got.items() if e} == {q: F(e) for q, e in want.items() if e}


@settings(max_examples=examples(200), **SETTINGS)
@given(instances(), st.sampled_from([F(2), F(1, 3), F(5, 2), F(7)]))
def test_scaling_the_embeddings_by_c_scales_w_mm_and_w_star_by_1_over_c(inst, c):
    ex = run_exact(inst, None)
    scaled = rebuild(inst, H=tuple(tuple(c * x for x in h) for h in inst.H))
    ey = run_exact(scaled, None)
    a, b = summary(ex), summary(ey)
    for key in ("H", "F_dim", "compatible", "separable", "trivial"):
        assert a[key] == b[key], key
    if a["W_mm"] is not None:
        assert b["W_mm"] == [[x / c for x in r] for r in a["W_mm"]]
        assert b["norm_sq"] == a["norm_sq"] / c**2
    if a["W_star"] is not None:
        assert b["W_star"] == {q: [[x / c for x in r] for r in M] for q, M in a["W_star"].items()}
    assert checker.verify(certificate(scaled, ey)) == []


@settings(max_examples=examples(200), **SETTINGS)
@given(instances(), st.randoms(use_true_random=False))
def test_permuting_the_vocabulary_permutes_the_rows(inst, rnd):
    """Anchors change with the vocabulary order; W^mm and W* do not depend on them."""
    order = list(range(inst.V))
    rnd.shuffle(order)                          # new token i is old token order[i]
    assume(order != list(range(inst.V)))
    perm = rebuild(inst, vocab=tuple(inst.vocab[o] for o in order),
                   P=tuple(tuple(p[o] for o in order) for p in inst.P))
    ex, ey = run_exact(inst, None), run_exact(perm, None)
    a, b = summary(ex), summary(ey)
    for key in ("H", "F_dim", "compatible", "separable", "trivial", "norm_sq"):
        assert a[key] == b[key], key
    if a["W_mm"] is not None:
        assert b["W_mm"] == [a["W_mm"][o] for o in order]
    if a["W_star"] is not None:
        assert b["W_star"] == {q: [M[o] for o in order] for q, M in a["W_star"].items()}
    assert checker.verify(certificate(perm, ey)) == []


@settings(max_examples=examples(200), **SETTINGS)
@given(instances(m=(1, 3)), st.data())
def test_duplicating_a_context_with_its_weight_split_changes_nothing(inst, data):
    j = data.draw(st.integers(0, inst.m - 1))
    split = data.draw(st.sampled_from([F(1, 2), F(1, 3), F(3, 4)]))
    dup = rebuild(inst, contexts=inst.contexts + ("copy",), H=inst.H + (inst.H[j],), P=inst.P + (inst.P[j],),
                  pi=tuple(w * split if k == j else w for k, w in enumerate(inst.pi)) + (inst.pi[j] * (1 - split),))
    ex, ey = run_exact(inst, None), run_exact(dup, None)
    assert summary(ex) == summary(ey)
    assert ex.step.eta == ey.step.eta and ex.step.admissible == ey.step.admissible   # M is unchanged
    assert checker.verify(certificate(dup, ey)) == []


@settings(max_examples=examples(200), **SETTINGS)
@given(instances(d=(2, 3), m=(1, 2)))
def test_lemma1_d_greater_than_m_and_full_rank_implies_both_conditions(inst):
    assume(inst.d > inst.m and rank([[list(h)] for h in inst.H]) == inst.m)
    ex = run_exact(inst, None)
    assert ex.compat.compatible and ex.svm.separable
    assert claims.lemma1(ex).status == Status.PASS


# ---------------------------------------------------------------------------------------------
# Found by scripts/limits.py (random instances grown from the paper size)

def test_the_numeric_farkas_hint_exists_near_the_separability_boundary():
    from random_case import random_case_text

    from ntpverify import svm
    from ntpverify.constraints import Geometry
    from ntpverify.instance import parse_case

    geo = Geometry(parse_case(random_case_text(80, 60, 10, 6, 0).encode(), "<random m=80>").instance)
    assert svm.numeric_qp(geo)[0] == "infeasible"
    assert svm.numeric_farkas(geo) is not None
