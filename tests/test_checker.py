"""The trusted checker: accepts honest certificates, rejects tampered ones, imports little."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest

from ntpverify import checker
from ntpverify.instance import load_case
from ntpverify.runner import run_case

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def certs():
    out = {}
    for name in ("three-contexts", "logodds-near-miss", "not-separable", "onehot-binary"):
        out[name] = run_case(load_case(ROOT / "cases" / f"{name}.yaml"), numeric=False)
    return out


def test_honest_certificates_verify(certs):
    for name, cert in certs.items():
        assert cert["exact_verified"], name
        assert checker.verify(cert) == [], name
        assert checker.verify(json.loads(json.dumps(cert))) == [], name


def _bump(x: str) -> str:
    from fractions import Fraction
    return str(Fraction(x) + Fraction(1, 7))


def _flip_digit(text: str, i: int) -> str:
    return text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:]


MUTANTS = {
    "W_mm entry": lambda c: c["exact"]["W_mm"][0].__setitem__(0, _bump(c["exact"]["W_mm"][0][0])),
    "W_mm sign": lambda c: c["exact"]["W_mm"][0].__setitem__(2, "-" + c["exact"]["W_mm"][0][2]),
    "W_mm rows swapped": lambda c: c["exact"]["W_mm"].__setitem__(slice(0, 2), c["exact"]["W_mm"][1::-1]),
    "lambda changed": lambda c: c["exact"]["multipliers"][0].__setitem__("lambda", _bump(c["exact"]["multipliers"][0]["lambda"])),
    "multiplier dropped": lambda c: c["exact"]["multipliers"].pop(0),
    "mu dropped": lambda c: c["exact"]["equality_multipliers"].pop(0),
    "norm_sq changed": lambda c: c["exact"].__setitem__("W_mm_norm_sq", _bump(c["exact"]["W_mm_norm_sq"])),
    "margin changed": lambda c: c["exact"]["margin"].__setitem__("expr", "1/3"),
    "margin value changed": lambda c: c["exact"]["margin"].__setitem__("value", "0.51"),
    "support pair dropped": lambda c: c["exact"]["support"].pop(),
    "entropy expr": lambda c: c["exact"]["entropy"].__setitem__("expr", "1/9*log(2) + 1/3*log(5)"),
    "entropy coefficient": lambda c: c["exact"]["entropy"]["log_coefficients"].__setitem__("2", "1/8"),
    "entropy value digit": lambda c: c["exact"]["entropy"].__setitem__("value", _flip_digit(c["exact"]["entropy"]["value"], 20)),
    "F_dim": lambda c: c["exact"].__setitem__("F_dim", c["exact"]["F_dim"] + 1),
    "F basis element dropped": lambda c: c["exact"]["F_basis"].pop(),
    "F projector entry": lambda c: c["exact"]["F_projector"][0].__setitem__(0, "1"),
    "F projector scaled": lambda c: c["exact"].__setitem__(
        "F_projector", [[_bump(x) if x != "0" else x for x in r] for r in c["exact"]["F_projector"]]),
    "W_star expr": lambda c: c["exact"]["W_star"]["expr"][0].__setitem__(0, "1/3*log(2)"),
    "W_star value": lambda c: c["exact"]["W_star"]["value"][0].__setitem__(0, "0.35"),
    "W_star beta": lambda c: c["exact"]["W_star"]["by_prime"][0]["beta"][0].__setitem__("beta", "-1/3"),
    "instance probability": lambda c: c["case"]["instance"]["contexts"][0]["next"].update({"a": "1/2", "b": "1/2"}),
    "instance embedding": lambda c: c["case"]["instance"]["contexts"][1]["embedding"].__setitem__(0, "1"),
    "instance weight": lambda c: [c["case"]["instance"]["contexts"][k].__setitem__("weight", w)
                                  for k, w in enumerate(("1/2", "1/4", "1/4"))],
    "instance token renamed": lambda c: c["case"]["instance"]["vocabulary"].__setitem__(3, "z"),
    "step eta": lambda c: c["exact"]["step"].__setitem__("eta", "1"),
    "step L entry": lambda c: c["exact"]["step"]["ldl"]["L"][1].__setitem__(0, _bump(c["exact"]["step"]["ldl"]["L"][1][0])),
    "step D negative": lambda c: c["exact"]["step"]["ldl"]["D"].__setitem__(0, "-" + c["exact"]["step"]["ldl"]["D"][0]),
    "verdict": lambda c: c.__setitem__("verdict", "fail"),
    "expectation status": lambda c: c["expectations"][0].__setitem__("status", "fail"),
    "compatible flipped": lambda c: c["exact"].__setitem__("compatible", False),
    "separable flipped": lambda c: c["exact"].__setitem__("separable", False),
    "trivial flipped": lambda c: c["exact"].__setitem__("trivial", True),
    "format": lambda c: c.__setitem__("format", "ntpverify-certificate/2"),
    # JSON types that Python would equate with the right ones
    "F_dim as float": lambda c: c["exact"].__setitem__("F_dim", float(c["exact"]["F_dim"])),
    "V as float": lambda c: c["case"].__setitem__("V", float(c["case"]["V"])),
    "compatible as 1": lambda c: c["exact"].__setitem__("compatible", 1),
    "separable as 1": lambda c: c["exact"].__setitem__("separable", 1),
    "trivial as 0": lambda c: c["exact"].__setitem__("trivial", 0),
    "admissible as 1": lambda c: c["exact"]["step"].__setitem__("admissible", 1),
    "prime as float": lambda c: c["exact"]["W_star"]["by_prime"][0].__setitem__(
        "prime", float(c["exact"]["W_star"]["by_prime"][0]["prime"])),
    "pair as one string": lambda c: c["exact"]["support"].__setitem__(0, "".join(c["exact"]["support"][0])),
    "embedding as one string": lambda c: c["case"]["instance"]["contexts"][0].__setitem__(
        "embedding", "".join(c["case"]["instance"]["contexts"][0]["embedding"])),
    "vocabulary as one string": lambda c: c["case"]["instance"].__setitem__(
        "vocabulary", "".join(c["case"]["instance"]["vocabulary"])),
    "rational as JSON number": lambda c: c["case"]["instance"]["contexts"][0].__setitem__(
        "embedding", [int(x) for x in c["case"]["instance"]["contexts"][0]["embedding"]]),
    # the requested step: an auto step must carry its 2% proof
    "auto flipped": lambda c: c["exact"]["step"].__setitem__("auto", False),
    "requested changed": lambda c: c["exact"]["step"].__setitem__("requested", c["exact"]["step"]["eta"]),
    "requested missing": lambda c: c["exact"]["step"].pop("requested"),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_tampered_certificates_are_rejected(certs, mutant):
    cert = copy.deepcopy(certs["three-contexts"])
    MUTANTS[mutant](cert)
    assert checker.verify(cert), f"mutant {mutant!r} was accepted"


def test_tampered_incompatibility_and_farkas(certs):
    near = copy.deepcopy(certs["logodds-near-miss"])
    near["exact"]["incompatibility"]["y"][0]["y"] = 2
    assert checker.verify(near)
    sep = copy.deepcopy(certs["not-separable"])
    sep["exact"]["farkas"]["lambda"].pop()
    assert checker.verify(sep)


def test_checker_reports_named_kkt_violations(certs):
    cert = copy.deepcopy(certs["three-contexts"])
    cert["exact"]["multipliers"][0]["lambda"] = "-1/2"
    failed = {name for name, ok, _ in checker.checks(cert) if not ok}
    assert {"kkt.dual_feasibility", "kkt.stationarity", "kkt.strong_duality"} <= failed


def test_checker_imports_only_exact_arithmetic():
    tree = ast.parse((ROOT / "ntpverify" / "checker.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add((node.module or "").split(".")[0] if node.level == 0 else "<relative>")
    assert names <= {"fractions", "math", "flint"}, names
    # style.md aims at 500 lines; theory.md section 7 (decomposition, What, inf CE's bracket) added ~100
    assert len((ROOT / "ntpverify" / "checker.py").read_text().splitlines()) < 550


def test_incompatibility_with_a_huge_witness_is_written_in_primes():
    """Dependent generic embeddings give a left-null vector y with 20-digit entries: the product
    prod r_i^y_i (here 2^(10^21)-sized) is not written out, only its prime exponents; the checker
    recomputes them from y (it used to compute the product itself, and so did the producer)."""
    from random_case import random_case_text

    from ntpverify.instance import parse_case

    cert = run_case(parse_case(random_case_text(30, 10, 4, 4, 0).encode(), "<dependent>"), numeric=False)
    inc = cert["exact"]["incompatibility"]
    assert inc["product"] is None and min(len(str(abs(e))) for e in inc["product_exponents"].values()) >= 20
    assert checker.verify(cert) == []
    q = next(iter(inc["product_exponents"]))
    for edit in (lambda i: i["product_exponents"].__setitem__(q, i["product_exponents"][q] + 1),
                 lambda i: i.__setitem__("product", "2"),
                 lambda i: i.__setitem__("product_exponents", {}),
                 lambda i: i["y"][0].__setitem__("y", i["y"][0]["y"] + 1)):
        bad = copy.deepcopy(cert)
        edit(bad["exact"]["incompatibility"])
        assert checker.verify(bad), "a tampered long witness was accepted"
