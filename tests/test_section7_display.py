"""derive and reports show theory.md section 7: the decomposition in words, What, inf CE."""

from __future__ import annotations

from clihelp import CASES

from ntpverify.derive import derive
from ntpverify.instance import load_case
from ntpverify.report import figure_section7, section7_blocks
from ntpverify.runner import run_case


def test_derive_text_explains_the_worked_example():
    text = derive(load_case(CASES / "ext-worked-example.yaml"))
    assert "Stuck pairs E" in text and "after 1: b." in text
    assert "Vanishing pairs P: (1, c), (2, c)" in text
    assert "||What||^2 = 2/3" in text
    assert "inf CE = -2/3*log(2) + log(3) exactly" in text
    assert "qbar (limit of GD's probabilities, on the extended supports): 1: {a: 2/3, b: 1/3}" in text


def test_derive_latex_has_the_section_and_no_stray_control_characters():
    tex = derive(load_case(CASES / "ext-worked-example.yaml"), latex=True)
    assert r"\hat W" in tex and r"\inf \mathrm{CE} = " in tex and r"\left(1\right) B" in tex
    assert "\r" not in tex and "\t" not in tex


def test_derive_on_the_papers_case_says_nothing_is_stuck():
    text = derive(load_case(CASES / "three-contexts.yaml"))
    assert "Nothing is stuck" in text and "What = W^mm" in text


def test_report_blocks_and_plot():
    cert = run_case(load_case(CASES / "ext-incompatible-separable.yaml"), iterations=10**4)
    assert cert["numeric"]["gd"]["section7"][-1]["k"] == 10**4
    png = figure_section7(cert)
    assert png and png[:4] == b"\x89PNG"
    texts = [b.text for b in section7_blocks(cert)[1:]]
    assert any(t.startswith("inf CE lies in the proven bracket") for t in texts)
