"""Precision-independent exact data of a numeric problem (rationals only, built once per problem)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import flint

from ..errors import InternalError
from ..linalg import mat, rows_of

EXACT_INVERSE_MAX = 60     # dim F up to which the Gram inverse is computed exactly


@dataclass(frozen=True)
class ExactData:
    """Precision-independent exact data of a problem.

    Guarantees: ``hh[j][j2] = <h_j, h_j2>`` exactly; ``gram`` is the exact Gram matrix of the
    generators B_{j,z} listed in ``F_pairs`` (empty when F = {0}), proven nonsingular;
    ``gram_inv`` is its exact inverse when dim F <= EXACT_INVERSE_MAX, else None (then
    ``Evaluator`` encloses the inverse in ball arithmetic, see ``gram_inverse``).
    """

    V: int
    m: int
    d: int
    H: tuple[tuple[Fraction, ...], ...]
    pi: tuple[Fraction, ...]
    P: tuple[tuple[Fraction, ...], ...]
    supports: tuple[tuple[int, ...], ...]
    anchors: tuple[int, ...]
    hh: tuple[tuple[Fraction, ...], ...]
    F_pairs: tuple[tuple[int, int], ...]
    gram: tuple[tuple[Fraction, ...], ...]
    gram_inv: tuple[tuple[Fraction, ...], ...] | None


def constraint_inner(hh, c1: tuple[int, int, int], c2: tuple[int, int, int]) -> Fraction:
    """<(e_p - e_n) h_j^T, (e_p2 - e_n2) h_j2^T> = <e_p - e_n, e_p2 - e_n2> <h_j, h_j2>, exactly,
    for constraints given as (j, p, n): B_{j,z} is (j, z, a_j) and A_{j,v} is (j, a_j, v)."""
    (j, p, n), (j2, p2, n2) = c1, c2
    return ((p == p2) - (p == n2) - (n == p2) + (n == n2)) * hh[j][j2]


def _common_denominator(rows) -> int:
    return math.lcm(*(x.denominator for row in rows for x in row))


def integer_matrix(rows: Sequence[Sequence[Fraction]]) -> flint.fmpz_mat:
    """The rational matrix times the lcm of its denominators, as an exact integer matrix."""
    r = len(rows)
    c = len(rows[0]) if r else 0
    den = _common_denominator(rows)
    return flint.fmpz_mat(r, c, [int(x * den) for row in rows for x in row])


def exact_inverse(rows: Sequence[Sequence[Fraction]]) -> tuple[tuple[Fraction, ...], ...]:
    """The exact inverse of a square rational matrix; raises ZeroDivisionError if singular."""
    n = len(rows)
    if n == 0:
        return ()
    return tuple(map(tuple, rows_of(mat(rows, n, n).inv())))


def exact_data(problem) -> ExactData:
    """Build ``ExactData``; raises InternalError if ``F_basis`` is not linearly independent
    (decided exactly: rank of the integer-scaled Gram matrix)."""
    inst = problem.instance
    H = inst.H
    Hi = integer_matrix(H)                       # D Hbar^T, exact integers
    den = _common_denominator(H)
    G = Hi * Hi.transpose()
    hh = tuple(tuple(Fraction(int(G[j, j2]), den * den) for j2 in range(inst.m)) for j in range(inst.m))
    anchors = inst.anchors
    pairs = tuple(problem.F_basis)
    gens = [(j, z, anchors[j]) for j, z in pairs]
    gram = tuple(tuple(constraint_inner(hh, g1, g2) for g2 in gens) for g1 in gens)
    if pairs and integer_matrix(gram).rank() < len(pairs):
        raise InternalError("the F basis handed to the numeric layer is linearly dependent "
                            f"(its Gram matrix of size {len(pairs)} is singular)")
    gram_inv = exact_inverse(gram) if len(pairs) <= EXACT_INVERSE_MAX else None
    return ExactData(V=inst.V, m=inst.m, d=inst.d, H=H, pi=inst.pi, P=inst.P,
                     supports=inst.supports, anchors=anchors, hh=hh, F_pairs=pairs, gram=gram,
                     gram_inv=gram_inv)


