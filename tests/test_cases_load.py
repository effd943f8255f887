"""Every case file in cases/ loads, is named after its file, and carries hand-derived expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from ntpverify.instance import load_case

CASES = sorted((Path(__file__).resolve().parents[1] / "cases").glob("*.yaml"))


def test_there_are_cases():
    assert len(CASES) >= 9


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_loads_with_name_and_expectations(path):
    case = load_case(path)
    assert case.instance.name == path.stem
    assert case.expect, f"{path.name} has no expect block"
    assert case.path == str(path)
    assert len(case.sha256) == 64


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_starts_with_an_explaining_comment(path):
    first = path.read_text(encoding="utf-8").lstrip().splitlines()[0]
    assert first.startswith("#"), f"{path.name} should open with a comment saying what it shows"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_expectations_fit_the_instance(path):
    case = load_case(path)
    inst, exp = case.instance, case.expect
    if "W_mm" in exp and "W_mm_norm_sq" in exp:
        # ||W^mm||^2 stated twice must agree (both exact rationals).
        norm_sq = sum(x.as_rational() ** 2 for row in exp["W_mm"] for x in row)
        assert exp["W_mm_norm_sq"].as_rational() == norm_sq
    if "margin" in exp and "W_mm_norm_sq" in exp:
        assert (exp["margin"] * exp["margin"]).as_rational() * exp["W_mm_norm_sq"].as_rational() == 1
    if "W_mm" in exp:
        # W^mm has zero column sums (theory.md section 3).
        for k in range(inst.d):
            assert sum(exp["W_mm"][v][k].as_rational() for v in range(inst.V)) == 0
    for ctx, tok in exp.get("support", ()):
        j, v = inst.contexts.index(ctx), inst.vocab.index(tok)
        assert inst.P[j][v] == 0, f"support pair ({ctx}, {tok}) is inside S_{ctx}"
    if exp.get("claims", {}).get("remark1") == "pass":
        assert all(len(s) == 1 for s in inst.supports)
    if exp.get("claims", {}).get("lemma1") == "pass":
        assert inst.d > inst.m
