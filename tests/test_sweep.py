"""`ntpverify sweep` (issue 11; contract: shared/spec/sweep-format.md).

One small sweep (SMALL: 36 cheap instances) runs on a 2-worker LocalCluster through the command
line; the other tests compare against its table: a 1-worker rerun with another batch size gives the
same table apart from `seconds`, a run killed (SIGKILL of its whole process group) part way resumes
to the same table, and `--instance` writes the very text whose hash is in the table. Failures
inside an instance (exception, crash, timeout) become rows; hostile sweep files are refused with
exit status 2 and nothing written. The separability cross-check runs an independent LP.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from clihelp import cli_env, run
from crosscheck_separability import lp_separable   # scripts/: the LP oracle (scipy HiGHS)
from ntpverify.cli import main
from ntpverify.instance import parse_case
from ntpverify.sweep import Cell, instance_text, parse_sweep
from ntpverify.sweep_run import Job, run_batch, run_limited

SMALL = """\
name: small
compute: exact
seeds: 3
time_limit: 60
grid:
  m: [6]
  d: [2, 3, 6]
  V: [2, 3, 4]
  support: [1, 2]
"""          # 5 (V, |S_j|) pairs with |S_j| < V, 3 values of d: 15 cells x 3 seeds = 45 instances


def table(outdir: Path) -> list[dict]:
    return pq.read_table(outdir / "results.parquet").to_pylist()


def without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """SMALL run once on a 2-worker LocalCluster through the command line."""
    folder = tmp_path_factory.mktemp("sweep")
    src = folder / "small.yaml"
    src.write_text(SMALL)
    out = folder / "out"
    res = run("sweep", src, "-o", out, "--workers", 2, timeout=300)
    assert res.returncode == 0, res.stderr
    return src, out, res


def test_small_sweep_on_two_workers(small):
    src, out, res = small
    rows = table(out)
    spec = parse_sweep(src.read_bytes(), str(src))
    assert len(rows) == spec.size == 45            # 15 cells (|S_j| < V) x 3 seeds
    assert [(r["cell"], r["seed"]) for r in rows] == [(c.text, s) for c in spec.cells for s in spec.seeds]
    assert {r["status"] for r in rows} == {"ok"}
    assert all(r["exact_verified"] for r in rows)
    sep = [r for r in rows if r["separable"]]
    assert 0 < len(sep) < len(rows)                  # the grid straddles the threshold
    for r in rows:
        if r["separable"]:
            assert r["tight"] >= 1 and Fraction(r["W_mm_norm_sq"]) > 0
            assert abs(r["W_mm_norm"] ** 2 - float(Fraction(r["W_mm_norm_sq"]))) < 1e-9 * r["W_mm_norm"] ** 2
        else:
            assert r["tight"] is None and r["W_mm_norm_sq"] is None
        if r["support"] == 1:
            assert r["compatible"] and r["F_dim"] == 0
    assert "45 rows" in res.stderr and "45 ok" in res.stderr
    assert not (out / "parts").exists()


def test_same_table_on_one_worker_with_other_batches(small, tmp_path):
    src, out, _ = small
    again = tmp_path / "again"
    res = run("sweep", src, "-o", again, "--workers", 1, "--batch", 7, timeout=300)
    assert res.returncode == 0, res.stderr
    assert without_seconds(table(again)) == without_seconds(table(out))


def test_rerun_into_a_finished_folder_does_nothing(small):
    src, out, _ = small
    before = table(out)
    res = CliRunner().invoke(main, ["sweep", str(src), "-o", str(out), "--report"])
    assert res.exit_code == 0, res.output
    assert "0 run now, 45 from before" in res.output
    assert table(out) == before
    assert "<h1>Sweep <code>small</code></h1>" in (out / "report.html").read_text()


def test_killed_run_resumes_to_the_same_table(small, tmp_path):
    """SIGKILL to the sweep's whole process group (driver and Dask workers) part way through;
    the rerun redoes only what is missing and gives the same table (no duplicate rows)."""
    src, out, _ = small
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "ntpverify", "sweep", str(src), "-o", str(part),
                             "--workers", "2", "--batch", "1", "--flush-every", "0"],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(list((part / "parts").glob("part-*.parquet"))) < 8:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    parts = list((part / "parts").glob("part-*.parquet"))
    assert 8 <= len(parts) and not (part / "results.parquet").exists(), "not killed part way"
    written = sum(pq.read_metadata(p).num_rows for p in parts)
    assert 8 <= written < 45
    res = run("sweep", src, "-o", part, "--workers", 2, timeout=300)
    assert res.returncode == 0, res.stderr
    ran, before = map(int, re.search(r"\((\d+) run now, (\d+) from before", res.stderr).groups())
    assert before == written and ran == 45 - written
    assert without_seconds(table(part)) == without_seconds(table(out))


def test_instance_writes_the_hashed_case_text(small, tmp_path):
    src, out, _ = small
    row = next(r for r in table(out) if r["separable"] and r["support"] == 2)
    case = tmp_path / "one.yaml"
    res = CliRunner().invoke(main, ["sweep", str(src), "--instance", f"{row['cell']}:{row['seed']}",
                                    "-o", str(case)])
    assert res.exit_code == 0, res.output
    assert hashlib.sha256(case.read_bytes()).hexdigest() == row["instance_sha256"]
    res = CliRunner().invoke(main, ["check", str(case), "--exact-only", "--json", str(tmp_path / "c.json")])
    assert res.exit_code == 0, res.output
    import json
    ex = json.loads((tmp_path / "c.json").read_text())["exact"]
    assert (ex["separable"], ex["W_mm_norm_sq"], len(ex["support"])) == \
        (True, row["W_mm_norm_sq"], row["tight"])


def test_failures_inside_an_instance_become_rows():
    """An exception, a crash (SIGSEGV) and a hang each give their row; nothing else stops."""
    def boom():
        raise ValueError("deliberate")

    def crash():
        os.kill(os.getpid(), signal.SIGSEGV)

    def hang():
        time.sleep(60)

    assert run_limited(lambda: {"x": 1}, 10) == ("ok", {"x": 1})
    assert run_limited(boom, 10) == ("error", "ValueError: deliberate")
    status, msg = run_limited(crash, 10)
    assert status == "error" and "SIGSEGV" in msg
    start = time.monotonic()
    status, msg = run_limited(hang, 0.5)
    assert status == "timeout" and time.monotonic() - start < 5


def test_error_and_timeout_rows_through_dask():
    """Batches on a real Dask worker: an instance the loader refuses (a cell past the work
    envelope, which a validated sweep never holds) is an error row and its neighbour still runs;
    a time limit no instance meets gives timeout rows."""
    from dataclasses import replace

    from distributed import Client, LocalCluster

    spec = parse_sweep(SMALL, "small.yaml")
    job = Job.of(spec)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
            Client(cl) as client:
        rows = client.submit(run_batch, job, [(Cell(300, 2, 6, 1), 0), (spec.cells[0], 0)]).result()
        late = client.submit(run_batch, replace(job, time_limit=0.001), [(spec.cells[1], 0)]).result()
    assert [r["status"] for r in rows] == ["error", "ok"]
    assert "BadInput" in rows[0]["error"] and "larger than the exact layer" in rows[0]["error"]
    assert rows[0].get("separable") is None and rows[1]["separable"] is not None
    assert [r["status"] for r in late] == ["timeout"] and "time limit" in late[0]["error"]
    assert late[0]["instance_sha256"] == hashlib.sha256(
        instance_text(spec, spec.cells[1], 0).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Hostile sweep files

GOOD = {"name": "x", "grid": "{m: [6], d: [2], V: [3], support: [1]}"}


def sweep_text(**keys) -> str:
    body = {**GOOD, **keys}
    return "".join(f"{k}: {v}\n" for k, v in body.items() if v is not None)


HOSTILE = [
    ("unknown-key", sweep_text(colour="blue"), "colour", "unknown key"),
    ("no-grid", sweep_text(grid=None), "", "missing required key 'grid'"),
    ("compute", sweep_text(compute="everything"), "compute", "not one of"),
    ("seeds-float", sweep_text(seeds="2.5"), "seeds", "whole number"),
    ("seeds-negative", sweep_text(seeds="[0, -1]"), r"seeds\[1\]", "whole number"),
    ("seeds-twice", sweep_text(seeds="[1, 1]"), r"seeds\[1\]", "twice"),
    ("seeds-text", sweep_text(seeds="many"), "seeds", "not a number"),
    ("seeds-huge", sweep_text(seeds="10000000"), "seeds", "whole number"),
    ("time-limit", sweep_text(time_limit="-1"), "time_limit", "above 0"),
    ("d-and-ratio", sweep_text(grid="{m: [6], d: [2], d_over_m: [1], V: [3], support: [1]}"), "grid",
     "exactly one of 'd' and 'd_over_m'"),
    ("m-zero", sweep_text(grid="{m: [0], d: [2], V: [3], support: [1]}"), r"grid\.m\[0\]", "outside"),
    ("range-huge", sweep_text(grid="{m: [6], d: {from: 1, to: 10000000}, V: [3], support: [1]}"),
     r"grid\.d", "limit is 1000"),
    ("range-backwards", sweep_text(grid="{m: [6], d: {from: 5, to: 1}, V: [3], support: [1]}"),
     r"grid\.d\.to", "below"),
    ("step-zero", sweep_text(grid="{m: [6], d: {from: 1, to: 5, step: 0}, V: [3], support: [1]}"),
     r"grid\.d\.step", "positive"),
    ("support-too-big", sweep_text(grid="{m: [6], d: [2], V: [3], support: [3]}"), r"grid\.support",
     "no cell"),
    ("too-many-instances", sweep_text(seeds="1000000", grid="{m: [6, 7], d: [2], V: [3], support: [1]}"),
     "seeds", "limit is 1000000"),
    ("too-many-cells", sweep_text(grid="{m: {from: 1, to: 30}, d: {from: 1, to: 30}, V: {from: 2, to: 30}, "
                                       "support: [1]}"), "grid", "more than 10000 cells"),
    ("envelope", sweep_text(grid="{m: [900], d: [2], V: [10], support: [1]}"), "grid", "work envelope"),
    ("python-tag", sweep_text(name="!!python/object/apply:os.system ['true']"), "name", "tag"),
    ("alias-bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     "", "more than 200000 values"),
    ("rank-without-lowrank", sweep_text(ensemble="{rank: 2}"), r"ensemble\.rank", "lowrank"),
    ("lowrank-without-rank", sweep_text(ensemble="{embedding: lowrank}"), "ensemble", "needs 'rank'"),
    ("density", sweep_text(ensemble="{embedding: sparse, density: 2}"), r"ensemble\.density", r"\(0, 1\]"),
    ("budget-with-exact", sweep_text(budget="5"), "budget", "compute: check"),
    ("not-a-mapping", "- just\n- a list\n", "", "expected a mapping"),
    ("syntax", "name: [unclosed\n", "", "YAML syntax error"),
]


@pytest.mark.parametrize("text,place,phrase", [pytest.param(t, p, f, id=i) for i, t, p, f in HOSTILE])
def test_hostile_sweep_files_are_refused(tmp_path, text, place, phrase):
    src = tmp_path / "hostile.yaml"
    src.write_text(text)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["sweep", str(src), "-o", str(out)])
    assert res.exit_code == 2, res.output
    msg = res.output.strip()
    assert msg.startswith(f"error: {src}"), msg
    assert re.search(phrase, msg), msg
    assert re.search(rf"{src}: {place}" if place else str(src), msg), msg
    assert "Traceback" not in msg and len(msg.splitlines()) == 1
    assert not out.exists()


def test_folder_of_another_sweep_is_refused(small, tmp_path):
    src, out, _ = small
    other = tmp_path / "other.yaml"
    other.write_text(SMALL.replace("seeds: 3", "seeds: 4"))
    res = CliRunner().invoke(main, ["sweep", str(other), "-o", str(out)])
    assert res.exit_code == 2 and "another sweep" in res.output
    res = CliRunner().invoke(main, ["sweep", str(src), "--instance", "m=6,d=5,V=3,support=1:0",
                                    "-o", str(tmp_path / "c.yaml")])
    assert res.exit_code == 2 and "not in the grid" in res.output


# ---------------------------------------------------------------------------------------------
# Instances and the independent separability check

def test_instances_are_pure_functions_of_ensemble_cell_and_seed():
    spec = parse_sweep(SMALL, "a.yaml")
    grown = parse_sweep(SMALL.replace("seeds: 3", "seeds: 9").replace("name: small", "name: other"), "b.yaml")
    cell = spec.cells[4]
    assert instance_text(spec, cell, 2) == instance_text(grown, cell, 2)
    assert instance_text(spec, cell, 2) != instance_text(spec, cell, 1)
    other = parse_sweep(SMALL + "ensemble: {denominator: 7}\n", "c.yaml")
    assert instance_text(other, cell, 2) != instance_text(spec, cell, 2)
    for embedding in ("gaussian", "onehot", "sparse", "lowrank"):
        extra = {"lowrank": ", rank: 2", "sparse": ", density: 1/2"}.get(embedding, "")
        s = parse_sweep(SMALL + f"ensemble: {{embedding: {embedding}{extra}, weights: dirichlet}}\n", "e.yaml")
        for c in s.cells[:6]:
            inst = parse_case(instance_text(s, c, 0).encode(), "x").instance
            assert (inst.m, inst.d, inst.V) == (c.m, c.d, c.V)
            assert all(len(S) == c.support for S in inst.supports)
            assert all(p[z] >= Fraction(1, 100) for p, S in zip(inst.P, inst.supports) for z in S)
            assert sum(inst.pi) == 1


def test_one_token_supports_are_multiclass_linear_separability():
    """For |S_j| = 1 NTP-separability is multiclass linear separability of (h_j, y_j) through
    the origin (theory.md sections 3 and 8). 252 instances around the threshold (V = 2, 3, 5;
    m = 12; d = 3..8; 14 seeds) decided by the exact layer must agree with an LP feasibility check by
    scipy's HiGHS (used rather than LinearSVC: an LP has no regularisation to tune, and it agreed
    on every instance measured, README: Sweeps). Negative control: the LP separates the
    separable from the non-separable ones (both occur) and refuses duplicate points with
    different labels."""
    from ntpverify.runner import run_exact

    spec = parse_sweep("name: cross\nseeds: 14\ngrid: {m: [12], d: [3, 4, 5, 6, 7, 8], V: [2, 3, 5], "
                       "support: [1]}\n", "cross.yaml")
    agree = disagree = 0
    seen = set()
    for cell in spec.cells:
        for seed in spec.seeds:
            inst = parse_case(instance_text(spec, cell, seed).encode(), "x").instance
            exact = run_exact(inst, None).svm.separable
            H = np.array([[float(x) for x in h] for h in inst.H])
            labels = [S[0] for S in inst.supports]
            lp = lp_separable(H, labels, inst.V)
            agree += lp == exact
            disagree += lp != exact
            seen.add(exact)
    assert disagree == 0 and agree == 252
    assert seen == {True, False}
    H = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]])
    assert not lp_separable(H, [0, 1, 0], 2)
    assert lp_separable(H, [0, 0, 1], 2)


def test_bundled_sweep_holds_ten_thousand_instances():
    from ntpverify.sweep import load_sweep

    spec = load_sweep(Path(__file__).resolve().parents[1] / "cases" / "sweeps" / "separability.yaml")
    assert spec.size >= 10_000 and spec.compute == "exact"
    assert {(c.V, c.support) for c in spec.cells} == {(2, 1), (3, 1), (3, 2), (5, 1), (5, 2), (5, 3)}
