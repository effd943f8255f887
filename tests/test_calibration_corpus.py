"""The calibration corpus (ntpverify.calibration): deterministic, varied, certified valid; and the
perturbations change exactly what they say by the stated amount."""

from __future__ import annotations

import dataclasses
import math
import random
import re
from fractions import Fraction

import flint
import pytest

from ntpverify import calibration as cal
from ntpverify.runner import numeric_problem

SEEDS = range(60)


@pytest.fixture(scope="module")
def corpus():
    return [cal.generate(s) for s in SEEDS]


@pytest.fixture(scope="module")
def exacts(corpus):
    """(case, Exact) of every corpus text, re-derived from the text alone."""
    return [cal.validate(c.text, f"<{c.name}>") for c in corpus]


def test_generation_is_deterministic():
    for seed in (0, 7, 22, 58):
        a, b = cal.generate(seed), cal.generate(seed)
        assert a == b
        assert a.name == f"calib-{a.kind}-{seed}"


def test_any_60_consecutive_seeds_hold_every_kind_several_times():
    for start in (0, 1, 13, 997):
        kinds = [cal.kind_of(s) for s in range(start, start + 60)]
        assert all(kinds.count(k) >= 5 for k in cal.KINDS)


def test_corpus_covers_the_shapes(corpus):
    assert {c.kind for c in corpus} >= set(cal.KINDS)
    assert any(c.d > c.m for c in corpus) and any(c.d <= c.m for c in corpus)
    assert {s for c in corpus for s in c.supports} >= {1, 2, 3, 4}
    assert {c.V for c in corpus} == set(range(3, 13))
    assert {c.m for c in corpus} == set(range(2, 13))
    # mixed sizes inside an instance, and d <= m from more than one construction
    assert sum(len(set(c.supports)) > 1 for c in corpus) >= 40
    assert {c.kind for c in corpus if c.d <= c.m} >= {"underdetermined", "weakly-active", "repeated",
                                                      "collinear"}
    assert any("full-minus-one" in c.features for c in corpus if c.kind == "mixed")
    assert all(set(c.supports) == {1} for c in corpus if c.kind == "onehot")


def test_every_instance_is_certified_valid(corpus, exacts):
    for c, (case, ex) in zip(corpus, exacts):
        assert cal.accepted(ex), c.name
        assert ex.compat.compatible and ex.svm.separable and not ex.trivial and ex.step.admissible
        inst = case.instance
        assert (inst.m, inst.d, inst.V) == (c.m, c.d, c.V)
        assert tuple(len(s) for s in inst.supports) == c.supports
        assert cal.features(ex) == c.features


def test_weakly_active_and_duplicate_embeddings_occur(corpus, exacts):
    genuine = []
    for c, (case, ex) in zip(corpus, exacts):
        if c.kind == "weakly-active":
            assert cal.weakly_active_pairs(ex), c.name
        pairs = cal.weakly_active_pairs(ex)
        if pairs and cal.unique_multipliers(ex):
            # tight with multiplier 0, and the tight constraints with F's basis are independent,
            # so every valid multiplier set gives it 0
            j, v = pairs[0]
            W, h, a = ex.svm.W, case.instance.H[j], case.instance.anchors[j]
            assert sum((W[a][x] - W[v][x]) * h[x] for x in range(len(h))) == 1
            genuine.append(c.seed)
    assert genuine
    dup = [c for c, (case, _) in zip(corpus, exacts)
           if len(set(case.instance.H)) < case.instance.m]
    assert dup and all("duplicate-embeddings" in c.features for c in dup)
    assert any("collinear-embeddings" in c.features for c in corpus if c.kind == "collinear")


# ---------------------------------------------------------------------------------------------
# Perturbations

def _problem(seed):
    c = cal.generate(seed)
    _, ex = cal.validate(c.text)
    return numeric_problem(ex)


def _same_except(p, q, changed):
    for f in dataclasses.fields(p):
        if f.name not in changed:
            assert getattr(p, f.name) == getattr(q, f.name), f.name


def _fro2(A):
    return sum((x * x for row in A for x in row), Fraction(0))


def _float(x):
    return sum(float(c) * (1.0 if q == 1 else math.log(q)) for q, c in x.log_coeffs().items())


@pytest.fixture(scope="module")
def problems():
    # seed 10: generic, F of positive dimension; seed 2: underdetermined (d < m)
    return {s: _problem(s) for s in (2, 10)}


@pytest.mark.parametrize("seed", [2, 10])
def test_W_star_moves_inside_F_by_1e_3_relative(problems, seed):
    p = problems[seed]
    assert p.F_basis
    q, desc = cal.perturb(p, "W_star", random.Random(seed))
    assert desc.startswith("W_star")
    _same_except(p, q, {"W_star"})
    move = [[(b - a).as_rational() for a, b in zip(ra, rb)] for ra, rb in zip(p.W_star, q.W_star)]
    # the move is an exact combination of the generators of F: orthogonal component exactly 0
    gens = [[x for row in cal.generator_matrix(p, j, z) for x in row] for j, z in p.F_basis]
    flat = lambda rows: flint.fmpq_mat(len(rows), len(rows[0]),
                                       [flint.fmpq(x.numerator, x.denominator) for r in rows for x in r])
    assert flat(gens + [[x for row in move for x in row]]).rank() == flat(gens).rank()
    size = math.sqrt(float(_fro2(move)))
    norm_w = math.sqrt(sum(_float(v) ** 2 for row in p.W_star for v in row))
    assert size == pytest.approx(1e-3 * max(1.0, norm_w), rel=1e-2)


def test_W_star_untouched_when_F_is_zero():
    p = _problem(8)           # onehot: F = {0}
    assert not p.F_basis
    q, desc = cal.perturb(p, "W_star", random.Random(0))
    assert q is p and "unperturbed" in desc


@pytest.mark.parametrize("seed", [2, 10])
def test_W_mm_rotated_by_the_stated_angle(problems, seed):
    p = problems[seed]
    q, desc = cal.perturb(p, "W_mm", random.Random(seed))
    _same_except(p, q, {"W_mm", "W_mm_norm_sq"})
    assert q.W_mm_norm_sq == _fro2(q.W_mm)
    old = [float(x) for row in p.W_mm for x in row]
    new = [float(x) for row in q.W_mm for x in row]
    n_old, n_new = math.sqrt(sum(x * x for x in old)), math.sqrt(sum(x * x for x in new))
    assert n_new == pytest.approx(n_old, rel=1e-9)
    angle = math.acos(sum(a * b for a, b in zip(old, new)) / (n_old * n_new))
    assert 0.01 <= angle <= 0.1
    stated = float(re.search(r"theta = ([0-9.e-]+) rad", desc).group(1))
    assert stated == pytest.approx(angle, rel=1e-4)


def test_entropy_norm_and_multiplier_perturbations(problems):
    p = problems[10]
    q, desc = cal.perturb(p, "H", random.Random(1))
    _same_except(p, q, {"entropy"})
    assert abs((q.entropy - p.entropy).as_rational()) == Fraction(1, 10000)
    q, _ = cal.perturb(p, "ext-loss", random.Random(1))
    _same_except(p, q, {"W_mm_norm_sq"})
    assert q.W_mm_norm_sq == p.W_mm_norm_sq * Fraction(11, 10)
    q, _ = cal.perturb(p, "ext-offset", random.Random(1))
    _same_except(p, q, {"multipliers"})
    assert q.multipliers.keys() == p.multipliers.keys() and p.multipliers
    assert all(q.multipliers[k] * Fraction(11, 10) == v for k, v in p.multipliers.items())
    with pytest.raises(ValueError):
        cal.perturb(p, "nonsense", random.Random(1))


def test_perturbation_is_seeded(problems):
    p = problems[10]
    a, _ = cal.perturb(p, "W_mm", random.Random(5))
    b, _ = cal.perturb(p, "W_mm", random.Random(5))
    assert a.W_mm == b.W_mm


# ---------------------------------------------------------------------------------------------
# scripts/calibrate.py's summary (no numeric run)

def test_calibrate_report_counts_and_lists_fails():
    import calibrate

    recs = [{"seed": 0, "kind": "generic", "verdict": "fail", "seconds": 2.0,
             "claims": {"thm2": {"status": "fail", "summary": "off"},
                        "prop1": {"status": "pass", "summary": "ok"}}, "perturbed": True},
            {"seed": 1, "kind": "wide", "verdict": "pass", "seconds": 1.0,
             "claims": {"thm2": {"status": "pass", "summary": "ok"},
                        "ext-new": {"status": "inconclusive", "summary": "?"}}, "perturbed": True}]
    text = calibrate.report(recs, 3.0, "W_mm", None)
    assert "verdicts: fail 1, pass 1" in text
    assert "seed 0 generic thm2: off" in text
    assert "thm2: failed on 1/2 (0.500); on the non-degenerate ones 1/2 (0.500)" in text
    recs[1]["degenerate"] = "weakly active constraints"
    text = calibrate.report(recs, 3.0, "W_mm", None)
    assert "thm2: failed on 1/2 (0.500); on the non-degenerate ones 1/1 (1.000)" in text
    assert "any affected claim: failed on 1/2 (0.500)" in text
    row = next(line for line in text.splitlines() if line.startswith("thm2 "))
    assert row.split()[1:] == ["1", "1", "0", "0", "0"]
    assert any(line.startswith("ext-new ") for line in text.splitlines())
