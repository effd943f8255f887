"""GD continued in log time (``numeric.logtime``): it reproduces GD where GD has been, its growth
direction contracts at the theory's rate, and thm2's direction verdict built on it passes valid
instances, fails a turned W^mm, and refuses to judge when the continuation misses GD."""

from __future__ import annotations

import random
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from ntpverify import calibration, runner
from ntpverify.instance import parse_case
from ntpverify.numeric import logtime
from ntpverify.numeric.gd import run_gd
from ntpverify.numeric.gd_claims import gd_claims
from ntpverify.status import Status

N = 10**6


def problem_of(seed):
    cc = calibration.generate(seed)
    case = parse_case(cc.text.encode(), cc.name)
    return runner.numeric_problem(runner.run_exact(case.instance, None))


@pytest.fixture(scope="module", params=[14, 18])
def generic(request):
    """Calibration seeds 14 (collinear) and 18 (one-hot): thm2 was inconclusive on both at
    k = 10^7 before the continuation (decade growth direction 0.058 and 0.055 from W^mm)."""
    pb = problem_of(request.param)
    return pb, run_gd(pb, N, 15, backend="float64")


@pytest.fixture(scope="module")
def degenerate():
    """Seed 17 (weakly active constraint): the linearised rate does not apply."""
    pb = problem_of(17)
    return pb, run_gd(pb, N, 15, backend="float64")


def by_id(claims):
    return {c.id: c for c in claims}


def arrays(run, k):
    c = run.at(k)
    return logtime.to_array(c.W), logtime.to_array(c.PF)


def test_the_continuation_reproduces_gd_over_two_decades(generic):
    pb, run = generic
    W0, PF0 = arrays(run, N // 100)
    W1, _ = arrays(run, N)
    assert logtime.validate(pb.exact, pb.eta, W0, PF0, N // 100, W1, N) < 1e-2
    # negative control: the flow of a step twice as long is not this run's
    assert logtime.validate(pb.exact, 2 * pb.eta, W0, PF0, N // 100, W1, N) > 0.1


def test_the_growth_direction_contracts_at_the_predicted_rate(generic):
    pb, run = generic
    W, PF = arrays(run, N)
    rho = pb.offsets.direction_rate()
    ss, Ps, _ = logtime.continue_run(pb.exact, pb.eta, W, PF, N, rho)
    Wmm = logtime.to_array(pb.W_mm).reshape(-1)
    u = Wmm / np.linalg.norm(Wmm)
    errs = [np.linalg.norm((b - a) / np.linalg.norm(b - a) - u) for a, b in zip(Ps, Ps[1:])]
    ratios = [e1 / e0 for e0, e1 in zip(errs[2:], errs[3:]) if e1 > 1e-7]
    assert len(ratios) >= 3
    assert all(0.5 * logtime.CONTRACTION < r < 1.5 * logtime.CONTRACTION for r in ratios), ratios
    growth = np.linalg.norm(Ps[-1] - Ps[-2]) / (ss[-1] - ss[-2])
    assert abs(growth / np.linalg.norm(Wmm) - 1) < 1e-6     # ||W^mm|| per unit of log k


def test_thm2_passes_through_the_continuation(generic):
    pb, run = generic
    thm2 = by_id(gd_claims(pb, run))["thm2"]
    cont = thm2.evidence["direction_continued"]
    assert thm2.status == Status.PASS, thm2.summary
    assert float(cont["resolution"]) <= 1e-3 and float(cont["validation"]["relative_mismatch"]) < 1e-2
    assert float(thm2.evidence["direction"]["errors"][-1]["error"]) > 1e-3   # GD itself is far


@pytest.mark.parametrize("seed", range(3))
def test_a_turned_w_mm_fails_through_the_continuation(generic, seed):
    pb, run = generic
    bad, what = calibration.perturb(pb, "W_mm", random.Random(seed))
    thm2 = by_id(gd_claims(bad, run))["thm2"]
    assert thm2.status == Status.FAIL, (what, thm2.summary)
    cont = thm2.evidence["direction_continued"]
    assert float(cont["estimate"]["distance_to_claimed"]) > float(cont["resolution"])


def test_degenerate_instances_pass_but_are_never_failed(degenerate):
    pb, run = degenerate
    thm2 = by_id(gd_claims(pb, run))["thm2"]
    assert thm2.status == Status.PASS, thm2.summary
    assert "model_applies" in thm2.evidence["direction_continued"]
    bad, what = calibration.perturb(pb, "W_mm", random.Random(0))
    assert by_id(gd_claims(bad, run))["thm2"].status != Status.FAIL


def test_a_run_the_continuation_misses_is_not_judged_by_it(generic):
    """A wrong step in the problem handed to the claims: GD's last decade is not the flow's, so
    the continuation refuses (and the rest of the verdict stands on GD alone)."""
    pb, run = generic
    thm2 = by_id(gd_claims(replace(pb, eta=pb.eta * 2), run))["thm2"]
    cont = thm2.evidence["direction_continued"]
    assert cont["validation"]["relative_mismatch"] and "not used" in thm2.summary


def test_the_continued_path_goes_past_a_transient_and_passes_thm1():
    """Calibration seed 325: the path tangent sat 1.8e-3..2.1e-3 from W^mm at B = 1280..5120 (a
    non-support constraint of small margin excess), then fell to 1e-6; the continuation goes
    past it, reproduces the multiprecision path's last step, and passes thm1; a turned W^mm fails."""
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pb = problem_of(325)
    pr = run_path(pb, precision=30, budget=15)
    thm1 = by_id(path_claims(pb, pr))["thm1"]
    cont = thm1.evidence["direction_continued"]
    assert thm1.status == Status.PASS, thm1.summary
    assert float(cont["validation"]["relative_mismatch"]) < 1e-6
    assert max(float(e["error"]) for e in cont["errors"]) > 1e-3 > float(cont["errors"][-1]["error"])
    bad, what = calibration.perturb(pb, "W_mm", random.Random(1))
    assert by_id(path_claims(bad, pr))["thm1"].status == Status.FAIL, what


def test_ext_offset_through_the_continuation(generic):
    """The offsets converge like k^-mu: GD alone is far at 1e6 steps, the continuation pins them to
    1e-8; multipliers scaled by 1.1 (offsets off by log 1.1) fail."""
    pb, run = generic
    off = by_id(gd_claims(pb, run))["ext-offset"]
    assert off.status == Status.PASS, off.summary
    assert "continued in log time" in off.summary and "frozen_F_part" in off.evidence["limit"]
    bad, what = calibration.perturb(pb, "ext-offset", random.Random(0))
    assert by_id(gd_claims(bad, run))["ext-offset"].status == Status.FAIL, what


def test_ext_loss_rate_through_the_continuation(generic):
    """eta k (CE - H) -> ||W^mm||^2 like k^-rho: decided on the continuation's tail part; a norm
    off by 10 % fails."""
    pb, run = generic
    loss = by_id(gd_claims(pb, run))["ext-loss-rate"]
    assert loss.status == Status.PASS and "continued in log time" in loss.summary, loss.summary
    bad, what = calibration.perturb(pb, "ext-loss", random.Random(0))
    assert by_id(gd_claims(bad, run))["ext-loss-rate"].status == Status.FAIL, what


def test_the_explanation_names_the_continuation_axis(generic):
    from ntpverify.explain import _limit_sentence
    pb, run = generic
    ev = by_id(gd_claims(pb, run))["thm2"].evidence["direction_continued"]
    text = _limit_sentence(ev)
    assert "at log k = " in text and "None" not in text


def test_the_continued_path_decides_w_star_where_the_multiprecision_radii_stop():
    """Calibration seed 9: the multiprecision path stops at B = 10 with P_F(W_B) still 0.5 from
    W* (not in regime); the continued path solves the F-part too and pins it to ~1e-11; a W*
    moved by 1e-3 along F fails."""
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pb = problem_of(9)
    pr = run_path(pb, precision=30, budget=3)
    thm1 = by_id(path_claims(pb, pr))["thm1"]
    cont = thm1.evidence["projection_continued"]
    assert thm1.status == Status.PASS, thm1.summary
    assert float(thm1.evidence["projection"]["errors"][-1]["error"]) > 0.1
    assert float(cont["errors"][-1]["error"]) < 1e-9
    bad, what = calibration.perturb(pb, "W_star", random.Random(0))
    assert by_id(path_claims(bad, pr))["thm1"].status == Status.FAIL, what


def test_a_direction_exactly_on_w_mm_passes():
    """Calibration seed 22 (d = 1): W_B lies on W^mm's line, 1 - cos(W_B, W^mm) is 0 to working
    precision and cannot fall; that is no reason for an inconclusive."""
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pb = problem_of(22)
    thm1 = by_id(path_claims(pb, run_path(pb, precision=30, budget=10)))["thm1"]
    assert thm1.status == Status.PASS, thm1.summary
    assert float(thm1.evidence["cosine"]["cos_gap"][-1]["cos_gap"]) < 1e-60


def test_a_slowly_fading_non_support_constraint_blocks_a_fail():
    """Calibration seed 1085 (near-collinear, ||W^mm|| = 43, smallest margin excess 0.0054): the
    continued tangent settles 5.5e-5 from W^mm at B = 8e4, where that constraint still weighs
    e^(-gap B/||W^mm||) = 3e-5: not a contradiction of thm1 (it was a false fail in the budget-2
    calibration)."""
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pb = problem_of(1085)
    thm1 = by_id(path_claims(pb, run_path(pb, precision=30, budget=1.5)))["thm1"]
    assert thm1.status == Status.INCONCLUSIVE, thm1.summary
    assert "still weigh" in thm1.evidence["direction_continued"]["model_applies"]


def test_the_continued_path_starts_where_nu_underflows_float64():
    """At B = 1280 on the three-orthogonal case nu = e^-873, below float64's range: the path's
    own log nu is handed over (float(nu) = 0 made the continuation raise a math domain error on 7
    of 30 W*-perturbation calibration runs)."""
    from closed_forms import three_orthogonal
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pr = run_path(three_orthogonal(), [Fraction(320), Fraction(640), Fraction(1280)], precision=20)
    assert float(pr.points[-1].nu) == 0.0
    thm1 = by_id(path_claims(three_orthogonal(), pr))["thm1"]
    assert thm1.status == Status.PASS, thm1.summary
    assert float(thm1.evidence["direction_continued"]["validation"]["relative_mismatch"]) < 1e-10


def test_the_continuation_keeps_its_tolerance_above_float64_noise():
    """Calibration seed 1117 (weakly active, ||W^mm|| = 12): at s ~ 5e3 the logits reach ~5e4 and
    an ODE tolerance of 1e-10 sat below the right-hand side's own float64 noise: LSODA took 2.4 M
    evaluations for one stretch (a calibration run hung). The tolerance now follows the logits'
    size, the floor follows the tolerance, and a stretch over MAX_EVALS stops the continuation."""
    pb = problem_of(1117)
    run = run_gd(pb, 10**4, 15, backend="float64")
    W, PF = arrays(run, 10**4)
    ss, Ps, info = logtime.continue_run(pb.exact, pb.eta, W, PF, 10**4, pb.offsets.direction_rate())
    assert ss[-1] > 5e3 and info["floor"] > logtime.FLOOR


def test_no_projection_fail_while_the_direction_is_in_its_transient(monkeypatch):
    """Calibration seed 1385 (near-collinear) at k = 1e5: P_F(W_k)'s last two decades shrink like
    1/k, but W_k itself is in its transient (1 - cos = 0.13, the direction estimates' increments
    growing): the projection's estimate 1.9e-3 from W* was a false fail at budget 2. GD's whole-W
    continuation, three decades further, shows where P_F(W_k) goes: to W*."""
    pb = problem_of(1385)
    run = run_gd(pb, 10**5, 15, backend="float64")
    thm2 = by_id(gd_claims(pb, run))["thm2"]
    assert thm2.status == Status.PASS, thm2.summary
    assert "not judged: W_k's direction is not in its asymptotic regime" in thm2.summary
    assert thm2.evidence["projection"]["gd"]["in_regime"]          # the run's own estimate, not judged
    monkeypatch.setattr(logtime, "FULL_MAX_SIZE", 0)                # the control: without the continuation
    thm2 = by_id(gd_claims(pb, run))["thm2"]
    assert thm2.status == Status.INCONCLUSIVE, thm2.summary
    assert "not judged: W_k's direction is not in its asymptotic regime" in thm2.summary


def test_a_resolved_discrepancy_blocks_a_pass_even_when_not_judged():
    """Calibration seed 1027 (weakly active) with W^mm turned by 0.0118 rad: the finite-radius
    direction estimates agree within their 0.05 tolerance, and the continued tangent resolves the
    turn (0.0118 against a resolution of 3e-5) but may not fail (a non-support constraint still
    weighs over 1e-12). thm1 passed; now it is inconclusive."""
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pb = problem_of(1027)
    bad, what = calibration.perturb(pb, "W_mm", random.Random(1027))
    pr = run_path(pb, precision=30, budget=10)
    thm1 = by_id(path_claims(bad, pr))["thm1"]
    assert thm1.status == Status.INCONCLUSIVE, (what, thm1.summary)
    assert by_id(path_claims(pb, pr))["thm1"].status == Status.PASS


def test_a_continuation_slower_than_predicted_blocks_a_pass():
    """Calibration seed 2017 (weakly active) with W^mm turned by 0.028 rad: the turned W^mm hides
    the degeneracy and predicts e^(-0.12 log k); the continued direction settles 0.0279 from it like
    1/log k, so it was 'not in regime' and the decade direction (0.045 from it, tolerance 0.05)
    passed thm2. Judged again at the slowest rate the theory allows, it resolves the turn."""
    pb = problem_of(2017)
    bad, what = calibration.perturb(pb, "W_mm", random.Random(2017))
    run = run_gd(pb, N, 15, backend="float64")
    thm2 = by_id(gd_claims(bad, run))["thm2"]
    assert thm2.status == Status.INCONCLUSIVE, (what, thm2.summary)
    assert "at the slowest rate the theory allows" in thm2.summary
    cont = thm2.evidence["direction_continued"]
    assert cont["model"].startswith("x_log k - X ~ c log k^-1")
    assert "predicted_rate_estimate" in cont
    good = by_id(gd_claims(pb, run))["thm2"]
    assert good.status == Status.PASS, good.summary


def test_a_passing_continuation_supersedes_a_finite_run_fail():
    """Calibration seed 4059 (m = 2, d = 4, V = 7) at k = 1e7: the decade growth direction's
    increments shrink at the predicted k^-1/6 while its error falls 6 % a decade, and its estimate
    failed 0.163 from W^mm, a false fail at the default budget; the continuation from k = 1e7, the
    same trajectory further on, reaches W^mm to 1e-11. A turned W^mm still fails."""
    pb = problem_of(4059)
    run = run_gd(pb, 10**7, 15, backend="float64")
    thm2 = by_id(gd_claims(pb, run))["thm2"]
    assert thm2.status == Status.PASS, thm2.summary
    assert "not judged: GD continued in log time (the same trajectory, further on)" in thm2.summary
    bad, what = calibration.perturb(pb, "W_mm", random.Random(4059))
    assert by_id(gd_claims(bad, run))["thm2"].status == Status.FAIL, what


def test_the_continued_path_goes_on_until_non_support_weight_is_negligible():
    """Calibration seed 3025 (near-collinear, non-support margin excess 0.0011) with W^mm turned by
    0.015 rad: the continued tangent settled 0.0147 from it at B = 20480 with a non-support weight
    of 1.4e-7 left, so it was gated and thm1 stayed inconclusive. The continuation now runs on past
    a settled tangent until that weight is below 1e-12 (B = 40960), and thm1 fails; the valid
    problem passes."""
    from ntpverify.numeric.path import run_path
    from ntpverify.numeric.path_claims import path_claims
    pb = problem_of(3025)
    bad, what = calibration.perturb(pb, "W_mm", random.Random(3025))
    pr = run_path(pb, precision=50, budget=60)
    thm1 = by_id(path_claims(bad, pr))["thm1"]
    assert thm1.status == Status.FAIL, (what, thm1.summary)
    cont = thm1.evidence["direction_continued"]
    assert float(cont["non_support_weight"].split("= ")[1].split()[0]) < 1e-12
    assert by_id(path_claims(pb, pr))["thm1"].status == Status.PASS
