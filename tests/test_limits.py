"""The work envelope: instances beyond what the exact layer finishes in about a minute are refused
up front (exit 2, one paragraph saying what to do), and --allow-large runs them anyway."""

from __future__ import annotations

import pytest
from clihelp import CASES, run
from random_case import random_case_text

from ntpverify import instance
from ntpverify.errors import BadInput
from ntpverify.instance import load_case, parse_case


def _parse(m, d, V, support=1):
    return parse_case(random_case_text(m, d, V, support, 0).encode(), "<case>")


def test_bundled_cases_and_the_paper_size_are_inside():
    for path in sorted(CASES.glob("*.yaml")):
        load_case(path)
    _parse(50, 60, 10, 6)                     # the paper's App. A.2 shape


def test_the_bounds_are_the_measured_ones():
    """The README's Limits table was measured against these values (scripts/limits.py)."""
    assert (instance.WORK_CONSTRAINTS, instance.WORK_EXCESS, instance.WORK_ENTRIES, instance.WORK_D) == (
        1000, 250, 5000, 500)


# each rule at its bound (accepted) and one past it (refused, naming the rule)
@pytest.mark.parametrize("at, past, rule", [
    ((100, 100, 11), (101, 101, 11), "m (V - 1) = 101 x 10 = 1010 constraints"),
    ((85, 60, 11), (86, 60, 11), "(V - 1)(m - d) = 10 x 26 = 260 constraints beyond the dimension"),
    ((10, 250, 20), (10, 251, 20), "V d = 20 x 251 = 5020 decoder entries"),
    ((2, 500, 2), (2, 501, 2), "d = 501 embedding dimensions"),
])
def test_each_bound_is_sharp(at, past, rule):
    _parse(*at)
    with pytest.raises(BadInput) as info:
        _parse(*past)
    msg = info.value.render()
    assert rule in msg and "--allow-large" in msg and "smaller" in msg
    assert parse_case(random_case_text(*past, 1, 0).encode(), "<case>", allow_large=True).instance.d == past[1]


def test_corpus_cases_are_bounded_too():
    seq = " ".join(f"t{i}" for i in range(60))       # 59 contexts of one token, V = 60, one-hot d = 59
    text = f"name: big-corpus\ncorpus:\n  sequences:\n    - {seq}\n  context: 1\nembeddings:\n  kind: one-hot\n"
    with pytest.raises(BadInput) as info:
        parse_case(text.encode(), "<corpus>")
    assert "m (V - 1) = 59 x 59 = 3481 constraints" in info.value.render()
    assert info.value.place == "corpus"
    small = text.replace(seq, " ".join(f"t{i}" for i in range(30)))
    assert parse_case(small.encode(), "<corpus>").instance.m == 29


def test_cli_refuses_with_status_2_and_no_output(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(random_case_text(50, 60, 40, 6, 0))
    out = tmp_path / "cert.json"
    for args in (["check", big, "--json", out], ["derive", big], ["gd", big, "--iterations", "10"]):
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(big) in lines[0] and "1950 constraints" in lines[0]
        assert "--allow-large" in lines[0]
    assert not out.exists()


def test_allow_large_runs_it(tmp_path):
    wide = tmp_path / "wide.yaml"
    wide.write_text(random_case_text(2, 501, 2, 1, 0))
    out = tmp_path / "cert.json"
    assert run("check", wide, "--exact-only", "-q").returncode == 2
    r = run("check", wide, "--exact-only", "-q", "--allow-large", "--json", out)
    assert r.returncode == 0, r.stderr
    assert run("verify", out).returncode == 0
