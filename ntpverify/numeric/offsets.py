"""The support structure of W^mm that sets the growth direction's rate (theory.md section 6).

Separate from the claims so that ``NumericProblem`` can cache it without importing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .exactdata import ExactData, constraint_inner, integer_matrix


@dataclass
class OffsetStructure:
    """The support pairs of one multiplier set and their projected constraints P_perp A_{j,v}.

    ``independent`` is decided exactly; ``mu``, ``mu_max`` (extreme eigenvalues of
    J = diag(lambda) Gram(P_perp A_SV)) and ``v_sat`` (min lambda ||P_perp A||^2, the speed of a
    saturated offset per unit of log k) are float64 predictions of rates. ``margin_gap`` is the
    exact smallest <A_{j,v}, W^mm> - 1 over the constraints that are not tight (None if every
    constraint is tight): their softmax mass decays like k^-(1 + gap), so they pull the growth
    direction toward W^mm no faster than k^-gap.
    """

    pairs: list[tuple[int, int]]
    lambdas: list[Fraction]
    independent: bool
    mu: float | None
    mu_max: float | None
    v_sat: float | None
    degenerate_reason: str | None
    weakly_active: list[tuple[int, int]] = field(default_factory=list)
    margin_gap: Fraction | None = None

    def direction_rate(self) -> float | None:
        """rho = min(mu, margin_gap, 1): the growth direction's predicted rate k^-rho, or None when
        the instance is degenerate (the linearised model does not apply)."""
        if self.degenerate_reason is not None or self.mu is None or self.mu <= 0:
            return None
        rho = min(self.mu, 1.0)
        if self.margin_gap is not None:
            rho = min(rho, float(self.margin_gap))
        return rho


def offset_structure(problem, exact: ExactData) -> OffsetStructure:
    """Support pairs (positive multipliers), exact independence of their projections
    P_perp A_{j,v} (rank of the bordered Gram matrix [[G_B, C], [C^T, G_A]] equals
    dim F + #pairs, C_{i,s} = <B_i, A_s>), and the float64 rates of the linearised offsets."""
    pairs = sorted(p for p, lam in problem.multipliers.items() if lam > 0)
    lams = [Fraction(problem.multipliers[p]) for p in pairs]
    anchors, hh = exact.anchors, exact.hh
    weak, gap = _margins(problem, set(pairs))
    n = len(pairs)
    if n == 0:
        return OffsetStructure([], [], False, None, None, None,
                               "no positive multipliers supplied, so degeneracy cannot be ruled out", weak, gap)
    A = [(j, anchors[j], v) for j, v in pairs]                  # A_{j,v} = (e_{a_j} - e_v) h_j^T
    B = [(j, z, anchors[j]) for j, z in exact.F_pairs]          # B_{j,z} = (e_z - e_{a_j}) h_j^T
    GA = [[constraint_inner(hh, p, q) for q in A] for p in A]
    C = [[constraint_inner(hh, b, p) for p in A] for b in B]
    nF = len(exact.F_pairs)
    bordered = [list(exact.gram[i]) + C[i] for i in range(nF)]
    bordered += [[C[i][s] for i in range(nF)] + GA[s] for s in range(n)]
    independent = integer_matrix(bordered).rank() == nF + n
    Gp = np.array([[float(x) for x in row] for row in GA])
    if nF:
        Cf = np.array([[float(x) for x in row] for row in C])
        Gf = np.array([[float(x) for x in row] for row in exact.gram])
        Gp = Gp - Cf.T @ np.linalg.solve(Gf, Cf)
    lam_f = np.array([float(x) for x in lams])
    v_sat = float(np.min(lam_f * np.diag(Gp)))
    mu = mu_max = None
    if independent:
        sq = np.sqrt(lam_f)
        eig = np.linalg.eigvalsh(Gp * np.outer(sq, sq))
        mu, mu_max = float(eig.min()), float(eig.max())
    reason = (None if independent
              else "the projected support constraints P_perp A_{j,v} are linearly dependent")
    if reason is None and weak:
        reason = f"weakly active constraints (margin 1, multiplier 0) at {weak}"
    return OffsetStructure(pairs, lams, independent, mu, mu_max, v_sat, reason, weak, gap)


def _margins(problem, support: set) -> tuple[list[tuple[int, int]], Fraction | None]:
    """Pairs (j, v) with <A_{j,v}, W^mm> = 1 exactly but no positive multiplier (weakly active),
    and the smallest margin excess <A_{j,v}, W^mm> - 1 over the other pairs with margin > 1."""
    inst, W = problem.instance, problem.W_mm
    weak, gap = [], None
    if W is None:
        return weak, gap
    for (j, v), margin in constraint_margins(inst, W):
        if (j, v) in support:
            continue
        if margin == 1:
            weak.append((j, v))
        elif margin > 1:
            gap = margin - 1 if gap is None else min(gap, margin - 1)
    return weak, gap


def constraint_margins(inst, W):
    """((j, v), <A_{j,v}, W>) for every inequality pair, exactly (A_{j,v} = (e_{a_j} - e_v) h_j^T)."""
    for j, v in inst.ineq_pairs():
        a = inst.anchors[j]
        yield (j, v), sum(((W[a][i] - W[v][i]) * h for i, h in enumerate(inst.H[j])), Fraction(0))
