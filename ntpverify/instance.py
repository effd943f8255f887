"""Case files: validated once, at the boundary, into one canonical exact ``Case``.

Everything downstream works on ``Instance`` (exact Fractions only) and never sees YAML.
Every refusal is a BadInput naming the file, the place (``contexts[2].next.b``), the line, the
value and the rule. Messages show long numbers by their size ("a 6021-digit integer").

Size bounds are checked while a case is read, before the work they would cause: the number of
contexts and cells before any context is read, distinct corpus tokens and contexts as they are
found, and the tokens held by corpus contexts before windows are built. Probabilities given with
``next`` have at most MAX_PROB_DIGITS = 20 digits in numerator and denominator: the exact layer
factors every probability and every log-odds ratio p_z / p_a into primes, and such a ratio then
has at most 40 digits (exactnum.MAX_FACTOR_DIGITS, at most about 0.2 s to factor). Counts
(at most 10^30, at most MAX_V tokens per context) keep those numbers below 10^33.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction
from pathlib import Path

import flint

from .errors import BadInput
from .exactnum import (MAX_FACTOR_DIGITS, ExprError, LinLog, bad_number, fmt_brief, fmt_q, ndigits,
                       parse_expr, parse_number)
from .yamlsafe import Doc, join, load

# Bounds on what a case may ask for (see README "Limits"); larger inputs are refused up front.
MAX_V = 400
MAX_M = 1_000
MAX_D = 1_000
MAX_CELLS = 40_000          # V * d and V * m
MAX_PRECISION = 5_000
MAX_ITERATIONS = 10**9
MAX_CORPUS_TOKENS = 100_000
MAX_CONTEXT_TOKENS = 1_000_000    # tokens held by all corpus contexts (windows or prefixes) together
MAX_COUNT = 10**30
MAX_PROB_DIGITS = MAX_FACTOR_DIGITS // 2   # a log-odds ratio p_z / p_a then stays factorable

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,100}")      # always used with fullmatch
TOP_KEYS = {"format", "name", "description", "vocabulary", "contexts", "corpus", "embeddings",
            "settings", "expect"}
CONTEXT_KEYS = {"name", "embedding", "next", "counts", "weight"}
EXPECT_KEYS = {"compatible", "separable", "entropy", "F_dim", "W_star", "W_mm", "margin",
               "support", "W_mm_norm_sq", "trivial", "claims", "stuck", "vanishing", "W_hat", "inf_CE"}
CLAIM_IDS = ("remark1", "lemma1", "prop1", "thm1", "lemma2", "thm2", "ext-loss-rate",
             "ext-proj-rate", "ext-offset", "ext-angle-rate", "ext-path-rate", "ext-inf-ce",
             "ext-finite-part", "ext-growth")
STATUSES = ("pass", "fail", "inconclusive", "not-applicable")


@dataclass(frozen=True)
class Instance:
    """An exact NTP instance. Rows of ``P`` are next-token distributions in vocabulary order."""

    name: str
    vocab: tuple[str, ...]
    contexts: tuple[str, ...]
    H: tuple[tuple[Fraction, ...], ...]      # m x d, row j is h_j
    pi: tuple[Fraction, ...]                 # m weights, summing to 1
    P: tuple[tuple[Fraction, ...], ...]      # m x V probabilities, rows summing to 1

    @property
    def V(self) -> int:
        return len(self.vocab)

    @property
    def m(self) -> int:
        return len(self.contexts)

    @property
    def d(self) -> int:
        return len(self.H[0])

    # cached: the claims and checks read these inside loops over contexts and tokens (frozen
    # dataclass: cached_property writes the instance __dict__ directly, fields stay immutable)
    @cached_property
    def supports(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(z for z in range(self.V) if p[z] > 0) for p in self.P)

    @cached_property
    def anchors(self) -> tuple[int, ...]:
        """a_j: the first in-support token in vocabulary order."""
        return tuple(s[0] for s in self.supports)

    def eq_pairs(self) -> list[tuple[int, int]]:
        """(j, z) for the generators B_{j,z} = (e_z - e_{a_j}) h_j^T, in context then token order."""
        return [(j, z) for j, s in enumerate(self.supports) for z in s[1:]]

    def ineq_pairs(self) -> list[tuple[int, int]]:
        """(j, v) for the constraints A_{j,v} = (e_{a_j} - e_v) h_j^T, v outside S_j."""
        return [(j, v) for j, p in enumerate(self.P) for v in range(self.V) if p[v] == 0]

    def is_trivial(self) -> bool:
        return all(len(s) == self.V for s in self.supports)

    def to_json(self) -> dict:
        """The exact instance as plain strings (the certificate's ``case.instance``)."""
        return {
            "vocabulary": list(self.vocab),
            "contexts": [
                {"name": c, "embedding": [fmt_q(x) for x in h], "weight": fmt_q(w),
                 "next": {self.vocab[z]: fmt_q(p[z]) for z in range(self.V) if p[z] > 0}}
                for c, h, w, p in zip(self.contexts, self.H, self.pi, self.P)
            ],
        }


@dataclass
class GdSettings:
    step: Fraction | None = None          # None means auto
    iterations: int | None = None         # None: decade by decade within --budget (check); 20000 (gd)
    init_seed: int | None = None          # None means zero init
    init_scale: Fraction = Fraction(1, 10)


@dataclass
class Settings:
    precision: int = 50
    gd: GdSettings = field(default_factory=GdSettings)
    radii: tuple[Fraction, ...] = (Fraction(2), Fraction(5), Fraction(10), Fraction(20),
                                   Fraction(40), Fraction(80))


@dataclass
class Case:
    """A loaded case: the instance, run settings, the hand-derived expectations, provenance."""

    path: str
    sha256: str
    instance: Instance
    settings: Settings
    expect: dict[str, object]
    description: str = ""


class _Reader:
    """Typed accessors that raise BadInput naming the file, place and line."""

    def __init__(self, where: str, doc: Doc):
        self.where = where
        self.doc = doc

    def fail(self, place: str, message: str) -> BadInput:
        return BadInput(message, where=self.where, place=place, line=self.doc.line(place))

    def mapping(self, value, place: str, allowed: set[str] | None = None) -> dict:
        if not isinstance(value, dict):
            raise self.fail(place, f"expected a mapping, got {_kind(value)}")
        if allowed is not None:
            for key in value:
                if key not in allowed:
                    raise self.fail(join(place, key),
                                    f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
        return value

    def seq(self, value, place: str, *, min_len: int = 0, max_len: int | None = None) -> list:
        if not isinstance(value, list):
            raise self.fail(place, f"expected a list, got {_kind(value)}")
        if len(value) < min_len:
            raise self.fail(place, f"needs at least {min_len} entries, has {len(value)}")
        if max_len is not None and len(value) > max_len:
            raise self.fail(place, f"has {len(value)} entries; the limit is {max_len}")
        return value

    def text(self, value, place: str) -> str:
        if not isinstance(value, str):
            raise self.fail(place, f"expected text, got {_kind(value)}")
        return value

    def name(self, value, place: str) -> str:
        text = self.text(value, place)
        if not NAME_RE.fullmatch(text):
            raise self.fail(place, f"{text!r} is not a name (letters, digits, '-', '_'; at most 100)")
        return text

    def number(self, value, place: str) -> Fraction:
        try:
            return parse_number(value)
        except ExprError as exc:
            raise bad_number(exc, self.where, place, self.doc.line(place)) from None

    def expr(self, value, place: str) -> LinLog:
        try:
            return parse_expr(value)
        except ExprError as exc:
            raise bad_number(exc, self.where, place, self.doc.line(place)) from None

    def integer(self, value, place: str, lo: int, hi: int) -> int:
        x = self.number(value, place)
        if x.denominator != 1 or not lo <= x <= hi:
            raise self.fail(place, f"expected a whole number from {lo} to {hi}, got {fmt_brief(x)}")
        return int(x)

    def boolean(self, value, place: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(place, f"expected true or false, got {_kind(value)}")
        return value


def _kind(value) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return {dict: "a mapping", list: "a list"}.get(type(value), type(value).__name__)


# The work envelope: the sizes at which the exact layer plus the checker take about a minute of CPU
# on this project's 2-core machine (scripts/limits.py; README "Limits"). The bounds above keep the
# loader itself safe; these bound the work after loading, and ``allow_large`` (the command line's
# --allow-large) lifts them.
WORK_CONSTRAINTS = 1_000    # m (V - 1): the equality and margin constraints of the NTP-SVM
WORK_EXCESS = 250           # (V - 1)(m - d): constraints beyond the (V - 1) d dimensions they span
                            # at most; a Farkas certificate's exact null space grows with it
WORK_ENTRIES = 5_000        # V d: the entries of the decoder W
WORK_D = 500                # d: the step certificate factors a d x d matrix


def over_work_envelope(inst: Instance) -> list[str]:
    """What puts an instance beyond the work envelope, in words (empty: inside it)."""
    out = []
    if inst.m * (inst.V - 1) > WORK_CONSTRAINTS:
        out.append(f"m (V - 1) = {inst.m} x {inst.V - 1} = {inst.m * (inst.V - 1)} constraints "
                   f"(at most {WORK_CONSTRAINTS})")
    excess = (inst.V - 1) * (inst.m - inst.d)
    if excess > WORK_EXCESS:
        out.append(f"(V - 1)(m - d) = {inst.V - 1} x {inst.m - inst.d} = {excess} constraints beyond the "
                   f"dimension they span (at most {WORK_EXCESS}: with more contexts than embedding "
                   "dimensions a generic instance is not separable, and the exact Farkas certificate "
                   "of that grows fast)")
    if inst.V * inst.d > WORK_ENTRIES:
        out.append(f"V d = {inst.V} x {inst.d} = {inst.V * inst.d} decoder entries (at most {WORK_ENTRIES})")
    if inst.d > WORK_D:
        out.append(f"d = {inst.d} embedding dimensions (at most {WORK_D})")
    return out


def load_case(path: str | Path, *, allow_large: bool = False) -> Case:
    """Read and validate a case file; raise BadInput on anything malformed, or (unless
    ``allow_large``) on an instance beyond the work envelope."""
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the file ({exc.strerror})", where=where) from None
    return parse_case(raw, where, allow_large=allow_large)


def parse_case(raw: bytes, where: str, *, allow_large: bool = False) -> Case:
    doc = load(raw, where)
    r = _Reader(where, doc)
    top = r.mapping(doc.data, "", TOP_KEYS) if doc.data is not None else r.mapping(None, "")
    if "format" in top and top["format"] != "ntpverify/1":
        fmt = top["format"]
        shown = repr(fmt[:40]) if isinstance(fmt, str) else _kind(fmt)
        raise r.fail("format", f"unsupported format {shown}; expected 'ntpverify/1'")
    if "name" not in top:
        raise r.fail("", "missing required key 'name'")
    name = r.name(top["name"], "name")
    description = r.text(top["description"], "description") if top.get("description") is not None else ""
    if "corpus" in top:
        if "contexts" in top:
            raise r.fail("corpus", "give either 'contexts' or 'corpus', not both")
        vocab, contexts = _corpus_contexts(r, top)
    else:
        if "embeddings" in top:
            raise r.fail("embeddings", "'embeddings' goes with 'corpus'; direct contexts give 'embedding' each")
        if "vocabulary" not in top:
            raise r.fail("", "missing required key 'vocabulary'")
        if "contexts" not in top:
            raise r.fail("", "missing required key 'contexts'")
        vocab = _vocabulary(r, top["vocabulary"])
        contexts = _direct_contexts(r, top["contexts"], vocab)
    instance = Instance(name=name, vocab=tuple(vocab), **contexts)
    over = over_work_envelope(instance)
    if over and not allow_large:
        raise BadInput(
            f"the instance is larger than the exact layer finishes in about a minute (V = {instance.V}, "
            f"m = {instance.m}, d = {instance.d}): {'; '.join(over)}. Its running time grows faster "
            "than the size (the README's Limits section has the measurements). Make the instance "
            "smaller (fewer contexts or tokens, shorter embeddings), or pass --allow-large to run "
            "it anyway.", where=where, place="corpus" if "corpus" in top else "contexts")
    settings = _settings(r, top.get("settings"))
    expect = _expect(r, top.get("expect"), instance)
    return Case(path=where, sha256=hashlib.sha256(raw).hexdigest(), instance=instance,
                settings=settings, expect=expect, description=description)


def _vocabulary(r: _Reader, value) -> list[str]:
    items = r.seq(value, "vocabulary", min_len=1, max_len=MAX_V)
    vocab: dict[str, int] = {}
    for i, tok in enumerate(items):
        if isinstance(tok, bool) or tok is None or not isinstance(tok, str) or not tok.strip():
            raise r.fail(join("vocabulary", i), f"a token name must be non-empty text, got {_kind(tok)}")
        if tok in vocab:
            raise r.fail(join("vocabulary", i), f"duplicate token {tok!r}")
        vocab[tok] = len(vocab)
    return list(vocab)


def _direct_contexts(r: _Reader, value, vocab: list[str]) -> dict:
    items = r.seq(value, "contexts", min_len=1, max_len=MAX_M)
    m = len(items)
    if m * len(vocab) > MAX_CELLS:
        raise r.fail("contexts", f"V * m = {m * len(vocab)} exceeds the limit {MAX_CELLS}")
    index = {tok: z for z, tok in enumerate(vocab)}
    names, H, P, weights, totals = [], [], [], [], []
    d = None
    for j, item in enumerate(items):
        place = join("contexts", j)
        ctx = r.mapping(item, place, CONTEXT_KEYS)
        cname = r.name(ctx["name"], join(place, "name")) if "name" in ctx else f"c{j + 1}"
        if cname in names:
            raise r.fail(join(place, "name") if "name" in ctx else place, f"duplicate context name {cname!r}")
        names.append(cname)
        if "embedding" not in ctx:
            raise r.fail(place, "missing required key 'embedding'")
        emb = r.seq(ctx["embedding"], join(place, "embedding"), min_len=1, max_len=MAX_D)
        if d is None:
            d = len(emb)
            if d * len(vocab) > MAX_CELLS:
                raise r.fail(join(place, "embedding"),
                             f"V * d = {d * len(vocab)} exceeds the limit {MAX_CELLS}")
        elif len(emb) != d:
            raise r.fail(join(place, "embedding"), f"has {len(emb)} entries; contexts[0] has {d}")
        H.append(tuple(r.number(x, join(join(place, "embedding"), i)) for i, x in enumerate(emb)))
        if ("next" in ctx) == ("counts" in ctx):
            raise r.fail(place, "give exactly one of 'next' (probabilities) or 'counts'")
        key = "next" if "next" in ctx else "counts"
        row, total = _distribution(r, ctx[key], join(place, key), vocab, index, counts=key == "counts")
        P.append(row)
        totals.append(total)
        weights.append(r.number(ctx["weight"], join(place, "weight")) if "weight" in ctx else None)
    given = [w is not None for w in weights]
    if any(given) and not all(given):
        missing = given.index(False) if given[0] else given.index(True)
        raise r.fail(join("contexts", missing),
                     "give 'weight' for every context or for none (mixed weights are ambiguous)")
    if all(given):
        for j, w in enumerate(weights):
            if w <= 0:
                raise r.fail(join(join("contexts", j), "weight"), f"weight {fmt_brief(w)} must be positive")
        s = _exact_sum(weights)
        if s != 1:
            raise r.fail("contexts", f"the weights sum to {fmt_brief(s)}, not 1")
        pi = weights
    else:
        kinds = ["counts" if t is not None else "next" for t in totals]
        if len(set(kinds)) > 1:
            n_counts = kinds.count("counts")
            if 2 * n_counts == m:
                minority = "next" if kinds[0] == "counts" else "counts"
            else:
                minority = "counts" if 2 * n_counts < m else "next"
            raise r.fail(join("contexts", kinds.index(minority)),
                         "mixing 'counts' and 'next' without weights is ambiguous: give every "
                         "context a weight, or use counts everywhere")
        if kinds[0] == "counts":
            grand = sum(totals)
            pi = [Fraction(t, grand) for t in totals]
        else:
            pi = [Fraction(1, m)] * m
    return {"contexts": tuple(names), "H": tuple(H), "pi": tuple(pi), "P": tuple(P)}


def _exact_sum(xs: list[Fraction]) -> flint.fmpq:
    """The exact sum, added pairwise in flint: fast even for a thousand coprime 600-digit
    denominators (about 0.6 s), where a running Fraction sum would take minutes."""
    terms = [flint.fmpq(x.numerator, x.denominator) for x in xs]
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0] if terms else flint.fmpq(0)


def _distribution(r: _Reader, value, place: str, vocab: list[str], index: dict[str, int], *,
                  counts: bool):
    dist = r.mapping(value, place)
    if not dist:
        raise r.fail(place, "is empty; give at least one next token")
    row = [Fraction(0)] * len(vocab)
    for tok, raw in dist.items():
        tplace = join(place, tok)
        if tok not in index:
            raise r.fail(tplace, f"unknown token {tok!r}; the vocabulary is {_brief_list(vocab)}")
        if counts:
            x = Fraction(r.integer(raw, tplace, 1, MAX_COUNT))
        else:
            x = r.number(raw, tplace)
            if x < 0:
                raise r.fail(tplace, f"probability {fmt_brief(x)} is negative")
            if x > 1:
                raise r.fail(tplace, f"probability {fmt_brief(x)} exceeds 1")
            for part, n in (("numerator", x.numerator), ("denominator", x.denominator)):
                if ndigits(n) > MAX_PROB_DIGITS:
                    raise r.fail(tplace, (
                        f"probability {fmt_brief(x)} has a {ndigits(n)}-digit {part}; the limit is "
                        f"{MAX_PROB_DIGITS} digits, because log-odds of probabilities are factored "
                        f"into primes (cheap only up to {MAX_FACTOR_DIGITS} digits); use a shorter "
                        "fraction, or give 'counts' instead of 'next'"))
        row[index[tok]] = x
    total = sum(row)
    if counts:
        return tuple(x / total for x in row), int(total)
    if total != 1:
        raise r.fail(place, f"sums to {fmt_brief(total)}, not 1")
    if not any(row):
        raise r.fail(place, "has no token with positive probability")
    return tuple(row), None


def _brief_list(items: list[str], limit: int = 20) -> str:
    if len(items) <= limit:
        return str(items)
    return f"{items[:limit]} and {len(items) - limit} more"


def _corpus_contexts(r: _Reader, top: dict):
    corpus = r.mapping(top["corpus"], "corpus", {"sequences", "context"})
    if "sequences" not in corpus:
        raise r.fail("corpus", "missing required key 'sequences'")
    seqs = r.seq(corpus["sequences"], "corpus.sequences", min_len=1)
    tokenized = []
    n_tokens = 0
    for i, s in enumerate(seqs):
        toks = r.text(s, join("corpus.sequences", i)).split()
        if len(toks) < 2:
            raise r.fail(join("corpus.sequences", i), "a sequence needs at least two tokens")
        n_tokens += len(toks)
        if n_tokens > MAX_CORPUS_TOKENS:
            raise r.fail("corpus.sequences", f"more than {MAX_CORPUS_TOKENS} tokens (by sequences[{i}]); "
                                              f"the limit is {MAX_CORPUS_TOKENS}")
        tokenized.append(toks)
    length = corpus.get("context", "all")
    if length != "all":
        length = r.integer(length, "corpus.context", 1, 10_000)
    index = _corpus_vocabulary(r, top, tokenized)
    vocab = list(index)
    ids = [[index[tok] for tok in toks] for toks in tokenized]
    if length == "all":
        keys, counts = _prefix_contexts(r, ids, vocab)
    else:
        keys, counts = _window_contexts(r, ids, vocab, length)
    grand = sum(sum(c.values()) for c in counts)
    V = len(vocab)
    P, pi = [], []
    for c in counts:
        total = sum(c.values())
        P.append(tuple(Fraction(c.get(z, 0), total) for z in range(V)))
        pi.append(Fraction(total, grand))
    H = _corpus_embeddings(r, top.get("embeddings"), keys, V)
    return vocab, {"contexts": _context_names(keys), "H": H, "pi": tuple(pi), "P": tuple(P)}


def _corpus_vocabulary(r: _Reader, top: dict, tokenized: list[list[str]]) -> dict[str, int]:
    """Token -> index: the given vocabulary, or every token in order of first appearance
    (refused as soon as there are more than MAX_V)."""
    if "vocabulary" in top:
        index = {tok: z for z, tok in enumerate(_vocabulary(r, top["vocabulary"]))}
        for i, toks in enumerate(tokenized):
            for tok in toks:
                if tok not in index:
                    raise r.fail(join("corpus.sequences", i), f"token {tok!r} is not in the vocabulary")
        return index
    index = {}
    for i, toks in enumerate(tokenized):
        for tok in toks:
            if tok not in index:
                if len(index) == MAX_V:
                    raise r.fail(join("corpus.sequences", i),
                                 f"more than {MAX_V} distinct tokens (the limit is {MAX_V}); "
                                 f"{tok!r} is the first one over")
                index[tok] = len(index)
    return index


def _context_limit(r: _Reader, V: int, n: int, place: str):
    """Refuse the n-th distinct corpus context if it is one too many."""
    limit = min(MAX_M, MAX_CELLS // V)
    if n > limit:
        raise r.fail(place, f"more than {limit} distinct contexts (the limit: at most {MAX_M}, and "
                            f"contexts x {V} tokens at most {MAX_CELLS})")


def _prefix_contexts(r: _Reader, ids: list[list[int]], vocab: list[str]):
    """context: all. Every prefix of every sequence, each found in O(1) from the one before it
    (a trie: context id of (shorter prefix, token)), so the cost is linear in the corpus."""
    child: dict[tuple[int, int], int] = {}
    parent: list[int] = []
    last: list[int] = []
    counts: list[dict[int, int]] = []
    held = 0
    for i, seq in enumerate(ids):
        node = -1
        for t in range(1, len(seq)):
            prev, node = node, child.get((node, seq[t - 1]))
            if node is None:
                node = len(parent)
                child[(prev, seq[t - 1])] = node
                parent.append(prev)
                last.append(seq[t - 1])
                counts.append({})
                held += t
                _context_limit(r, len(vocab), len(parent), join("corpus.sequences", i))
                if held > MAX_CONTEXT_TOKENS:     # implied by MAX_M today; kept if MAX_M grows
                    raise r.fail(join("corpus.sequences", i),
                                 f"the contexts hold more than {MAX_CONTEXT_TOKENS} tokens (the limit)")
            c = counts[node]
            c[seq[t]] = c.get(seq[t], 0) + 1
    keys: list[tuple[str, ...]] = []
    for node in range(len(parent)):
        keys.append((keys[parent[node]] if parent[node] >= 0 else ()) + (vocab[last[node]],))
    return keys, counts


def _window_contexts(r: _Reader, ids: list[list[int]], vocab: list[str], length: int):
    """context: k. Windows of the last k tokens; their total size is bounded before any is built."""
    windows = sum(max(0, len(seq) - length) for seq in ids)
    if windows == 0:
        raise r.fail("corpus.context", f"no sequence is longer than the context length {length}")
    if windows * length > MAX_CONTEXT_TOKENS:
        raise r.fail("corpus.context", (
            f"{windows} windows of {length} tokens hold {windows * length} tokens; the limit is "
            f"{MAX_CONTEXT_TOKENS} (use a shorter context or a smaller corpus)"))
    found: dict[tuple[int, ...], int] = {}
    counts: list[dict[int, int]] = []
    for i, seq in enumerate(ids):
        for t in range(length, len(seq)):
            key = tuple(seq[t - length:t])
            node = found.get(key)
            if node is None:
                node = found[key] = len(counts)
                counts.append({})
                _context_limit(r, len(vocab), len(counts), join("corpus.sequences", i))
            c = counts[node]
            c[seq[t]] = c.get(seq[t], 0) + 1
    keys = [tuple(vocab[z] for z in key) for key in found]
    return keys, counts


def _context_names(keys: list[tuple[str, ...]]) -> tuple[str, ...]:
    """Distinct names: the tokens joined by '_' when that is a valid name no other context shares,
    else c{i} (1-based), with a suffix _2, _3, ... if that is taken; deterministic."""
    joined = ["_".join(k) for k in keys]
    uses = Counter(joined)
    names: list[str | None] = [j if uses[j] == 1 and NAME_RE.fullmatch(j) else None for j in joined]
    taken = {n for n in names if n is not None}
    for i, n in enumerate(names):
        if n is None:
            name, k = f"c{i + 1}", 2
            while name in taken:
                name, k = f"c{i + 1}_{k}", k + 1
            names[i] = name
            taken.add(name)
    return tuple(names)


def _corpus_embeddings(r: _Reader, value, keys, V: int):
    if value is None:
        raise r.fail("", "a corpus case needs 'embeddings' (kind: one-hot, random or table)")
    emb = r.mapping(value, "embeddings", {"kind", "dim", "seed", "denominator", "table"})
    kind = emb.get("kind")
    m = len(keys)
    if kind == "one-hot":
        if m * V > MAX_CELLS:
            raise r.fail("embeddings", f"one-hot gives d = m = {m}; V * d exceeds {MAX_CELLS}")
        zero, one = Fraction(0), Fraction(1)
        return tuple(tuple(one if i == j else zero for i in range(m)) for j in range(m))
    if kind == "random":
        d = r.integer(emb.get("dim", 8), "embeddings.dim", 1, MAX_D)
        if d * V > MAX_CELLS:
            raise r.fail("embeddings.dim", f"V * d = {V * d} exceeds {MAX_CELLS}")
        seed = r.integer(emb.get("seed", 0), "embeddings.seed", 0, 2**63)
        den = r.integer(emb.get("denominator", 100), "embeddings.denominator", 1, 10**9)
        rng = random.Random(seed)
        return tuple(tuple(Fraction(rng.randint(-den, den), den) for _ in range(d)) for _ in range(m))
    if kind == "table":
        table = r.mapping(emb.get("table"), "embeddings.table")
        rows, d = [], None
        for k in keys:
            label = " ".join(k)
            if label not in table:
                raise r.fail("embeddings.table", f"no embedding for the context {label!r}")
            place = join("embeddings.table", label)
            vec = r.seq(table[label], place, min_len=1, max_len=MAX_D)
            if d is None:
                d = len(vec)
            elif len(vec) != d:
                raise r.fail(place, f"has {len(vec)} entries; other contexts have {d}")
            rows.append(tuple(r.number(x, join(place, i)) for i, x in enumerate(vec)))
        return tuple(rows)
    raise r.fail("embeddings.kind", f"unknown kind {kind!r}; use one-hot, random or table")


def _settings(r: _Reader, value) -> Settings:
    s = Settings()
    if value is None:
        return s
    top = r.mapping(value, "settings", {"precision", "gd", "path"})
    if "precision" in top:
        s.precision = r.integer(top["precision"], "settings.precision", 15, MAX_PRECISION)
    if top.get("gd") is not None:
        gd = r.mapping(top["gd"], "settings.gd", {"step", "iterations", "init"})
        if "step" in gd and gd["step"] != "auto":
            step = r.number(gd["step"], "settings.gd.step")
            if step <= 0:
                raise r.fail("settings.gd.step", f"step {fmt_brief(step)} must be positive")
            s.gd.step = step
        if "iterations" in gd:
            s.gd.iterations = r.integer(gd["iterations"], "settings.gd.iterations", 1, MAX_ITERATIONS)
        if "init" in gd and gd["init"] != "zero":
            init = r.mapping(gd["init"], "settings.gd.init", {"seed", "scale"})
            s.gd.init_seed = r.integer(init.get("seed", 0), "settings.gd.init.seed", 0, 2**63)
            if "scale" in init:
                s.gd.init_scale = r.number(init["scale"], "settings.gd.init.scale")
                if s.gd.init_scale < 0:
                    raise r.fail("settings.gd.init.scale", "scale must be non-negative")
    if top.get("path") is not None:
        path = r.mapping(top["path"], "settings.path", {"radii"})
        if "radii" in path:
            radii = r.seq(path["radii"], "settings.path.radii", min_len=1, max_len=200)
            vals = tuple(r.number(x, join("settings.path.radii", i)) for i, x in enumerate(radii))
            for i, x in enumerate(vals):
                if not 0 < x <= 10**6:
                    raise r.fail(join("settings.path.radii", i), f"radius {fmt_brief(x)} must be in (0, 1e6]")
            s.radii = vals
    return s


def _expect(r: _Reader, value, inst: Instance) -> dict[str, object]:
    if value is None:
        return {}
    raw = r.mapping(value, "expect", EXPECT_KEYS)
    out: dict[str, object] = {}
    for key, v in raw.items():
        place = join("expect", key)
        if key in ("compatible", "separable", "trivial"):
            out[key] = r.boolean(v, place)
        elif key == "F_dim":
            out[key] = r.integer(v, place, 0, 10**9)
        elif key in ("entropy", "margin", "W_mm_norm_sq", "inf_CE"):
            out[key] = r.expr(v, place)
        elif key in ("W_star", "W_mm", "W_hat"):
            rows = r.seq(v, place, min_len=inst.V, max_len=inst.V)
            mat = []
            for i, row in enumerate(rows):
                rp = join(place, i)
                cells = r.seq(row, rp, min_len=inst.d, max_len=inst.d)
                mat.append(tuple(r.expr(x, join(rp, k)) for k, x in enumerate(cells)))
            out[key] = tuple(mat)
        elif key in ("support", "stuck", "vanishing"):
            pairs = []
            for i, pair in enumerate(r.seq(v, place)):
                pp = join(place, i)
                pair = r.seq(pair, pp, min_len=2, max_len=2)
                c, t = r.text(pair[0], join(pp, 0)), r.text(pair[1], join(pp, 1))
                if c not in inst.contexts:
                    raise r.fail(join(pp, 0), f"unknown context {c!r}")
                if t not in inst.vocab:
                    raise r.fail(join(pp, 1), f"unknown token {t!r}")
                pairs.append((c, t))
            out[key] = tuple(sorted(set(pairs)))
        elif key == "claims":
            claims = r.mapping(v, place, set(CLAIM_IDS))
            for cid, status in claims.items():
                if not isinstance(status, str) or status not in STATUSES:
                    shown = repr(status[:40]) if isinstance(status, str) else _kind(status)
                    raise r.fail(join(place, cid), f"status {shown} is not one of {', '.join(STATUSES)}")
            out[key] = dict(claims)
    return out
