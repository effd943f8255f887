"""The trusted checker: re-checks every exact part of a certificate from the certificate alone.

It solves nothing. It rebuilds the constraints from the embedded instance and checks identities
in exact rational arithmetic (``fractions``). python-flint is used for three things only: prime
factorisation (log-odds and entropy in prime coordinates), the rank of one small rational
matrix (independence of the claimed basis of F), and ball arithmetic to confirm decimal values.
Imports: ``fractions``, ``math`` and ``flint``; a test enforces this.
"""

from fractions import Fraction
from math import isqrt

import flint

Check = tuple  # (name, ok, detail)


def _q(text) -> Fraction:
    if not isinstance(text, (str, int)) or isinstance(text, bool):
        raise ValueError(f"not an exact number: {text!r}")
    return Fraction(text)


def _log_exponents(r: Fraction) -> dict:
    out = {}
    for n, sign in ((r.numerator, 1), (r.denominator, -1)):
        for p, e in (flint.fmpz(n).factor() if n > 1 else []):
            out[int(p)] = out.get(int(p), 0) + sign * int(e)
    return {p: e for p, e in out.items() if e}


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


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


def _close(decimal: str, terms: list) -> bool:
    """Does the decimal string agree with sum c * log(q) (q = 1: no log) to its printed digits?"""
    with flint.ctx.workprec(400):
        exact = sum((flint.arb(c.numerator) / c.denominator * (flint.arb(q).log() if q != 1 else 1)
                     for c, q in terms), flint.arb(0))
        shown = flint.arb(decimal)
        digits = len([ch for ch in decimal.split("e")[0] if ch.isdigit()])
        tol = abs(shown) * flint.arb(10) ** (-(digits - 2)) + flint.arb(10) ** -300
        return bool(abs(exact - shown) < tol)


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


def _close_sqrt(decimal: str, r: Fraction) -> bool:
    with flint.ctx.workprec(400):
        shown = flint.arb(decimal)
        digits = len([ch for ch in decimal.split("e")[0] if ch.isdigit()])
        exact = (flint.arb(r.numerator) / r.denominator).sqrt()
        return bool(abs(exact - shown) < abs(shown) * flint.arb(10) ** (-(digits - 2)))


class Inst:
    """The instance rebuilt from ``case.instance``, with the constraint geometry."""

    def __init__(self, case: dict):
        raw = case["instance"]
        self.vocab = list(raw["vocabulary"])
        ctxs = raw["contexts"]
        self.names = [c["name"] for c in ctxs]
        self.H = [[_q(x) for x in c["embedding"]] for c in ctxs]
        self.pi = [_q(c["weight"]) for c in ctxs]
        self.P = []
        for c in ctxs:
            row = [Fraction(0)] * len(self.vocab)
            for tok, p in c["next"].items():
                row[self.vocab.index(tok)] = _q(p)
            self.P.append(row)
        self.V, self.m, self.d = len(self.vocab), len(ctxs), len(self.H[0])
        ok = (len(set(self.vocab)) == self.V and len(set(self.names)) == self.m
              and all(len(h) == self.d for h in self.H) and all(w > 0 for w in self.pi)
              and sum(self.pi) == 1 and all(sum(r) == 1 and min(r) >= 0 for r in self.P)
              and (case["V"], case["d"], case["m"]) == (self.V, self.d, self.m))
        if not ok:
            raise ValueError("the embedded instance is not a valid instance")
        self.S = [[z for z in range(self.V) if r[z] > 0] for r in self.P]
        self.a = [s[0] for s in self.S]
        # generators B_{j,z}: +e_z -e_a ; margin constraints A_{j,v}: +e_a -e_v
        self.gens = {(j, z): (z, self.a[j]) for j in range(self.m) for z in self.S[j][1:]}
        self.cons = {(j, v): (self.a[j], v) for j in range(self.m) for v in range(self.V) if self.P[j][v] == 0}

    def key(self, pair) -> tuple:
        return self.names.index(pair[0]), self.vocab.index(pair[1])

    def ip(self, j: int, plus: int, minus: int, W) -> Fraction:
        """<(e_plus - e_minus) h_j^T, W>."""
        return sum(((W[plus][c] - W[minus][c]) * x for c, x in enumerate(self.H[j]) if x), Fraction(0))

    def combo(self, items) -> list:
        """sum of coef * (e_plus - e_minus) h_j^T over items (j, plus, minus, coef)."""
        W = [[Fraction(0)] * self.d for _ in range(self.V)]
        for j, plus, minus, coef in items:
            for c, x in enumerate(self.H[j]):
                W[plus][c] += coef * x
                W[minus][c] -= coef * x
        return W

    def log_odds(self, j: int, z: int) -> dict:
        return _log_exponents(self.P[j][z] / self.P[j][self.a[j]])


def _worst(name: str, bad: list) -> Check:
    return (name, not bad, "ok" if not bad else f"{len(bad)} violations; worst: {bad[0]}")


def check_entropy(I: Inst, ex: dict) -> list:
    coeffs = {}
    for pi, row in zip(I.pi, I.P):
        for p in row:
            if p > 0:
                for q, e in _log_exponents(p).items():
                    coeffs[q] = coeffs.get(q, 0) - pi * p * e
    coeffs = {q: c for q, c in coeffs.items() if c}
    ent = ex["entropy"]
    claimed = {int(q): _q(c) for q, c in ent["log_coefficients"].items()}
    terms = [(coeffs[q], f"log({q})") for q in sorted(coeffs)]
    return [("entropy.coefficients", claimed == coeffs, "ok" if claimed == coeffs else f"recomputed {coeffs}"),
            ("entropy.expr", ent["expr"] == _expr(terms), f"expected {_expr(terms)!r}"),
            ("entropy.value", _close(ent["value"], [(c, q) for q, c in coeffs.items()]), ent["value"])]


def check_F(I: Inst, ex: dict) -> list:
    basis = [I.key(p) for p in ex["F_basis"]]
    span = {I.key(s["generator"]): s["coefficients"] for s in ex["F_span"]}
    cover = sorted(basis + list(span)) == sorted(I.gens) and len(set(basis)) == len(basis)
    bad = []
    for i, coeffs in span.items():
        combo = I.combo([(k[0], *I.gens[k], _q(c["x"])) for k, c in
                         ((I.key(c["generator"]), c) for c in coeffs) if k in basis])
        target = I.combo([(i[0], *I.gens[i], Fraction(1))])
        if combo != target:
            bad.append(f"generator {I.names[i[0]]},{I.vocab[i[1]]} is not the claimed combination")
    gram = [[_gen_ip(I, g, h) for h in basis] for g in basis]
    rank = flint.fmpq_mat(len(basis), len(basis), [flint.fmpq(x.numerator, x.denominator)
                                                   for r in gram for x in r]).rank() if basis else 0
    return [("F.generators_covered", cover, "every generator is in the basis or in the span list once"),
            _worst("F.span", bad),
            ("F.basis_independent", rank == len(basis), f"rank of the basis Gram matrix {rank}"),
            ("F.dim", ex["F_dim"] == len(basis), f"claimed {ex['F_dim']}, basis has {len(basis)}")]


def _gen_ip(I: Inst, g, h) -> Fraction:
    (j, _), (k, _) = g, h
    p1, n1 = I.gens[g]
    p2, n2 = I.gens[h]
    t = (p1 == p2) - (p1 == n2) - (n1 == p2) + (n1 == n2)
    return t * sum((x * y for x, y in zip(I.H[j], I.H[k])), Fraction(0)) if t else Fraction(0)


def check_compat(I: Inst, ex: dict) -> list:
    if ex["compatible"]:
        ws = ex["W_star"]
        mats = {int(e["prime"]): [[_q(x) for x in r] for r in e["matrix"]] for e in ws["by_prime"]}
        bad = []
        for e in ws["by_prime"]:
            q = int(e["prime"])
            items = [(k[0], *I.gens[k], _q(b["beta"])) for k, b in ((I.key(b["generator"]), b) for b in e["beta"])]
            if I.combo(items) != mats[q]:
                bad.append(f"prime {q}: matrix is not the stated combination of generators (not in F)")
        for g, (plus, minus) in I.gens.items():
            lo = I.log_odds(*g)
            for q in set(lo) | set(mats):
                got = I.ip(g[0], plus, minus, mats[q]) if q in mats else 0
                if got != lo.get(q, 0):
                    bad.append(f"<B_{I.names[g[0]]},{I.vocab[g[1]]}, W*> has log({q}) coefficient {got}, needs {lo.get(q, 0)}")
        exprs = [[_expr([(mats[q][r][c], f"log({q})") for q in sorted(mats)]) for c in range(I.d)] for r in range(I.V)]
        vals_ok = all(_close(ws["value"][r][c], [(mats[q][r][c], q) for q in mats])
                      for r in range(I.V) for c in range(I.d))
        return [_worst("W_star.equations", bad), ("W_star.expr", ws["expr"] == exprs, "canonical text of the prime matrices"),
                ("W_star.value", vals_ok, "decimal values agree with the exact form")]
    inc = ex["incompatibility"]
    y = {I.key(e["generator"]): int(e["y"]) for e in inc["y"]}
    null = I.combo([(k[0], *I.gens[k], Fraction(v)) for k, v in y.items()])
    product = Fraction(1)
    for (j, z), v in y.items():
        product *= (I.P[j][z] / I.P[j][I.a[j]]) ** v
    return [("incompatibility.left_null", bool(y) and all(x == 0 for r in null for x in r), "sum y_i B_i = 0"),
            ("incompatibility.product", product != 1 and _fmt(product) == inc["product"],
             f"prod r_i^y_i = {_fmt(product)}")]


def check_svm(I: Inst, ex: dict) -> list:
    if not ex["separable"]:
        fk = ex["farkas"]
        lam = {I.key((e["context"], e["token"])): _q(e["lambda"]) for e in fk["lambda"]}
        mu = {I.key((e["context"], e["token"])): _q(e["mu"]) for e in fk["mu"]}
        known = all(k in I.cons for k in lam) and all(k in I.gens for k in mu)
        total = I.combo([(k[0], *I.cons[k], v) for k, v in lam.items() if k in I.cons]
                        + [(k[0], *I.gens[k], v) for k, v in mu.items() if k in I.gens])
        return [("farkas.pairs_known", known, "every pair names a constraint"),
                ("farkas.lambda_nonnegative", all(v >= 0 for v in lam.values()), "lambda >= 0"),
                ("farkas.lambda_positive_sum", sum(lam.values(), Fraction(0)) > 0, "sum lambda > 0"),
                ("farkas.combination_zero", all(x == 0 for r in total for x in r), "sum lambda A + mu B = 0")]
    W = [[_q(x) for x in r] for r in ex["W_mm"]]
    lam = {I.key((e["context"], e["token"])): _q(e["lambda"]) for e in ex["multipliers"]}
    mu = {I.key((e["context"], e["token"])): _q(e["mu"]) for e in ex["equality_multipliers"]}
    margins = {k: I.ip(k[0], *pm, W) for k, pm in I.cons.items()}
    eqs = {k: I.ip(k[0], *pm, W) for k, pm in I.gens.items()}
    lbl = lambda k: f"({I.names[k[0]]}, {I.vocab[k[1]]})"  # noqa: E731
    known = all(k in I.cons for k in lam) and all(k in I.gens for k in mu)
    stat = I.combo([(k[0], *I.cons[k], v) for k, v in lam.items() if k in I.cons]
                   + [(k[0], *I.gens[k], v) for k, v in mu.items() if k in I.gens])
    diff = [(abs(a - b), r, c) for r, (ra, rb) in enumerate(zip(W, stat)) for c, (a, b) in enumerate(zip(ra, rb)) if a != b]
    norm_sq = sum((x * x for r in W for x in r), Fraction(0))
    tight = sorted(k for k, v in margins.items() if v == 1)
    claimed_support = sorted(I.key(p) for p in ex["support"])
    out = [
        ("kkt.pairs_known", known, "every multiplier names a constraint"),
        _worst("kkt.primal_equalities", [f"{lbl(k)}: <B, W> = {_fmt(v)}" for k, v in eqs.items() if v != 0]),
        _worst("kkt.primal_margins", [f"{lbl(k)}: <A, W> = {_fmt(v)} < 1"
                                      for k, v in sorted(margins.items(), key=lambda kv: kv[1]) if v < 1]),
        _worst("kkt.dual_feasibility", [f"{lbl(k)}: lambda = {_fmt(v)}" for k, v in lam.items() if v < 0]),
        _worst("kkt.complementary_slackness", [f"{lbl(k)}: lambda = {_fmt(v)} but <A, W> = {_fmt(margins[k])}"
                                               for k, v in lam.items() if k in margins and v != 0 and margins[k] != 1]),
        _worst("kkt.stationarity", [f"W[{r}][{c}] differs by {_fmt(d)}" for d, r, c in sorted(diff, reverse=True)]),
        ("kkt.strong_duality", norm_sq == sum(lam.values(), Fraction(0)) == _q(ex["W_mm_norm_sq"]),
         f"||W||^2 = {_fmt(norm_sq)}, sum lambda = {_fmt(sum(lam.values(), Fraction(0)))}"),
        ("svm.support", tight == claimed_support, "support = the tight margin constraints"),
    ]
    if norm_sq > 0:
        text = _sqrt_text(1 / norm_sq)
        ok = ex["margin"]["expr"] == text and _close_sqrt(ex["margin"]["value"], 1 / norm_sq)
        out.append(("svm.margin", ok, f"1/||W^mm|| = {text}"))
    return out


def check_step(I: Inst, ex: dict) -> list:
    st = ex["step"]
    eta = _q(st["eta"])
    M = [[sum((pi * h[r] * h[c] for pi, h in zip(I.pi, I.H)), Fraction(0)) for c in range(I.d)] for r in range(I.d)]

    def rq(v):
        Mv = [sum((a * b for a, b in zip(row, v)), Fraction(0)) for row in M]
        return sum((a * b for a, b in zip(v, Mv)), Fraction(0)) / sum((a * a for a in v), Fraction(0))

    out = [("step.positive", eta > 0, f"eta = {st['eta']}")]
    if st["admissible"]:
        L = [[_q(x) for x in r] for r in st["ldl"]["L"]]
        D = [_q(x) for x in st["ldl"]["D"]]
        n = I.d
        unit = all(L[i][i] == 1 and all(L[i][k] == 0 for k in range(i + 1, n)) for i in range(n))
        LDLt = [[sum((L[i][k] * D[k] * L[c][k] for k in range(n)), Fraction(0)) for c in range(n)] for i in range(n)]
        S = [[(1 / eta if i == c else 0) - M[i][c] for c in range(n)] for i in range(n)]
        out.append(("step.admissible_ldl", unit and min(D) >= 0 and LDLt == S,
                    "(1/eta) I - M = L D L^T with D >= 0, so eta * lambda_max(M) <= 1"))
        if st["auto"] and any(x for r in M for x in r):
            v = [_q(x) for x in st["rayleigh_vector"]]
            out.append(("step.within_2_percent", eta * rq(v) >= Fraction(98, 100),
                        "a Rayleigh quotient proves lambda_max(M) >= 0.98 / eta"))
    else:
        v = [_q(x) for x in st["rayleigh_vector"]]
        out.append(("step.inadmissible_witness", eta * rq(v) > 1, "eta * R(v) > 1 proves eta > 1/lambda_max(M)"))
    return out


def check_verdict(cert: dict, exact_ok: bool) -> Check:
    statuses = [c["status"] for c in cert["claims"] if not c["id"].startswith("ext-")]
    statuses += [e["status"] for e in cert["expectations"]]
    want = ("fail" if "fail" in statuses or not exact_ok else
            "inconclusive" if "inconclusive" in statuses else "pass")
    return ("verdict", cert["verdict"] == want, f"statuses imply {want!r}, certificate says {cert['verdict']!r}")


def checks(cert: dict) -> list:
    """Every named check as (name, ok, detail). Malformed certificates give one failed check."""
    try:
        if cert.get("format") != "ntpverify-certificate/1":
            return [("format", False, f"unknown format {cert.get('format')!r}")]
        I = Inst(cert["case"])
        ex = cert["exact"]
        out = check_entropy(I, ex) + check_F(I, ex) + check_compat(I, ex)
        if ex["trivial"] != all(len(s) == I.V for s in I.S):
            out.append(("trivial", False, "the trivial flag does not match the supports"))
        out += check_svm(I, ex) + check_step(I, ex)
    except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError) as exc:
        return [("structure", False, f"malformed certificate: {type(exc).__name__}: {exc}")]
    exact_ok = all(ok for _, ok, _ in out)
    if "verdict" in cert and cert["verdict"] is not None:
        out.append(check_verdict(cert, exact_ok))
    return out


def verify(cert: dict) -> list:
    """The details of every failed check; empty when the certificate's exact parts all hold."""
    return [f"{name}: {detail}" for name, ok, detail in checks(cert) if not ok]
