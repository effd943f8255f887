"""The float64 GD backend: its trajectory stays within its proven rounding bound of a
high-precision (flint, 50 digits, own bound ~1e-60) trajectory, the bound is small, it detects
perturbations, and the numba and numpy loops agree.

10^5 steps (``LONG``) on every bundled compatible and separable case and on ten calibration
instances (``ntpverify.calibration``: the first seed of each kind with m V d <= 200, plus one more
wide one, to keep the flint reference affordable on a shared 2-core machine), compared at every
checkpoint. ``scripts/float64_vs_flint.py`` runs the same comparison on any calibration seeds.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from pathlib import Path

import mpmath
import numpy as np
import pytest

from ntpverify import calibration
from ntpverify.instance import load_case, parse_case
from ntpverify.numeric import f64
from ntpverify.numeric.f64 import Float64Stepper, gamma, sqrt_up, step_constants
from ntpverify.numeric.gd import (Evaluator, checkpoint_schedule, initial_point, make_stepper,
                                  run_gd)
from ntpverify.runner import numeric_problem, run_exact

CASES = Path(__file__).resolve().parent.parent / "cases"
PRECISION = 50
LONG = 100_000
# generic, wide, underdetermined, repeated, weakly-active, collinear, near-collinear, onehot,
# tiny-multiplier, wide: the first of each kind with m V d <= 200 (checked below)
CALIBRATION_SEEDS = (0, 1, 2, 3, 17, 24, 25, 48, 56, 11)
F = Fraction


def _problem(inst, eta=None):
    return numeric_problem(run_exact(inst, eta))


def _case_problem(name: str):
    case = load_case(CASES / f"{name}.yaml")
    return _problem(case.instance, case.settings.gd.step)


def _compatible_separable_cases() -> list[str]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        case = load_case(path)
        pb = _problem(case.instance, case.settings.gd.step)
        if pb.compatible and pb.separable and pb.eta_admissible:
            out.append(path.stem)
    return out


def _ctx(n: int):
    ctx = mpmath.MPContext()
    ctx.dps = PRECISION + 10 + len(str(n))
    return ctx


def _dist(ctx, A, B):
    return ctx.sqrt(ctx.fsum((a - b) ** 2 for ra, rb in zip(A, B) for a, b in zip(ra, rb)))


def _bound(stepper):
    return stepper.rounding(True).bound


def _compare_with_flint(pb, n: int, seed=None):
    """Run float64 and flint side by side over the checkpoint schedule of n steps; return the
    list of (k, distance, float64 bound so far, flint bound so far) and the context."""
    ctx = _ctx(n)
    ev = Evaluator(pb, pb.exact, ctx)
    W0 = initial_point(pb.instance.V, pb.instance.d, seed, F(1, 10))
    fast = make_stepper("float64", ev, W0)
    ref = make_stepper("flint", ev, W0)
    rows, k = [], 0
    for target in checkpoint_schedule(n):
        fast.advance(target - k)
        ref.advance(target - k)
        k = target
        rows.append((k, _dist(ctx, fast.current(), ref.current()), _bound(fast), _bound(ref)))
    return rows, ctx


def _assert_within(rows, ctx, limit=1e-8):
    for k, dist, b64, bref in rows:
        assert bref < ctx.mpf(10) ** -(PRECISION - 5)
        assert dist <= b64 + bref, (k, dist, b64)
        assert b64 < limit, (k, b64)
    # the bound is monotone in k and is honest but not absurdly loose
    assert all(r1[2] <= r2[2] for r1, r2 in zip(rows, rows[1:]))


# ---------------------------------------------------------------------------------------------
# (a) + (b): within the bound of the high-precision trajectory, and the bound is small


def _calibration_problem(seed: int):
    c = calibration.generate(seed)
    case, _ = calibration.validate(c.text, f"<{c.name}>")
    return _problem(case.instance, case.settings.gd.step)


def _assert_long_run_within(pb, seed):
    rows, ctx = _compare_with_flint(pb, LONG, seed=seed)
    _assert_within(rows, ctx)
    k, dist, b64, _ = rows[-1]
    assert k == LONG
    # not vacuous: well below 1e-8, and no more than ~1e6 times the actual deviation
    assert b64 < ctx.mpf("1e-8")
    assert dist > 0 and b64 < dist * 10**6


@pytest.mark.parametrize("name", sorted(p.stem for p in CASES.glob("*.yaml")))
def test_bundled_cases_stay_within_the_bound(name):
    pb = _case_problem(name)
    if not (pb.compatible and pb.separable and pb.eta_admissible):
        pytest.skip("GD's claims need a compatible, separable case with an admissible step")
    _assert_long_run_within(pb, seed=5)


def test_every_usable_bundled_case_is_compared():
    names = _compatible_separable_cases()
    assert "three-contexts" in names and len(names) >= 8


@pytest.mark.parametrize("seed", CALIBRATION_SEEDS)
def test_calibration_instances_stay_within_the_bound(seed):
    pb = _calibration_problem(seed)
    inst = pb.instance
    assert inst.m * inst.V * inst.d <= 200
    assert pb.compatible and pb.separable and pb.eta_admissible
    _assert_long_run_within(pb, seed)


# ---------------------------------------------------------------------------------------------
# (c) negative controls


def test_a_perturbation_of_ten_times_the_bound_is_detected():
    pb = _case_problem("three-contexts")
    n = 5000
    rows, ctx = _compare_with_flint(pb, n)
    ev = Evaluator(pb, pb.exact, ctx)
    W0 = initial_point(pb.instance.V, pb.instance.d, None, F(0))
    fast, ref = make_stepper("float64", ev, W0), make_stepper("flint", ev, W0)
    fast.advance(n)
    ref.advance(n)
    allowed = _bound(fast) + _bound(ref)
    Wf, Wr = fast.current(), ref.current()
    assert _dist(ctx, Wf, Wr) <= allowed
    # perturb one entry, or every entry, by a total of 10x the bound: outside
    one = [list(r) for r in Wf]
    one[0][0] += 10 * allowed
    assert _dist(ctx, one, Wr) > allowed
    spread = [[x - 10 * allowed / ctx.sqrt(len(Wf) * len(Wf[0])) for x in r] for r in Wf]
    assert _dist(ctx, spread, Wr) > allowed


def test_a_slightly_wrong_step_leaves_the_bound():
    """A float64 run with eta off by a relative 1e-9 drifts out of the bound: the comparison
    can see differences of that size."""
    pb = _case_problem("three-contexts")
    n = 20_000
    ctx = _ctx(n)
    ev = Evaluator(pb, pb.exact, ctx)
    W0 = initial_point(pb.instance.V, pb.instance.d, None, F(0))
    ref = make_stepper("flint", ev, W0)
    ref.advance(n)
    from dataclasses import replace
    wrong = replace(pb, eta=pb.eta * (1 + F(1, 10**9)))
    ev_wrong = Evaluator(wrong, pb.exact, ctx)
    fast = Float64Stepper(ev_wrong, W0)
    fast.advance(n)
    assert _dist(ctx, fast.current(), ref.current()) > _bound(fast) + _bound(ref)


# ---------------------------------------------------------------------------------------------
# (d) the two inner loops


@pytest.mark.parametrize("name", ["three-contexts", "corpus-random-all"])
def test_numba_and_numpy_loops_agree_within_the_bound(name):
    pb = _case_problem(name)
    n = LONG
    ctx = _ctx(n)
    ev = Evaluator(pb, pb.exact, ctx)
    W0 = initial_point(pb.instance.V, pb.instance.d, 3, F(1, 10))
    a = Float64Stepper(ev, W0, loop="numba")
    b = Float64Stepper(ev, W0, loop="numpy")
    assert (a.loop, b.loop) == ("numba", "numpy")
    for chunk in (1, 9, 990, 9000, n - 10000):
        a.advance(chunk)
        b.advance(chunk)
    assert a.steps_done == b.steps_done == n
    assert _dist(ctx, a.current(), b.current()) <= _bound(a) + _bound(b)
    assert abs(_bound(a) - _bound(b)) <= 1e-6 * _bound(a)       # same bound up to norm roundings


def test_loop_choice_follows_the_work_threshold(monkeypatch):
    pb = _case_problem("three-contexts")
    ev = Evaluator(pb, pb.exact, _ctx(10))
    W0 = initial_point(pb.instance.V, pb.instance.d, None, F(0))
    assert Float64Stepper(ev, W0).loop == "numba"
    monkeypatch.setattr(f64, "NUMBA_MAX_WORK", 1)
    assert Float64Stepper(ev, W0).loop == "numpy"
    with pytest.raises(ValueError):
        Float64Stepper(ev, W0, loop="cuda")


# ---------------------------------------------------------------------------------------------
# (e) end to end, and the pieces of the bound


def test_run_gd_float64_end_to_end():
    pb = _case_problem("three-contexts")
    run = run_gd(pb, 2000, PRECISION, backend="float64", init_seed=2)
    js = run.to_json()
    assert js["backend"] == "float64"
    assert js["rounding_bound"]["kind"] == "proven"
    assert "u = 2^-53" in js["rounding_bound"]["method"]
    assert float(js["rounding_bound"]["bound"]) < 1e-10
    ref = run_gd(pb, 2000, PRECISION, backend="flint", init_seed=2)
    for a, b in zip(run.checkpoints, ref.checkpoints):
        assert a.k == b.k
        assert _dist(run.ctx, a.W, b.W) <= run.rounding.bound + ref.rounding.bound
    # a step that is not proven admissible gives an estimate, not a proof
    from dataclasses import replace
    loose = replace(pb, eta_admissible=False)
    assert run_gd(loose, 10, 20, backend="float64").rounding.kind == "estimated"


def test_current_is_exact_and_starts_from_the_rounded_initial_point():
    pb = _case_problem("three-contexts")
    ctx = _ctx(1)
    ctx.dps = 12                                  # below float64's 53 bits: must not round
    ev = Evaluator(pb, pb.exact, ctx)
    W0 = initial_point(pb.instance.V, pb.instance.d, 4, F(1, 3))
    s = Float64Stepper(ev, W0)
    got = s.current()
    for row, row0 in zip(got, W0):
        for x, q in zip(row, row0):
            sign, man, exp, _ = x._mpf_
            assert (-1) ** sign * F(int(man)) * F(2) ** int(exp) == F(float(q))
    exact_err = math.sqrt(float(sum((F(float(q)) - q) ** 2 for r in W0 for q in r)))
    assert exact_err <= float(s.bound()) <= exact_err * (1 + 1e-12) + 1e-300


def test_platform_exp_meets_the_assumed_accuracy():
    """The bound assumes |fl(exp a) - exp a| <= EXP_REL u exp(a); check numpy's and the numba
    loop's exp on a sample of a <= 0 against mpmath."""
    rng = np.random.default_rng(0)
    a = np.concatenate([-rng.random(3000) * 40, -rng.random(500) * 700, -rng.random(300) * 1e-6])
    ctx = mpmath.MPContext()
    ctx.prec = 120
    tol = f64.EXP_REL * 2.0**-53
    got_np = np.exp(a)
    for x, y in zip(a.tolist(), got_np.tolist()):
        t = ctx.exp(x)
        assert abs(ctx.mpf(y) - t) <= tol * t + ctx.mpf(2) ** -1000
    if f64.numba is not None:
        from numba import njit

        @njit
        def nbexp(v):
            out = np.empty_like(v)
            for i in range(v.size):
                out[i] = math.exp(v[i])
            return out

        for x, y in zip(a.tolist(), nbexp(a).tolist()):
            t = ctx.exp(x)
            assert abs(ctx.mpf(y) - t) <= tol * t + ctx.mpf(2) ** -1000


def test_bound_helpers():
    for q in (F(2), F(1, 3), F(10**40, 7), F(1, 10**50), F(0)):
        r = sqrt_up(q)
        assert r * r >= q and (q == 0 or r * r <= q * (1 + F(1, 2**50)))
    assert gamma(1) == F(1, 2**53 - 1)
    pb = _case_problem("three-contexts")
    c0, c1, cN = step_constants(pb.exact, pb.eta)
    u = F(1, 2**53)
    assert u < c1 < 1000 * u and 0 < c0 < 1000 * u and 0 < cN < 100 * u
