"""What the numeric layer receives from the exact layer: plain exact data, no solver objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

from ..exactnum import LinLog
from ..instance import Instance
from .exactdata import ExactData, exact_data
from .offsets import OffsetStructure, offset_structure


@dataclass(frozen=True)
class NumericProblem:
    """Exact inputs of the numeric layer.

    - ``W_star``: V x d LinLog values (sum of c_q log q), or None when not compatible.
    - ``W_mm``: V x d exact rationals, or None when not separable (or trivial).
    - ``multipliers``: lambda_{j,v} > 0 of one valid KKT multiplier set, keyed by (j, v)
      (context index, token index); the support pairs of ``ext-offset``.
    - ``F_basis``: (j, z) pairs whose generators B_{j,z} = (e_z - e_{a_j}) h_j^T form a basis of F.
    - ``eta``: the exact step; ``eta_admissible``: proven eta * lambda_max(M) <= 1.
    """

    instance: Instance
    entropy: LinLog
    compatible: bool
    separable: bool
    W_star: tuple[tuple[LinLog, ...], ...] | None
    W_mm: tuple[tuple[Fraction, ...], ...] | None
    W_mm_norm_sq: Fraction | None
    multipliers: dict[tuple[int, int], Fraction] = field(default_factory=dict)
    F_basis: tuple[tuple[int, int], ...] = ()
    eta: Fraction = Fraction(1, 2)
    eta_admissible: bool = True
    section7: object | None = None     # numeric.ext_claims.Section7: E, P, Fbar, What, Wbar, qbar, bracket

    # Derived exact data, built once per problem and shared by GD, the path and the claims (each
    # used to rebuild it: 3.3 s apiece at paper size). A copy made with dataclasses.replace gets
    # its own.
    @cached_property
    def exact(self) -> ExactData:
        """The exact data of this problem (``numeric.exactdata``)."""
        return exact_data(self)

    @cached_property
    def offsets(self) -> OffsetStructure:
        """The support structure of W^mm (``numeric.offsets``): ext-offset's pairs and the growth
        direction's rate."""
        return offset_structure(self, self.exact)


def failing_condition(problem: NumericProblem) -> str | None:
    """The first failing condition shared by the GD and path claims, named; None when all hold."""
    if problem.instance.is_trivial():
        return "trivial instance (every support is the whole vocabulary)"
    if not problem.compatible:
        return "not compatible (no finite F-part matches every log-odds)"
    if not problem.separable:
        return "not separable (some out-of-support mass cannot be driven to zero)"
    return None
