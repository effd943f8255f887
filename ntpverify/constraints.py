"""The constraint geometry of an instance, in kernel form.

Every object of sections 3 of theory.md is built from matrices G = (e_p - e_n) h_j^T:
the generators B_{j,z} (p = z, n = a_j) and the margin constraints A_{j,v} (p = a_j, n = v).
Their Frobenius inner products factor as
    <(e_p - e_n) h_j^T, (e_p' - e_n') h_k^T> = ([p=p'] - [p=n'] - [n=p'] + [n=n']) * <h_j, h_k>,
so all the linear algebra runs on the Gram matrix Q of the constraints (size = number of
constraints), never on vec(W) (size V * d). A decoder W = sum_k c_k G_k is materialised only at
the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import flint
import numpy as np

from .instance import Instance
from .linalg import rows_of, submatrix, to_fmpq


@dataclass(frozen=True)
class Constraint:
    kind: str        # "eq" for B_{j,z}, "ineq" for A_{j,v}
    j: int           # context index
    token: int       # z for B_{j,z}, v for A_{j,v}
    plus: int        # p in (e_p - e_n) h_j^T
    minus: int       # n


class Geometry:
    """Constraints E (generators of F) then I (margin constraints), and their exact Gram matrix."""

    def __init__(self, inst: Instance):
        self.inst = inst
        a = inst.anchors
        self.E = [Constraint("eq", j, z, z, a[j]) for j, z in inst.eq_pairs()]
        self.I = [Constraint("ineq", j, v, a[j], v) for j, v in inst.ineq_pairs()]
        self.all = self.E + self.I
        self.nE = len(self.E)
        m = inst.m
        K = [[to_fmpq(sum((x * y for x, y in zip(inst.H[j], inst.H[k])), Fraction(0)))
              for k in range(m)] for j in range(m)]
        self.K = K
        self.Hq = [[to_fmpq(x) for x in h] for h in inst.H]
        plus = np.array([c.plus for c in self.all])
        minus = np.array([c.minus for c in self.all])
        T = ((plus[:, None] == plus[None, :]).astype(np.int64) - (plus[:, None] == minus[None, :])
             - (minus[:, None] == plus[None, :]) + (minus[:, None] == minus[None, :]))
        J = [c.j for c in self.all]
        zero = flint.fmpq(0)
        self.Q = [[(Krow[jk] if t == 1 else Krow[jk] * t) if t else zero
                   for t, jk in zip(Trow, J)]
                  for Trow, Krow in ((Trow, K[ji]) for Trow, ji in zip(T.tolist(), J))]

    def restricted(self, eq: list[int], ineq: list[int]) -> "Geometry":
        """The same kind of program on other constraint sets: the constraints ``eq`` (indices
        into ``self.all``, of either kind) as equalities <G, W> = 0, then ``ineq`` as margin
        constraints <G, W> >= 1 (theory.md section 7: Fbar's generators and the pairs of P).
        ``orig[i]`` is the index in ``self`` of the view's constraint i."""
        view = object.__new__(Geometry)
        view.inst, view.K, view.Hq = self.inst, self.K, self.Hq
        local = list(eq) + list(ineq)
        base = getattr(self, "orig", None)
        view.orig = [base[i] for i in local] if base is not None else local
        view.E = [self.all[i] for i in eq]
        view.I = [self.all[i] for i in ineq]
        view.all = view.E + view.I
        view.nE = len(view.E)
        view.Q = [[self.Q[i][k] for k in local] for i in local]
        return view

    def rhs(self, i: int) -> int:
        """b_i of the NTP-SVM: 0 for a generator (equality), 1 for a margin constraint."""
        return 0 if i < self.nE else 1

    def values(self, coeffs: dict[int, flint.fmpq], rows: list[int] | None = None) -> dict[int, flint.fmpq]:
        """<G_i, sum_k coeffs[k] G_k> for every i in ``rows`` (default: all constraints)."""
        rows = list(range(len(self.all))) if rows is None else list(rows)
        cols = list(coeffs)
        if not cols or not rows:
            return {i: flint.fmpq(0) for i in rows}
        x = flint.fmpq_mat(len(cols), 1, [_fq(coeffs[k]) for k in cols])
        y = submatrix(self.Q, rows, cols) * x
        return {i: y[r, 0] for r, i in enumerate(rows)}

    def matrix(self, coeffs: dict[int, Fraction]) -> list[list[Fraction]]:
        """The V x d decoder sum_k coeffs[k] G_k, exactly: a (V x n) signed-coefficient matrix
        times the (n x d) matrix of the constraints' embeddings."""
        inst = self.inst
        cols = [k for k, c in coeffs.items() if c]
        if not cols:
            return [[Fraction(0)] * inst.d for _ in range(inst.V)]
        D = [[flint.fmpq(0)] * len(cols) for _ in range(inst.V)]
        for n, k in enumerate(cols):
            g, c = self.all[k], _fq(coeffs[k])
            D[g.plus][n] += c
            D[g.minus][n] -= c
        Hs = flint.fmpq_mat(len(cols), inst.d, [self.Hq[self.all[k].j][c] for k in cols for c in range(inst.d)])
        W = flint.fmpq_mat(inst.V, len(cols), [x for row in D for x in row]) * Hs
        return rows_of(W)

    def label(self, i: int) -> tuple[str, str]:
        g = self.all[i]
        return self.inst.contexts[g.j], self.inst.vocab[g.token]


def _fq(x) -> flint.fmpq:
    return x if isinstance(x, flint.fmpq) else to_fmpq(Fraction(x))
