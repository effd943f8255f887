"""The GD engine: backends agree, runs are deterministic, known answers, honest rounding bounds."""

from __future__ import annotations

from fractions import Fraction

import flint
import mpmath
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closed_forms import (compatible_nonseparable, orthogonal_problem, separable_incompatible,
                          three_orthogonal)
from ntpverify.numeric.gd import (Evaluator, checkpoint_schedule, exact_data, frob, mscale, msub,
                                  q2mpf, run_gd, working_digits)

F = Fraction


def _max_diff(A, B):
    return max(abs(a - b) for ra, rb in zip(A, B) for a, b in zip(ra, rb))


def test_checkpoint_schedule_is_log_spaced_and_keeps_decade_points():
    assert checkpoint_schedule(1) == [1]
    assert checkpoint_schedule(20000)[-4:] == [2000, 5000, 10000, 20000]
    ks = checkpoint_schedule(12345)
    assert ks[-1] == 12345 and {12, 123, 1234}.issubset(ks) and ks == sorted(set(ks))
    with pytest.raises(ValueError):
        checkpoint_schedule(0)


@pytest.mark.parametrize("seed", [None, 7])
def test_backends_agree_to_many_digits(seed):
    pb = three_orthogonal()
    a = run_gd(pb, 200, 40, backend="flint", init_seed=seed)
    b = run_gd(pb, 200, 40, backend="mpmath", init_seed=seed)
    ctx = a.ctx
    allowed = a.rounding.bound + b.rounding.bound
    assert allowed < ctx.mpf(10) ** -40
    for ca, cb in zip(a.checkpoints, b.checkpoints):
        assert ca.k == cb.k
        assert _max_diff(ca.W, cb.W) <= allowed
    # the reported decimal strings (20 digits) are identical
    assert a.to_json()["checkpoints"] == b.to_json()["checkpoints"]


def test_runs_are_deterministic_and_leave_global_precision_alone():
    pb = three_orthogonal()
    prec_before, dps_before = flint.ctx.prec, mpmath.mp.dps
    one = run_gd(pb, 300, 30, init_seed=3).to_json()
    two = run_gd(pb, 300, 30, init_seed=3).to_json()
    assert one == two
    assert one["init"] == {"seed": 3, "scale": "1/10"}
    assert flint.ctx.prec == prec_before and mpmath.mp.dps == dps_before


def test_first_step_matches_the_exact_rational_step():
    """W_1 = -eta grad CE(0) = -eta sum_j pi_j (1/V - p_j) h_j^T is rational: a known answer."""
    pb = three_orthogonal()
    inst = pb.instance
    exact = [[-pb.eta * sum((inst.pi[j] * (F(1, inst.V) - inst.P[j][v]) * inst.H[j][i]
                             for j in range(inst.m)), F(0)) for i in range(inst.d)] for v in range(inst.V)]
    for backend in ("flint", "mpmath"):
        run = run_gd(pb, 1, 50, backend=backend)
        ctx = run.ctx
        W1 = run.checkpoints[0].W
        assert _max_diff(W1, [[q2mpf(ctx, x) for x in r] for r in exact]) <= ctx.mpf(10) ** -(ctx.dps - 3)


def test_rounding_bound_holds_against_a_higher_precision_run():
    pb = three_orthogonal()
    low = run_gd(pb, 500, 20, backend="flint", init_seed=1)
    high = run_gd(pb, 500, 60, backend="flint", init_seed=1)
    assert low.rounding.kind == "proven"
    diff = _max_diff(low.checkpoints[-1].W, high.checkpoints[-1].W)
    assert diff <= low.rounding.bound + high.rounding.bound
    assert low.rounding.bound < mpmath.mpf(10) ** -(low.precision)
    assert run_gd(pb, 10, 20, backend="mpmath").rounding.kind == "estimated"


def test_json_shape_and_absent_keys():
    full = run_gd(three_orthogonal(), 50, 30).to_json()
    assert set(full) >= {"eta", "iterations", "backend", "precision", "checkpoints",
                         "rounding_bound", "rounding", "init"}
    assert full["eta"] == "3/4" and full["init"] == "zero"
    assert set(full["checkpoints"][-1]) == {"k", "loss_gap", "proj_err", "cos_gap", "norm"}
    assert set(full["rounding_bound"]) == {"bound", "kind", "method"}
    assert full["rounding"] == {"backend": full["backend"], **full["rounding_bound"]}
    incompatible = run_gd(separable_incompatible(), 20, 30).to_json()["checkpoints"][-1]
    assert set(incompatible) == {"k", "cos_gap", "norm"}
    nonseparable = run_gd(compatible_nonseparable(), 20, 30).to_json()["checkpoints"][-1]
    assert set(nonseparable) == {"k", "loss_gap", "proj_err", "norm"}


def test_progress_is_called_sparingly_and_ends_at_the_total():
    calls = []
    run_gd(three_orthogonal(), 1000, 20, progress=lambda k, n: calls.append((k, n)))
    assert 10 <= len(calls) <= 120
    assert calls[-1] == (1000, 1000)
    assert [k for k, _ in calls] == sorted(k for k, _ in calls)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="backend"):
        run_gd(three_orthogonal(), 10, 20, backend="numpy")
    with pytest.raises(ValueError, match="iterations"):
        run_gd(three_orthogonal(), 0, 20)


def test_working_digits_grow_with_the_step_count():
    assert working_digits(50, 20000) == 50 + 10 + 5


# -- the evaluator against closed forms, on random orthogonal instances -------------------------

@st.composite
def orthogonal_instances(draw):
    V = draw(st.integers(2, 4))
    m = draw(st.integers(1, 3))
    contexts = []
    for _ in range(m):
        size = draw(st.integers(1, V - 1))
        support = draw(st.permutations(range(V)))[:size]
        counts = [draw(st.integers(1, 5)) for _ in support]
        total = sum(counts)
        c = draw(st.sampled_from([F(1), F(2), F(1, 2), F(3, 2)]))
        contexts.append((c, {z: F(n, total) for z, n in zip(support, counts)}))
    pi = None
    if m > 1 and draw(st.booleans()):
        raw = [draw(st.integers(1, 4)) for _ in range(m)]
        pi = [F(x, sum(raw)) for x in raw]
    return orthogonal_problem(contexts, V, pi=pi)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orthogonal_instances())
def test_evaluator_reproduces_the_closed_forms(pb):
    """P_F(W*) = W*, P_F(W^mm) = 0, and CE(W* + g W^mm) - H decays like e^-g (prop1)."""
    ctx = mpmath.MPContext()
    ctx.dps = 40
    ev = Evaluator(pb, exact_data(pb), ctx)
    tiny = ctx.mpf(10) ** -35
    assert frob(ctx, msub(ev.project_F(ev.W_star), ev.W_star)) <= tiny
    assert frob(ctx, ev.project_F(ev.W_mm)) <= tiny
    gaps = [ev.ce([[a + g * b for a, b in zip(ra, rb)] for ra, rb in zip(ev.W_star, ev.W_mm)]) - ev.entropy
            for g in (20, 22)]
    assert gaps[0] > 0 and gaps[1] > 0
    assert abs(gaps[1] / gaps[0] * ctx.exp(2) - 1) < ctx.mpf(1) / 100


@settings(max_examples=10, deadline=None)
@given(orthogonal_instances(), st.lists(st.integers(-9, 9), min_size=16, max_size=16))
def test_projection_is_idempotent_and_orthogonal(pb, entries):
    ctx = mpmath.MPContext()
    ctx.dps = 30
    ev = Evaluator(pb, exact_data(pb), ctx)
    V, d = ev.V, ev.d
    W = [[ctx.mpf(entries[(v * d + i) % 16]) / 7 for i in range(d)] for v in range(V)]
    PW = ev.project_F(W)
    assert frob(ctx, msub(ev.project_F(PW), PW)) <= ctx.mpf(10) ** -25
    R = msub(W, PW)
    anchors = pb.instance.anchors
    for j, z in pb.F_basis:       # <B_{j,z}, W - P_F W> = 0
        val = ctx.fdot(R[z], ev.H[j]) - ctx.fdot(R[anchors[j]], ev.H[j])
        assert abs(val) <= ctx.mpf(10) ** -25


def test_gd_iterates_follow_the_closed_form_asymptotics():
    """On orthogonal embeddings, P_F(W_k) -> W* and W_k / log k -> W^mm, to first order."""
    pb = three_orthogonal()
    run = run_gd(pb, 2000, 30)
    ctx = run.ctx
    ev = Evaluator(pb, exact_data(pb), ctx)
    last = run.checkpoints[-1]
    assert last.proj_err < ctx.mpf(3) / 2000                     # ~ 2.2 / k
    growth = mscale(1 / ctx.log(10), msub(last.W, run.at(200).W))
    assert frob(ctx, msub(growth, ev.W_mm)) < ctx.mpf(1) / 20        # offsets at k = 200 are ~0.05
