"""The trusted checker: re-checks every exact part of a certificate from the certificate alone.

It solves nothing. It rebuilds the constraints from the embedded instance and checks identities
in exact rational arithmetic: ``fractions`` for scalars and python-flint's ``fmpq_mat`` (exact
rational matrices) for the matrix products that make the paper-size case fast. flint is also
used for prime factorisation (log-odds and entropy in prime coordinates), the rank of the Gram
matrix of the claimed basis of F, and ball arithmetic to confirm decimal values.
Imports: ``fractions``, ``math`` and ``flint`` only; a test enforces this.

Notation: a constraint matrix is (e_plus - e_minus) h_j^T; its inner product with W is
L[plus, j] - L[minus, j] where L = W Hbar (the logits). Generators B_{j,z} have plus = z,
minus = a_j; margin constraints A_{j,v} have plus = a_j, minus = v.
"""

from fractions import Fraction
from math import isqrt, prod

import flint

ZERO = flint.fmpq(0)
PRODUCT_BITS = 20_000      # a witness product is written out only up to this size (else null)


def _typed(kind: type, x):
    """x itself if its JSON type is exactly ``kind``: 2.0 is not the integer 2, 1 is not true, "ab"
    is not the list ["a", "b"] (Python would equate or iterate them alike)."""
    if type(x) is not kind:
        raise ValueError(f"expected a JSON {kind.__name__}, got {type(x).__name__} {str(x)[:40]!r}")
    return x


def _list(x) -> list:
    return _typed(list, x)


def _q(text) -> Fraction:
    """An exact rational from the string "p/q" or "p" (via flint: no limit on the number of digits)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not an exact number: {text!r}")
    num, _, den = text.strip().partition("/")
    if not all(part.lstrip("-").isdigit() and part.isascii() for part in ((num, den) if den else (num,))):
        raise ValueError(f"not an exact number: {text[:40]!r}")
    return Fraction(int(flint.fmpz(num)), int(flint.fmpz(den)) if den else 1)


def _fq(text) -> flint.fmpq:
    x = _q(text)
    return flint.fmpq(x.numerator, x.denominator)


def _mat(rows, nrows: int, ncols: int) -> flint.fmpq_mat:
    if len(_list(rows)) != nrows or any(len(_list(r)) != ncols for r in rows):
        raise ValueError(f"expected a {nrows} x {ncols} matrix")
    return flint.fmpq_mat(nrows, ncols, [_fq(x) for r in rows for x in r])


def _frac(x: flint.fmpq) -> Fraction:
    return Fraction(int(x.p), int(x.q))


def _log_exponents(r: Fraction) -> dict:
    out = {}
    for n, sign in ((r.numerator, 1), (r.denominator, -1)):
        for p, e in (flint.fmpz(n).factor() if n > 1 else []):
            out[int(p)] = out.get(int(p), 0) + sign * int(e)
    return {p: e for p, e in out.items() if e}


def _fmt(x: Fraction) -> str:
    n, d = str(flint.fmpz(x.numerator)), str(flint.fmpz(x.denominator))   # no digit limit
    return n if d == "1" else f"{n}/{d}"


def _expr(terms: list) -> str:
    """Canonical text of sum c * factor, terms as (c, factor or '') in canonical order."""
    parts = []
    for c, factor in terms:
        if c == 0:
            continue
        mag = abs(c)
        body = factor if factor and mag == 1 else "*".join([_fmt(mag)] + ([factor] if factor else []))
        parts.append(("-" if c < 0 else "+", body))
    if not parts:
        return "0"
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    return text + "".join(f" {s} {b}" for s, b in parts[1:])


def _close(decimal: str, exact_fn) -> bool:
    """Is the decimal string exact_fn() (an arb) to at least 30 significant digits?"""
    with flint.ctx.workprec(600):
        shown = flint.arb(_typed(str, decimal))
        exact = exact_fn()
        return bool(abs(exact - shown) <= abs(exact) * flint.arb(10) ** -30 + flint.arb(10) ** -300)


def _log_value(terms: list):
    """sum c * log(q) as an arb; terms are (c, q) with Fraction c."""
    return lambda: sum((flint.arb(c.numerator) / c.denominator * flint.arb(q).log() for c, q in terms if c),
                       flint.arb(0))


def _sqrt_text(r: Fraction) -> str:
    """sqrt(r): a rational if r is a square; a * sqrt(s), s square-free, if cheap to factor."""
    n, d = r.numerator, r.denominator
    if isqrt(n) ** 2 == n and isqrt(d) ** 2 == d:
        return _fmt(Fraction(isqrt(n), isqrt(d)))
    if n * d >= 10**40:
        return f"sqrt({_fmt(r)})"
    a, s = 1, 1
    for p, e in flint.fmpz(n * d).factor():
        a *= int(p) ** (int(e) // 2)
        s *= int(p) ** (int(e) % 2)
    return _expr([(Fraction(a, d), f"sqrt({s})")])


class Inst:
    """The instance rebuilt from ``case.instance``, with its constraints."""

    def __init__(self, case: dict):
        raw = case["instance"]
        self.vocab = [_typed(str, t) for t in _list(raw["vocabulary"])]
        ctxs = _list(raw["contexts"])
        self.names = [_typed(str, c["name"]) for c in ctxs]
        self.H = [[_q(x) for x in _list(c["embedding"])] for c in ctxs]
        self.pi = [_q(c["weight"]) for c in ctxs]
        self.P = []
        for c in ctxs:
            row = [Fraction(0)] * len(self.vocab)
            for tok, p in _typed(dict, c["next"]).items():
                row[self.vocab.index(tok)] = _q(p)
            self.P.append(row)
        self.V, self.m, self.d = len(self.vocab), len(ctxs), len(self.H[0])
        ok = (len(set(self.vocab)) == self.V and len(set(self.names)) == self.m
              and all(len(h) == self.d for h in self.H) and all(w > 0 for w in self.pi)
              and sum(self.pi) == 1 and all(sum(r) == 1 and min(r) >= 0 for r in self.P)
              and tuple(_typed(int, case[k]) for k in "Vdm") == (self.V, self.d, self.m))
        if not ok:
            raise ValueError("the embedded instance is not a valid instance")
        self.Hm = _mat([[_fmt(x) for x in h] for h in self.H], self.m, self.d)
        self.S = [[z for z in range(self.V) if r[z] > 0] for r in self.P]
        self.a = [s[0] for s in self.S]
        self.gens = {(j, z): (z, self.a[j]) for j in range(self.m) for z in self.S[j][1:]}
        self.cons = {(j, v): (self.a[j], v) for j in range(self.m) for v in range(self.V) if self.P[j][v] == 0}

    def key(self, pair) -> tuple:
        if type(pair) is not list or len(pair) != 2 or not all(type(x) is str for x in pair):
            raise ValueError(f"a (context, token) pair must be a list of two names: {str(pair)[:80]}")
        return self.names.index(pair[0]), self.vocab.index(pair[1])

    def combo(self, items) -> flint.fmpq_mat:
        """sum of coef * (e_plus - e_minus) h_j^T over items (j, plus, minus, coef), as V x d."""
        items = [it for it in items if it[3]]
        D = [[ZERO] * len(items) for _ in range(self.V)]
        rows = []
        for n, (j, plus, minus, coef) in enumerate(items):
            c = flint.fmpq(coef.numerator, coef.denominator)
            D[plus][n] += c
            D[minus][n] -= c
            rows.append(j)
        if not items:
            return flint.fmpq_mat(self.V, self.d)
        Hs = flint.fmpq_mat(len(rows), self.d, [self.Hm[j, c] for j in rows for c in range(self.d)])
        return flint.fmpq_mat(self.V, len(items), [x for r in D for x in r]) * Hs

    def logits(self, W: flint.fmpq_mat) -> flint.fmpq_mat:
        return W * self.Hm.transpose()

    def values(self, W: flint.fmpq_mat, pairs: dict) -> dict:
        """<(e_plus - e_minus) h_j^T, W> for every (j, token) -> (plus, minus) in ``pairs``."""
        L = self.logits(W)
        return {k: _frac(L[p, k[0]] - L[n, k[0]]) for k, (p, n) in pairs.items()}

    def log_odds(self, j: int, z: int) -> dict:
        return _log_exponents(self.P[j][z] / self.P[j][self.a[j]])


def _worst(name: str, bad: list) -> tuple:
    return (name, not bad, "ok" if not bad else f"{len(bad)} violations; worst: {bad[0]}")


def _entropy_coeffs(pis, P) -> dict:
    """sum_j pi_j H(P_j) as {prime q: coefficient of log q}."""
    coeffs = {}
    for pi, row in zip(pis, P):
        for p in row:
            if p > 0:
                for q, e in _log_exponents(p).items():
                    coeffs[q] = coeffs.get(q, 0) - pi * p * e
    return {q: c for q, c in coeffs.items() if c}


def check_entropy(I: Inst, ex: dict) -> list:
    coeffs = _entropy_coeffs(I.pi, I.P)
    ent = ex["entropy"]
    claimed = {int(q): _q(c) for q, c in _typed(dict, ent["log_coefficients"]).items()}
    text = _expr([(coeffs[q], f"log({q})") for q in sorted(coeffs)])
    return [("entropy.coefficients", claimed == coeffs, "ok" if claimed == coeffs else f"recomputed {coeffs}"),
            ("entropy.expr", ent["expr"] == text, f"expected {text!r}"),
            ("entropy.value", _close(ent["value"], _log_value([(c, q) for q, c in coeffs.items()])), ent["value"])]


def check_F(I: Inst, ex: dict) -> list:
    basis = [I.key(p) for p in _list(ex["F_basis"])]
    span = _unique([(I.key(s["generator"]), _list(s["coefficients"])) for s in _list(ex["F_span"])])
    cover = sorted(basis + list(span)) == sorted(I.gens) and len(set(basis)) == len(basis)
    bad = []
    for i, coeffs in span.items():
        terms = list(_unique([(I.key(c["generator"]), _q(c["x"])) for c in coeffs]).items())
        if any(k not in basis for k, _ in terms):
            bad.append("a span coefficient names a generator outside the basis")
            continue
        if I.combo([(k[0], *I.gens[k], x) for k, x in terms]) != I.combo([(i[0], *I.gens[i], Fraction(1))]):
            bad.append(f"generator ({I.names[i[0]]}, {I.vocab[i[1]]}) is not the claimed combination")
    rank = 0
    if basis:
        G = flint.fmpq_mat(I.V * I.d, len(basis))   # columns: vec of each basis generator
        for c, k in enumerate(basis):
            B = I.combo([(k[0], *I.gens[k], Fraction(1))])
            for r in range(I.V):
                for col in range(I.d):
                    G[r * I.d + col, c] = B[r, col]
        rank = (G.transpose() * G).rank()
    out = []
    if ex.get("F_projector") is not None:            # optional: present for V d <= 144
        n = I.V * I.d
        P = _mat(ex["F_projector"], n, n)
        vecs = [I.combo([(k[0], *I.gens[k], Fraction(1))]) for k in I.gens]
        fixes = all(P * flint.fmpq_mat(n, 1, [B[r, c] for r in range(I.V) for c in range(I.d)])
                    == flint.fmpq_mat(n, 1, [B[r, c] for r in range(I.V) for c in range(I.d)]) for B in vecs)
        trace = sum((P[i, i] for i in range(n)), ZERO)
        out.append(("F.projector", P == P.transpose() and P * P == P and fixes and trace == len(basis),
                    "P symmetric, P^2 = P, P B = B for every generator, trace P = dim F"))
    return out + [("F.generators_covered", cover, "every generator is in the basis or in the span list, once"),
            _worst("F.span", bad),
            ("F.basis_independent", rank == len(basis), f"rank of the basis Gram matrix {rank}"),
            ("F.dim", _typed(int, ex["F_dim"]) == len(basis), f"claimed {ex['F_dim']}, basis has {len(basis)}")]


def check_compat(I: Inst, ex: dict) -> list:
    if _typed(bool, ex["compatible"]):
        ws = ex["W_star"]
        if len(_list(ws["value"])) != I.V or any(len(_list(r)) != I.d for r in ws["value"]):
            raise ValueError("W_star.value is not a V x d matrix")
        # M_q = sum_g beta_{q,g} B_g: in F by construction, so only the log-odds equations remain
        mats = {}
        for q, e in _unique([(_typed(int, e["prime"]), e) for e in _list(ws["by_prime"])]).items():
            betas = _unique([(I.key(b["generator"]), _q(b["beta"])) for b in _list(e["beta"])])
            mats[q] = I.combo([(k[0], *I.gens[k], b) for k, b in betas.items()])
        bad = []
        vals = {q: I.values(M, I.gens) for q, M in mats.items()}
        for g in I.gens:
            lo = I.log_odds(*g)
            for q in set(lo) | set(mats):
                got = vals[q][g] if q in mats else 0
                if got != lo.get(q, 0):
                    bad.append(f"<B({I.names[g[0]]}, {I.vocab[g[1]]}), W*> has log({q}) coefficient {_fmt(Fraction(got))}, "
                               f"needs {lo.get(q, 0)}")
        primes = sorted(mats)
        coef = {q: [[_frac(mats[q][r, c]) for c in range(I.d)] for r in range(I.V)] for q in primes}
        exprs = [[_expr([(coef[q][r][c], f"log({q})") for q in primes]) for c in range(I.d)] for r in range(I.V)]
        vals_ok = all(_close(ws["value"][r][c], _log_value([(coef[q][r][c], q) for q in primes]))
                      for r in range(I.V) for c in range(I.d))
        return [_worst("W_star.equations", bad),
                ("W_star.expr", ws["expr"] == exprs, "canonical text of sum_q M_q log q"),
                ("W_star.value", vals_ok, "decimal values agree with the exact form")]
    inc = ex["incompatibility"]
    y = _unique([(I.key(e["generator"]), _typed(int, e["y"])) for e in _list(inc["y"])])
    null = I.combo([(k[0], *I.gens[k], Fraction(v)) for k, v in y.items()])
    exps = {}                                              # prod r_i^y_i = prod_q q^exps[q]
    for (j, z), v in y.items():
        for q, e in I.log_odds(j, z).items():
            exps[q] = exps.get(q, 0) + v * e
    exps = {q: e for q, e in exps.items() if e}
    claimed = {int(q): _typed(int, e) for q, e in _typed(dict, inc["product_exponents"]).items()}
    short = sum(abs(e) * q.bit_length() for q, e in exps.items()) <= PRODUCT_BITS
    shown = _fmt(Fraction(prod(Fraction(q) ** e for q, e in exps.items()))) if short else None
    return [("incompatibility.left_null", bool(y) and null == flint.fmpq_mat(I.V, I.d), "sum y_i B_i = 0"),
            ("incompatibility.product", bool(exps) and claimed == exps and inc["product"] == shown,
             f"prod r_i^y_i = prod_q q^e_q with e = {exps if short else '(long)'} != 1")]


def _unique(pairs: list) -> dict:
    """A dict from (key, value) pairs, refusing a key given twice."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("the same entry is listed twice")
    return out


def _multipliers(I: Inst, entries: list, field: str) -> dict:
    return _unique([(I.key([e["context"], e["token"]]), _q(e[field])) for e in _list(entries)])


def _kkt(I: Inst, name: str, W, lam_entries, mu_entries, norm_text, gens: dict, cons: dict) -> tuple:
    """The named KKT checks of min ||W|| s.t. <G, W> = 0 on ``gens``, <A, W> >= 1 on ``cons``
    (both: (j, token) -> (plus, minus)): (checks, ||W||^2, margins)."""
    lam = _multipliers(I, lam_entries, "lambda")
    mu = _multipliers(I, mu_entries, "mu")
    margins, eqs = I.values(W, cons), I.values(W, gens)
    lbl = lambda k: f"({I.names[k[0]]}, {I.vocab[k[1]]})"  # noqa: E731
    known = all(k in cons for k in lam) and all(k in gens for k in mu)
    diff = W - I.combo([(k[0], *cons[k], v) for k, v in lam.items() if k in cons]
                       + [(k[0], *gens[k], v) for k, v in mu.items() if k in gens])
    off = sorted(((abs(_frac(diff[r, c])), r, c) for r in range(I.V) for c in range(I.d) if diff[r, c] != 0),
                 reverse=True)
    norm_sq = sum((_frac(W[r, c]) ** 2 for r in range(I.V) for c in range(I.d)), Fraction(0))
    sum_lam = sum(lam.values(), Fraction(0))
    return [
        (f"{name}.pairs_known", known, "every multiplier names a constraint"),
        _worst(f"{name}.primal_equalities", [f"{lbl(k)}: <B, W> = {_fmt(v)}" for k, v in eqs.items() if v != 0]),
        _worst(f"{name}.primal_margins", [f"{lbl(k)}: <A, W> = {_fmt(v)} < 1"
                                          for k, v in sorted(margins.items(), key=lambda kv: kv[1]) if v < 1]),
        _worst(f"{name}.dual_feasibility", [f"{lbl(k)}: lambda = {_fmt(v)}" for k, v in lam.items() if v < 0]),
        _worst(f"{name}.complementary_slackness", [f"{lbl(k)}: lambda = {_fmt(v)} but <A, W> = {_fmt(margins[k])}"
                                                   for k, v in lam.items() if k in margins and v != 0 and margins[k] != 1]),
        _worst(f"{name}.stationarity", [f"W[{r}][{c}] - (sum lambda A + mu B) = {_fmt(d)}" for d, r, c in off]),
        (f"{name}.strong_duality", norm_sq == sum_lam == _q(norm_text),
         f"||W||^2 = {_fmt(norm_sq)}, sum lambda = {_fmt(sum_lam)}, claimed {norm_text}"),
    ], norm_sq, margins


def check_svm(I: Inst, ex: dict) -> list:
    if not _typed(bool, ex["separable"]):
        lam = _multipliers(I, ex["farkas"]["lambda"], "lambda")
        mu = _multipliers(I, ex["farkas"]["mu"], "mu")
        known = all(k in I.cons for k in lam) and all(k in I.gens for k in mu)
        total = I.combo([(k[0], *I.cons[k], v) for k, v in lam.items() if k in I.cons]
                        + [(k[0], *I.gens[k], v) for k, v in mu.items() if k in I.gens])
        return [("farkas.pairs_known", known, "every pair names a constraint"),
                ("farkas.lambda_nonnegative", all(v >= 0 for v in lam.values()), "lambda >= 0"),
                ("farkas.lambda_positive_sum", sum(lam.values(), Fraction(0)) > 0, "sum lambda > 0"),
                ("farkas.combination_zero", total == flint.fmpq_mat(I.V, I.d), "sum lambda A + mu B = 0")]
    W = _mat(ex["W_mm"], I.V, I.d)
    out, norm_sq, margins = _kkt(I, "kkt", W, ex["multipliers"], ex["equality_multipliers"], ex["W_mm_norm_sq"],
                                 I.gens, I.cons)
    tight = sorted(k for k, v in margins.items() if v == 1)
    out.append(("svm.support", tight == sorted(I.key(p) for p in _list(ex["support"])),
                "support = the tight margin constraints"))
    if norm_sq > 0:
        text = _sqrt_text(1 / norm_sq)
        r = 1 / norm_sq
        value = lambda: (flint.arb(r.numerator) / r.denominator).sqrt()  # noqa: E731
        out.append(("svm.margin", ex["margin"]["expr"] == text and _close(ex["margin"]["value"], value),
                    f"1/||W^mm|| = {text}"))
    return out


def check_section7(I: Inst, ex: dict) -> list:
    """E (stuck), P (vanishing) and What (theory.md section 7). Goldman-Tucker: lambda >= 0, > 0 on
    E, with sum lambda A + mu B = 0 makes every pair of E an implicit equality of C; U0 = W_hat in
    C with <A, U0> > 0 on P shows no pair of P is one. What is W^mm when E is empty, else it has
    its own KKT certificate with Fbar's generators (the B's and E's A's) as equalities."""
    dec = ex["decomposition"]
    stuck, van = ([I.key(p) for p in _list(dec[k])] for k in ("stuck", "vanishing"))
    lam, mu = _multipliers(I, dec["lambda"], "lambda"), _multipliers(I, dec["mu"], "mu")
    total = I.combo([(k[0], *I.cons[k], v) for k, v in lam.items() if k in I.cons]
                    + [(k[0], *I.gens[k], v) for k, v in mu.items() if k in I.gens])
    out = [("decomposition.partition", sorted(stuck + van) == sorted(I.cons) and len(set(stuck + van)) == len(I.cons),
            "stuck and vanishing pairs partition the out-of-support pairs"),
           ("decomposition.pairs_known", set(lam) <= set(I.cons) and set(mu) <= set(I.gens), "known pairs"),
           _worst("decomposition.lambda_nonnegative", [f"{k}: {_fmt(v)}" for k, v in lam.items() if v < 0]),
           _worst("decomposition.lambda_positive_on_stuck", [f"{k}" for k in stuck if lam.get(k, 0) <= 0]),
           ("decomposition.combination_zero", total == flint.fmpq_mat(I.V, I.d), "sum lambda A + mu B = 0")]
    if not van:
        return out + [("W_hat.absent", ex["W_hat"] is None and ex["W_hat_norm_sq"] is None
                       and ex["W_hat_multipliers"] is None, "no pair vanishes: W_hat is null")]
    if not stuck:                  # What = W^mm, written alike: W^mm's checks make it U0 too
        same = (_typed(bool, ex["separable"]) and _list(ex["W_hat"]) == ex["W_mm"] and ex["W_hat_multipliers"] is None
                and _typed(str, ex["W_hat_norm_sq"]) == ex["W_mm_norm_sq"])
        return out + [("W_hat.equals_W_mm", same, "no pair is stuck: What is W^mm (its KKT certificate is W^mm's)")]
    W = _mat(ex["W_hat"], I.V, I.d)
    eqs, vals = I.values(W, I.gens), I.values(W, I.cons)
    out += [_worst("decomposition.U0_equalities", [f"{k}: {_fmt(v)}" for k, v in eqs.items() if v != 0]),
            _worst("decomposition.U0_in_C", [f"{k}: {_fmt(vals[k])}" for k in stuck if vals[k] < 0]),
            _worst("decomposition.U0_positive_on_vanishing", [f"{k}: {_fmt(vals[k])}" for k in van if vals[k] <= 0])]
    hm = ex["W_hat_multipliers"]
    return out + _kkt(I, "W_hat.kkt", W, hm["lambda"], hm["mu"], ex["W_hat_norm_sq"],
                      {**I.gens, **{k: I.cons[k] for k in stuck}}, {k: I.cons[k] for k in van})[0]


def _arb(x: Fraction):
    return flint.arb(x.numerator) / x.denominator


def _ce(I: Inst, W) -> flint.arb:
    """CE(W) in ball arithmetic (log-sum-exp shifted by the top logit)."""
    L, total = I.logits(W), flint.arb(0)
    for j, row in enumerate(I.P):
        col = [_frac(L[v, j]) for v in range(I.V)]
        lse = sum((_arb(x - max(col)).exp() for x in col), flint.arb(0)).log() + _arb(max(col))
        total += _arb(I.pi[j]) * sum((_arb(p) * (lse - _arb(x)) for p, x in zip(row, col) if p), flint.arb(0))
    return total


def check_inf_CE(I: Inst, ex: dict) -> list:
    """sum_j pi_j H(r_j) <= inf CE <= CE(W) for r on the moment equations (theory.md section 7),
    in ball arithmetic. An exact expr needs r's log-odds on the extended supports to be those of
    some W (given per prime: then CE(W + t U0) -> sum pi H(r)), or r = p, compatible, E empty."""
    inf, stuck = ex["inf_CE"], [I.key(p) for p in _list(ex["decomposition"]["stuck"])]
    sbar = [sorted(set(s) | {v for j, v in stuck if j == k}) for k, s in enumerate(I.S)]
    rows = {} if inf["r"] is None else _unique(
        [(I.names.index(_typed(str, e["context"])), _typed(dict, e["next"])) for e in _list(inf["r"])])
    R = I.P if inf["r"] is None else [[_q(rows[j][t]) if t in rows[j] else Fraction(0) for t in I.vocab]
                                      for j in range(I.m)]
    feasible = inf["r"] is None or (len(rows) == I.m and all(set(r) <= set(I.vocab) for r in rows.values())
                and all(sum(row) == 1 and min(row) >= 0 for row in R)
                and all(R[j][v] == 0 for j in range(I.m) for v in range(I.V) if v not in sbar[j])
                and not any(sum((I.pi[j] * (R[j][v] - I.P[j][v]) * I.H[j][c] for j in range(I.m)), Fraction(0))
                            for c in range(I.d) for v in range(I.V)))     # r = p: feasible as it stands
    with flint.ctx.workprec(600):
        lower = -sum((_arb(w) * _arb(x) * _arb(x).log() for w, row in zip(I.pi, R) for x in row if x), flint.arb(0))
        upper = lower if inf["expr"] is not None else _ce(I, _mat(inf["W_upper"], I.V, I.d))
        out = [("inf_CE.r_feasible", feasible, "r_j are distributions on the extended supports with "
                "sum_j pi_j (r_j - p_j) h_j^T = 0"),
               ("inf_CE.lower", bool(flint.arb(_typed(str, inf["lower"])) <= lower) and _close(inf["lower"], lambda: lower),
                f"lower {inf['lower']} <= sum pi H(r) = {lower.str(12)}, to 30 digits"),
               ("inf_CE.upper", bool(upper <= flint.arb(_typed(str, inf["upper"]))) and _close(inf["upper"], lambda: upper),
                f"{'CE(W_upper)' if inf['expr'] is None else 'inf CE'} = {upper.str(12)} <= upper {inf['upper']}")]
    if inf["expr"] is None:
        return out + [("inf_CE.not_closed", inf["W_bar_by_prime"] is None, "no exactness witness without expr")]
    proof = inf["r"] is None and _typed(bool, ex["compatible"]) and not stuck and inf["W_bar_by_prime"] is None
    if inf["W_bar_by_prime"] is not None:
        gens = {(j, z): (z, sbar[j][0]) for j in range(I.m) for z in sbar[j][1:]}
        mats = _unique([(_typed(int, e["prime"]), _unique([(I.key(b["generator"]), _q(b["beta"])) for b in _list(e["beta"])]))
                        for e in _list(inf["W_bar_by_prime"])])
        vals = {q: I.values(I.combo([(k[0], *gens[k], b) for k, b in bs.items()]), gens)
                for q, bs in mats.items() if set(bs) <= set(gens)}
        proof = len(vals) == len(mats) and all(R[j][z] > 0 for j, z in gens) and all(
            vals.get(q, {}).get(g, 0) == e for g in gens for q, e in
            {**{q: 0 for q in vals}, **_log_exponents(R[g[0]][g[1]] / R[g[0]][sbar[g[0]][0]])}.items())
    coeffs = _entropy_coeffs(I.pi, R)
    text = _expr([(coeffs[q], f"log({q})") for q in sorted(coeffs)])
    return out + [("inf_CE.exact", proof and inf["W_upper"] is None,
                   "r's log-odds on the extended supports are a W's (so r = qbar and the bracket closes)"),
                  ("inf_CE.expr", inf["expr"] == text, f"sum pi H(r) = {text}")]


def check_step(I: Inst, ex: dict) -> list:
    st = ex["step"]
    eta = _q(st["eta"])
    auto, admissible, requested = _typed(bool, st["auto"]), _typed(bool, st["admissible"]), _typed(str, st["requested"])
    Pi = flint.fmpq_mat(I.m, I.m, [flint.fmpq(p.numerator, p.denominator) if r == c else ZERO
                                   for r, p in enumerate(I.pi) for c in range(I.m)])
    M = I.Hm.transpose() * Pi * I.Hm                      # sum_j pi_j h_j h_j^T

    def eta_rq(v) -> flint.fmpq:                          # eta * v^T M v / v^T v
        x = _mat([[t] for t in _list(v)], I.d, 1)
        return flint.fmpq(eta.numerator, eta.denominator) * (x.transpose() * M * x)[0, 0] / (x.transpose() * x)[0, 0]

    out = [("step.positive", eta > 0, f"eta = {st['eta']}"),
           ("step.requested", auto == (requested == "auto") and (auto or _q(requested) == eta),
            f"auto is {auto} and the case asked for {requested!r}")]
    lam = Fraction(_typed(str, st["lambda_max_M"]))                 # decimal estimate; must fit the exact bounds
    slack = Fraction(1, 10**9)
    consistent = (eta * lam <= 1 + slack) if admissible else (eta * lam > 1 - slack)
    if st.get("rayleigh_vector"):
        consistent = consistent and eta * lam >= _frac(eta_rq(st["rayleigh_vector"])) * (1 - slack)
    out.append(("step.lambda_max_estimate", consistent, f"lambda_max(M) ~ {st['lambda_max_M']} within the proven bounds"))
    if admissible:
        n = I.d
        L = _mat(st["ldl"]["L"], n, n)
        D = [_fq(x) for x in _list(st["ldl"]["D"])]
        unit = all(L[i, i] == 1 and all(L[i, k] == 0 for k in range(i + 1, n)) for i in range(n))
        Dm = flint.fmpq_mat(n, n, [D[r] if r == c else ZERO for r in range(n) for c in range(n)])
        S = flint.fmpq_mat(n, n, [flint.fmpq(eta.denominator, eta.numerator) if r == c else ZERO
                                  for r in range(n) for c in range(n)]) - M
        E = S - L * Dm * L.transpose()
        dominant = all(E[i, i] >= sum((abs(E[i, k]) for k in range(n) if k != i), ZERO) for i in range(n))
        out.append(("step.admissible_ldl", len(D) == n and unit and min(D) >= 0 and dominant,
                    "(1/eta) I - M = L D L^T + E, D >= 0, E diagonally dominant: eta * lambda_max(M) <= 1"))
        if auto and M != flint.fmpq_mat(n, n):
            out.append(("step.within_2_percent", eta_rq(st["rayleigh_vector"]) >= flint.fmpq(98, 100),
                        "a Rayleigh quotient proves lambda_max(M) >= 0.98 / eta"))
    else:
        out.append(("step.inadmissible_witness", eta_rq(st["rayleigh_vector"]) > 1,
                    "eta * R(v) > 1 proves eta > 1 / lambda_max(M)"))
    return out


def check_unused_branches(ex: dict) -> tuple:
    """The fields of the branch not taken must be empty: nothing unchecked rides along."""
    stray = []
    if ex["compatible"] and ex["incompatibility"] is not None:
        stray.append("incompatibility")
    if not ex["compatible"] and ex["W_star"] is not None:
        stray.append("W_star")
    if ex["separable"] and ex["farkas"] is not None:
        stray.append("farkas")
    if not ex["separable"]:
        stray += [k for k in ("W_mm", "W_mm_norm_sq", "margin") if ex[k] is not None]
        stray += [k for k in ("multipliers", "equality_multipliers", "support") if ex[k]]
    elif _q(ex["W_mm_norm_sq"]) == 0 and ex["margin"] is not None:
        stray.append("margin")
    return ("unused_branches_empty", not stray, "ok" if not stray else f"unexpected fields: {stray}")


def check_verdict(cert: dict, exact_ok: bool) -> tuple:
    statuses = [c["status"] for c in cert["claims"] if not c["id"].startswith("ext-")]
    statuses += [e["status"] for e in cert["expectations"]]
    want = ("fail" if "fail" in statuses or not exact_ok else
            "inconclusive" if "inconclusive" in statuses else "pass")
    return ("verdict", cert["verdict"] == want, f"statuses imply {want!r}, certificate says {cert['verdict']!r}")


def checks(cert: dict) -> list:
    """Every named check as (name, ok, detail). A malformed certificate gives one failed check."""
    try:
        if cert.get("format") != "ntpverify-certificate/1":
            return [("format", False, f"unknown format {cert.get('format')!r}")]
        I = Inst(cert["case"])
        ex = cert["exact"]
        out = check_entropy(I, ex) + check_F(I, ex) + check_compat(I, ex)
        trivial = all(len(s) == I.V for s in I.S)
        out.append(("trivial", _typed(bool, ex["trivial"]) == trivial, f"every support is the whole vocabulary: {trivial}"))
        out += check_svm(I, ex) + check_step(I, ex) + [check_unused_branches(ex)]
        out += check_section7(I, ex) + check_inf_CE(I, ex)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError) as exc:
        return [("structure", False, f"malformed certificate: {type(exc).__name__}: {exc}")]
    exact_ok = all(ok for _, ok, _ in out)
    if cert.get("verdict") is not None:
        out.append(check_verdict(cert, exact_ok))
    return out


def verify(cert: dict) -> list:
    """The details of every failed check; empty when the certificate's exact parts all hold."""
    return [f"{name}: {detail}" for name, ok, detail in checks(cert) if not ok]
