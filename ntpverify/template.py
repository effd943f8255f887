"""``ntpverify new NAME``: a commented case file that loads and checks cleanly as it is.

The instance is small, compatible and separable, with orthogonal unit embeddings, so every exact
object has the closed form of theory.md section 8 and the expect block (the derivation written
out in the comments) passes; edit it into your own case.
"""

from __future__ import annotations

from pathlib import Path

from .instance import NAME_RE       # the case-format rule for `name:`, so `check` accepts what `new` writes

TEMPLATE = """\
# {name}: a next-token-prediction (NTP) instance for ntpverify (format: case-format.md).
#
# Try it as it is, then make it yours:
#   ntpverify check {file}                      # verdicts, W*, W^mm, every claim, your expectations
#   ntpverify check {file} --explain            # what each claim means and why it passed/failed
#   ntpverify check {file} --report {stem}.html  # one HTML page with heat maps and convergence plots
#   ntpverify derive {file} [--latex]           # the equations and their exact solutions
#
# Numbers are exact: 1/3 is one third, 0.1 is 1/10; nothing here is evaluated as code.

format: ntpverify/1
name: {name}                      # letters, digits, '-', '_'
description: Two contexts, three tokens; orthogonal unit embeddings (closed forms, theory.md section 8).

vocabulary: [sun, rain, snow]     # the V tokens, in order (rows of W follow this order)

contexts:                         # one entry per distinct context j
  - name: warm
    embedding: [1, 0]             # h_j in R^d (the same d for every context)
    next: {{sun: 3/4, rain: 1/4}}   # p_j; tokens left out (snow) have probability 0: outside the support
  - name: cold
    embedding: [0, 1]
    next: {{rain: 1/3, snow: 2/3}}
  # Instead of `next`, give counts: {{rain: 3, snow: 1}}; add `weight: 1/2` to every context (or to
  # none: uniform weights, or the count totals when every context gives counts).
  # Or build the contexts from a corpus instead (replace `vocabulary` and `contexts`):
  #   corpus: {{sequences: ["the cat sat", "the dog sat"], context: all}}
  #   embeddings: {{kind: one-hot}}       # or {{kind: random, dim: 8, seed: 0}}, or kind: table

# settings:                       # optional; command-line options override them
#   precision: 50                 # decimal digits for gradient descent and the path
#   gd: {{step: auto, iterations: 20000, init: zero}}
#   path: {{radii: [2, 5, 10, 20, 40, 80]}}

# Your hand derivation: each key is checked exactly (no tolerance) and reported pass/fail.
# Weights are 1/2 each; h_warm = e1, h_cold = e2 are orthogonal with norm 1, so:
# - H_warm = -(3/4 log(3/4) + 1/4 log(1/4)) = 2 log 2 - 3/4 log 3, H_cold = log 3 - 2/3 log 2,
#   H = (H_warm + H_cold)/2 = 2/3 log 2 + 1/8 log 3.
# - F_dim = (|S_warm| - 1) + (|S_cold| - 1) = 2.
# - W*: column j = log p_j - (mean of log p_j over S_j) on S_j, 0 elsewhere:
#   warm: log(3/4) - (log(3/4) + log(1/4))/2 = log(3)/2 for sun, -log(3)/2 for rain;
#   cold: log(1/3) - (log(1/3) + log(2/3))/2 = -log(2)/2 for rain, +log(2)/2 for snow.
# - W^mm: column j = (V - |S_j|)/V = 1/3 on S_j and -|S_j|/V = -2/3 off it;
#   ||W^mm||^2 = 2 * 2 (3 - 2)/3 = 4/3, margin 1/||W^mm|| = sqrt(3)/2; both out-of-support pairs are tight.
expect:
  compatible: true
  separable: true
  entropy: 2/3*log(2) + 1/8*log(3)
  F_dim: 2
  W_star: [[log(3)/2, 0], [-log(3)/2, -log(2)/2], [0, log(2)/2]]
  W_mm: [[1/3, -2/3], [1/3, 1/3], [-2/3, 1/3]]
  W_mm_norm_sq: 4/3
  margin: sqrt(3)/2
  support: [[warm, snow], [cold, sun]]
  claims:                         # statuses you expect (pass, fail, inconclusive, not-applicable)
    remark1: not-applicable       # the contexts have two next tokens each, not one
    lemma1: not-applicable        # d = 2 is not > m = 2
    prop1: pass
"""


def target_path(name: str) -> tuple[Path, str]:
    """(file to write, case name) for ``ntpverify new NAME``: NAME may be a path and may end in
    .yaml; the case name is the file stem. Raises ValueError when the stem is not a valid name."""
    path = Path(name)
    if path.suffix.lower() in (".yaml", ".yml"):
        stem = path.stem
    else:
        stem = path.name
        path = path.with_name(path.name + ".yaml")
    if not NAME_RE.fullmatch(stem):
        raise ValueError(f"{stem!r} is not a valid case name (use letters, digits, '-' and '_', "
                         f"at most 100 characters)")
    return path, stem


def template_text(name: str, file: str | None = None) -> str:
    """The template for a case called ``name`` (written to ``file``, default NAME.yaml)."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid case name")
    file = file if file and file.isprintable() else f"{name}.yaml"
    return TEMPLATE.format(name=name, file=file, stem=Path(file).with_suffix("").as_posix())
