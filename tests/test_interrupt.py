"""Determinism and atomicity of ``ntpverify check --json`` (certificate.md, "Command line").

- Running the same cases twice gives byte-identical certificates apart from the top-level
  ``timing`` field.
- An interrupted run (SIGINT, SIGTERM) leaves neither the output file nor a temporary file, exits
  with status 130 and says so in one line on stderr, without a traceback.

Everything runs the real command line in a subprocess, in a fresh folder.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from clihelp import ROOT, cli_env

CASES = [ROOT / "cases" / "three-contexts.yaml", ROOT / "cases" / "not-separable.yaml"]
CLI = [sys.executable, "-m", "ntpverify"]


_env = cli_env


def _default_sigint():
    # a child started from a background job inherits SIGINT ignored; a user's Ctrl-C is not
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(args, cwd, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _without_timing(text: str, n_certs: int) -> str:
    """The text of a list of certificates with each one's top-level ``"timing": {...}`` cut out."""
    out, n = re.subn(r',\n  "timing": \{[^{}]*\}', "", text)      # indent 1, inside a list
    assert n == n_certs, f"found {n} top-level timing members, expected {n_certs}"
    return out


def test_the_same_cases_give_byte_identical_certificates(tmp_path):
    texts = []
    for run in ("a", "b"):
        out = tmp_path / f"{run}.json"
        res = _run(["check", *map(str, CASES), "--json", str(out), "--iterations", "200"], tmp_path)
        assert res.returncode in (0, 1, 4), res.stderr
        texts.append(out.read_text(encoding="utf-8"))
    a, b = texts
    certs = json.loads(a)
    assert isinstance(certs, list) and len(certs) == len(CASES)
    assert all("timing" in c for c in certs)
    assert _without_timing(a, len(CASES)) == _without_timing(b, len(CASES))


@pytest.fixture(scope="module")
def startup_cpu_seconds(tmp_path_factory):
    """CPU time of an ``--exact-only`` run: imports, loading, the exact layer and prop1.
    A ``check`` that has used more CPU than this is in gradient descent."""
    folder = tmp_path_factory.mktemp("calibrate")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = _run(["check", str(CASES[0]), "--exact-only"], folder)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert res.returncode in (0, 4), res.stderr
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _interrupted_run(folder: Path, sig: int, cpu_before_signal: float):
    """Start ``check CASE --json OUT --iterations 10^7``, wait until it has used
    ``cpu_before_signal`` seconds of CPU, send ``sig``; (returncode, stderr, files left in OUT's folder)."""
    out_dir = folder / "out"
    out_dir.mkdir()
    argv = ["check", str(CASES[0]), "--json", str(out_dir / "cert.json"), "--iterations", "10000000"]
    proc = subprocess.Popen(CLI + argv, cwd=folder, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 240
        while proc.poll() is None and _cpu(proc.pid) < cpu_before_signal:
            assert time.monotonic() < deadline, "the run did not get going"
            time.sleep(0.05)
        assert proc.poll() is None, f"the run ended before the signal: {proc.communicate()}"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err, sorted(os.listdir(out_dir))


def _assert_clean_interrupt(rc, err, files, name):
    assert files == [], f"left behind: {files}"
    assert rc == 130, (rc, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "interrupt" in lines[0].lower() and name in lines[0], lines[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_nothing_and_says_so(tmp_path, startup_cpu_seconds, sig):
    rc, err, files = _interrupted_run(tmp_path, sig, startup_cpu_seconds + 1.0)
    _assert_clean_interrupt(rc, err, files, signal.Signals(sig).name)


# The numeric QP solver (cvxpy) is wrapped in ``except Exception`` (svm.numeric_qp: "the numeric
# solver is only a hint"). The CLI turns SIGTERM into ``Interrupted(Exception)``, so a SIGTERM that
# arrives while the solver runs (seconds on paper-size cases) is swallowed as a solver error: the
# run goes on, writes the certificate and exits 0/4. Here the signal is made to arrive inside the
# solver by patching cvxpy.Problem.solve in the child; SIGINT (KeyboardInterrupt is a
# BaseException) is handled correctly.
SOLVER_SIGNAL = textwrap.dedent("""
    import os, signal, sys, time
    import cvxpy
    def solve(self, *args, **kwargs):
        os.kill(os.getpid(), int(os.environ["NTPVERIFY_TEST_SIGNAL"]))
        time.sleep(30)                  # the signal handler runs during this sleep
        raise RuntimeError("the signal was not delivered")
    cvxpy.Problem.solve = solve
    from ntpverify.cli import main
    sys.argv = ["ntpverify", *sys.argv[1:]]
    main()
""")


def _signal_in_solver(folder: Path, sig: int):
    out_dir = folder / "out"
    out_dir.mkdir()
    env = _env()
    env["NTPVERIFY_TEST_SIGNAL"] = str(int(sig))
    res = subprocess.run([sys.executable, "-c", SOLVER_SIGNAL, "check", str(CASES[0]), "--json",
                          str(out_dir / "cert.json"), "--iterations", "50"], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300, preexec_fn=_default_sigint)
    return res.returncode, res.stderr, sorted(os.listdir(out_dir))


def test_sigint_inside_the_numeric_solver_is_an_interrupt(tmp_path):
    _assert_clean_interrupt(*_signal_in_solver(tmp_path, signal.SIGINT), "SIGINT")


def test_sigterm_inside_the_numeric_solver_is_an_interrupt(tmp_path):
    _assert_clean_interrupt(*_signal_in_solver(tmp_path, signal.SIGTERM), "SIGTERM")


def test_the_certificate_file_gets_ordinary_permissions(tmp_path):
    out = tmp_path / "cert.json"
    old = os.umask(0o022)
    try:
        res = _run(["check", str(CASES[0]), "--exact-only", "--json", str(out)], tmp_path)
    finally:
        os.umask(old)
    assert res.returncode in (0, 4), res.stderr
    assert out.stat().st_mode & 0o777 == 0o644
