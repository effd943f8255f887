"""Sweep files (contract: shared/spec/sweep-format.md): validation, the grid, and the instances.

A sweep file is read as strictly as a case file (``yamlsafe`` then typed accessors): every refusal
is a BadInput naming the file, the key (``grid.d_over_m[2]``), the value and the rule, raised before
any work or any output. Nothing in a sweep file is evaluated as code.

An instance is a pure function of (the ``ensemble`` section, the cell, the seed): its random
generator is seeded from sha256 of the canonical JSON of the ensemble, the cell text and the seed,
never from Python's ``hash()``. It is produced as case-file *text* (ordinary format ntpverify/1), so
``instance_sha256`` is the hash of exactly what ``--instance CELL:SEED`` writes, and workers load
it with the normal case loader. Growing ``seeds`` or the grid keeps every instance already drawn.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

from .errors import BadInput
from .exactnum import fmt_brief
from .instance import MAX_CELLS, MAX_D, MAX_M, MAX_V, _Reader, over_work_envelope
from .yamlsafe import join, load

TOP_KEYS = {"format", "name", "description", "compute", "seeds", "time_limit", "budget", "grid",
            "ensemble", "allow_large"}
GRID_KEYS = {"m", "d", "d_over_m", "V", "support"}
ENSEMBLE_KEYS = {"embedding", "denominator", "rank", "density", "probabilities", "weights"}
RANGE_KEYS = {"from", "to", "step"}
COMPUTES = ("exact", "check")
EMBEDDINGS = ("gaussian", "onehot", "lowrank", "sparse")
PROBABILITIES = ("dirichlet", "uniform")
WEIGHTS = ("uniform", "dirichlet")

# Caps (README "Sweeps"): a sweep beyond them is refused up front, before any work.
MAX_INSTANCES = 1_000_000      # cells x seeds
MAX_CELLS_PER_SWEEP = 10_000
MAX_VALUES = 1_000             # values of one grid key (a list or a from/to/step range)
MAX_SEED = 2**63 - 1
MAX_TIME_LIMIT = 86_400        # seconds per instance
MAX_DENOMINATOR = 10**6
PROB_UNITS = 100               # probabilities are k/100 (dirichlet), every support token >= 1/100
MAX_SUPPORT = PROB_UNITS
DEFAULT_TIME_LIMIT = 120
DEFAULT_BUDGET = 60            # compute: check, as `ntpverify check --budget`

_CELL_RE = re.compile(r"\s*m\s*=\s*(\d+)\s*,\s*d\s*=\s*(\d+)\s*,\s*V\s*=\s*(\d+)\s*,\s*support\s*=\s*(\d+)\s*")


@dataclass(frozen=True)
class Cell:
    """One grid point. ``text`` (``m=10,d=4,V=5,support=2``) is its name in the results table."""

    m: int
    d: int
    V: int
    support: int

    @property
    def text(self) -> str:
        return f"m={self.m},d={self.d},V={self.V},support={self.support}"


@dataclass(frozen=True)
class Ensemble:
    embedding: str = "gaussian"
    denominator: int = 10
    rank: int | None = None            # lowrank
    density: Fraction = Fraction(1, 3)  # sparse: the chance that an entry is drawn (else 0)
    probabilities: str = "dirichlet"
    weights: str = "uniform"

    def canonical(self) -> dict:
        """The keys that define how an instance is drawn (and nothing else), as plain JSON."""
        out = {"embedding": self.embedding, "probabilities": self.probabilities, "weights": self.weights}
        if self.embedding != "onehot":
            out["denominator"] = self.denominator
        if self.embedding == "lowrank":
            out["rank"] = self.rank
        if self.embedding == "sparse":
            out["density"] = str(self.density)
        return out


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file."""

    name: str
    path: str
    compute: str
    seeds: tuple[int, ...]
    time_limit: float
    budget: float
    cells: tuple[Cell, ...]            # grid order: m, then d, then V, then support (last fastest)
    ensemble: Ensemble
    allow_large: bool = False
    description: str = ""
    ensemble_key: str = field(init=False, default="")

    def __post_init__(self):
        object.__setattr__(self, "ensemble_key", json.dumps(self.ensemble.canonical(), sort_keys=True))

    @property
    def size(self) -> int:
        return len(self.cells) * len(self.seeds)

    def identity(self) -> str:
        """sha256 of what decides the rows (compute, budget, seeds, cells, ensemble): a results
        folder holds one sweep. ``name``, ``description`` and ``time_limit`` may change on resume."""
        body = {"compute": self.compute, "budget": str(self.budget), "seeds": list(self.seeds),
                "cells": [c.text for c in self.cells], "ensemble": self.ensemble.canonical()}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Loading and validation

def load_sweep(path: str | Path) -> Sweep:
    where = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the file ({exc.strerror})", where=where) from None
    return parse_sweep(raw, where)


def parse_sweep(raw: bytes | str, where: str) -> Sweep:
    """Validate a sweep file; raise BadInput naming the key and the rule on anything wrong."""
    doc = load(raw, where)
    r = _Reader(where, doc)
    top = r.mapping(doc.data, "", TOP_KEYS)
    if "format" in top and top["format"] != "ntpverify-sweep/1":
        raise r.fail("format", "unsupported format; expected 'ntpverify-sweep/1'")
    for key in ("name", "grid"):
        if key not in top:
            raise r.fail("", f"missing required key {key!r}")
    name = r.name(top["name"], "name")
    description = r.text(top["description"], "description") if top.get("description") is not None else ""
    compute = _choice(r, top.get("compute", "exact"), "compute", COMPUTES)
    seeds = _seeds(r, top.get("seeds", 20))
    time_limit = _positive(r, top.get("time_limit", DEFAULT_TIME_LIMIT), "time_limit", MAX_TIME_LIMIT)
    budget = _positive(r, top.get("budget", DEFAULT_BUDGET), "budget", 10**6)
    if "budget" in top and compute != "check":
        raise r.fail("budget", "'budget' (time for the numerics) goes with 'compute: check'")
    allow_large = r.boolean(top["allow_large"], "allow_large") if "allow_large" in top else False
    ensemble = _ensemble(r, top.get("ensemble", {}))
    cells = _grid(r, top["grid"], allow_large)
    if len(cells) * len(seeds) > MAX_INSTANCES:
        raise r.fail("seeds", f"{len(cells)} cells x {len(seeds)} seeds = {len(cells) * len(seeds)} "
                              f"instances; the limit is {MAX_INSTANCES}")
    return Sweep(name=name, path=where, compute=compute, seeds=seeds, time_limit=float(time_limit),
                 budget=float(budget), cells=tuple(cells), ensemble=ensemble, allow_large=allow_large,
                 description=description)


def _choice(r: _Reader, value, place: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        shown = repr(value[:40]) if isinstance(value, str) else _kind_text(value)
        raise r.fail(place, f"{shown} is not one of: {', '.join(allowed)}")
    return value


def _kind_text(value) -> str:
    from .instance import _kind
    return _kind(value)


def _positive(r: _Reader, value, place: str, hi: int) -> Fraction:
    x = r.number(value, place)
    if not 0 < x <= hi:
        raise r.fail(place, f"expected a number above 0 and at most {hi}, got {fmt_brief(x)}")
    return x


def _seeds(r: _Reader, value) -> tuple[int, ...]:
    if isinstance(value, list):
        items = r.seq(value, "seeds", min_len=1, max_len=MAX_INSTANCES)
        seeds = [r.integer(x, join("seeds", i), 0, MAX_SEED) for i, x in enumerate(items)]
        seen: set[int] = set()
        for i, s in enumerate(seeds):
            if s in seen:
                raise r.fail(join("seeds", i), f"seed {s} is listed twice")
            seen.add(s)
        return tuple(seeds)
    if isinstance(value, dict):
        raise r.fail("seeds", "expected a count of seeds (0..N-1) or a list of seeds, got a mapping")
    n = r.integer(value, "seeds", 1, MAX_INSTANCES)
    return tuple(range(n))


def _ensemble(r: _Reader, value) -> Ensemble:
    e = r.mapping(value, "ensemble", ENSEMBLE_KEYS)
    embedding = _choice(r, e.get("embedding", "gaussian"), "ensemble.embedding", EMBEDDINGS)
    denominator = r.integer(e["denominator"], "ensemble.denominator", 1, MAX_DENOMINATOR) \
        if "denominator" in e else 10
    if "denominator" in e and embedding == "onehot":
        raise r.fail("ensemble.denominator", "one-hot embeddings have no denominator")
    rank = None
    if embedding == "lowrank":
        if "rank" not in e:
            raise r.fail("ensemble", "'embedding: lowrank' needs 'rank' (a whole number >= 1)")
        rank = r.integer(e["rank"], "ensemble.rank", 1, MAX_D)
    elif "rank" in e:
        raise r.fail("ensemble.rank", "'rank' goes with 'embedding: lowrank'")
    density = Fraction(1, 3)
    if "density" in e:
        if embedding != "sparse":
            raise r.fail("ensemble.density", "'density' goes with 'embedding: sparse'")
        density = r.number(e["density"], "ensemble.density")
        if not 0 < density <= 1 or density.denominator > 10**6:
            raise r.fail("ensemble.density", f"expected a fraction in (0, 1] with denominator at most "
                                             f"10^6, got {fmt_brief(density)}")
    probabilities = _choice(r, e.get("probabilities", "dirichlet"), "ensemble.probabilities", PROBABILITIES)
    weights = _choice(r, e.get("weights", "uniform"), "ensemble.weights", WEIGHTS)
    return Ensemble(embedding, denominator, rank, density, probabilities, weights)


def _values(r: _Reader, value, place: str, *, integer: bool, lo, hi) -> list:
    """A grid key's values: a list, one value, or {from, to, step}; each in [lo, hi]."""
    if isinstance(value, dict):
        rng = r.mapping(value, place, RANGE_KEYS)
        for key in ("from", "to"):
            if key not in rng:
                raise r.fail(place, f"a range needs 'from' and 'to' (and optionally 'step'), missing {key!r}")
        start = r.number(rng["from"], join(place, "from"))
        stop = r.number(rng["to"], join(place, "to"))
        step = r.number(rng["step"], join(place, "step")) if "step" in rng else Fraction(1)
        if step <= 0:
            raise r.fail(join(place, "step"), f"step {fmt_brief(step)} must be positive")
        if stop < start:
            raise r.fail(join(place, "to"), f"'to' ({fmt_brief(stop)}) is below 'from' ({fmt_brief(start)})")
        count = int((stop - start) / step) + 1
        if count > MAX_VALUES:
            raise r.fail(place, f"the range has {count} values; the limit is {MAX_VALUES}")
        raw = [(start + k * step, join(place, "from")) for k in range(count)]
    elif isinstance(value, list):
        items = r.seq(value, place, min_len=1, max_len=MAX_VALUES)
        raw = [(r.number(x, join(place, i)), join(place, i)) for i, x in enumerate(items)]
    else:
        raw = [(r.number(value, place), place)]
    out = []
    for x, where in raw:
        if integer and x.denominator != 1:
            raise r.fail(where, f"expected a whole number, got {fmt_brief(x)}")
        if not lo <= x <= hi:
            raise r.fail(where, f"{fmt_brief(x)} is outside {fmt_brief(Fraction(lo))}..{fmt_brief(Fraction(hi))}")
        x = int(x) if integer else x
        if x in out:
            raise r.fail(where, f"{fmt_brief(Fraction(x))} is listed twice")
        out.append(x)
    return out


def _grid(r: _Reader, value, allow_large: bool) -> list[Cell]:
    g = r.mapping(value, "grid", GRID_KEYS)
    for key in ("m", "V", "support"):
        if key not in g:
            raise r.fail("grid", f"missing required key {key!r}")
    if ("d" in g) == ("d_over_m" in g):
        raise r.fail("grid", "give exactly one of 'd' and 'd_over_m'")
    ms = _values(r, g["m"], "grid.m", integer=True, lo=1, hi=MAX_M)
    Vs = _values(r, g["V"], "grid.V", integer=True, lo=2, hi=MAX_V)
    supports = _values(r, g["support"], "grid.support", integer=True, lo=1, hi=MAX_SUPPORT)
    if "d" in g:
        ds = _values(r, g["d"], "grid.d", integer=True, lo=1, hi=MAX_D)
        d_of = lambda m: ds      # noqa: E731
    else:
        ratios = _values(r, g["d_over_m"], "grid.d_over_m", integer=False, lo=Fraction(1, 10**6), hi=MAX_D)
        d_of = lambda m: _dedupe(max(1, _round_half_up(x * m)) for x in ratios)   # noqa: E731
    cells: list[Cell] = []
    for m in ms:
        for d in d_of(m):
            for V in Vs:
                for s in supports:
                    if s < V:         # |S_j| = V leaves no margin constraint: not a cell
                        cells.append(Cell(m, d, V, s))
                    if len(cells) > MAX_CELLS_PER_SWEEP:
                        raise r.fail("grid", f"more than {MAX_CELLS_PER_SWEEP} cells; the limit is "
                                             f"{MAX_CELLS_PER_SWEEP} (split the sweep)")
    if not cells:
        raise r.fail("grid.support", f"no cell has |S_j| < V (support {supports}, V {Vs}): with "
                                     "|S_j| = V a context has no margin constraint")
    for c in cells:
        _check_cell(r, c, allow_large)
    return cells


def _dedupe(xs) -> list[int]:
    out: list[int] = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


def _check_cell(r: _Reader, c: Cell, allow_large: bool) -> None:
    if c.d > MAX_D or c.V * c.d > MAX_CELLS or c.V * c.m > MAX_CELLS:
        raise r.fail("grid", f"cell {c.text}: V d and V m must stay at most {MAX_CELLS} (case-file limits)")
    over = over_work_envelope(SimpleNamespace(m=c.m, d=c.d, V=c.V))
    if over and not allow_large:
        raise BadInput(f"cell {c.text} is beyond the exact layer's one-minute work envelope: "
                       f"{'; '.join(over)}. Shrink the grid, or set 'allow_large: true' to run such "
                       "cells anyway (each instance still stops at time_limit).", where=r.where,
                       place="grid", line=r.doc.line("grid"))


# ---------------------------------------------------------------------------------------------
# Cells and seeds on the command line

def parse_instance_ref(sweep: Sweep, ref: str) -> tuple[Cell, int]:
    """``CELL:SEED`` (``m=10,d=4,V=5,support=2:7``) -> the grid cell and the seed."""
    cell_text, sep, seed_text = ref.rpartition(":")
    m = _CELL_RE.fullmatch(cell_text) if sep else None
    if m is None:
        raise BadInput(f"{ref[:80]!r} is not CELL:SEED, e.g. {sweep.cells[0].text}:{sweep.seeds[0]}",
                       where="--instance")
    if not seed_text.strip().isdigit() or int(seed_text) > MAX_SEED:
        raise BadInput(f"the seed {seed_text[:40]!r} is not a whole number from 0 to {MAX_SEED}",
                       where="--instance")
    cell = Cell(*(int(x) for x in m.groups()))
    if cell not in sweep.cells:
        raise BadInput(f"cell {cell.text} is not in the grid of {sweep.path} (its first cell is "
                       f"{sweep.cells[0].text}; the results table's 'cell' column lists them)",
                       where="--instance")
    return cell, int(seed_text)


# ---------------------------------------------------------------------------------------------
# Instances

def rng_key(ensemble_key: str, cell: Cell, seed: int) -> bytes:
    """The 32-byte seed of an instance's random generator."""
    return hashlib.sha256(f"{ensemble_key}\n{cell.text}\n{seed}".encode()).digest()


def instance_name(cell: Cell, seed: int) -> str:
    return f"sweep-m{cell.m}-d{cell.d}-V{cell.V}-S{cell.support}-seed{seed}"


def instance_text(sweep: Sweep, cell: Cell, seed: int) -> str:
    """The instance (cell, seed) as case-file text (format ntpverify/1)."""
    return draw_case_text(sweep.ensemble, sweep.ensemble_key, cell, seed)


def draw_case_text(ens: Ensemble, ensemble_key: str, cell: Cell, seed: int) -> str:
    key = rng_key(ensemble_key, cell, seed)
    rng = random.Random(int.from_bytes(key, "big"))
    m, d, V, k = cell.m, cell.d, cell.V, cell.support
    H = _embeddings(rng, ens, m, d)
    supports = [sorted(rng.sample(range(V), k)) for _ in range(m)]
    dists = [_probabilities(rng, ens.probabilities, S) for S in supports]
    weights = _apportion(rng, m, PROB_UNITS * m) if ens.weights == "dirichlet" else None
    vocab = [f"t{v}" for v in range(V)]
    lines = ["format: ntpverify/1", f"name: {instance_name(cell, seed)}",
             f"description: 'ntpverify sweep instance: {cell.text}, seed {seed}, ensemble "
             f"{ensemble_key.replace(chr(39), '')}, generator key {key.hex()[:16]}'",
             f"vocabulary: [{', '.join(vocab)}]", "contexts:"]
    for j in range(m):
        lines.append(f"  - name: x{j}")
        lines.append(f"    embedding: [{', '.join(str(x) for x in H[j])}]")
        lines.append("    next: {" + ", ".join(f"{vocab[z]}: {p}" for z, p in dists[j]) + "}")
        if weights is not None:
            lines.append(f"    weight: {weights[j]}")
    return "\n".join(lines) + "\n"


def _gauss(rng: random.Random, den: int) -> Fraction:
    return Fraction(round(rng.gauss(0.0, 1.0) * den), den)


def _embeddings(rng: random.Random, ens: Ensemble, m: int, d: int) -> list[list[Fraction]]:
    den = ens.denominator
    if ens.embedding == "gaussian":
        return [[_gauss(rng, den) for _ in range(d)] for _ in range(m)]
    if ens.embedding == "sparse":
        return [[_gauss(rng, den) if rng.random() < ens.density else Fraction(0) for _ in range(d)]
                for _ in range(m)]
    if ens.embedding == "onehot":
        # coordinates used as evenly as possible: consecutive random permutations of range(d)
        order: list[int] = []
        while len(order) < m:
            perm = list(range(d))
            rng.shuffle(perm)
            order += perm
        return [[Fraction(int(c == order[j])) for c in range(d)] for j in range(m)]
    A = [[_gauss(rng, den) for _ in range(ens.rank)] for _ in range(m)]       # lowrank: A B
    B = [[_gauss(rng, den) for _ in range(d)] for _ in range(ens.rank)]
    return [[sum((A[j][t] * B[t][c] for t in range(ens.rank)), Fraction(0)) for c in range(d)]
            for j in range(m)]


def _probabilities(rng: random.Random, kind: str, S: list[int]) -> list[tuple[int, Fraction]]:
    """uniform: exactly 1/|S|; dirichlet (flat): k/100 with every token at least 1/100."""
    if kind == "uniform":
        return [(z, Fraction(1, len(S))) for z in S]
    units = _apportion(rng, len(S), PROB_UNITS)
    return list(zip(S, units))


def _apportion(rng: random.Random, n: int, units: int) -> list[Fraction]:
    """A flat-Dirichlet draw of n shares, as k/units with every k >= 1 (largest remainders)."""
    g = [rng.expovariate(1.0) for _ in range(n)]
    total = sum(g)
    free = units - n
    raw = [x / total * free for x in g]
    k = [int(x) for x in raw]
    rest = free - sum(k)
    for i in sorted(range(n), key=lambda i: (k[i] - raw[i], i))[:rest]:
        k[i] += 1
    return [Fraction(1 + x, units) for x in k]
