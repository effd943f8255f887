"""The verdict rule on synthetic sequences with known limits: it passes what converges at the
predicted rate, fails a wrong limit only in the asymptotic regime, and never fails a transient or
a sequence whose slowest mode it cannot see."""

from __future__ import annotations

import mpmath
import pytest

from ntpverify.numeric.estimate import RateModel, estimate_limit, needed_t
from ntpverify.status import Status

ctx = mpmath.MPContext()
ctx.dps = 30
KS = [10, 100, 1000, 10000, 100000]
ONE_OVER_K = RateModel("power", ctx.one, "1/k")


def judge(xs, target=0, tol=1e-4, model=ONE_OVER_K, ks=KS, **kw):
    return estimate_limit(ctx, ks, [[ctx.mpf(x)] for x in xs], [ctx.mpf(target)], ctx.mpf(tol),
                          ctx.mpf(10) ** -25, "x", model, **kw)


def test_one_over_k_converging_to_the_target_passes():
    est = judge([2 + 3 / k for k in KS], target=2)
    assert est.status == Status.PASS, est.note
    assert float(est.evidence["resolution"]) <= 1e-4


def test_a_wrong_target_fails_with_its_resolution_stated():
    est = judge([2 + 3 / k for k in KS], target=2.001)
    assert est.status == Status.FAIL, est.note
    assert float(est.evidence["resolution"]) < 1e-3 < float(est.evidence["estimate"]["distance_to_claimed"]) * 1.01


def test_a_discrepancy_below_the_resolution_is_not_a_fail():
    est = judge([2 + 3 / k for k in KS[:3]], target=2.00001, ks=KS[:3])
    assert est.status != Status.FAIL


def test_a_transient_is_never_failed():
    """||P_F(W_k) - W*|| of the issue's m = 6 instance: 2.0, 4.4, 6.4, 3.4, 0.10 at k = 1e2..1e6."""
    est = judge([2.0, 4.4, 6.4, 3.4, 0.10], target=0, ks=[100, 1000, 10000, 100000, 1000000])
    assert est.status == Status.INCONCLUSIVE
    assert not est.in_regime


def test_the_issue_instance_converging_like_one_over_k_is_not_failed():
    """0.86, 0.12, 0.0047, 0.00065 at k = 20 .. 2e4: Aitken failed it; the 1/k model does not."""
    est = judge([0.86, 0.12, 0.0047, 0.00065], target=0, ks=[20, 200, 2000, 20000])
    assert est.status != Status.FAIL, est.note


def test_a_slow_mode_hidden_behind_a_fast_one_is_not_failed():
    """x_k = 0.05 k^-0.3 + 0.001 k^-0.03 with the slowest rate 0.03 predicted: the increments shrink
    like k^-0.3, much faster than the model, so the extrapolation may overshoot and is not trusted."""
    slow = RateModel("power", ctx.mpf("0.03"), "slowest mode")
    xs = [0.05 * k ** -0.3 + 0.001 * k ** -0.03 for k in KS]
    est = judge(xs, target=0, tol=0.05, model=slow, agreement="error")
    assert est.status != Status.FAIL, est.note
    assert est.evidence["estimate"]["model_rate_confirmed"] is False


def test_a_sequence_slower_than_the_model_counts_the_spread_between_rates():
    xs = [0.3 * k ** -0.6 for k in KS]           # model says 1/k; observed k^-0.6
    est = judge(xs, target=0, tol=1e-2)
    assert est.status != Status.FAIL
    assert float(est.evidence["estimate"]["rate_spread"]) > 0


@pytest.mark.parametrize("kind, model, ts", [
    ("exp", RateModel("exp", ctx.mpf("0.5"), "e^-B/2", axis="B"), [10, 20, 40, 80, 160]),
    ("log", RateModel("log", ctx.one, "1/log k"), KS)])
def test_other_models_pass_their_own_sequences_and_fail_a_shifted_target(kind, model, ts):
    xs = [1 + model.decay(ctx, t) * 1e-3 for t in ts]
    good = judge(xs, target=1, tol=1e-2, model=model, ks=ts)
    assert good.status != Status.FAIL, good.note
    if kind == "exp":
        assert good.status == Status.PASS
        bad = judge(xs, target=1.01, tol=1e-2, model=model, ks=ts)
        assert bad.status == Status.FAIL, bad.note


def test_fail_is_withheld_when_the_model_does_not_apply():
    est = judge([2 + 3 / k for k in KS], target=2.001, fail_allowed=False, model_note="degenerate")
    assert est.status == Status.INCONCLUSIVE and "model_applies" in est.evidence


def test_no_fail_rests_on_the_first_steps():
    ks = [1, 10, 100]
    est = judge([2 + 3 / k for k in ks], target=2.1, ks=ks, settle_from=100)
    assert est.status != Status.FAIL


def test_the_k_needed_reads_back_from_the_evidence():
    """The adaptive driver reads the needed k back (its final stretch) as a number, beside the text."""
    est = judge([2 + 3 / k for k in KS], target=2, tol=1e-9)
    assert est.status == Status.INCONCLUSIVE and 1e5 < needed_t(est.evidence) < 1e12
    assert float(est.evidence["needed"].split()[-1]) == pytest.approx(needed_t(est.evidence), rel=0.06)
    assert needed_t({"needed_log10": {"k": 400.0}}) == float("inf")
    for ev in ({"needed": "a longer run"}, {"needed_log10": {"B": 1.75}}, {}, None):
        assert needed_t(ev) is None
    assert needed_t({"needed_log10": {"B": 1.75}}, axis="B") == pytest.approx(56.2341325)
