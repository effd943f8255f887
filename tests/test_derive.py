"""`ntpverify derive`: the equations it writes out are the right ones, and W*, W^mm satisfy them.

The text form writes each compatibility equation and margin constraint coordinate by coordinate
("i.e. -W[a,1] + W[b,1] = -log(2)"); the tests substitute the certificate's exact W^mm and
high-precision W* into those printed equations, so a wrong equation or a wrong solution fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction

import pytest
import sympy

from ntpverify.derive import derive, render_latex, render_text, tex_text
from ntpverify.exactnum import LinLog, fmt_q
from ntpverify.instance import load_case, parse_case
from ntpverify.runner import exact_json, run_exact

import clihelp
from clihelp import CASES
EXPANDED = re.compile(r"i\.e\. (.*) (=|>=) (.*)$")
CELL = re.compile(r"W\[([^,\]]+),(\d+)\]")


def run(*args, cwd=None):
    return clihelp.run(*args, cwd=cwd, timeout=300)


def _evaluate(lhs: str, W: dict) -> sympy.Expr:
    """The printed linear form with W[token,c] replaced by W's entries."""
    subs = {}

    def name(m):
        key = f"x_{len(subs)}"
        subs[key] = W[(m.group(1), int(m.group(2)))]
        return key

    expr = sympy.sympify(CELL.sub(name, lhs))
    return sympy.nsimplify(expr.subs({sympy.Symbol(k): v for k, v in subs.items()}))


def _matrices(ex):
    inst = ex.inst
    Wmm = {(inst.vocab[r], c + 1): sympy.Rational(x.numerator, x.denominator)
           for r, row in enumerate(ex.svm.W) for c, x in enumerate(row)} if ex.svm.separable else None
    Ws = {(inst.vocab[r], c + 1): v.to_sympy() if v.terms else sympy.Integer(0)
          for r, row in enumerate(ex.compat.W_star) for c, v in enumerate(row)} if ex.compat.compatible else None
    return Ws, Wmm


@pytest.mark.parametrize("name", ["three-contexts", "fig1-toy", "corpus-table-2d", "orthogonal-v4"])
def test_printed_equations_hold_for_the_exact_solutions(name):
    case = load_case(CASES / f"{name}.yaml")
    ex = run_exact(case.instance, case.settings.gd.step)
    text = render_text(ex)
    Ws, Wmm = _matrices(ex)
    eqs = ineqs = 0
    for line in text.splitlines():
        m = EXPANDED.search(line)
        if not m:
            continue
        lhs, op, rhs = m.groups()
        if op == "=":                     # compatibility equation: W* satisfies it exactly, W^mm gives 0
            eqs += 1
            assert sympy.simplify(_evaluate(lhs, Ws) - sympy.sympify(rhs)) == 0, line
            assert _evaluate(lhs, Wmm) == 0, line
        else:                             # margin constraint: W^mm satisfies it
            ineqs += 1
            assert rhs == "1" and _evaluate(lhs, Wmm) >= 1, line
    inst = ex.inst
    assert eqs == len(inst.eq_pairs()) and ineqs == len(inst.ineq_pairs())
    # tight constraints are the ones at exactly 1; lambda > 0 only there; strong duality
    assert f"||W^mm||^2 = sum lambda = {exact_json(ex)['W_mm_norm_sq']}" in text
    lam = sum((v for v in ex.svm.lam.values()), Fraction(0))
    assert lam == ex.svm.norm_sq


def test_text_names_every_part():
    text = derive(load_case(CASES / "three-contexts.yaml"))
    assert "(A,b):  (w_b - w_a)^T h_A = log(1/2) = -log(2)    i.e. -W[a,1] + W[b,1] = -log(2)" in text
    assert "H = - sum_j pi_j sum_(z in S_j) p_jz log p_jz = 1/9*log(2) + 1/3*log(3)" in text
    for part in ("Compatibility equations", "dim F = 2", "W* = its unique solution in F",
                 "NTP-SVM", "KKT system", "stationarity", "complementarity", "Solution W^mm",
                 "lambda (non-zero): (A,c) = 1/2, (A,d) = 1/2, (B,a) = 3/2, (B,d) = 1/2, (C,b) = 1",
                 "mu: (A,b) = 3/2, (B,c) = 1/2", "margin = 1/||W^mm|| = 1/2", "GD step: eta = 799/1000"):
        assert part in text, part


def test_failing_conditions_are_written_out():
    inc = derive(load_case(CASES / "separable-not-compatible.yaml"))
    assert "NOT compatible" in inc and "(the product of the ratios is" in inc
    sep = derive(load_case(CASES / "not-separable.yaml"))
    assert "NOT separable. Farkas certificate: 1/2 A(P,b) + 1/2 A(Q,a)" in sep
    one_hot = derive(load_case(CASES / "onehot-binary.yaml"))
    assert "(none: every context has a single next token, so F = {0})" in one_hot


def _balanced(tex: str) -> bool:
    depth = 0
    i = 0
    while i < len(tex):
        ch = tex[i]
        if ch == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
        i += 1
    return depth == 0


@pytest.mark.parametrize("name", ["three-contexts", "fig1-toy", "not-separable", "separable-not-compatible",
                                  "trivial-full-support"])
def test_latex_is_well_formed_and_uses_the_exact_values(name):
    case = load_case(CASES / f"{name}.yaml")
    ex = run_exact(case.instance, case.settings.gd.step)
    tex = render_latex(ex)
    assert _balanced(tex)
    assert tex.count(r"\begin{align*}") == tex.count(r"\end{align*}") >= 2
    assert tex.count(r"\[") == tex.count(r"\]")
    assert sympy.latex(ex.H.to_sympy()) in tex
    if ex.compat.compatible:
        expected = sympy.latex(sympy.Matrix([[v.to_sympy() if v.terms else 0 for v in row]
                                             for row in ex.compat.W_star]))
        assert r"W^\star = " + expected in tex
    if ex.svm.separable and not ex.trivial:
        W = sympy.Matrix([[sympy.Rational(x.numerator, x.denominator) for x in row] for row in ex.svm.W])
        assert r"W^{\mathrm{mm}} = " + sympy.latex(W) in tex


def test_latex_escapes_names():
    raw = b"""
name: odd-names
vocabulary: ["a_b", "$x", "c&d", "e%f", "{g}", "h\\\\i", "~j^"]
contexts:
  - {name: c_1, embedding: [1, 0], next: {"a_b": 1/2, "$x": 1/2}}
  - {name: c-2, embedding: [0, 1], next: {"c&d": 1/3, "e%f": 2/3}}
  - {name: C3, embedding: [1, 1], next: {"{g}": 1/5, "h\\\\i": 4/5, "~j^": 0}}
"""
    case = parse_case(raw, "odd.yaml")
    tex = derive(case, latex=True)
    assert _balanced(tex)
    for name in case.instance.vocab:
        assert tex_text(name) in tex
    assert r"\text{a\_b}" in tex and r"\text{\$x}" in tex and r"\text{h\textbackslash{}i}" in tex
    body = re.sub(r"\\text\{(?:[^{}\\]|\\[a-z]+\{\}|\\.)*\}", "", tex)     # drop escaped names
    assert "$x" not in body and "&d" not in body


def test_cli_derive_text_latex_and_output_file(tmp_path):
    r = run("derive", CASES / "fig1-toy.yaml")
    assert r.returncode == 0, r.stderr
    assert "tight constraints: (A,z3) (B,z3) (C,z1) (C,z5)" in r.stdout
    out = tmp_path / "fig1.tex"
    r = run("derive", CASES / "fig1-toy.yaml", "--latex", "-o", out)
    assert r.returncode == 0 and r.stdout == ""
    tex = out.read_text()
    assert tex.startswith("% ntpverify derive --latex: fig1-toy")
    assert r"\lambda_{\text{A},\text{z3}} = \frac{8}{5}" in tex
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nvocabulary: [a]\n")
    r = run("derive", bad)
    assert r.returncode == 2 and "missing required key 'contexts'" in r.stderr and "Traceback" not in r.stderr
    if shutil.which("pdflatex"):                     # compile it when a TeX installation is present
        doc = tmp_path / "doc.tex"
        doc.write_text("\\documentclass{article}\\usepackage{amsmath}\\begin{document}\n" + tex + "\\end{document}\n")
        c = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert c.returncode == 0, c.stdout[-2000:]


def test_linlog_to_sympy_matches_the_text_form():
    value = LinLog.from_log_coeffs({2: Fraction(1, 9), 3: Fraction(1, 3)})
    assert sympy.simplify(value.to_sympy() - sympy.sympify(str(value))) == 0


def test_long_exact_values_are_shortened_unless_full():
    """Random data give W^mm entries with many digits: shown as ~decimals with a note, exact with full."""
    from random_case import random_case_text

    from ntpverify.derive import Show

    ex = run_exact(parse_case(random_case_text(m=8, d=10, V=5, support=3, seed=1).encode(), "r.yaml").instance, None)
    short, full = Show(), Show(full=True)
    text, exact_text = render_text(ex, short), render_text(ex, full)
    assert short.shortened > 0 and full.shortened == 0
    assert "~" in text and "Note: " in text and "--full" in text and "~" not in exact_text
    for row in ex.svm.W:                    # the full text has every exact entry
        for x in row:
            assert fmt_q(x) in exact_text
    tex = render_latex(ex, Show())
    assert _balanced(tex) and r"\emph{Note:}" in tex
    assert r"W^{\mathrm{mm}}_{[:,\,1:8]}" in tex and r"W^{\mathrm{mm}}_{[:,\,9:10]}" in tex   # d = 10 in blocks
