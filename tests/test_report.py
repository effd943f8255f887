"""Reports (--report), --explain, `ntpverify new`, and scripts/reproduce_paper.py.

Figures are checked as images: every PNG decodes, has many distinct colours and a real share of
non-white pixels (a blank or failed plot has neither). Numeric parts run with few iterations:
the plots are the point here, not convergence.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.image import imread

from ntpverify.instance import load_case
from ntpverify.runner import run_case

from clihelp import CASES, ROOT, cli_env, run




def assert_not_blank(png: bytes, what: str = "figure") -> None:
    assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{what}: not a PNG"
    img = imread(io.BytesIO(png), format="png")
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, f"{what}: {img.shape}"
    rgb = (img[..., :3] * 255).round().astype(np.uint32).reshape(-1, 3)
    colours = len(np.unique((rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]))
    non_white = float(np.mean(np.any(rgb < 245, axis=1)))
    assert colours > 20, f"{what}: only {colours} distinct colours"
    assert non_white > 0.02, f"{what}: {non_white:.3%} non-white pixels"


@pytest.fixture(scope="module")
def certs():
    """Certificates with a (short) numeric part: three-contexts (d = 3), fig1-toy (d = 2),
    not-separable and separable-not-compatible (plots without predictions)."""
    out = {}
    for name, iterations in (("three-contexts", 300), ("fig1-toy", 300), ("not-separable", 100),
                             ("separable-not-compatible", 100)):
        out[name] = run_case(load_case(CASES / f"{name}.yaml"), iterations=iterations)
    return out


class _Imgs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.h2 = [], 0
        self.links = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src", ""))
        if tag == "h2":
            self.h2 += 1
        for key in ("href", "src"):
            if key in a and tag != "img":
                self.links.append(a[key])


def test_html_report_is_self_contained_with_readable_figures(tmp_path, certs):
    from ntpverify.report import write_report

    path = tmp_path / "r.html"
    written = write_report(path, [certs["three-contexts"]])
    assert written == [path] and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]
    text = path.read_text(encoding="utf-8")
    parser = _Imgs()
    parser.feed(text)
    assert parser.h2 == 1                                  # one section per case
    assert parser.links == []                              # nothing outside the page
    assert all(s.startswith("data:image/png;base64,") for s in parser.srcs)
    assert len(parser.srcs) == 4                           # instance, decoders, gd, path (d = 3: no picture)
    for i, src in enumerate(parser.srcs):
        assert_not_blank(base64.b64decode(src.split(",", 1)[1]), f"image {i}")
    for cid in ("remark1", "lemma1", "prop1", "thm1", "lemma2", "thm2", "ext-path-rate"):
        assert f"<td>{cid}</td>" in text
    assert "Expectations" in text and "W_mm" in text
    assert "predicted" in text                             # rates drawn beside the measured curves


def test_markdown_report_writes_pngs_beside_it(tmp_path, certs):
    from ntpverify.report import write_report

    path = tmp_path / "my report.md"
    write_report(path, [certs["fig1-toy"]])
    folder = tmp_path / "my report_files"
    assert folder.is_dir()
    text = path.read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["fig1-toy-decoders.png", "fig1-toy-geometry.png", "fig1-toy-gd.png",
                            "fig1-toy-instance.png", "fig1-toy-path.png"])
    from urllib.parse import unquote
    assert sorted(unquote(link).split("/", 1)[1] for link in links) == names
    assert all(unquote(link).split("/", 1)[0] == "my report_files" for link in links)
    for p in folder.iterdir():
        assert_not_blank(p.read_bytes(), p.name)
    assert "## fig1-toy: INCONCLUSIVE" in text           # 300 iterations are too few to decide
    # rewriting replaces the whole folder, then the page, and leaves no temporary files behind
    from ntpverify.fsutil import write_page_with_folder
    write_page_with_folder(path, "new\n", folder, {"only.png": b"x"})
    assert path.read_text() == "new\n" and [p.name for p in folder.iterdir()] == ["only.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my report.md", "my report_files"]


def test_each_figure_is_drawn_for_failing_hypotheses(certs):
    """Not separable / not compatible: the plots exist (no predictions), the d = 2 picture too."""
    from ntpverify import report

    for name in ("not-separable", "separable-not-compatible"):
        cert = certs[name]
        assert_not_blank(report.figure_decoders(cert), f"{name} decoders")   # one panel says why it is empty
        assert_not_blank(report.figure_gd(cert), f"{name} gd")
        assert_not_blank(report.figure_geometry(cert), f"{name} geometry")   # both are d = 2
    assert report.figure_geometry(certs["three-contexts"]) is None           # d = 3


def test_report_never_uses_pyplot():
    """Figures come from matplotlib.figure.Figure on an Agg canvas: no pyplot global state."""
    import ast

    for module in ("report.py", "explain.py", "derive.py", "batch.py", "template.py", "fsutil.py"):
        tree = ast.parse((ROOT / "ntpverify" / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            else:
                continue
            assert not any("pyplot" in n or n == "click" or n.startswith("click.") for n in names), (module, names)


def test_cli_folder_report_and_explain(tmp_path):
    """One report with a section per case; --explain says what each claim means and why."""
    for name in ("three-contexts", "not-separable"):
        (tmp_path / f"{name}.yaml").write_text((CASES / f"{name}.yaml").read_text())
    out = tmp_path / "out"
    out.mkdir()
    r = run("check", tmp_path, "--exact-only", "--explain", "--report", out / "all.md")
    assert r.returncode == 0, r.stdout + r.stderr
    text = (out / "all.md").read_text()
    assert text.count("\n## ") == 2 and "## not-separable: PASS" in text and "## three-contexts: PASS" in text
    assert "run without --exact-only" in text           # no convergence plots without numerics
    assert sorted(p.name for p in out.iterdir()) == ["all.md", "all_files"]
    assert len(list((out / "all_files").iterdir())) == 5   # 2 x (instance, decoders) + not-separable's d = 2 picture
    said = " ".join(r.stdout.split())                  # explanations are wrapped
    for cid in ("remark1", "lemma1", "prop1", "thm1", "lemma2", "thm2"):
        assert f" {cid}: " in said
    assert "prop1: NOT APPLICABLE" in said
    assert "Why it does not apply: hypothesis fails: not separable" in said
    assert "out-of-support probability always stays positive" in said
    assert "thm2: NOT CHECKED" in said and "--exact-only" in said


def test_cli_report_refuses_bad_paths_before_any_work(tmp_path):
    case = CASES / "three-contexts.yaml"
    r = run("check", case, "--report", tmp_path / "r.pdf")
    assert r.returncode == 2 and "must end in .md or .html" in r.stderr
    r = run("check", case, "--report", tmp_path / "nope" / "r.html")
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_explain_from_evidence_for_every_status(certs):
    from ntpverify.explain import explain_certificate, explain_claim

    cert = certs["three-contexts"]                       # 300 iterations: some claims inconclusive
    text = explain_certificate(cert)
    by_status = {c["status"] for c in cert["claims"]}
    assert "pass" in by_status and "inconclusive" in by_status
    for c in cert["claims"]:
        words = explain_claim(c, cert)
        assert len(words) > 80, c["id"]
        if c["status"] == "inconclusive":
            assert "too short to decide" in words and "--iterations" in words
        if c["status"] == "pass":
            assert "Why it passed" in words
    fake = json.loads(json.dumps(cert))
    fake["claims"][5]["status"] = "fail"
    assert "Why it failed" in explain_claim(fake["claims"][5], fake)
    assert text.count("\n  ") >= len(cert["claims"])


def test_new_template_checks_cleanly_and_gives_a_report(tmp_path):
    """The newcomer's path: new -> check (default settings) -> HTML report, without reading code."""
    r = run("new", "mycase", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    case = tmp_path / "mycase.yaml"
    text = case.read_text()
    assert text.startswith("# mycase:") and "name: mycase" in text
    r = run("check", "mycase.yaml", "--report", "mycase.html", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    cert = run_case(load_case(case), numeric=False)
    assert cert["verdict"] == "pass" and cert["expectations"]
    assert all(e["status"] == "pass" for e in cert["expectations"])
    html = (tmp_path / "mycase.html").read_text()
    assert "mycase: PASS" in html and html.count("data:image/png;base64,") == 5
    # never overwrites; bad names refused
    r = run("new", "mycase", cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stderr
    assert case.read_text() == text
    r = run("new", "bad name!", cwd=tmp_path)
    assert r.returncode == 2 and "not a valid case name" in r.stderr
    r = run("new", "sub/other.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
    (tmp_path / "sub").mkdir()
    r = run("new", "sub/other.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "name: other" in (tmp_path / "sub" / "other.yaml").read_text()


def test_reproduce_paper_part_a_writes_its_figure(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "reproduce_paper.py"), str(tmp_path), "--part", "a"],
                       capture_output=True, text=True, timeout=300, env=cli_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tokens z1 and z5 have the same support pattern: equal rows of W^mm" in r.stdout
    assert_not_blank((tmp_path / "fig1.png").read_bytes(), "fig1.png")
    assert "different rows of W*" in (tmp_path / "fig1.txt").read_text()


def test_reproduce_paper_part_b_quick(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "reproduce_paper.py"), str(tmp_path), "--part", "b",
                        "--quick", "--iterations", "60"],
                       capture_output=True, text=True, timeout=300, env=cli_env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert_not_blank((tmp_path / "appA2.png").read_bytes(), "appA2.png")
    table = (tmp_path / "appA2_table.md").read_text().splitlines()
    assert [row.split("|")[1].strip() for row in table[2:]] == ["GD", "NGD", "Adam"]
    rows = (tmp_path / "appA2_table.csv").read_text().splitlines()
    assert rows[0].startswith("optimizer,eta,iterations,CE_minus_H") and len(rows) == 4
