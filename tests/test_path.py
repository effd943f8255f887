"""The norm-ball path: confirms W* to >= 30 digits, exact norm, exponential rate, continuation."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from fractions import Fraction

import mpmath
import pytest

from closed_forms import F, separable_incompatible, three_orthogonal
from ntpverify.numeric.gd import Evaluator, arb_mid_to_mpf, exact_data, frob, msub
from ntpverify.numeric.path import DEFAULT_RADII, path_digits, run_path


@pytest.fixture(scope="module")
def default_path():
    start = time.perf_counter()
    path = run_path(three_orthogonal(), DEFAULT_RADII, precision=50)
    return path, time.perf_counter() - start


def test_default_path_confirms_w_star_to_30_digits(default_path):
    path, seconds = default_path
    assert seconds < 30
    assert path.confirm_digits == 30 and path.target_reached
    last = path.points[-1]
    assert last.proj_err < mpmath.mpf(10) ** -30
    assert [p.B for p in path.points][:6] == list(DEFAULT_RADII)
    assert all(p.added for p in path.points[6:]) and len(path.points) > 6


def test_points_lie_on_the_sphere_with_positive_multiplier(default_path):
    path, _ = default_path
    ctx = path.ctx
    for p in path.points:
        assert p.nu > 0
        assert abs(p.norm_residual) <= ctx.mpf(10) ** -50 * p.B
        assert p.stationarity <= ctx.mpf(10) ** -50
    nus = [p.nu for p in path.points]
    assert nus == sorted(nus, reverse=True)


def test_projection_error_decays_like_exp_minus_b_over_norm(default_path):
    path, _ = default_path
    ctx = path.ctx
    mm = ctx.sqrt(ctx.mpf(35) / 16)                            # ||W^mm|| of three_orthogonal
    p80, p160 = path.points[5], path.points[6]
    slope = ctx.log(p160.proj_err / p80.proj_err) / 80
    assert abs(slope * mm + 1) < ctx.mpf(1) / 100
    gaps = [p.cos_gap for p in path.points]
    assert gaps == sorted(gaps, reverse=True)


def test_json_is_the_contract_list(default_path):
    path, _ = default_path
    js = path.to_json()
    assert [row["B"] for row in js[:6]] == ["2", "5", "10", "20", "40", "80"]
    assert all({"B", "proj_err", "cos_gap"} <= set(row) for row in js)
    assert js[-1]["added"] is True and "added" not in js[0]


def test_continuation_does_not_change_the_answer():
    pb = three_orthogonal()
    direct = run_path(pb, (Fraction(20),), precision=30, confirm_digits=1)
    stepped = run_path(pb, (Fraction(3), Fraction(9), Fraction(20)), precision=30, confirm_digits=1)
    a, b = direct.points[0], stepped.points[-1]
    assert a.B == b.B == 20
    assert frob(direct.ctx, msub(a.W, b.W)) < mpmath.mpf(10) ** -30


def test_small_radius_follows_steepest_descent():
    pb = three_orthogonal()
    path = run_path(pb, (Fraction(1, 1000),), precision=30, confirm_digits=1)
    ctx = path.ctx
    ev = Evaluator(pb, exact_data(pb), ctx)
    g = ev.grad([[ctx.zero] * 3 for _ in range(4)])
    W = path.points[0].W
    cos = sum(a * b for ra, rb in zip(W, g) for a, b in zip(ra, rb)) / (frob(ctx, W) * frob(ctx, g))
    assert cos < -1 + ctx.mpf(10) ** -5


def test_path_is_skipped_when_hypotheses_fail():
    path = run_path(separable_incompatible(), precision=30)
    assert path.points == [] and "not compatible" in path.skipped and path.to_json() == []


def test_precision_grows_with_the_radius():
    assert path_digits(50, Fraction(0), 2.0) == 60
    assert path_digits(50, Fraction(160), 2.0) == 60 + 35


def test_three_contexts_reproduces_the_reference_numbers():
    """theory.md section 5: 1e-4 at B = 20, 4e-9 at 40, 9e-18 at 80, 4e-35 at 160."""
    from closed_forms import three_contexts
    path = run_path(three_contexts(), precision=50)
    errs = {p.B: p.proj_err for p in path.points}
    for B, ref in ((20, 1e-4), (40, 4e-9), (80, 9e-18), (160, 4e-35)):
        assert 0.75 < float(errs[Fraction(B)] / mpmath.mpf(ref)) < 1.33, (B, errs[Fraction(B)])


# ---------------------------------------------------------------------------------------------
# The reduced system (numeric/path_reduced.py): W = C R in the embeddings' row space

def _calibration_problem(seed):
    from ntpverify import calibration as cal
    from ntpverify.runner import numeric_problem
    _, ex = cal.validate(cal.generate(seed).text)
    return numeric_problem(ex)


def test_reduced_system_matches_the_dense_one():
    """Calibration seed 4 (collinear, m = 6 > rank 4 = r: W = C R uses a subset of the contexts)
    and three_orthogonal: the same W_B, nu and tangent to the working precision."""
    from ntpverify.numeric.path import reduced_unknowns
    collinear = _calibration_problem(4)
    for pb in (three_orthogonal(), collinear):
        radii = (Fraction(2), Fraction(5), Fraction(10), Fraction(20))
        dense = run_path(pb, radii, precision=30, confirm_digits=1, method="dense")
        red = run_path(pb, radii, precision=30, confirm_digits=1, method="reduced")
        ctx = dense.ctx
        assert [p.B for p in dense.points] == [p.B for p in red.points]
        for p, q in zip(dense.points, red.points):
            tol = ctx.mpf(10) ** -30 * p.B
            assert frob(ctx, msub(p.W, q.W)) < tol, p.B
            assert abs(p.nu - q.nu) < tol * p.nu
            assert frob(ctx, msub(p.tangent, q.tangent)) < ctx.mpf(10) ** -20
            assert q.stationarity < ctx.mpf(10) ** -30 and abs(q.norm_residual) < tol
    assert reduced_unknowns(collinear) < 7 * 5      # r = 4 < d = 5


def test_medium_instance_above_the_dense_limit_passes_thm1():
    """V d = 240 (over the dense system's 200): the reduced system (V r = 36) runs the default
    radii in a few seconds and thm1 / ext-path-rate pass against the closed forms."""
    from closed_forms import orthogonal_problem
    from ntpverify.numeric.path import DENSE_MAX_UNKNOWNS, path_method
    from ntpverify.numeric.path_claims import path_claims
    from ntpverify.status import Status
    contexts = [(1, {0: F(1, 2), 1: F(1, 4), 2: F(1, 4)}), (2, {1: F(2, 3), 3: F(1, 3)}),
                (1, {2: F(1)}), (3, {0: F(1, 5), 4: F(4, 5)}), (1, {3: F(1, 2), 5: F(1, 2)}),
                (2, {0: F(1, 3), 1: F(1, 3), 5: F(1, 3)})]
    pb = orthogonal_problem(contexts, V=6, d=40, name="medium")
    assert pb.instance.V * pb.instance.d > DENSE_MAX_UNKNOWNS and path_method(pb) == "reduced"
    start = time.perf_counter()
    path = run_path(pb, precision=30, max_radius=Fraction(80))
    assert time.perf_counter() - start < 30
    assert [p.B for p in path.points] == list(DEFAULT_RADII)
    claims = {c.id: c for c in path_claims(pb, path)}
    assert claims["thm1"].status == Status.PASS, claims["thm1"].summary
    assert claims["ext-path-rate"].status == Status.PASS, claims["ext-path-rate"].summary


def test_instances_above_the_reduced_limit_are_not_run(monkeypatch):
    from ntpverify.numeric import path as path_mod
    monkeypatch.setattr(path_mod, "DENSE_MAX_UNKNOWNS", 5)
    monkeypatch.setattr(path_mod, "MAX_UNKNOWNS", 5)
    run = run_path(three_orthogonal(), precision=30)
    assert run.points == [] and "V r = 12" in run.not_run and "limit 5" in run.not_run


def test_reduced_system_in_arb_matches_the_dense_one(monkeypatch):
    """The arb fallback (``high``: Jacobian assembled and solved in arb, used once float64 stops
    resolving the Jacobian) forced from the start gives the dense W_B too, and its Jacobian is
    the one the float64 path and the Jacobian-vector product use."""
    from ntpverify.numeric import path_reduced
    pb = _calibration_problem(4)
    radii = (Fraction(2), Fraction(5), Fraction(10))
    dense = run_path(pb, radii, precision=30, confirm_digits=1, method="dense")
    init = path_reduced.ReducedSystem.__init__

    def high_init(self, *args, **kw):
        init(self, *args, **kw)
        self.high = True
    monkeypatch.setattr(path_reduced.ReducedSystem, "__init__", high_init)
    red = run_path(pb, radii, precision=30, confirm_digits=1, method="reduced")
    ctx = dense.ctx
    for p, q in zip(dense.points, red.points):
        assert frob(ctx, msub(p.W, q.W)) < ctx.mpf(10) ** -30 * p.B
    sys_ = path_reduced.ReducedSystem(pb, pb.exact, ctx)
    x, nu = sys_.start(Fraction(3))
    aux = sys_.residual(x, nu, ctx.mpf(3))[2]
    J = sys_._jac_arb(aux, nu)
    J64 = sys_._jac_f64(aux, nu)
    n = sys_.n + 1
    assert max(abs(float(J[a, b].mid()) - J64[a, b]) for a in range(n) for b in range(n)) < 1e-12
    t = [ctx.mpf(k % 7 - 3) / (k + 1) for k in range(n)]
    Jt = sys_.jac_vec(aux, nu, t)
    for a in range(n):
        row = ctx.fsum(arb_mid_to_mpf(ctx, J[a, b]) * t[b] for b in range(n))
        assert abs(row - Jt[a]) < ctx.mpf(10) ** -30


DATA = Path(__file__).parent / "data"


def _data_problem(name):
    from ntpverify.instance import load_case
    from ntpverify.runner import numeric_problem, run_exact
    case = load_case(DATA / f"{name}.yaml")
    return numeric_problem(run_exact(case.instance, case.settings.gd.step))


def test_precision_follows_nu_when_it_falls_below_its_trend():
    """Calibration seed 1255 (near-collinear, V d = 12): nu = 7e-22 at B = 37 where
    e^(-B/||W^mm||) = 2e-12, so at the B-based digits Newton stalled at steps of 1e-53 above its
    4e-54 tolerance ("path Newton line search failed at B = 37.4076": an internal error through
    check). The digits follow nu too: the default radii are reached with the usual residuals."""
    from ntpverify.numeric.path import nu_digits
    pb = _data_problem("near-collinear-1255")
    path = run_path(pb, DEFAULT_RADII, precision=50, max_radius=F(80))
    ctx = path.ctx
    assert path.stopped is None and [p.B for p in path.points] == list(DEFAULT_RADII)
    p40 = path.points[-2]
    assert p40.digits >= nu_digits(ctx, 50, p40.nu) > path_digits(50, p40.B, float(ctx.sqrt(pb.W_mm_norm_sq)))
    assert all(p.stationarity < ctx.mpf(10) ** -50 for p in path.points)


def test_a_newton_failure_stops_the_path_and_the_claims_say_where(monkeypatch):
    """With the B-based digits alone, seed 1255's Newton fails between B = 20 and 80 (37.4 or 45.7,
    depending on the continuation steps): the path stops there with the radii before it, and thm1 /
    ext-path-rate are judged on those, saying where and why the path stopped, instead of raising."""
    from ntpverify.numeric import path as path_mod
    from ntpverify.numeric.path_claims import path_claims
    from ntpverify.status import Status
    pb = _data_problem("near-collinear-1255")
    monkeypatch.setattr(path_mod, "nu_digits", lambda ctx, precision, nu: 0)
    path = run_path(pb, DEFAULT_RADII, precision=50, max_radius=F(80))
    assert "path Newton line search failed at B = " in path.stopped and "towards radius" in path.stopped
    B_fail = float(path.stopped.split("failed at B = ")[1].split(",")[0])
    assert 20 < B_fail < 80 and [p.B for p in path.points] == [B for B in DEFAULT_RADII if B < B_fail]
    for claim in path_claims(pb, path):
        assert claim.status != Status.FAIL and claim.evidence["path_stopped"] == path.stopped
        assert "the path stopped" in claim.summary
    for claim in path_claims(pb, replace(path, points=path.points[:2])):
        assert claim.status == Status.INCONCLUSIVE and "the path stopped" in claim.summary


def test_check_of_seed_1255_gives_verdicts_not_an_error():
    """The whole tool at --budget 2 on seed 1255 (it raised NoConvergence, verdict "error")."""
    from ntpverify.instance import load_case
    from ntpverify.runner import run_case
    cert = run_case(load_case(DATA / "near-collinear-1255.yaml"), budget=2)
    claims = {c["id"]: c["status"] for c in cert["claims"]}
    assert cert["exact_verified"] and claims["thm1"] in ("pass", "inconclusive"), claims
    assert claims["ext-path-rate"] in ("pass", "inconclusive"), claims


def test_a_wrong_w_star_stops_the_doublings_once_p_f_settles(monkeypatch):
    """Calibration seed 3014 with W* moved by 1e-3: P_F(W_B) stops moving at B = 160 but never
    matches the claimed W*; the doublings used to go on to the largest radius (seed 3013 spent
    226 s of a 60 s budget that way: the dense Newton's cost model is per radius). The valid
    problem stops where W* is confirmed, as before."""
    import random

    from ntpverify import calibration, runner
    from ntpverify.instance import parse_case
    from ntpverify.numeric import path as path_mod

    cc = calibration.generate(3014)
    pb = runner.numeric_problem(runner.run_exact(parse_case(cc.text.encode(), cc.name).instance, None))
    bad, _ = calibration.perturb(pb, "W_star", random.Random(3014))
    radii = lambda pr: [int(p.B) for p in pr.points]  # noqa: E731
    good = run_path(pb, precision=30, budget=60)
    assert good.target_reached and radii(good)[-1] == 80
    wrong = run_path(bad, precision=30, budget=60)
    assert not wrong.target_reached and radii(wrong)[-1] == 160
    monkeypatch.setattr(path_mod._Tracer, "settled_elsewhere", lambda self: False)
    assert radii(run_path(bad, precision=30, budget=60))[-1] == 2560
