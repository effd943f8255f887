"""Exact producers for theory.md sections 2-3: entropy, F, compatibility, W*, the GD step.

Untrusted in the sense of style.md: they return plain data that the small checker
(``ntpverify.checker``) verifies; but they use exact arithmetic throughout, so a wrong answer here
is a bug, not a rounding issue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import flint
import numpy as np

from .constraints import Geometry
from .exactnum import LinLog, log_exponents
from .instance import Instance
from .linalg import integer_vector, ldl_psd, mat, pivots, rows_of, solve, submatrix, to_frac

PRODUCT_BITS = 20_000   # the witness product prod r_i^y_i is written out up to this size (bits)
VALUE_DIGITS = 40   # significant digits of the decimal values in certificates (>= 30 promised)


def entropy(inst: Instance) -> LinLog:
    """H = - sum_j pi_j sum_{z in S_j} p_{j,z} log p_{j,z}, as sum_q c_q log q."""
    coeffs: dict[int, Fraction] = {}
    for pi, row in zip(inst.pi, inst.P):
        for p in row:
            if p > 0:
                for q, e in log_exponents(p).items():
                    coeffs[q] = coeffs.get(q, Fraction(0)) - pi * p * e
    return LinLog.from_log_coeffs(coeffs)


def decimal(value: LinLog, digits: int = VALUE_DIGITS) -> str:
    """``value`` with ``digits`` correct significant digits (ball arithmetic, precision doubled
    until the ball is narrow enough; a non-zero LinLog is a non-zero number, so this ends)."""
    if not value.terms:
        return "0"

    return _arb_decimal(lambda: linlog_arb(value), digits)


def linlog_arb(value: LinLog) -> flint.arb:
    """An exact sum_(s, q) c sqrt(s) log(q) as a ball, at the current flint precision."""
    total = flint.arb(0)
    for (s, q), c in value.terms.items():
        term = flint.arb(c.numerator) / c.denominator
        if s != 1:
            term *= flint.arb(s).sqrt()
        if q != 1:
            term *= flint.arb(q).log()
        total += term
    return total


def sqrt_decimal(r: Fraction, digits: int = VALUE_DIGITS) -> str:
    """sqrt(r) with ``digits`` correct significant digits."""
    if r == 0:
        return "0"
    return _arb_decimal(lambda: (flint.arb(r.numerator) / r.denominator).sqrt(), digits)


def _arb_decimal(fn, digits: int) -> str:
    bits = 4 * digits + 64
    while bits <= 1 << 20:
        with flint.ctx.workprec(bits):
            x = fn()
            if x.rel_accuracy_bits() >= int(3.33 * digits) + 16:
                return x.str(digits, radius=False)
        bits *= 2
    raise RuntimeError("could not evaluate a decimal value")  # pragma: no cover


@dataclass
class FResult:
    basis: list[int]                          # indices into geometry.E forming a basis of F
    span: dict[int, dict[int, Fraction]]      # non-basis generator -> coefficients over the basis

    @property
    def dim(self) -> int:
        return len(self.basis)


def subspace_F(geo: Geometry) -> FResult:
    """A basis of F among the generators (first independent ones in order) and the coordinates of
    every other generator in that basis (G_i = sum_k x_k G_k exactly)."""
    E = list(range(geo.nE))
    if not E:
        return FResult([], {})
    basis = pivots(submatrix(geo.Q, E, E))
    span: dict[int, dict[int, Fraction]] = {}
    in_basis = set(basis)
    others = [i for i in E if i not in in_basis]
    if others:
        X = solve(submatrix(geo.Q, basis, basis), submatrix(geo.Q, basis, others))
        for col, i in enumerate(others):
            span[i] = {basis[r]: to_frac(X[r, col]) for r in range(len(basis)) if X[r, col] != 0}
    return FResult(basis, span)


PROJECTOR_MAX_CELLS = 144     # the projector (V d x V d) goes into certificates up to V d = 144


def projector(geo: Geometry, F: FResult) -> list[list[Fraction]]:
    """P_F on vec(W) (row-major: index v * d + c): G_b^T (G_b G_b^T)^{-1} G_b for the basis rows."""
    inst = geo.inst
    n = inst.V * inst.d
    if not F.basis:
        return [[Fraction(0)] * n for _ in range(n)]
    rows = []
    for i in F.basis:
        B = geo.matrix({i: Fraction(1)})
        rows.append([x for r in B for x in r])
    Gb = mat(rows)
    X = solve(submatrix(geo.Q, F.basis, F.basis), Gb)
    return rows_of(Gb.transpose() * X)


def log_odds_exponents(geo: Geometry) -> list[dict[int, int]]:
    """b_i = log(p_{j,z} / p_{j,a_j}) = sum_q e_{iq} log q, for each generator i."""
    inst = geo.inst
    out = []
    for g in geo.E:
        row = inst.P[g.j]
        out.append(log_exponents(row[g.plus] / row[g.minus]))
    return out


@dataclass
class Compat:
    compatible: bool
    # when compatible: per prime q, the V x d rational matrix M_q (W* = sum_q M_q log q)
    # and its coefficients beta over the basis generators
    by_prime: dict[int, dict] = field(default_factory=dict)
    W_star: list[list[LinLog]] | None = None
    # when not: an integer y over the generators with sum y_i B_i = 0 and prod r_i^y_i != 1
    witness: dict | None = None


def compatibility(geo: Geometry, F: FResult) -> Compat:
    """Decide compatibility exactly (theory.md section 3) and build W* or the witness.

    The left null space of G is spanned by e_i - sum_k x_k e_k for the non-basis generators i
    (x = their coordinates in the basis). Logs of distinct primes are linearly independent over
    Q, so y^T b = 0 splits into one integer identity per prime.
    """
    inst = geo.inst
    expo = log_odds_exponents(geo)
    for i, coords in F.span.items():
        primes = set(expo[i]).union(*(expo[k] for k in coords))
        for q in sorted(primes):
            total = Fraction(expo[i].get(q, 0)) - sum(x * expo[k].get(q, 0) for k, x in coords.items())
            if total != 0:
                y_frac = [Fraction(0)] * geo.nE
                y_frac[i] = Fraction(1)
                for k, x in coords.items():
                    y_frac[k] = -x
                y = integer_vector(y_frac)
                # prod r_i^y_i in primes: with dependent generic embeddings y has entries of
                # hundreds of digits, and the product itself is written out only when short
                exps: dict[int, int] = {}
                for yi, e in zip(y, expo):
                    for p, k in e.items():
                        exps[p] = exps.get(p, 0) + yi * k
                exps = {p: k for p, k in sorted(exps.items()) if k}
                short = sum(abs(k) * p.bit_length() for p, k in exps.items()) <= PRODUCT_BITS
                product = Fraction(math.prod(Fraction(p) ** k for p, k in exps.items())) if short else None
                return Compat(False, witness={"y": y, "product": product, "exponents": exps})
    primes = sorted(set().union(*expo)) if expo else []
    by_prime: dict[int, dict] = {}
    if F.basis and primes:
        rhs = flint.fmpq_mat(len(F.basis), len(primes),
                             [expo[i].get(q, 0) for i in F.basis for q in primes])
        X = solve(submatrix(geo.Q, F.basis, F.basis), rhs)
        for c, q in enumerate(primes):
            beta = {F.basis[r]: to_frac(X[r, c]) for r in range(len(F.basis)) if X[r, c] != 0}
            by_prime[q] = {"beta": beta, "matrix": geo.matrix(beta)}
    W = [[LinLog() for _ in range(inst.d)] for _ in range(inst.V)]
    for q, entry in by_prime.items():
        for r in range(inst.V):
            for c in range(inst.d):
                x = entry["matrix"][r][c]
                if x:
                    W[r][c] = W[r][c] + LinLog({(1, q): x})
    return Compat(True, by_prime=by_prime, W_star=W)


@dataclass
class Step:
    eta: Fraction
    auto: bool
    admissible: bool
    lambda_max: str                       # decimal estimate of lambda_max(M)
    ldl: tuple | None = None              # (L, D) with (1/eta) I - M = L D L^T, D >= 0
    rayleigh: list[Fraction] | None = None  # v with eta * v^T M v / v^T v >= 0.98 (auto) or > 1


def second_moment(inst: Instance) -> flint.fmpq_mat:
    """M = sum_j pi_j h_j h_j^T = H^T diag(pi) H (d x d), whose top eigenvalue bounds the smoothness."""
    H = mat(inst.H, inst.m, inst.d)
    weighted = mat([[pi * x for x in h] for pi, h in zip(inst.pi, inst.H)], inst.m, inst.d)
    return H.transpose() * weighted


def _rayleigh(M: flint.fmpq_mat, v: list[Fraction]) -> Fraction:
    """v^T M v / v^T v, exactly."""
    col = mat([[x] for x in v], len(v), 1)
    return to_frac((col.transpose() * M * col)[0, 0] / (col.transpose() * col)[0, 0])


def _shifted(M: flint.fmpq_mat, eta: Fraction) -> flint.fmpq_mat:
    """(1/eta) I - M."""
    d = M.nrows()
    inv = flint.fmpq(eta.denominator, eta.numerator)
    return flint.fmpq_mat(d, d, [inv if r == c else 0 for r in range(d) for c in range(d)]) - M


def _floats(M: flint.fmpq_mat, scale: flint.fmpq) -> np.ndarray:
    """M / scale in floating point (scale: exact and positive, so no overflow or underflow)."""
    d = M.nrows()
    return np.array([float(x) for x in (M / scale).entries()]).reshape(d, d)


def choose_step(inst: Instance, eta: Fraction | None) -> Step:
    """The GD step with an exact proof of admissibility (eta * lambda_max(M) <= 1).

    ``eta=None`` means auto: a short rational within 2% below 1/lambda_max(M), with two exact
    certificates: an LDL^T of (1/eta) I - M with D >= 0 (eta is admissible) and a rational vector
    whose Rayleigh quotient proves lambda_max(M) >= 0.98 / eta (eta is within 2%).
    An explicit step that is not admissible gets a Rayleigh witness v with eta * R(v) > 1.
    """
    M = second_moment(inst)
    d = M.nrows()
    # eigenvalues of M / scale in floating point (scale: the largest entry, exact), so that tiny
    # or huge embeddings neither underflow nor overflow
    scale = max((abs(x) for x in M.entries()), default=flint.fmpq(0))
    if scale == 0:
        lam_exact, top = Fraction(0), [Fraction(1)] + [Fraction(0)] * (d - 1)
    else:
        w, U = np.linalg.eigh(_floats(M, scale))
        lam_exact = Fraction(float(w[-1])) * to_frac(scale)
        top = [Fraction(float(x)).limit_denominator(10**12) for x in U[:, -1]]
    lam_text = _sci(lam_exact)
    if eta is None:
        if lam_exact <= 0:
            return Step(Fraction(1), True, True, lam_text, psd_certificate(_shifted(M, Fraction(1))))
        target = Fraction(995, 1000) / lam_exact
        for _ in range(50):
            eta_try = _short_rational_below(target)
            ldl = psd_certificate(_shifted(M, eta_try))
            if ldl is not None:
                if eta_try * _rayleigh(M, top) >= Fraction(98, 100):
                    return Step(eta_try, True, True, lam_text, ldl, top)
                break
            target *= Fraction(99, 100)
        raise RuntimeError("could not certify an automatic step")  # pragma: no cover
    S = _shifted(M, eta)
    ldl = psd_certificate(S)
    if ldl is not None:
        return Step(eta, False, True, lam_text, ldl)
    v = top if eta * _rayleigh(M, top) > 1 else _violating_vector(rows_of(S))
    return Step(eta, False, False, lam_text, None, v)


def psd_certificate(S: flint.fmpq_mat) -> tuple | None:
    """(L, D) with L unit lower triangular, D >= 0 and E = S - L D L^T diagonally dominant with
    a non-negative diagonal (so S = L D L^T + E is PSD), or None if S is not PSD.

    First a short certificate: a float LDL^T of S - delta I (delta = half the smallest
    eigenvalue), rounded to multiples of 2^-40; the exact remainder E is about delta I. Its
    entries stay short, so the checker's products are fast. When S is singular or nearly so,
    the exact LDL^T (E = 0) is used instead.
    """
    d = S.nrows()
    Sf = np.array([float(x) for x in S.entries()]).reshape(d, d)
    lam_min = float(np.linalg.eigvalsh(Sf)[0]) if d else 0.0
    scale = max(1.0, float(np.max(np.abs(Sf)))) if d else 1.0
    if np.all(np.isfinite(Sf)) and lam_min > 1e-8 * scale:
        delta = lam_min / 2
        C = np.linalg.cholesky(Sf - delta * np.eye(d))
        diag = np.diag(C)
        Lf = C / diag
        # integers: L = Li / 2^40 (unit diagonal), D = Di / 2^40, so L D L^T = Li Di Li^T / 2^120
        Li = [[1 << 40 if c == r else (int(round(Lf[r, c] * 2**40)) if c < r else 0) for c in range(d)]
              for r in range(d)]
        Di = [int(np.floor(x * x * 2**40)) for x in diag]
        Lz = flint.fmpz_mat(d, d, [x for row in Li for x in row])
        LDz = flint.fmpz_mat(d, d, [x * Di[c] for row in Li for c, x in enumerate(row)])
        E = (S - flint.fmpq_mat(LDz * Lz.transpose()) / flint.fmpq(2**120)).entries()
        absE = [abs(x) for x in E]
        if all(2 * E[i * d + i] >= sum(absE[i * d:(i + 1) * d]) for i in range(d)):
            L = [[Fraction(x, 1 << 40) for x in row] for row in Li]
            D = [Fraction(x, 1 << 40) for x in Di]
            return L, D
    return ldl_psd(rows_of(S))


def _short_rational_below(x: Fraction) -> Fraction:
    """The largest rational with 3 significant decimal digits that is <= x (x > 0)."""
    exp = math.floor(math.log10(x.numerator) - math.log10(x.denominator)) - 2
    scaled = math.floor(x / Fraction(10) ** exp)
    while scaled >= 1000:                 # log10 rounding at a power of ten
        exp, scaled = exp + 1, math.floor(x / Fraction(10) ** (exp + 1))
    while scaled < 100:
        exp, scaled = exp - 1, math.floor(x / Fraction(10) ** (exp - 1))
    return Fraction(scaled) * Fraction(10) ** exp


def _sci(x: Fraction) -> str:
    """A 15-digit decimal text of a rational of any size (no float overflow or underflow)."""
    if x == 0:
        return "0"
    e = math.floor(math.log10(abs(x.numerator)) - math.log10(x.denominator))
    m = x / Fraction(10) ** e
    return f"{float(m):.15g}e{e:+d}" if e else f"{float(m):.15g}"


def _violating_vector(S: list[list[Fraction]]) -> list[Fraction]:
    """A rational v with v^T S v < 0 for a symmetric S that is not PSD (from exact elimination)."""
    n = len(S)
    # Find the first leading principal block that is not PSD, then use a unit or Schur vector.
    for i in range(n):
        if S[i][i] < 0:
            return [Fraction(int(k == i)) for k in range(n)]
    for i in range(n):
        for k in range(i + 1, n):
            # 2x2 principal minor test: (e_i t + e_k) with t chosen exactly
            a, b, c = S[i][i], S[i][k], S[k][k]
            if a * c - b * b < 0:
                if a == 0:
                    t = -(c + 1) / (2 * b)
                    return [t if r == i else Fraction(int(r == k)) for r in range(n)]
                return [(-b / a) if r == i else Fraction(int(r == k)) for r in range(n)]
    # general case: eigenvector of the most negative eigenvalue, rounded and checked
    w, U = np.linalg.eigh(np.array([[float(x) for x in r] for r in S]))
    for den in (10**6, 10**9, 10**12):
        v = [Fraction(float(x)).limit_denominator(den) for x in U[:, 0]]
        Sv = [sum((a * b for a, b in zip(row, v)), Fraction(0)) for row in S]
        if sum((a * b for a, b in zip(v, Sv)), Fraction(0)) < 0:
            return v
    raise RuntimeError("no exact witness for a non-PSD matrix")  # pragma: no cover
