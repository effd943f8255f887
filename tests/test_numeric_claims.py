"""Claim checks on closed-form families, with negative controls (perturbed closed forms,
inadmissible steps, failing hypotheses) and the failure report."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import mpmath
import pytest

from closed_forms import (compatible_nonseparable, orthogonal_problem, perturbed,
                          separable_incompatible, three_orthogonal)
from ntpverify.numeric.failure import failure_report
from ntpverify.numeric.gd_claims import gd_claims
from ntpverify.numeric.offsets import offset_structure
from ntpverify.numeric.path_claims import path_claims
from ntpverify.numeric.gd import exact_data, run_gd
from ntpverify.numeric.path import run_path
from ntpverify.status import Status

F = Fraction


def by_id(claims):
    return {c.id: c for c in claims}


@pytest.fixture(scope="module")
def default_run():
    """10^6 float64 steps (0.3 s): the length the adaptive driver reaches on this case."""
    return run_gd(three_orthogonal(), 10**6, 30, backend="float64")


@pytest.fixture(scope="module")
def short_run():
    """2000 steps: too short for thm2."""
    return run_gd(three_orthogonal(), 2000, 30, backend="float64")


@pytest.fixture(scope="module")
def path():
    return run_path(three_orthogonal(), precision=50)


def test_lemma2_and_thm2_pass_on_the_orthogonal_case(default_run):
    claims = by_id(gd_claims(three_orthogonal(), default_run))
    assert claims["lemma2"].status == Status.PASS, claims["lemma2"].summary
    assert claims["thm2"].status == Status.PASS, claims["thm2"].summary
    ev = claims["thm2"].evidence
    assert {"projection", "direction", "cosine", "tolerances"} <= set(ev)
    for part in ("projection", "direction"):
        e = ev[part]
        assert {"model", "estimate", "resolution", "regime_test", "tolerance"} <= set(e)
        assert float(e["resolution"]) <= float(e["tolerance"])
    assert "k^-1 " in ev["projection"]["model"] or "k^-1." in ev["projection"]["model"]


def test_extensions_on_the_orthogonal_case(default_run):
    claims = by_id(gd_claims(three_orthogonal(), default_run))
    for cid in ("ext-loss-rate", "ext-proj-rate", "ext-angle-rate", "ext-offset"):
        assert claims[cid].status == Status.PASS, (cid, claims[cid].summary)


def test_a_short_run_is_inconclusive_with_the_k_needed(short_run, monkeypatch):
    """k = 2000 alone does not decide P_F(W_k) -> W*; GD's whole-W continuation, three decades
    further, does (validated on the run's last decade)."""
    thm2 = by_id(gd_claims(three_orthogonal(), short_run))["thm2"]
    assert thm2.status == Status.PASS, thm2.summary
    assert "GD continued in log time" in thm2.evidence["projection"]["quantity"]
    from ntpverify.numeric import logtime
    monkeypatch.setattr(logtime, "FULL_MAX_SIZE", 0)
    thm2 = by_id(gd_claims(three_orthogonal(), short_run))["thm2"]
    assert thm2.status == Status.INCONCLUSIVE
    assert "needs k" in thm2.summary
    assert any("needed" in thm2.evidence[part] for part in ("projection", "direction"))


@pytest.mark.parametrize("kind, claim", [("W_star", "thm2"), ("W_mm", "thm2"), ("H", "lemma2"),
                                         ("ext-loss", "ext-loss-rate"), ("ext-offset", "ext-offset")])
def test_wrong_closed_forms_fail(default_run, kind, claim):
    """Negative controls: the calibration perturbations (W* moved 1e-3 along F, W^mm turned by
    0.01-0.1 rad, H off by 1e-4, an ext-* constant off by 10 %) fail the claim they affect, and
    the evidence states the resolution it had."""
    import random
    from ntpverify.calibration import perturb
    for seed in range(3):
        pb, what = perturb(three_orthogonal(), kind, random.Random(seed))
        c = by_id(gd_claims(pb, default_run))[claim]
        assert c.status == Status.FAIL, (what, c.summary)
        assert "resolution" in c.summary or "impossible" in c.summary


def test_wrong_entropy_below_every_gap_fails_outright(default_run):
    """H raised by 1e-4 makes CE(W_k) - H negative: impossible (a sum of KL divergences)."""
    pb = perturbed(three_orthogonal(), "entropy")
    c = by_id(gd_claims(pb, default_run))["lemma2"]
    assert c.status == Status.FAIL


def test_perturbed_closed_forms_fail_on_the_closed_form_family(default_run):
    pb = three_orthogonal()
    assert by_id(gd_claims(perturbed(pb, "W_star"), default_run))["thm2"].status == Status.FAIL


def test_ext_offset_matches_at_the_affordable_k(default_run):
    """theory.md: offsets match to 1e-4 at k = 1e6 on orthogonal embeddings."""
    pb = three_orthogonal()
    claim = by_id(gd_claims(pb, default_run))["ext-offset"]
    worst = max(abs(float(p["observed"]) - float(p["predicted"])) for p in claim.evidence["pairs"])
    assert worst <= 1e-3, worst
    mu = offset_structure(pb, exact_data(pb)).mu
    assert abs(float(claim.evidence["mu"]) - mu) < 1e-3


def test_inadmissible_step_makes_gd_claims_not_applicable(default_run):
    pb = replace(three_orthogonal(), eta=F(3), eta_admissible=False)
    for claim in gd_claims(pb, default_run):
        assert claim.status == Status.NOT_APPLICABLE
        assert "admissible" in claim.summary


@pytest.mark.parametrize("make, words", [(separable_incompatible, "not compatible"),
                                         (compatible_nonseparable, "not separable")])
def test_failing_conditions_make_claims_not_applicable(make, words):
    pb = make()
    run = run_gd(pb, 100, 20)
    for claim in gd_claims(pb, run):
        assert claim.status == Status.NOT_APPLICABLE and words in claim.summary
    for claim in path_claims(pb, run_path(pb, precision=20)):
        assert claim.status == Status.NOT_APPLICABLE and words in claim.summary


def test_trivial_instance_is_not_applicable():
    pb = orthogonal_problem([(1, {0: F(1, 2), 1: F(1, 2)})], V=2)
    run = run_gd(pb, 100, 20)
    assert all(c.status == Status.NOT_APPLICABLE and "trivial" in c.summary for c in gd_claims(pb, run))


def test_short_runs_are_inconclusive():
    pb = three_orthogonal()
    claims = by_id(gd_claims(pb, run_gd(pb, 50, 20)))
    assert claims["lemma2"].status == Status.INCONCLUSIVE
    assert claims["thm2"].status == Status.INCONCLUSIVE


def test_thm1_and_path_rate_pass(path):
    claims = by_id(path_claims(three_orthogonal(), path))
    assert claims["thm1"].status == Status.PASS, claims["thm1"].summary
    assert claims["thm1"].evidence["digits_confirmed"] >= 30
    assert claims["ext-path-rate"].status == Status.PASS


@pytest.mark.parametrize("which", ["W_star", "W_mm"])
def test_perturbed_closed_forms_fail_thm1(path, which):
    """W* moved by 1e-3 along F, or W^mm turned by 0.01-0.1 rad (calibration perturbations)."""
    import random
    from ntpverify.calibration import perturb
    pb, what = perturb(three_orthogonal(), which, random.Random(0))
    claims = by_id(path_claims(pb, path))
    assert claims["thm1"].status == Status.FAIL, (what, claims["thm1"].summary)


def test_a_tangent_off_its_limit_fails_thm1_only_through_the_continued_path(path):
    """A 1e-3 change of one W^mm entry turns it by 6.8e-4 rad: on the multiprecision radii
    1 - cos(W_B, W^mm') still falls like 1/B^2 and the finite tangent's rate is a guess (it did not
    hold on calibration seeds 5 and 325 up to B = 2560), so that tangent is not judged; the path
    continued to B ~ 1e5 pins the tangent's limit to ~1e-6 and resolves the turn: thm1 fails."""
    claims = by_id(path_claims(perturbed(three_orthogonal(), "W_mm"), path))
    thm1 = claims["thm1"]
    assert thm1.status == Status.FAIL, thm1.summary
    assert "keeps falling like 1/B or faster, so not judged" in thm1.summary
    cont = thm1.evidence["direction_continued"]
    assert 5e-4 < float(cont["estimate"]["distance_to_claimed"]) < 1e-3
    assert float(cont["resolution"]) < 1e-5
    # the same run with the right W^mm passes through the same continuation
    ok = by_id(path_claims(three_orthogonal(), path))["thm1"].evidence["direction_continued"]
    assert float(ok["estimate"]["distance_to_claimed"]) <= float(ok["resolution"])


def test_failure_report_separable_but_incompatible():
    pb = separable_incompatible()
    rep = failure_report(pb, run_gd(pb, 20000, 30))
    assert rep["compatible"] is False and rep["separable"] is True
    pred = rep["finite_part"]["predicted"]
    assert float(pred["distance_P_F_W_final_to_W_F"]) < 1e-4
    est, min_ce_f = mpmath.mpf(rep["inf_ce"]["estimate"]), mpmath.mpf(pred["min_CE_F"])
    assert abs(est - min_ce_f) < 1e-4
    assert float(rep["inf_ce"]["gap_to_H"]) > 1e-3
    assert rep["norm"]["verdict"].startswith("diverges")


def test_failure_report_compatible_but_not_separable():
    pb = compatible_nonseparable()
    rep = failure_report(pb, run_gd(pb, 20000, 30))
    expected = 0.75 * (mpmath.log(3) - mpmath.mpf(2) / 3 * mpmath.log(2))
    assert abs(mpmath.mpf(rep["inf_ce"]["estimate"]) - expected) < 1e-4
    split = rep["finite_part"]["split"]
    assert abs(float(split["finite_part"][0][0]) - float(mpmath.log(2)) / 2) < 1e-3
    assert rep["norm"]["verdict"].startswith("diverges")


def _budget_after(pb, N, extra):
    """Modelled seconds of the adaptive run up to N = 10^3, 10^4 (FIRST_N and one decade), plus extra."""
    from ntpverify.numeric import drive
    assert N == 10 * drive.FIRST_N
    return (drive.extension_seconds(pb, "float64", 0, drive.FIRST_N)
            + drive.decade_seconds(pb, "float64", drive.FIRST_N) + extra)


def test_final_partial_stretch_is_run_and_judged(monkeypatch):
    """A budget that pays for N = 10^4 and a stretch to 5 x 10^4 but not 10^5, with lemma2
    undecided at 10^4 (it needs k about 3e4): the driver stretches to 5 N and stops; the claims
    use the decade points 5, 50, ..., 5 x 10^4 and lemma2 passes (milliseconds of float64). The
    whole-W continuation is switched off: it decides this case at N = 10^3 already."""
    from ntpverify.numeric import drive, logtime
    monkeypatch.setattr(logtime, "FULL_MAX_SIZE", 0)
    from ntpverify.numeric.gd_claims import decade_ks
    pb, N = three_orthogonal(), 10**4
    budget = _budget_after(pb, N, 1.001 * drive.extension_seconds(pb, "float64", N, 5 * N))
    assert budget < _budget_after(pb, N, drive.decade_seconds(pb, "float64", N))
    out = drive.run_gd_claims(pb, precision=30, backend="float64", budget=budget)
    assert [s["N"] for s in out.schedule] == [10**3, N, 5 * N]
    assert "lemma2" in out.schedule[1]["undecided"] and "stretch" in out.schedule[-1]
    assert f"final partial stretch to N = {5 * N}" in out.stop_reason
    assert decade_ks(out.run) == [5 * 10**p for p in range(5)]
    claims = by_id(out.claims)
    assert [e["k"] for e in claims["lemma2"].evidence["loss"]["errors"]] == decade_ks(out.run)
    assert claims["lemma2"].status == Status.PASS, claims["lemma2"].summary
    assert claims["thm2"].status == Status.PASS, claims["thm2"].summary


def test_no_final_stretch_that_cannot_decide(monkeypatch):
    """Only 2 N fits, but lemma2 needs k about 3e4 > 2 N: the run stops at N and says why (the
    whole-W continuation switched off, as above)."""
    from ntpverify.numeric import drive, logtime
    monkeypatch.setattr(logtime, "FULL_MAX_SIZE", 0)
    pb, N = three_orthogonal(), 10**4
    budget = _budget_after(pb, N, 1.001 * drive.extension_seconds(pb, "float64", N, 2 * N))
    out = drive.run_gd_claims(pb, precision=30, backend="float64", budget=budget)
    assert [s["N"] for s in out.schedule] == [10**3, N]
    assert "no final stretch" in out.stop_reason and "3e+04" in out.stop_reason


def test_final_stretch_factor():
    """5 N when it fits and reaches the k needed, else 2 N; none when neither reaches it."""
    from ntpverify.numeric.drive import extension_seconds, final_stretch
    pb, N = three_orthogonal(), 10**7
    five, two = (extension_seconds(pb, "float64", N, f * N) for f in (5, 2))
    assert final_stretch(pb, "float64", N, five, [1.6e7, 1e20]) == 5
    assert final_stretch(pb, "float64", N, (five + two) / 2, [1.6e7]) == 2
    assert final_stretch(pb, "float64", N, (five + two) / 2, [3e7]) is None
    assert final_stretch(pb, "float64", N, five, [1e20]) is None
    assert final_stretch(pb, "float64", N, two / 2, [1.6e7]) is None
    assert final_stretch(pb, "float64", 10**9, 1e9, [1.6e9]) is None      # beyond MAX_N


def test_thm2_holds_from_a_random_start():
    pb = three_orthogonal()
    claims = by_id(gd_claims(pb, run_gd(pb, 10**6, 30, backend="float64", init_seed=11)))
    assert claims["thm2"].status == Status.PASS, claims["thm2"].summary
    assert claims["lemma2"].status == Status.PASS


def test_degenerate_contract_example_is_reported_not_failed():
    """The case-format example has a weakly active constraint (C, c): the linearised model does
    not apply, thm2's direction is judged with the slowest rate 1/log k and never failed, and the
    degenerate extensions are named."""
    from closed_forms import three_contexts
    pb = three_contexts()
    claims = by_id(gd_claims(pb, run_gd(pb, 10**6, 30, backend="float64")))
    assert claims["lemma2"].status == Status.PASS
    thm2 = claims["thm2"]
    assert thm2.status != Status.FAIL and "degenerate" in thm2.summary
    assert "model_applies" in thm2.evidence["direction"]
    assert claims["ext-offset"].status != Status.FAIL and "degenerate" in claims["ext-offset"].summary
    assert "degenerate" in claims["ext-angle-rate"].summary


KNOWN = {"three-orthogonal": three_orthogonal, "separable-incompatible": separable_incompatible,
         "compatible-nonseparable": compatible_nonseparable}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_table_of_known_answers_through_both_backends(name):
    """Every closed form through both backends: identical reports, JSON-ready claims."""
    import json
    pb = KNOWN[name]()
    runs = {b: run_gd(pb, 300, 30, backend=b, init_seed=5) for b in ("flint", "mpmath")}
    reports = {b: [c.to_json() for c in gd_claims(pb, r)] for b, r in runs.items()}
    json.dumps(reports["flint"]), json.dumps(failure_report(pb, runs["flint"]))   # JSON-ready: raises if not
    strip = lambda cs: [(c["id"], c["status"], c["summary"]) for c in cs]  # noqa: E731
    assert strip(reports["flint"]) == strip(reports["mpmath"])
    assert runs["flint"].to_json()["checkpoints"] == runs["mpmath"].to_json()["checkpoints"]
