"""Exact linear algebra on rationals (python-flint ``fmpq_mat``), in the few shapes the theory needs.

Matrices cross this boundary as lists of lists of ``fractions.Fraction``; inside, flint does the
elimination in C. Everything here is exact: no tolerance, no floating point.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

import flint


def to_fmpq(x: Fraction) -> flint.fmpq:
    return flint.fmpq(x.numerator, x.denominator)


def to_frac(x: flint.fmpq) -> Fraction:
    return Fraction(int(x.p), int(x.q))


def mat(rows: list[list], nrows: int | None = None, ncols: int | None = None) -> flint.fmpq_mat:
    """An fmpq_mat from rows of Fractions (or flint numbers)."""
    nrows = len(rows) if nrows is None else nrows
    ncols = (len(rows[0]) if rows else 0) if ncols is None else ncols
    flat = [x if isinstance(x, flint.fmpq) else to_fmpq(Fraction(x)) for row in rows for x in row]
    return flint.fmpq_mat(nrows, ncols, flat)


def rows_of(M: flint.fmpq_mat) -> list[list[Fraction]]:
    return [[to_frac(M[i, k]) for k in range(M.ncols())] for i in range(M.nrows())]


def submatrix(Q: list[list[flint.fmpq]], rows: list[int], cols: list[int]) -> flint.fmpq_mat:
    return flint.fmpq_mat(len(rows), len(cols), [Q[i][k] for i in rows for k in cols])


def pivots(M: flint.fmpq_mat) -> list[int]:
    """Indices of the pivot columns of M's reduced row echelon form (first independent columns)."""
    if M.nrows() == 0 or M.ncols() == 0:
        return []
    R, rank = M.rref()
    out, col = [], 0
    for i in range(rank):
        while R[i, col] == 0:
            col += 1
        out.append(col)
        col += 1
    return out


def solve(A: flint.fmpq_mat, B: flint.fmpq_mat) -> flint.fmpq_mat:
    """X with A X = B for a square non-singular A."""
    if A.nrows() == 0:
        return flint.fmpq_mat(0, B.ncols())
    return A.solve(B)


def nullspace(A: flint.fmpq_mat) -> list[list[Fraction]]:
    """A basis of {x : A x = 0}, each vector scaled to coprime integers (as Fractions)."""
    if A.ncols() == 0:
        return []
    num, _den = A.numer_denom()
    N, nullity = num.nullspace()
    out = []
    for k in range(nullity):
        vec = [int(N[i, k]) for i in range(A.ncols())]
        out.append([Fraction(x) for x in primitive(vec)])
    return out


def primitive(vec: list[int]) -> list[int]:
    """Divide an integer vector by the gcd of its entries; first non-zero entry made positive."""
    from math import gcd

    g = 0
    for x in vec:
        g = gcd(g, x)
    if g == 0:
        return vec
    first = next(x for x in vec if x)
    sign = -1 if first < 0 else 1
    return [sign * x // g for x in vec]


def integer_vector(vec: list[Fraction]) -> list[int]:
    """The primitive integer vector on the same ray as a rational vector."""
    den = lcm(*[x.denominator for x in vec]) if vec else 1
    return primitive([int(x * den) for x in vec])


def ldl_psd(S: list[list[Fraction]]) -> tuple[list[list[Fraction]], list[Fraction]] | None:
    """An exact S = L D L^T with L unit lower triangular and D >= 0, or None if S is not PSD.

    No pivoting is needed for a PSD matrix: a zero pivot forces the rest of its column of the
    Schur complement to vanish, and if it does not, S is not PSD.
    """
    n = len(S)
    A = [[to_fmpq(x) for x in row] for row in S]
    L = [[flint.fmpq(int(i == k)) for k in range(n)] for i in range(n)]
    D = []
    for k in range(n):
        piv = A[k][k]
        if piv < 0:
            return None
        if piv == 0:
            if any(A[i][k] != 0 for i in range(k + 1, n)):
                return None
            D.append(piv)
            continue
        D.append(piv)
        col = [A[i][k] / piv for i in range(k + 1, n)]
        for a, i in enumerate(range(k + 1, n)):
            L[i][k] = col[a]
            lik = col[a]
            if lik == 0:
                continue
            row_i = A[i]
            row_k = A[k]
            for c in range(k + 1, i + 1):
                row_i[c] -= lik * row_k[c]
        for i in range(k + 1, n):          # keep symmetry of the trailing block
            for c in range(k + 1, i):
                A[c][i] = A[i][c]
    return [[to_frac(x) for x in row] for row in L], [to_frac(x) for x in D]
