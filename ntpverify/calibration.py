"""Calibration corpus: seeded VALID instances (for false alarms) and wrong closed forms (for misses).

The numeric verdicts (prop1, thm1, lemma2, thm2, ext-*) must be calibrated on instances whose
hypotheses are certified exactly, beyond the hand-solvable closed-form families. This module
generates them and perturbs the numeric layer's exact inputs on purpose.

Corpus
------
``generate(seed)`` is deterministic per seed (``random.Random`` of derived sub-seeds, never the
global generator). The kind rotates with the seed (``KINDS[seed % 10]``), so any 60 consecutive
seeds hold every kind six times; the shape rotates too: m = 2 + seed mod 11 (raised to a kind's
minimum), V = 3 + (13 * (seed // 10) + seed) mod 10. A draw is accepted only when the exact layer
certifies it compatible, separable, non-trivial, with an admissible step (``validate``); otherwise
the next sub-seed is tried (``MAX_TRIES`` at most). Supports have 1..4 tokens, mixed sizes inside an
instance (``mixed`` adds supports of V - 1 tokens).

Kinds and how each is built:

- ``generic``: d = m + 1..3, embeddings k/10 (|k| <= 10), counts 1..9 (weights = count totals).
  Lemma 1 (d > m, full rank) makes it compatible and separable.
- ``wide``: d = m + 4..6, sparse k/10 embeddings, probabilities and weights given explicitly.
- ``underdetermined``: d < m. d base contexts with independent integer embeddings; each further
  context is a positive integer combination of earlier ones with support the intersection of
  theirs (separable: any separating W gives the combination a separating margin too), sometimes a
  signed combination with a random support (then only the exact layer decides). Compatibility is
  planted: p_{j,z} proportional to 2^{(W0 h_j)_z} on S_j for an integer W0 (exponents within 4 of
  each other), so the log-odds are exactly linear in h_j.
- ``repeated``: some contexts repeat an earlier embedding and copy its distribution (counts scaled
  by 1..3, so the probabilities agree and the weights differ); d is drawn above the number of
  distinct embeddings, often d <= m.
- ``collinear``: a context with h' = (s/t) h of another (s != t in 1..3) and the same support, with
  p proportional to q^t and p' proportional to q^s (q integers 1..4), so the log-odds scale by s/t.
- ``near-collinear``: h_b = h_a + e_i / 20, independent distributions (same support half the time).
- ``tiny-multiplier``: generic, one embedding multiplied by 10 (its multipliers about 100x smaller).
- ``weakly-active``: one of two constructions (half the draws each).
  Lift (genuine): base contexts in the first d - 1 coordinates (d = m or m + 1) and
  h_k = h_a + c e_d with S_k = S_a; the base W^mm (last column 0) stays optimal, (k, v) is tight
  wherever (a, v) is, and the last column of stationarity forces every multiplier of k to 0.
  Combination (degenerate): integer base contexts plus h_k = h_a + h_b with S_k = S_a & S_b
  strictly inside S_a: for v in S_a - S_b, A_{k,v} = A_{b,v} modulo F, so (k, v) is tight whenever
  (b, v) is and the multiplier can sit on either (the solver often puts 0 on one).
  Accepted only when the exact layer shows a tight constraint with multiplier 0 (``WEAK_TRIES``
  sub-seeds), else a generic instance of kind ``weakly-active-fallback``.
- ``onehot``: every |S_j| = 1; on alternate seed decades d > m (generic), or d <= m with each token
  the unique argmax of W1 h_j for a planted integer W1 (separable by construction).
- ``mixed``: |S_j| in 1..4 and at least one context with |S_j| = V - 1.

``features`` records what the exact layer found: ``d>m`` or ``d<=m``, ``rank-deficient``,
``duplicate-embeddings``, ``collinear-embeddings``, ``weakly-active`` (a tight constraint with
multiplier 0 or absent, exactly) with ``unique-multipliers`` (the tight constraints and a basis of F
are independent, so the zero is forced) or ``degenerate-multipliers``, ``onehot``,
``full-minus-one``.

Perturbations (power study)
---------------------------
``perturb(problem, kind, rng)`` returns a copy of a ``NumericProblem`` with one closed form wrong,
and a description naming the exact size of the change (``AFFECTED`` lists the claims that should
then fail):

- ``W_star``: W* + a rational move in F (a rational combination of the generators B_{j,z} over
  ``F_basis``) of norm 1e-3 * max(1, ||W*||) (to about 1e-9 relative). No move when F = {0}.
- ``W_mm``: W^mm rotated by theta uniform in [0.01, 0.1] towards a random direction orthogonal to
  it, norm kept (to about 1e-12 relative); ``W_mm_norm_sq`` is the new exact squared norm.
- ``H``: the entropy plus or minus 1/10000.
- ``ext-loss``: ``W_mm_norm_sq`` times 11/10 (the constant of ext-loss-rate).
- ``ext-offset``: every multiplier divided by 11/10 (the constant eta pi p / lambda off by 10%).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace
from fractions import Fraction

import flint

from .exactnum import LinLog
from .instance import parse_case
from .numeric.problem import NumericProblem

KINDS = ("generic", "wide", "underdetermined", "repeated", "collinear", "near-collinear",
         "tiny-multiplier", "weakly-active", "onehot", "mixed")
PERTURBATIONS = ("W_star", "W_mm", "H", "ext-loss", "ext-offset")
AFFECTED = {"W_star": ("thm2", "thm1"), "W_mm": ("thm2", "thm1"), "H": ("lemma2", "prop1"),
            "ext-loss": ("ext-loss-rate",), "ext-offset": ("ext-offset",)}
MAX_TRIES = 40       # sub-seeds per instance before giving up
WEAK_TRIES = 20      # sub-seeds spent looking for a weakly active constraint
MIN_M = {"underdetermined": 2, "repeated": 2, "collinear": 2, "near-collinear": 2,
         "weakly-active": 3}

Q = Fraction


@dataclass(frozen=True)
class CalibrationCase:
    """One accepted corpus instance; ``text`` is a complete case file (case-format.md)."""

    seed: int
    kind: str
    name: str
    m: int
    d: int
    V: int
    supports: tuple[int, ...]        # |S_j| per context
    features: tuple[str, ...]
    tries: int                       # sub-seeds drawn until one was accepted (1 = first)
    text: str


class _Retry(Exception):
    """A draw that cannot be completed; the next sub-seed is tried."""


@dataclass
class _Draft:
    d: int
    V: int
    H: list[list[Fraction]]
    dists: list[dict[int, object]]      # token -> count (int) or probability (Fraction)
    counts: bool                        # dists hold counts (weights from totals) or probabilities
    weights: list[Fraction] | None = None
    note: str = ""


# ---------------------------------------------------------------------------------------------
# Seeds and shapes

def subseed(seed: int, attempt: int) -> int:
    """A derived seed for attempt ``attempt`` of corpus seed ``seed`` (stable across runs)."""
    digest = hashlib.sha256(f"ntpverify-calibration:{seed}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def kind_of(seed: int) -> str:
    return KINDS[seed % len(KINDS)]


def shape_of(seed: int, kind: str) -> tuple[int, int]:
    """(m, V): m = 2 + seed mod 11 (at least the kind's minimum), V = 3 + (13 (seed // 10) + seed) mod 10."""
    m = max(2 + seed % 11, MIN_M.get(kind, 2))
    V = 3 + (13 * (seed // 10) + seed) % 10
    return m, V


# ---------------------------------------------------------------------------------------------
# Small random pieces

def _sizes(rng: random.Random, m: int, V: int, lo: int = 1, hi: int = 4) -> list[int]:
    """Support sizes in lo..min(hi, V-1), not all equal when that is possible."""
    hi = min(hi, V - 1)
    lo = min(lo, hi)
    sizes = [rng.randint(lo, hi) for _ in range(m)]
    if m >= 2 and hi > lo and len(set(sizes)) == 1:
        j = rng.randrange(m)
        sizes[j] = rng.choice([s for s in range(lo, hi + 1) if s != sizes[j]])
    return sizes


def _support(rng: random.Random, V: int, size: int) -> list[int]:
    return sorted(rng.sample(range(V), size))


def _counts(rng: random.Random, S) -> dict[int, object]:
    return {z: rng.randint(1, 9) for z in S}


def _probs(rng: random.Random, S) -> dict[int, object]:
    c = {z: rng.randint(1, 9) for z in S}
    total = sum(c.values())
    return {z: Q(v, total) for z, v in c.items()}


def _rational_vec(rng: random.Random, d: int, sparse: bool = False) -> list[Fraction]:
    while True:
        h = [Q(rng.randint(-10, 10), 10) if not sparse or rng.random() < 0.5 else Q(0)
             for _ in range(d)]
        if any(h):
            return h


def _int_vec(rng: random.Random, d: int, lo: int = -2, hi: int = 2) -> list[Fraction]:
    while True:
        h = [Q(rng.randint(lo, hi)) for _ in range(d)]
        if any(h):
            return h


def _weights(rng: random.Random, m: int) -> list[Fraction]:
    w = [rng.randint(1, 5) for _ in range(m)]
    return [Q(x, sum(w)) for x in w]


def rank(rows: list[list[Fraction]]) -> int:
    if not rows or not rows[0]:
        return 0
    M = flint.fmpq_mat(len(rows), len(rows[0]), [flint.fmpq(x.numerator, x.denominator)
                                                 for r in rows for x in r])
    return M.rank()


def _independent(rng: random.Random, k: int, d: int, draw) -> list[list[Fraction]]:
    for _ in range(50):
        H = [draw(rng, d) for _ in range(k)]
        if rank(H) == k:
            return H
    raise _Retry("no independent embeddings")


def _planted(rng: random.Random, H: list[list[Fraction]], supports: list[list[int]], V: int,
             spread: int = 4) -> list[dict[int, object]]:
    """p_{j,z} proportional to 2^{(W0 h_j)_z} on S_j, W0 integer, exponents within ``spread``."""
    d = len(H[0])
    for attempt in range(30):
        density = 1.0 / max(1, d) if attempt < 20 else 0.5 / max(1, d)
        W0 = [[rng.choice((-1, 1)) if rng.random() < density else 0 for _ in range(d)]
              for _ in range(V)]
        exps = [{z: sum(W0[z][i] * H[j][i] for i in range(d)) for z in S} for j, S in enumerate(supports)]
        if all(e.denominator == 1 for ex in exps for e in ex.values()) and \
                all(max(ex.values()) - min(ex.values()) <= spread for ex in exps):
            break
    else:
        exps = [{z: Q(0) for z in S} for S in supports]
    dists = []
    for ex in exps:
        lo = min(ex.values())
        w = {z: 2 ** int(e - lo) for z, e in ex.items()}
        total = sum(w.values())
        dists.append({z: Q(v, total) for z, v in w.items()})
    return dists


def _shuffle(rng: random.Random, draft: _Draft) -> _Draft:
    """The same instance with the contexts in a random order (constructed ones not always last)."""
    order = list(range(len(draft.H)))
    rng.shuffle(order)
    draft.H = [draft.H[i] for i in order]
    draft.dists = [draft.dists[i] for i in order]
    if draft.weights is not None:
        draft.weights = [draft.weights[i] for i in order]
    return draft


# ---------------------------------------------------------------------------------------------
# Builders: (rng, m, V, seed) -> _Draft

def _generic(rng, m, V, seed, *, d_extra=(1, 3), sizes=None):
    d = m + rng.randint(*d_extra)
    H = _independent(rng, m, d, _rational_vec)
    sizes = sizes or _sizes(rng, m, V)
    return _Draft(d, V, H, [_counts(rng, _support(rng, V, s)) for s in sizes], True)


def _wide(rng, m, V, seed):
    d = m + rng.randint(4, 6)
    H = _independent(rng, m, d, lambda r, n: _rational_vec(r, n, sparse=True))
    return _Draft(d, V, H, [_probs(rng, _support(rng, V, s)) for s in _sizes(rng, m, V)], False,
                  _weights(rng, m))


def _combination(rng, H, supports, V, signed: bool):
    """(h, S) for a new context built from earlier ones, or None."""
    for _ in range(60):
        k = rng.choice((2, 2, 3)) if len(H) >= 3 else 2
        if len(H) < k:
            k = len(H)
        if k < 2 and not signed:
            # a positive multiple of a single context (m = 2, d = 1)
            c = rng.randint(2, 3)
            return [c * x for x in H[0]], list(supports[0])
        parts = rng.sample(range(len(H)), k)
        if signed:
            coef = [rng.choice((-2, -1, 1, 2)) for _ in parts]
            S = _support(rng, V, rng.randint(1, min(3, V - 1)))
        else:
            coef = [rng.randint(1, 2) for _ in parts]
            S = sorted(set.intersection(*(set(supports[p]) for p in parts)))
            if not S:
                continue
        h = [sum((c * H[p][i] for c, p in zip(coef, parts)), Q(0)) for i in range(len(H[0]))]
        if any(h) and h not in H:
            return h, S
    return None


def _base_supports(rng, n, V, hub_p=0.6):
    """Supports of sizes 2..4 (mixed) that often share token ``hub`` (so intersections exist)."""
    hub = rng.randrange(V)
    out = []
    for s in _sizes(rng, n, V, lo=2):
        if rng.random() < hub_p:
            rest = rng.sample([z for z in range(V) if z != hub], s - 1)
            out.append(sorted([hub] + rest))
        else:
            out.append(_support(rng, V, s))
    return out


def _underdetermined(rng, m, V, seed):
    d = rng.randint(max(1, m - 3), m - 1)
    H = _independent(rng, d, d, _int_vec)
    supports = _base_supports(rng, d, V)
    signed_used = False
    while len(H) < m:
        signed = not signed_used and len(H) >= 2 and rng.random() < 0.3
        got = _combination(rng, H, supports, V, signed)
        if got is None:
            raise _Retry("no combination with a common support token")
        signed_used = signed_used or signed
        H.append(got[0])
        supports.append(got[1])
    draft = _Draft(d, V, H, _planted(rng, H, supports, V), False, _weights(rng, m))
    return _shuffle(rng, draft)


def _repeated(rng, m, V, seed):
    r = rng.randint(1, max(1, m // 3))
    k = m - r
    d = rng.randint(k + 1, m + 1)
    H = _independent(rng, k, d, _rational_vec)
    dists = [_counts(rng, _support(rng, V, s)) for s in _sizes(rng, k, V)]
    for _ in range(r):
        i = rng.randrange(k)
        f = rng.randint(1, 3)
        H.append(list(H[i]))
        dists.append({z: f * c for z, c in dists[i].items()})
    return _shuffle(rng, _Draft(d, V, H, dists, True))


RATIOS = ((2, 1), (1, 2), (3, 1), (1, 3), (3, 2), (2, 3))


def _collinear(rng, m, V, seed):
    c = rng.randint(1, max(1, m // 3))
    k = m - c
    d = rng.randint(k + 1, m + 1)
    H = _independent(rng, k, d, _rational_vec)
    supports = [_support(rng, V, s) for s in _sizes(rng, k, V)]
    base = [{z: rng.randint(1, 4) for z in S} for S in supports]

    def powered(q, e):
        w = {z: v ** e for z, v in q.items()}
        total = sum(w.values())
        return {z: Q(v, total) for z, v in w.items()}

    pairs = {i: rng.choice(RATIOS) for i in rng.sample(range(k), c)}     # c <= m // 3 <= k
    dists = [powered(base[i], pairs[i][1] if i in pairs else 1) for i in range(k)]
    for i, (s, t) in pairs.items():
        H.append([Q(s, t) * x for x in H[i]])
        dists.append(powered(base[i], s))
    return _shuffle(rng, _Draft(d, V, H, dists, False, _weights(rng, m)))


def _near_collinear(rng, m, V, seed):
    d = m + rng.randint(1, 2)
    H = _independent(rng, m - 1, d, _rational_vec)
    a = rng.randrange(m - 1)
    i = rng.randrange(d)
    hb = list(H[a])
    hb[i] += Q(1, 20)
    H.append(hb)
    if rank(H) < m:
        raise _Retry("near-collinear pair dependent")
    sizes = _sizes(rng, m, V)
    supports = [_support(rng, V, s) for s in sizes[:-1]]
    supports.append(list(supports[a]) if rng.random() < 0.5 else _support(rng, V, sizes[-1]))
    return _shuffle(rng, _Draft(d, V, H, [_counts(rng, S) for S in supports], True))


def _tiny_multiplier(rng, m, V, seed):
    draft = _generic(rng, m, V, seed, d_extra=(1, 2))
    j = rng.randrange(m)
    draft.H[j] = [10 * x for x in draft.H[j]]
    return draft


def _weakly_active(rng, m, V, seed):
    return (_weak_lift if rng.random() < 0.5 else _weak_combination)(rng, m, V, seed)


def _weak_lift(rng, m, V, seed):
    """Base contexts in the first d - 1 coordinates, plus h_k = h_a + c e_d with S_k = S_a: the
    base W^mm (zero last column) stays optimal, (k, v) is tight wherever (a, v) is, and the last
    column of stationarity forces every multiplier of k to 0 (genuinely weakly active)."""
    n = m - 1
    d = n + 1 if rng.random() < 0.6 else n + 2              # d = m or m + 1
    H = [h + [Q(0)] for h in _independent(rng, n, d - 1, _rational_vec)]
    supports = [_support(rng, V, s) for s in _sizes(rng, n, V)]
    a = rng.choice([j for j in range(n) if len(supports[j]) < V - 1] or list(range(n)))
    H.append(H[a][:-1] + [Q(rng.choice((-1, 1)) * rng.randint(1, 10), 10)])
    supports.append(list(supports[a]))
    draft = _Draft(d, V, H, [_probs(rng, S) for S in supports], False, _weights(rng, m),
                   note=f"context {m - 1} lifts context {a} by a new coordinate")
    return draft


def _weak_combination(rng, m, V, seed):
    n = m - 1 if m < 5 or rng.random() < 0.5 else m - 2     # base contexts
    d = n if rng.random() < 0.6 else n + 1                  # d < m, sometimes d = m
    H = _independent(rng, n, d, _int_vec)
    supports = _base_supports(rng, n, V, hub_p=0.8)
    while len(H) < m:
        for _ in range(60):
            a, b = rng.sample(range(n), 2)
            common = set(supports[a]) & set(supports[b])
            if common and common != set(supports[a]):
                break
        else:
            raise _Retry("no pair with a partial overlap")
        h = [x + y for x, y in zip(H[a], H[b])]
        if h in H:
            raise _Retry("combination repeats an embedding")
        H.append(h)
        supports.append(sorted(common))
    return _shuffle(rng, _Draft(d, V, H, _planted(rng, H, supports, V), False, _weights(rng, m)))


def _onehot(rng, m, V, seed):
    if (seed // len(KINDS)) % 2 == 0:
        return _generic(rng, m, V, seed, sizes=[1] * m)
    d = rng.randint(max(1, m - 3), m)
    W1 = [[rng.randint(-3, 3) for _ in range(d)] for _ in range(V)]
    H, dists = [], []
    for _ in range(m):
        for _ in range(80):
            h = _int_vec(rng, d)
            if h in H:
                continue
            logits = [sum(w * x for w, x in zip(row, h)) for row in W1]
            top = max(logits)
            if logits.count(top) == 1:
                break
        else:
            raise _Retry("no embedding with a unique argmax")
        H.append(h)
        dists.append({logits.index(top): rng.randint(1, 9)})
    return _Draft(d, V, H, dists, True, note="supports are the argmax of a planted integer W1")


def _mixed(rng, m, V, seed):
    d = m + rng.randint(1, 2)
    H = _independent(rng, m, d, _rational_vec)
    sizes = [rng.randint(1, min(4, V - 1)) for _ in range(m)]
    full = rng.sample(range(m), max(1, m // 3))
    for j in full:
        sizes[j] = V - 1
    if m >= 2 and len(set(sizes)) == 1:
        raise _Retry("sizes not mixed")
    return _Draft(d, V, H, [_counts(rng, _support(rng, V, s)) for s in sizes], True)


BUILDERS = {"generic": _generic, "wide": _wide, "underdetermined": _underdetermined,
            "repeated": _repeated, "collinear": _collinear, "near-collinear": _near_collinear,
            "tiny-multiplier": _tiny_multiplier, "weakly-active": _weakly_active,
            "onehot": _onehot, "mixed": _mixed}


# ---------------------------------------------------------------------------------------------
# Text, validation, features

def _num(x: Fraction) -> str:
    return str(x)


def render(draft: _Draft, name: str, description: str) -> str:
    """The draft as a case file (format ntpverify/1)."""
    vocab = [f"t{v}" for v in range(draft.V)]
    key = "counts" if draft.counts else "next"
    lines = ["format: ntpverify/1", f"name: {name}", f"description: {description}",
             f"vocabulary: [{', '.join(vocab)}]", "contexts:"]
    for j, (h, dist) in enumerate(zip(draft.H, draft.dists)):
        lines.append(f"  - name: x{j}")
        lines.append(f"    embedding: [{', '.join(_num(x) for x in h)}]")
        body = ", ".join(f"{vocab[z]}: {_num(Q(dist[z]))}" for z in sorted(dist))
        lines.append(f"    {key}: {{{body}}}")
        if draft.weights is not None:
            lines.append(f"    weight: {_num(draft.weights[j])}")
    return "\n".join(lines) + "\n"


def validate(case_text: str, where: str = "<calibration>"):
    """(Case, Exact) of a case text; the exact layer of ``ntpverify.runner``."""
    from .runner import run_exact

    case = parse_case(case_text.encode(), where)
    return case, run_exact(case.instance, case.settings.gd.step)


def accepted(ex) -> bool:
    """Compatible, separable, non-trivial, admissible step: every GD claim's hypotheses hold."""
    return bool(ex.compat.compatible and ex.svm.separable and not ex.trivial and ex.step.admissible)


def weakly_active_pairs(ex) -> list[tuple[int, int]]:
    """(j, v) with <A_{j,v}, W^mm> == 1 exactly and multiplier 0 or absent."""
    geo = ex.geo
    return [(geo.all[i].j, geo.all[i].token) for i in tight_pairs(ex) if not ex.svm.lam.get(i)]


def tight_pairs(ex) -> list[int]:
    """Geometry indices of the margin constraints with <A_{j,v}, W^mm> == 1 exactly."""
    inst, W = ex.inst, ex.svm.W
    out = []
    for i, c in enumerate(ex.geo.all):
        if c.kind == "ineq":
            h = inst.H[c.j]
            if sum(((W[c.plus][x] - W[c.minus][x]) * h[x] for x in range(inst.d)), Q(0)) == 1:
                out.append(i)
    return out


def unique_multipliers(ex) -> bool:
    """The tight A_{j,v} and a basis of F are linearly independent (exact rank of their Gram
    matrix), so the KKT multipliers are unique: a zero multiplier of a tight constraint is then
    forced (genuinely weakly active), not one choice among several."""
    rows = list(ex.F.basis) + tight_pairs(ex)
    if not rows:
        return True
    G = flint.fmpq_mat(len(rows), len(rows), [ex.geo.Q[r][c] for r in rows for c in rows])
    return G.rank() == len(rows)


def features(ex) -> tuple[str, ...]:
    inst = ex.inst
    H = [list(h) for h in inst.H]
    feats = ["d>m" if inst.d > inst.m else "d<=m"]
    if rank(H) < inst.m:
        feats.append("rank-deficient")
    dup = col = False
    for a in range(inst.m):
        for b in range(a + 1, inst.m):
            ratio = _positive_ratio(H[a], H[b])
            if ratio == 1:
                dup = True
            elif ratio is not None:
                col = True
    if dup:
        feats.append("duplicate-embeddings")
    if col:
        feats.append("collinear-embeddings")
    weak = weakly_active_pairs(ex)
    if weak:
        feats.append("weakly-active")
        feats.append("unique-multipliers" if unique_multipliers(ex) else "degenerate-multipliers")
    sizes = [len(s) for s in inst.supports]
    if all(s == 1 for s in sizes):
        feats.append("onehot")
    if any(s == inst.V - 1 for s in sizes):
        feats.append("full-minus-one")
    return tuple(feats)


def _positive_ratio(u, v) -> Fraction | None:
    """c > 0 with v = c u, or None."""
    c = None
    for x, y in zip(u, v):
        if x == 0 or y == 0:
            if x != y:
                return None
            continue
        r = Q(y) / Q(x)
        if c is None:
            c = r
        elif r != c:
            return None
    return c if c is not None and c > 0 else None


def generate(seed: int) -> CalibrationCase:
    """The corpus instance of ``seed``: deterministic, certified valid by the exact layer."""
    kind = kind_of(seed)
    m, V = shape_of(seed, kind)
    want_weak = kind == "weakly-active"
    for attempt in range(MAX_TRIES):
        use = kind
        if want_weak and attempt >= WEAK_TRIES:
            use = "weakly-active-fallback"
        rng = random.Random(subseed(seed, attempt))
        builder = _generic if use == "weakly-active-fallback" else BUILDERS[use]
        try:
            draft = builder(rng, m, V, seed)
        except _Retry:
            continue
        name = f"calib-{use}-{seed}"
        desc = f"calibration corpus, kind {use}, seed {seed}, attempt {attempt}"
        if draft.note:
            desc += f"; {draft.note}"
        text = render(draft, name, desc)
        case, ex = validate(text, f"<{name}>")
        if not accepted(ex):
            continue
        feats = features(ex)
        if use == "weakly-active" and "weakly-active" not in feats:
            continue
        inst = case.instance
        return CalibrationCase(seed=seed, kind=use, name=name, m=inst.m, d=inst.d, V=inst.V,
                               supports=tuple(len(s) for s in inst.supports), features=feats,
                               tries=attempt + 1, text=text)
    raise RuntimeError(f"calibration seed {seed} ({kind}): no valid instance in {MAX_TRIES} sub-seeds")


# ---------------------------------------------------------------------------------------------
# Perturbations

def _fro2(A) -> Fraction:
    return sum((x * x for row in A for x in row), Q(0))


def _gauss_q(rng: random.Random) -> Fraction:
    return Q(round(rng.gauss(0.0, 1.0) * 1000), 1000)


def _as_float(x: LinLog) -> float:
    return sum(float(c) * (1.0 if q == 1 else math.log(q)) for q, c in x.log_coeffs().items())


def generator_matrix(problem: NumericProblem, j: int, z: int) -> list[list[Fraction]]:
    """B_{j,z} = (e_z - e_{a_j}) h_j^T (V x d)."""
    inst = problem.instance
    a = inst.anchors[j]
    out = [[Q(0)] * inst.d for _ in range(inst.V)]
    out[z] = list(inst.H[j])
    out[a] = [-x for x in inst.H[j]]
    return out


def _limit(x: float, den: int = 10**12) -> Fraction:
    return Fraction(x).limit_denominator(den)


def _move_W_star(problem, rng):
    if not problem.F_basis or problem.W_star is None:
        return problem, "W_star: F = {0}, nothing to move (unperturbed)"
    inst = problem.instance
    while True:
        coef = [_gauss_q(rng) for _ in problem.F_basis]
        if any(coef):
            break
    D = [[Q(0)] * inst.d for _ in range(inst.V)]
    for c, (j, z) in zip(coef, problem.F_basis):
        B = generator_matrix(problem, j, z)
        for r in range(inst.V):
            for x in range(inst.d):
                D[r][x] += c * B[r][x]
    nD = math.sqrt(float(_fro2(D)))
    nW = math.sqrt(sum(_as_float(v) ** 2 for row in problem.W_star for v in row))
    target = 1e-3 * max(1.0, nW)
    s = _limit(target / nD)
    move = [[s * x for x in row] for row in D]
    W = tuple(tuple(v + LinLog.rational(mv) for v, mv in zip(row, mrow))
              for row, mrow in zip(problem.W_star, move))
    size = math.sqrt(float(_fro2(move)))
    return (replace(problem, W_star=W),
            f"W_star moved in F by a rational move of norm {size:.6g} = {size / max(1.0, nW):.6g} * "
            f"max(1, ||W*||) (||W*|| = {nW:.6g}), a combination of {len(coef)} F generators")


def _rotate_W_mm(problem, rng):
    W = problem.W_mm
    V, d = len(W), len(W[0])
    theta = rng.uniform(0.01, 0.1)
    while True:
        R = [[_gauss_q(rng) for _ in range(d)] for _ in range(V)]
        inner = sum((r * w for rr, wr in zip(R, W) for r, w in zip(rr, wr)), Q(0))
        nsq = _fro2(W)
        U = [[r - inner / nsq * w for r, w in zip(rr, wr)] for rr, wr in zip(R, W)]
        if any(x for row in U for x in row):
            break
    nW, nU = math.sqrt(float(nsq)), math.sqrt(float(_fro2(U)))
    a, b = _limit(math.cos(theta)), _limit(math.sin(theta) * nW / nU)
    new = tuple(tuple(a * w + b * u for w, u in zip(wr, ur)) for wr, ur in zip(W, U))
    new_sq = _fro2(new)
    angle = math.atan2(float(b) * nU, float(a) * nW)
    return (replace(problem, W_mm=new, W_mm_norm_sq=new_sq),
            f"W_mm rotated by theta = {angle:.6g} rad towards a random direction orthogonal to it; "
            f"||W_mm||^2 {float(nsq):.8g} -> {float(new_sq):.8g} (exact, stored as W_mm_norm_sq)")


def _shift_H(problem, rng):
    sign = rng.choice((-1, 1))
    delta = Q(sign, 10000)
    return (replace(problem, entropy=problem.entropy + LinLog.rational(delta)),
            f"H shifted by {delta} exactly")


def _scale_norm(problem, rng):
    return (replace(problem, W_mm_norm_sq=problem.W_mm_norm_sq * Q(11, 10)),
            "W_mm_norm_sq multiplied by 11/10 exactly (ext-loss-rate's constant off by 10%)")


def _scale_multipliers(problem, rng):
    lam = {k: v / Q(11, 10) for k, v in problem.multipliers.items()}
    return (replace(problem, multipliers=lam),
            f"all {len(lam)} multipliers divided by 11/10 exactly (ext-offset's constant "
            "eta pi p / lambda off by 10%)")


_PERTURB = {"W_star": _move_W_star, "W_mm": _rotate_W_mm, "H": _shift_H,
            "ext-loss": _scale_norm, "ext-offset": _scale_multipliers}


def perturb(problem: NumericProblem, kind: str, rng: random.Random) -> tuple[NumericProblem, str]:
    """A copy of ``problem`` with one closed form wrong on purpose, and what was changed.

    Returns ``problem`` itself (not a copy) when the perturbation has nothing to act on (W_star
    when F = {0}; anything needing W^mm when the problem is not separable)."""
    if kind not in _PERTURB:
        raise ValueError(f"unknown perturbation {kind!r}; choose from {', '.join(PERTURBATIONS)}")
    if kind in ("W_mm", "ext-loss", "ext-offset") and problem.W_mm is None:
        return problem, f"{kind}: no W^mm (not separable), unperturbed"
    return _PERTURB[kind](problem, rng)
