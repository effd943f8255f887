"""Fuzzing ``parse_case``: every input either loads or is refused with a BadInput naming the file.

Property (for every generated input): ``parse_case(raw, WHERE)`` returns a ``Case`` or raises
``BadInput`` whose message starts with ``WHERE``; no other exception, and each call finishes within
the hypothesis deadline (2 s).

Strategies:
- ``numbers``: grammar-aware number and expression strings, plus near-miss garbage (one character
  deleted, inserted or replaced), placed where the loader reads numbers and expressions;
- ``structure``: a valid case with the value at a known key replaced by random nested YAML data
  (mappings, lists, scalars, numbers, expressions, booleans, nulls), plus unknown keys;
- ``mutations``: the real files in cases/ with lines deleted, duplicated or swapped, characters
  flipped, and numbers replaced by garbage;
- ``raw``: arbitrary bytes and text.

The default run is derandomized (the same inputs every time) and takes a few hundred examples per
strategy. ``NTPVERIFY_FUZZ_EXAMPLES=N`` runs N examples per strategy with fresh random inputs. The
number of inputs tried and the time taken are written to ``/tmp/ntpverify-fuzz-count.json`` (or
``NTPVERIFY_FUZZ_COUNT_FILE``) and printed.

The strategies include what used to break the loader (fixed; regression tests are in
test_bad_input.py): numbers far beyond the size bounds and 4300 digits, chains of '^', logs and
square roots of numbers beyond the factoring bound, probabilities with long denominators,
non-ASCII digits, and explicit YAML tags on keys and values. Huge corpora and megabyte files are
tested in subprocesses there, not here.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntpverify.errors import BadInput
from ntpverify.instance import Case, parse_case

WHERE = "fuzz/case.yaml"
CASES_DIR = Path(__file__).resolve().parents[1] / "cases"
CASE_TEXTS = [p.read_text(encoding="utf-8") for p in sorted(CASES_DIR.glob("*.yaml"))]

_ENV_EXAMPLES = os.environ.get("NTPVERIFY_FUZZ_EXAMPLES")
EXAMPLES = int(_ENV_EXAMPLES) if _ENV_EXAMPLES else 300
COUNT_FILE = Path(os.environ.get("NTPVERIFY_FUZZ_COUNT_FILE", "/tmp/ntpverify-fuzz-count.json"))

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,
    derandomize=_ENV_EXAMPLES is None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)

STATS: dict[str, dict[str, int]] = {}


def check(raw: bytes, strategy: str) -> None:
    """The property: a Case, or a BadInput that names the file. Anything else propagates."""
    stats = STATS.setdefault(strategy, {"inputs": 0, "loaded": 0, "refused": 0})
    stats["inputs"] += 1
    try:
        case = parse_case(raw, WHERE)
    except BadInput as exc:
        msg = str(exc)
        assert msg.startswith(WHERE), msg
        assert exc.where == WHERE
        stats["refused"] += 1
        return
    assert isinstance(case, Case)
    stats["loaded"] += 1


@pytest.fixture(scope="module", autouse=True)
def record_counts():
    start = time.monotonic()
    yield
    seconds = time.monotonic() - start
    total = sum(s["inputs"] for s in STATS.values())
    report = {"inputs": total, "seconds": round(seconds, 2), "examples_per_strategy": EXAMPLES,
              "derandomized": _ENV_EXAMPLES is None, "by_strategy": STATS}
    try:
        COUNT_FILE.write_text(json.dumps(report, indent=2) + "\n")
    except OSError:
        pass
    print(f"\nntpverify fuzz: {total} inputs in {seconds:.1f} s -> {COUNT_FILE}")


# =============================================================================================
# Number and expression strings: grammar-aware, plus near-miss garbage
# =============================================================================================

_digits = st.integers(0, 10**12).map(str)
_small_int = st.integers(-50, 50).map(str)
_decimal = st.builds(
    lambda sign, i, f, e: f"{sign}{i}{'.' + f if f is not None else ''}{e}",
    st.sampled_from(["", "-", "+"]),
    st.sampled_from(["", "0", "1", "12", "007", "3"]),
    st.one_of(st.none(), st.sampled_from(["", "5", "25", "1", "000001", "9999"])),
    st.sampled_from(["", "e3", "E-2", "e+0", "e400", "e-400", "e401", "e999999999", "e"]),
)
_fraction = st.builds(lambda s, p, q: f"{s}{p}/{q}", st.sampled_from(["", "-", "+"]), _digits,
                      st.integers(0, 10**6).map(str))
_huge = st.one_of(
    st.integers(0, 2**2100).map(str),
    st.builds(lambda p, q: f"{p}/{q}", st.integers(1, 10**45), st.integers(10**40, 10**45)),
    st.sampled_from(["1e400", "1e-400", "9" * 617, "9" * 618, "1" + "0" * 1300, "１", "٣/٤", "1e٣", "²"]),
)
NUMBER = st.one_of(_digits, _small_int, _decimal, _fraction, _huge,
                   st.sampled_from(["0", "1", "1/2", "0.1", ".5", "5.", "1e-3", "3/6", " 7 ", "-0"]))

_arg = st.one_of(NUMBER, st.builds(lambda p, q: f"{p}/{q}", _digits, _digits))
_expr_atom = st.one_of(
    NUMBER,
    _arg.map(lambda a: f"log({a})"),
    _arg.map(lambda a: f"sqrt({a})"),
    st.builds(lambda b, n: f"{b}^{n}", st.sampled_from(["2", "3", "(1/2)", "10", "log(2)", "sqrt(2)", "0"]),
              st.integers(-6, 6).map(lambda n: str(n) if n >= 0 else f"({n})")),
    st.builds(lambda b, n: f"{b}^{n}", st.sampled_from(["2", "3", "(10^1000)", "(2^1000)", "(1+sqrt(2))", "7/3"]),
              st.integers(-1100, 1100).map(lambda n: str(n) if n >= 0 else f"({n})")),
    st.integers(1, 400).map(lambda k: "1^" * k + "1"),
    st.integers(10**40, 10**82).map(lambda n: f"log({n})"),      # beyond the factoring bound: refused
    st.integers(10**40, 10**82).map(lambda n: f"sqrt({n})"),
)


def _expr_combine(children):
    return st.one_of(
        st.tuples(children, st.sampled_from(["+", "-", "*", "/", " + ", " * "]), children).map(lambda t: "".join(t)),
        children.map(lambda c: f"({c})"),
        children.map(lambda c: f"-{c}"),
    )


EXPR = st.recursive(_expr_atom, _expr_combine, max_leaves=6)

_GARBAGE_CHARS = "()+-*/^.eE_ x,;:[]{}'\"!&*#%|@`\\\t0123456789lgsqrtlogsqrtpiexp"


@st.composite
def near_miss(draw, base=EXPR):
    """A grammar string with one to three characters deleted, inserted or replaced."""
    text = draw(base)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "double"]))
        i = draw(st.integers(0, len(text)))
        ch = draw(st.sampled_from(_GARBAGE_CHARS) | st.characters(codec="utf-8", exclude_categories=("Cs",)))
        if op == "delete" and text:
            text = text[:i] + text[i + 1:]
        elif op == "insert":
            text = text[:i] + ch + text[i:]
        elif op == "replace" and text:
            text = text[:i] + ch + text[i + 1:]
        elif op == "double" and text:
            j = min(i, len(text) - 1)
            text = text[:j] + text[j] * 2 + text[j + 1:]
    return text


NUMBERISH = st.one_of(NUMBER, EXPR, near_miss(), near_miss(NUMBER),
                      st.text(alphabet=_GARBAGE_CHARS, max_size=12))


def yaml_scalar(text: str) -> str:
    """A YAML flow scalar for ``text``: plain when that reads back the same, else double-quoted."""
    return json.dumps(text)  # JSON strings are valid YAML double-quoted scalars


_NUMBER_SLOTS = [
    "contexts[0].embedding[0]", "contexts[1].embedding[1]", "contexts[0].next.a", "contexts[1].next.c",
    "contexts[0].weight", "settings.precision", "settings.gd.step", "settings.gd.iterations",
    "settings.path.radii[0]", "expect.entropy", "expect.margin", "expect.W_mm_norm_sq", "expect.F_dim",
    "expect.W_star[1][0]", "expect.W_mm[2][1]", "counts",
]


def _numbers_case(slot: str, value: str, plain: bool) -> str:
    """A valid two-context case (V = 3, d = 2) with ``value`` written at ``slot``."""
    v = value if plain else yaml_scalar(value)

    def at(name: str, default: str) -> str:
        return v if slot == name else default

    e0 = f"[{at('contexts[0].embedding[0]', '1')}, 0]"
    e1 = f"[0, {at('contexts[1].embedding[1]', '1')}]"
    if slot == "counts":
        first = f"counts: {{a: {v}, b: 2}}"
    else:
        first = f"next: {{a: {at('contexts[0].next.a', '1/2')}, b: 1/2}}"
    second = f"next: {{b: 1/2, c: {at('contexts[1].next.c', '1/2')}}}"
    w0 = f", weight: {v}" if slot == "contexts[0].weight" else ""
    w1 = ", weight: 1/2" if slot == "contexts[0].weight" else ""
    lines = ["name: fuzz", "vocabulary: [a, b, c]", "contexts:",
             f"  - {{name: A, embedding: {e0}, {first}{w0}}}",
             f"  - {{name: B, embedding: {e1}, {second}{w1}}}"]
    zero = "[0, 0]"
    extra = {
        "settings.precision": f"settings: {{precision: {v}}}",
        "settings.gd.step": f"settings: {{gd: {{step: {v}}}}}",
        "settings.gd.iterations": f"settings: {{gd: {{iterations: {v}}}}}",
        "settings.path.radii[0]": f"settings: {{path: {{radii: [{v}, 5]}}}}",
        "expect.entropy": f"expect: {{entropy: {v}}}",
        "expect.margin": f"expect: {{margin: {v}}}",
        "expect.W_mm_norm_sq": f"expect: {{W_mm_norm_sq: {v}}}",
        "expect.F_dim": f"expect: {{F_dim: {v}}}",
        "expect.W_star[1][0]": f"expect: {{W_star: [{zero}, [{v}, 0], {zero}]}}",
        "expect.W_mm[2][1]": f"expect: {{W_mm: [{zero}, {zero}, [0, {v}]]}}",
    }
    if slot in extra:
        lines.append(extra[slot])
    return "\n".join(lines) + "\n"


@FUZZ
@given(slot=st.sampled_from(_NUMBER_SLOTS), value=NUMBERISH, plain=st.booleans())
def test_fuzz_numbers_and_expressions(slot, value, plain):
    if plain and (not value.strip() or re.search(r"[\n\r#:{}\[\],&*!|>'\"%@`]|^[-?]\s|\s$|^\s", value)):
        plain = False  # would not be one flow scalar; quote it instead
    check(_numbers_case(slot, value, plain).encode("utf-8"), "numbers")


# =============================================================================================
# Random YAML structure at known keys
# =============================================================================================

_TOKENS = ["a", "b", "c", "d", "yes", "null", "true", "A", "B", "x y", "", "t\n", "c1", "a_b"]
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.sampled_from(_TOKENS), NUMBER, EXPR,
    near_miss(NUMBER), st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)
_keys = st.one_of(st.sampled_from(["a", "b", "c", "name", "embedding", "next", "counts", "weight", "kind",
                                   "seed", "dim", "table", "sequences", "context", "step", "entropy",
                                   "W_mm", "support", "remark1", "lemma1"]),
                  st.text(min_size=1, max_size=6))
YAML_VALUE = st.recursive(
    _scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(_keys, children, max_size=5)),
    max_leaves=20,
)


def _base_case() -> dict:
    return {
        "format": "ntpverify/1",
        "name": "fuzz",
        "description": "base",
        "vocabulary": ["a", "b", "c", "d"],
        "contexts": [
            {"name": "A", "embedding": [1, 0, 0], "next": {"a": "2/3", "b": "1/3"}},
            {"name": "B", "embedding": [0, 1, 0], "next": {"b": "1/2", "c": "1/2"}},
            {"name": "C", "embedding": [1, 1, 1], "next": {"a": 1}},
        ],
        "settings": {"precision": 50, "gd": {"step": "auto", "iterations": 100, "init": "zero"},
                     "path": {"radii": [2, 5]}},
        "expect": {
            "compatible": True, "separable": True, "entropy": "log(3)/3 + log(2)/9", "F_dim": 2,
            "W_star": [["log(2)/2", 0, 0], ["-log(2)/2", 0, 0], [0, 0, 0], [0, 0, 0]],
            "W_mm": [["1/2", "-1/2", 1], ["1/2", "1/2", -1], ["-1/2", "1/2", 0], ["-1/2", "-1/2", 0]],
            "margin": "1/2", "support": [["A", "c"], ["A", "d"]],
            "claims": {"remark1": "not-applicable"},
        },
    }


def _corpus_case() -> dict:
    return {
        "name": "fuzz-corpus",
        "corpus": {"sequences": ["the cat sat", "the cat ran", "the dog sat"], "context": 1},
        "embeddings": {"kind": "table", "table": {"the": [1, 0], "cat": [0, 1], "dog": [1, 1]},
                       "dim": 2, "seed": 0, "denominator": 10},
    }


def _paths(node, prefix=()):
    """Every (path) to a value inside node, the root included."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(doc, path, value):
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@st.composite
def structured_docs(draw):
    doc = draw(st.sampled_from([_base_case, _corpus_case]))()
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add-key"]))
        if action == "replace":
            doc = _set(doc, path, draw(YAML_VALUE))
        elif action == "delete" and path:
            parent = doc
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
        elif action == "add-key":
            target = doc
            for key in path:
                target = target[key]
            if isinstance(target, dict):
                target[draw(_keys)] = draw(YAML_VALUE)
            elif isinstance(target, list):
                target.append(draw(YAML_VALUE))
    return doc


@FUZZ
@given(doc=structured_docs(), flow=st.sampled_from([None, True, False]))
def test_fuzz_structure(doc, flow):
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    check(text.encode("utf-8"), "structure")


# =============================================================================================
# Mutations of the real case files
# =============================================================================================

_NUM_RE = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")
_FLIP = list(":-[]{}, \t&*!#'\"|>?%@`0123456789abcxyzé\x00\x7f") + ["\u2028", "\ufeff", "\r", "１", "٣",
                                                                    "!!str ", "!!bool ", "!!null ", "!!int ",
                                                                    "!!python/name:os.system ", "&a ", "*a"]


@st.composite
def mutated_case_files(draw):
    text = draw(st.sampled_from(CASE_TEXTS))
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "flip", "number", "number", "indent",
                                   "foreign-line"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "flip" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:k] + draw(st.sampled_from(_FLIP)) + lines[i][k + 1:]
        elif op == "number":
            matches = list(_NUM_RE.finditer("\n".join(lines)))
            if matches:
                m = draw(st.sampled_from(matches))
                joined = "\n".join(lines)
                joined = joined[:m.start()] + draw(NUMBERISH).replace("\n", " ") + joined[m.end():]
                lines = joined.split("\n")
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "  ", "\t", "    "])) + lines[i].lstrip()
        elif op == "foreign-line":
            other = draw(st.sampled_from(CASE_TEXTS)).split("\n")
            lines.insert(i, draw(st.sampled_from(other)))
    raw = "\n".join(lines).encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # sometimes a stray non-UTF-8 byte
        k = draw(st.integers(0, len(raw)))
        raw = raw[:k] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xe9", b"\x80"])) + raw[k:]
    return raw


@FUZZ
@given(raw=mutated_case_files())
def test_fuzz_mutated_case_files(raw):
    check(raw, "mutations")


# =============================================================================================
# Raw bytes and text
# =============================================================================================

@FUZZ
@given(raw=st.one_of(st.binary(max_size=200),
                     st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
                     st.text(alphabet="abc:-[]{}, \n\t&*!#'\"|>?0123456789/.", max_size=200).map(str.encode)))
def test_fuzz_raw_input(raw):
    check(raw, "raw")


def test_unmutated_case_files_load():
    """The mutation strategy starts from files that load (so mutations explore near valid inputs)."""
    for text in CASE_TEXTS:
        assert isinstance(parse_case(text.encode("utf-8"), WHERE), Case)
