"""Batch runs: --jobs (input order, same output as one process), --junit (valid JUnit XML), the
final summary line, and errors recorded per case."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ntpverify import batch
from ntpverify.instance import load_case

from clihelp import CASES, run
TIMING = re.compile(r"\(exact [0-9.]+ s, numeric [0-9.]+ s\)")




def _short(text: str, iterations: int) -> str:
    """A case file with few GD iterations and three path radii (fast; decides nothing)."""
    return text + f"settings:\n  gd: {{iterations: {iterations}}}\n  path: {{radii: [2, 5, 10]}}\n"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Three cases, one per verdict: pass (not separable: the numeric claims do not apply), fail (a
    wrong hand derivation) and inconclusive (30 GD steps cannot decide thm2). Names sort in that order."""
    d = tmp_path_factory.mktemp("mixed")
    three = (CASES / "three-contexts.yaml").read_text()
    (d / "a-pass.yaml").write_text(_short((CASES / "not-separable.yaml").read_text(), 200))
    wrong = three.replace("entropy: log(3)/3 + log(2)/9", "entropy: log(3)/3 + log(2)/8")
    assert wrong != three
    (d / "b-fail.yaml").write_text(_short(wrong, 30))
    (d / "c-inconclusive.yaml").write_text(_short(three, 30))
    return d


def test_jobs_keep_input_order_and_match_one_process(mixed, tmp_path):
    one = run("check", mixed, "-q", "--json", tmp_path / "one.json")
    two = run("check", mixed, "-q", "--jobs", "2", "--json", tmp_path / "two.json", "--junit", tmp_path / "j.xml")
    assert one.returncode == two.returncode == 1, one.stdout + one.stderr + two.stderr    # a case fails
    lines = TIMING.sub("", two.stdout).splitlines()
    assert lines == TIMING.sub("", one.stdout).splitlines()
    assert [ln.split(":")[0] for ln in lines[:3]] == ["not-separable", "three-contexts", "three-contexts"]
    assert [ln.split()[1] for ln in lines[:3]] == ["PASS", "FAIL", "INCONCLUSIVE"]
    assert lines[-1] == "1 passed, 1 failed, 1 inconclusive"
    a, b = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "two.json").read_text())
    for c in a + b:
        c.pop("timing")
    assert a == b                                                  # deterministic certificates

    root = ET.parse(tmp_path / "j.xml").getroot()
    suites = root.findall("testsuite") if root.tag == "testsuites" else [root]
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("errors")) == ("3", "1", "1", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["not-separable", "three-contexts", "three-contexts"]
    assert [Path(c.get("file")).name for c in cases] == ["a-pass.yaml", "b-fail.yaml", "c-inconclusive.yaml"]
    assert all(float(c.get("time")) > 0 for c in cases)
    ok, bad, inc = cases
    assert ok.find("failure") is None and ok.find("skipped") is None and ok.find("error") is None
    fail = bad.find("failure")
    assert fail is not None and "expectation entropy" in fail.text and "expectation entropy" in fail.get("message")
    assert "got - expected = -1/72*log(2)" in fail.text
    skip = inc.find("skipped")
    assert skip is not None and inc.find("failure") is None
    assert skip.get("message").startswith("inconclusive") and "claim thm2" in skip.get("message")
    assert "three-contexts: INCONCLUSIVE" in inc.find("system-out").text


def test_junit_over_the_bundled_cases(tmp_path):
    out = tmp_path / "cases.xml"
    r = run("check", CASES, "--exact-only", "-q", "--jobs", "2", "--junit", out)
    assert r.returncode == 0, r.stdout + r.stderr
    files = sorted(CASES.glob("*.yaml"))
    assert r.stdout.splitlines()[-1] == f"{len(files)} passed, 0 failed"
    root = ET.fromstring(out.read_bytes())
    assert root.tag == "testsuites" and len(root) == 1
    suite = root[0]
    assert suite.tag == "testsuite" and suite.get("tests") == str(len(files))
    assert [Path(c.get("file")).name for c in suite.iter("testcase")] == [f.name for f in files]
    assert suite.get("failures") == suite.get("errors") == suite.get("skipped") == "0"
    for tc in suite.iter("testcase"):
        assert tc.get("classname") and tc.get("name")
        assert {child.tag for child in tc} == {"system-out"}


def test_an_error_in_one_case_is_recorded_and_the_others_run(monkeypatch):
    import ntpverify.runner as runner

    real = runner.run_case

    def flaky(case, **kw):
        if case.instance.name == "not-separable":
            raise RuntimeError("boom \x01 with a control character")
        return real(case, **kw)

    monkeypatch.setattr(runner, "run_case", flaky)
    cases = [load_case(CASES / "not-separable.yaml"), load_case(CASES / "onehot-binary.yaml")]
    seen = []
    outs = batch.run_batch(cases, batch.RunOptions(numeric=False), jobs=1, on_result=seen.append)
    assert [o.status for o in outs] == ["error", "pass"] and seen == outs
    assert outs[0].error.startswith("RuntimeError: boom")
    assert batch.summary_line(outs) == "1 passed, 0 failed, 1 error"
    assert batch.exit_code(outs) == 3
    root = ET.fromstring(batch.junit_xml(outs))                 # control character made safe
    err = root.find("testsuite/testcase/error")
    assert err is not None and err.get("type") == "RuntimeError" and "Traceback" in err.text
    assert root.find("testsuite").get("errors") == "1"
    with pytest.raises(RuntimeError):
        batch.run_batch(cases, batch.RunOptions(numeric=False), jobs=1, catch=False)


def test_summary_line_and_exit_codes():
    def fake(verdict):
        return batch.Outcome("x.yaml", "x", cert={"verdict": verdict, "claims": [], "expectations": []})

    assert batch.summary_line([fake("pass"), fake("pass")]) == "2 passed, 0 failed"
    assert batch.summary_line([fake("pass"), fake("inconclusive")]) == "1 passed, 0 failed, 1 inconclusive"
    assert batch.exit_code([fake("pass"), fake("inconclusive")]) == 4
    assert batch.exit_code([fake("fail"), fake("inconclusive")]) == 1
    assert batch.exit_code([fake("pass")]) == 0
