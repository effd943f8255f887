"""The command line: exit codes, JSON on stdout only when asked, atomic output, determinism."""

from __future__ import annotations

import json

import pytest

from clihelp import ROOT, run

CASE = ROOT / "cases" / "three-contexts.yaml"


def without_timing(cert: dict) -> dict:
    cert = dict(cert)
    cert.pop("timing")
    return cert


def test_check_passes_and_json_dash_is_pure_json(tmp_path):
    r = run("check", CASE, "--exact-only", "--json", "-")
    assert r.returncode == 0, r.stderr
    cert = json.loads(r.stdout)                        # nothing else on stdout
    assert cert["verdict"] == "pass" and cert["format"] == "ntpverify-certificate/1"
    assert "three-contexts: PASS" in r.stderr


def test_certificates_are_deterministic_and_verify(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("check", CASE, "--iterations", "300", "--json", a).returncode in (0, 4)
    assert run("check", CASE, "--iterations", "300", "--json", b).returncode in (0, 4)
    ca, cb = json.loads(a.read_text()), json.loads(b.read_text())
    assert without_timing(ca) == without_timing(cb)
    v = run("verify", a)
    assert v.returncode == 0 and "certificate verified" in v.stdout
    ca["exact"]["W_mm"][0][0] = "1"
    a.write_text(json.dumps(ca))
    v = run("verify", a)
    assert v.returncode == 1 and "kkt.stationarity" in v.stdout


def test_gz_certificates_are_the_same_json_and_verify(tmp_path):
    import gzip

    plain, packed = tmp_path / "c.json", tmp_path / "c.json.gz"
    assert run("check", CASE, "--exact-only", "--json", plain).returncode == 0
    assert run("check", CASE, "--exact-only", "--json", packed).returncode == 0
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    a, b = json.loads(plain.read_text()), json.loads(gzip.decompress(packed.read_bytes()))
    assert without_timing(a) == without_timing(b)
    v = run("verify", packed)
    assert v.returncode == 0 and "certificate verified" in v.stdout
    b["exact"]["W_mm"][0][0] = "1"                    # tampered inside the archive: rejected
    packed.write_bytes(gzip.compress(json.dumps(b).encode()))
    v = run("verify", packed)
    assert v.returncode == 1 and "kkt.stationarity" in v.stdout
    packed.write_bytes(gzip.compress(b"{")[:-6])      # truncated archive: bad input, exit 2
    v = run("verify", packed)
    assert v.returncode == 2 and "not a readable JSON certificate" in v.stderr


def test_wrong_hand_derivation_fails_with_the_exact_difference(tmp_path):
    text = CASE.read_text().replace("entropy: log(3)/3 + log(2)/9", "entropy: log(3)/3 + log(2)/8")
    text = text.replace("margin: 1/2", "margin: 1/sqrt(3)")
    case = tmp_path / "wrong.yaml"
    case.write_text(text)
    r = run("check", case, "--exact-only")
    assert r.returncode == 1
    assert "got - expected = -1/72*log(2)" in r.stdout
    assert "margin" in r.stdout and "squares: expected 1/3, got 1/4" in r.stdout


def test_bad_input_exit_2_one_paragraph_no_output_file(tmp_path):
    case = tmp_path / "bad.yaml"
    case.write_text(CASE.read_text().replace("next: {b: 1/2, c: 1/2}", "next: {b: 1/2, c: 2/5}"))
    out = tmp_path / "out.json"
    r = run("check", CASE, case, "--json", out)
    assert r.returncode == 2
    assert "bad.yaml: contexts[1].next" in r.stderr and "sums to 9/10, not 1" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not out.exists() and list(tmp_path.iterdir()) == [case]


def test_missing_file_and_bad_certificate_exit_2(tmp_path):
    r = run("check", tmp_path / "nope.yaml")
    assert r.returncode == 2 and "no such file" in r.stderr
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    r = run("verify", junk)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_folder_summary_line_and_exit_code(tmp_path):
    for name in ("three-contexts", "not-separable"):
        (tmp_path / f"{name}.yaml").write_text((ROOT / "cases" / f"{name}.yaml").read_text())
    r = run("check", tmp_path, "--exact-only", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_too_short_a_run_is_inconclusive_exit_4():
    r = run("check", CASE, "--iterations", "30", "-q")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "INCONCLUSIVE" in r.stdout


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "cases").glob("*.yaml")))
def test_bundled_case_expectations_hold(name):
    """Every bundled case's hand derivation is confirmed by the exact layer, and its certificate
    verifies (exact part; the numeric part runs in test_bundled_cases_pass_with_defaults)."""
    from ntpverify.instance import load_case
    from ntpverify.runner import run_case

    cert = run_case(load_case(ROOT / "cases" / f"{name}.yaml"), numeric=False)
    assert cert["exact_verified"], cert["exact_problems"]
    bad = [e for e in cert["expectations"] if e["status"] != "pass"]
    assert not bad, bad
    assert cert["expectations"], "every bundled case has an expect block"


def test_bundled_cases_pass_with_defaults():
    r = run("check", ROOT / "cases", "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failed" in r.stdout.splitlines()[-1]
