"""The norm-ball regularisation path W_B = argmin_{||W|| <= B} CE(W) in high precision (theory.md 5).

W_B solves  grad CE(W) + nu W = 0,  ||W||^2 = B^2,  nu > 0.  For a convex CE these KKT conditions
are sufficient, so a solution with nu > 0 *is* the ball minimiser and has ||W_B|| = B.
Newton on (W, nu) with the bordered Jacobian [[Hess CE + nu I, W], [W^T, 0]] converges
quadratically; the nu I term removes the Hessian's null direction 1 c^T. Continuation in B uses the
tangent dx/dB (solving J dx/dB = [0; B]) as predictor, with adaptive steps.

Precision: nu decays like e^{-B/||W^mm||} and the Jacobian's condition number grows like 1/nu, so the
working precision at radius B is  precision + PATH_GUARD + ceil(B / (||W^mm|| ln 10))  digits,
or precision + PATH_GUARD / 2 + 1 + ceil(log10(1 / nu)) with the nu predicted there when that is
more (``nu_digits``: nu's prefactor can be tiny, e.g. 4e-10 on a near-collinear instance).
Newton stops when its step is below 10^-(precision + PATH_GUARD/2) max(1, B); the residuals
||W_B|| - B and ||grad CE + nu W|| / (nu B) are then recomputed with RESIDUAL_EXTRA more digits.

A Newton failure (NoConvergence, even after halving the continuation step in B to below 1/1000)
stops the path: ``PathRun.stopped`` says where and why, and the claims are judged on the radii
reached before it.

Confirming W*: after the requested radii, the run keeps doubling B (up to ``max_radius``) until
||P_F(W_B) - W*|| <= 10^-confirm_digits max(1, ||W*||); ``confirm_digits`` defaults to
precision - 20 (20 digits of margin below the requested precision), so precision 50 confirms W* to
30 digits. Added radii are marked ``added``. The observed decay is e^{-B/||W^mm||}, so on the
3-context example B = 160 gives about 1e-35.

Two Newton systems solve the same equations. Up to V d = DENSE_MAX_UNKNOWNS the dense one above
(V d + 1 unknowns, Jacobian assembled in Python, arb LU at the working precision). Beyond, the
reduced one (``path_reduced``): W = C R in the row space of the embeddings, V r + 1 unknowns
(r = rank of the embeddings), residuals in arb, steps from a float64 LU while float64 resolves
the Jacobian and from an arb one after; at the paper's App. A.2 size (V r = 500) the default radii
take about 10 s. Both give the same W_B to the working precision (tests/test_path.py). Instances
with V r above MAX_UNKNOWNS are not run (``PathRun.not_run`` says so; the claims then report
"not-checked").
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

import flint
import mpmath

from ..errors import NoConvergence
from .gd import Evaluator, arb_mid_to_mpf, fmt_mpf, frob, mpf_to_arb, msub, q2mpf
from . import path_reduced
from .problem import NumericProblem, failing_condition

DEFAULT_RADII = tuple(Fraction(b) for b in (2, 5, 10, 20, 40, 80))
PATH_GUARD = 10
RESIDUAL_EXTRA = 20
DENSE_MAX_UNKNOWNS = 200     # V d up to which the dense system is used (small cases)
MAX_UNKNOWNS = 1000         # V r up to which the reduced system runs (measured: radii 2..80 in 55 s at V r = 1000)
MAX_NEWTON = 60
MAX_DOUBLINGS = 8
EVALUATOR_SLACK = 20        # reduced method: spare digits of its one Evaluator


@dataclass
class PathPoint:
    """One point W_B of the path, with its multiplier and residuals (mpf values)."""

    B: Fraction
    W: list
    nu: object
    digits: int
    newton_steps: int
    norm_residual: object          # ||W_B|| - B, recomputed with RESIDUAL_EXTRA more digits
    stationarity: object           # ||grad CE(W_B) + nu W_B|| / (nu B), same
    proj_err: object | None
    cos_gap: object | None
    tangent: list                  # dW/dB (V x d)
    added: bool = False

    def to_json(self, ctx) -> dict:
        out = {"B": fmt_radius(self.B)}
        if self.proj_err is not None:
            out["proj_err"] = fmt_mpf(ctx, self.proj_err)
        if self.cos_gap is not None:
            out["cos_gap"] = fmt_mpf(ctx, self.cos_gap)
        out.update({"nu": fmt_mpf(ctx, self.nu), "norm_residual": fmt_mpf(ctx, self.norm_residual, 3),
                    "stationarity": fmt_mpf(ctx, self.stationarity, 3), "digits": self.digits})
        if self.added:
            out["added"] = True
        return out


def fmt_radius(B: Fraction) -> str:
    """A radius as a decimal string ("20", or 20 significant digits)."""
    if B.denominator == 1:
        return str(B.numerator)
    ctx = mpmath.MPContext()
    ctx.dps = 30
    return ctx.nstr(q2mpf(ctx, B), 20)


@dataclass
class PathRun:
    """The result of ``run_path``. ``skipped`` names the failing hypothesis when no point was
    computed for that reason; ``not_run`` says why the path was not attempted (size)."""

    precision: int
    confirm_digits: int
    points: list[PathPoint]
    ctx: object = field(repr=False, compare=False)
    skipped: str | None = None
    target_reached: bool | None = None
    seconds: float = field(default=0.0, compare=False)
    not_run: str | None = None
    stopped: str | None = None       # Newton failed: where and why (``points`` hold the radii before)

    def to_json(self) -> list:
        """The certificate's ``numeric.path`` list (no timing fields)."""
        return [p.to_json(self.ctx) for p in self.points]


def path_digits(precision: int, B: Fraction, mm_norm: float) -> int:
    """Working digits at radius B: precision + PATH_GUARD + ceil(B / (||W^mm|| ln 10))."""
    return precision + PATH_GUARD + math.ceil(float(B) / (mm_norm * math.log(10)))


def nu_digits(ctx, precision: int, nu) -> int:
    """Working digits for a Newton system whose multiplier is nu: the Jacobian's condition grows
    like 1/nu, and a step must resolve 10^-(precision + PATH_GUARD / 2) max(1, B). Usually below
    path_digits; above it when nu's prefactor is small (calibration seed 1255, near-collinear:
    nu = 7e-22 at B = 37 where e^(-B/||W^mm||) = 2e-12, and Newton stalled at 1e-53 > its tolerance)."""
    return precision + PATH_GUARD // 2 + 1 + math.ceil(float(-ctx.log10(nu)))


class _System:
    """The Newton system at one precision (rebuilt when the precision changes)."""

    def __init__(self, problem: NumericProblem, exact, ctx):
        self.ctx = ctx
        self.ev = Evaluator(problem, exact, ctx)
        self.V, self.d = self.ev.V, self.ev.d
        self.hh = [[[a * b for b in h] for a in h] for h in self.ev.H]

    def residual(self, W, nu, B):
        """(F1 = grad CE(W) + nu W, F2 = (||W||^2 - B^2)/2, softmaxes, grad)."""
        ev = self.ev
        S = ev.softmaxes(ev.logits(W))
        g = ev.grad_from_softmax(S)
        F1 = [[gi + nu * wi for gi, wi in zip(rg, rw)] for rg, rw in zip(g, W)]
        F2 = (self.ctx.fsum(x * x for r in W for x in r) - B * B) / 2
        return F1, F2, S, g

    def jacobian(self, W, nu, S) -> list[list]:
        """[[Hess CE(W) + nu I, vec W], [vec W^T, 0]] with vec index v*d + i."""
        ctx, V, d, ev = self.ctx, self.V, self.d, self.ev
        n = V * d
        J = [[ctx.zero] * (n + 1) for _ in range(n + 1)]
        for pij, s, hh in zip(ev.pi, S, self.hh):
            for v in range(V):
                for u in range(v, V):
                    sig = pij * ((s[v] if u == v else 0) - s[v] * s[u])
                    if not sig:
                        continue
                    lo = u * d
                    for i in range(d):
                        row = J[v * d + i]
                        row[lo:lo + d] = [x + sig * y for x, y in zip(row[lo:lo + d], hh[i])]
        for a in range(n):               # symmetrise the upper block triangle
            for b in range(a):
                if (b // d) < (a // d):
                    J[a][b] = J[b][a]
        w = [x for r in W for x in r]
        for a in range(n):
            J[a][a] += nu
            J[a][n] = w[a]
            J[n][a] = w[a]
        return J

    def solve(self, J, rhs) -> list:
        """J x = rhs by floating-point LU at the context's precision (flint, no error bounds)."""
        n = len(rhs)
        with flint.ctx.workprec(int(self.ctx.prec)):
            A = flint.arb_mat(n, n, [mpf_to_arb(x) for row in J for x in row])
            b = flint.arb_mat(n, 1, [mpf_to_arb(x) for x in rhs])
            try:
                x = A.solve(b, algorithm="approx")
            except ZeroDivisionError:
                raise NoConvergence("the path's Newton system is singular at this precision") from None
            return [arb_mid_to_mpf(self.ctx, x[i, 0]) for i in range(n)]

    # the interface the tracer uses (shared with ``path_reduced.ReducedSystem``): x is W itself
    high = False
    easy_steps = 7

    def newton(self, W, nu, B, step_tol):
        return _newton(self, W, nu, B, step_tol)

    def tangent(self, W, nu, S, B, tol=None) -> list:
        """dW/dB (flat, index v d + i) and dnu/dB: J t = [0; B] (to the working precision)."""
        return self.solve(self.jacobian(W, nu, S), [self.ctx.zero] * (self.V * self.d) + [B])

    def predict(self, W, t, dB):
        d = self.d
        return [[w + dB * t[v * d + i] for i, w in enumerate(r)] for v, r in enumerate(W)]

    def W_of(self, W):
        return W

    def tangent_W(self, t):
        d = self.d
        return [[t[v * d + i] for i in range(d)] for v in range(self.V)]

    def start(self, B):
        """Steepest-descent start: for small B, W_B ~ -B grad CE(0) / ||grad CE(0)||."""
        ctx = self.ctx
        zero = [[ctx.zero] * self.d for _ in range(self.V)]
        g = self.ev.grad(zero)
        ng = frob(ctx, g)
        if not ng:
            raise NoConvergence("grad CE(0) = 0: W = 0 minimises CE, the ball constraint never binds")
        Bm = q2mpf(ctx, B)
        return [[-Bm * x / ng for x in r] for r in g], ng / Bm


def _merit(ctx, F1, F2, g, W, nu, B):
    """max(relative stationarity, relative norm defect): scale-free Newton progress measure."""
    scale1 = frob(ctx, g) + abs(nu) * frob(ctx, W)
    r1 = frob(ctx, F1) / scale1 if scale1 else frob(ctx, F1)
    return max(r1, abs(F2) / (B * B))


def _newton(sys_: _System, W, nu, B, step_tol):
    """Damped Newton on (W, nu) at radius B; returns (W, nu, steps, S) or raises NoConvergence.

    Converged when a full Newton step on W is below ``step_tol`` (that step is applied); otherwise
    the step is halved until the scale-free merit decreases (keeping nu > 0).
    """
    ctx = sys_.ctx
    V, d = sys_.V, sys_.d
    F1, F2, S, g = sys_.residual(W, nu, B)
    merit = _merit(ctx, F1, F2, g, W, nu, B)
    for it in range(1, MAX_NEWTON + 1):
        J = sys_.jacobian(W, nu, S)
        delta = sys_.solve(J, [-x for r in F1 for x in r] + [-F2])
        size = ctx.sqrt(ctx.fsum(x * x for x in delta[:-1]))
        if size <= step_tol and nu + delta[-1] > 0:
            W = [[W[v][i] + delta[v * d + i] for i in range(d)] for v in range(V)]
            nu = nu + delta[-1]
            return W, nu, it, sys_.residual(W, nu, B)[2]
        t = ctx.one
        while True:
            nu_t = nu + t * delta[-1]
            if nu_t > nu / 4:
                W_t = [[W[v][i] + t * delta[v * d + i] for i in range(d)] for v in range(V)]
                F1, F2, S_t, g = sys_.residual(W_t, nu_t, B)
                merit_t = _merit(ctx, F1, F2, g, W_t, nu_t, B)
                if merit_t < merit:
                    break
            t /= 2
            if t < ctx.power(2, -40):
                raise NoConvergence(f"path Newton line search failed at B = {float(B):g}")
        W, nu, S, merit = W_t, nu_t, S_t, merit_t
    raise NoConvergence(f"path Newton did not converge in {MAX_NEWTON} steps at B = {float(B):g}")


def run_path(problem: NumericProblem, radii: Sequence = DEFAULT_RADII, precision: int = 50,
             confirm_digits: int | None = None, max_radius=Fraction(2560),
             progress: Callable[[int, int], None] | None = None, budget: float | None = None,
             method: str = "auto") -> PathRun:
    """Compute W_B at each radius (sorted), then keep doubling B until P_F(W_B) matches W* to
    ``confirm_digits`` digits, or stops moving by that much without matching it (a wrong W*: more
    radii would only spend the budget), or B would exceed ``max_radius``, or the next radius would take the
    modelled cost (``radius_seconds``) past ``budget`` seconds (requested radii beyond the first
    three are then skipped too). The model, not the clock, keeps runs deterministic.

    Requires a compatible, separable, non-trivial problem; otherwise returns a PathRun with no
    points and ``skipped`` naming the failing hypothesis. ``method`` "auto" picks the dense system
    up to V d = DENSE_MAX_UNKNOWNS, else the reduced one up to V r = MAX_UNKNOWNS, else the path is
    not run (``not_run``); "dense" or "reduced" forces one. When Newton fails (NoConvergence) the
    path stops there: ``stopped`` says at which B and why, ``points`` hold the radii reached before.
    Deterministic (the reduced system limits BLAS to one thread). All arithmetic in a local mpmath
    context (flint's precision only inside ``workprec``).
    """
    start = time.perf_counter()
    confirm = max(1, precision - 20) if confirm_digits is None else confirm_digits
    ctx = mpmath.MPContext()
    ctx.dps = precision + PATH_GUARD
    why = failing_condition(problem)
    if why is not None:
        return PathRun(precision, confirm, [], ctx, skipped=why)
    method = path_method(problem) if method == "auto" else method
    if method is None:
        return PathRun(precision, confirm, [], ctx,
                       not_run=(f"the reduced Newton path has V r = {reduced_unknowns(problem)} unknowns "
                                f"(r = rank of the embeddings), above the limit {MAX_UNKNOWNS}"))
    radii = sorted({Fraction(b) for b in radii})
    if not radii or radii[0] <= 0:
        raise ValueError("radii must be positive")
    tracer = _Tracer(problem, precision, ctx, confirm, progress, len(radii), method)
    with path_reduced.one_blas_thread():
        _trace(tracer, problem, precision, radii, max_radius, budget)
    return PathRun(precision, confirm, tracer.points, ctx, None,
                   tracer.confirmed() if tracer.points else False, time.perf_counter() - start,
                   stopped=tracer.stopped)


def _trace(tracer, problem, precision, radii, max_radius, budget) -> None:
    """The requested radii, then the doublings (see ``run_path``); stops at a Newton failure."""
    spent = 0.0

    def affordable(B) -> bool:
        return budget is None or spent + radius_seconds(problem, precision, B) <= budget

    def reached(B, added) -> bool:
        try:
            tracer.reach(B)
        except NoConvergence as exc:
            where = "at the start" if tracer.B is None else f"after B = {float(tracer.B):.6g}"
            tracer.stopped = f"{exc} (continuing {where} towards radius {fmt_radius(B)})"
            return False
        tracer.record(B, added)
        return True

    for i, B in enumerate(radii):
        if i >= 3 and not affordable(B):
            break                    # out of budget: keep the three radii a trend needs
        spent += radius_seconds(problem, precision, B)
        if not reached(B, added=False):
            return
    B = tracer.points[-1].B
    doublings = 0
    while (not tracer.confirmed() and not tracer.settled_elsewhere() and 2 * B <= Fraction(max_radius)
           and doublings < MAX_DOUBLINGS and affordable(2 * B)):
        B, doublings = 2 * B, doublings + 1
        spent += radius_seconds(problem, precision, B)
        if not reached(B, added=True):
            return


def reduced_unknowns(problem: NumericProblem) -> int:
    """V r: the reduced system's unknowns besides nu (r = rank of the embeddings)."""
    return problem.instance.V * len(path_reduced.basis_rows(problem.exact))


def path_method(problem: NumericProblem) -> str | None:
    """"dense" up to V d = DENSE_MAX_UNKNOWNS, else "reduced" up to V r = MAX_UNKNOWNS, else None."""
    inst = problem.instance
    if inst.V * inst.d <= DENSE_MAX_UNKNOWNS:
        return "dense"
    return "reduced" if reduced_unknowns(problem) <= MAX_UNKNOWNS else None


PATH_SECONDS = 5e-7          # modelled seconds per radius: c (V d + 1)^3 (1 + digits / 100) x 6 Newton steps
# The reduced system (path_reduced), n = V r + 1 unknowns, fitted at paper size (V r = 500, m = 50)
# on this project's 2-core machine under a load of about 10: 0.9 s a radius for B = 5..80 with
# float64 solves (10-13 Newton steps of 0.05 s: LU 0.017 s, float Jacobian 0.016 s, arb residual
# 0.021 s, plus the recorded point); with arb solves 51 s for B = 80 -> 160 (73 digits; float64
# steps first) and 405 s for B = 160 -> 320 (86 digits, 24 Newton steps of about 15 s beside
# another heavy job: arb Jacobian 1.8-3 s, arb solve 4-12 s). The arb constants lean to the slow
# side: a radius the model cannot afford is skipped, never cut short.
REDUCED_F64_REACH = 25        # float64 solves modelled up to B = this x ||W^mm|| (e^25 ~ 7e10)
REDUCED_F64_STEPS = 12
REDUCED_F64_N3 = 4e-10        # s per n^3 (LU and Jacobian)
REDUCED_F64_VMR = 6e-7        # s per V m r (1 + digits / 100) (residual in arb)
REDUCED_ARB_STEPS = 20
REDUCED_ARB_N3 = 3e-8         # s per n^3 digits / 40 (arb solve)
REDUCED_ARB_N2 = 1e-5         # s per n^2 (Jacobian assembled in arb)

def radius_seconds(problem: NumericProblem, precision: int, B) -> float:
    """Modelled cost of one radius. Dense mpmath Newton: 28 s for 7 radii at V d = 90, B <= 160,
    on this project's machine. Reduced system: the REDUCED_* constants above, float64 solves up
    to B = REDUCED_F64_REACH ||W^mm||, arb ones beyond."""
    inst = problem.instance
    mm = math.sqrt(float(problem.W_mm_norm_sq)) if problem.W_mm_norm_sq else 1.0
    digits = path_digits(precision, B, mm)
    if path_method(problem) != "reduced":
        n = inst.V * inst.d + 1
        return PATH_SECONDS * n ** 3 * (1 + digits / 100) * 6
    r = len(path_reduced.basis_rows(problem.exact))
    n = inst.V * r + 1
    if float(B) <= REDUCED_F64_REACH * mm:
        residual = REDUCED_F64_VMR * inst.V * inst.m * r * (1 + digits / 100)
        return REDUCED_F64_STEPS * (REDUCED_F64_N3 * n ** 3 + residual)
    return REDUCED_ARB_STEPS * (REDUCED_ARB_N3 * n ** 3 * digits / 40 + REDUCED_ARB_N2 * n ** 2)


class _Tracer:
    """Continuation state: the current (B, x, nu, tangent) and the recorded points. ``method``
    "dense" (x = W, the V d + 1 Newton system) or "reduced" (``path_reduced``: x = vec C)."""

    def __init__(self, problem, precision, ctx, confirm, progress, n_requested, method="dense"):
        self.problem, self.precision, self.ctx, self.confirm = problem, precision, ctx, confirm
        self.progress, self.n_requested = progress, n_requested
        self.exact = problem.exact
        self.mm_norm = math.sqrt(float(problem.W_mm_norm_sq))
        self.method = method
        self.rows = path_reduced.basis_rows(self.exact) if method == "reduced" else None
        self.high = False                # reduced: float64 stopped contracting (arb from then on)
        self.systems: dict = {}
        self.ev, self.ev_dps = None, 0
        self.points: list[PathPoint] = []
        self.B = None
        self.x = self.nu = self.aux = self.tangent = None
        self.steps = 0
        self.h = Fraction(max(1, round(self.mm_norm)))
        self.stopped: str | None = None

    def system(self, B, nu=None):
        """The Newton system at radius B, at path_digits or, when the multiplier nu expected
        there is smaller than e^(-B/||W^mm||) suggests, at nu_digits(nu) (Jacobian condition ~ 1/nu)."""
        digits = path_digits(self.precision, B, self.mm_norm)
        if nu is not None:
            digits = max(digits, nu_digits(self.ctx, self.precision, nu))
        self.ctx.dps = digits
        if digits not in self.systems:
            if self.method == "dense":
                self.systems = {digits: _System(self.problem, self.exact, self.ctx)}
            else:
                self.systems = {digits: path_reduced.ReducedSystem(self.problem, self.exact, self.ctx,
                                                                   self.rows, self.high)}
        return self.systems[digits]

    def evaluator(self, dps: int) -> Evaluator:
        """An Evaluator with at least ``dps`` digits. The dense method builds one at exactly the
        system's digits; the reduced one keeps one built with RESIDUAL_EXTRA + EVALUATOR_SLACK
        digits to spare and rebuilds it only when that is not enough (an Evaluator inverts the
        Gram matrix of F: 2.5-5 s at paper size)."""
        if self.method == "dense":
            return self.systems[dps].ev if dps in self.systems else Evaluator(self.problem, self.exact, self.ctx)
        if self.ev is None or self.ev_dps < dps:
            self.ev_dps = dps + RESIDUAL_EXTRA + EVALUATOR_SLACK
            with self.ctx.workdps(self.ev_dps):
                self.ev = Evaluator(self.problem, self.exact, self.ctx)
        return self.ev

    def step_tol(self, B):
        return self.ctx.power(10, -(self.precision + PATH_GUARD // 2)) * max(1, q2mpf(self.ctx, B))

    def reach(self, target: Fraction) -> None:
        """Continue from the current point to radius ``target`` (adaptive steps)."""
        if self.B is None:
            B0 = min(target, Fraction(1, 2))
            sys_ = self.system(B0)
            x, nu = sys_.start(B0)
            x, nu, steps, aux = sys_.newton(x, nu, q2mpf(self.ctx, B0), self.step_tol(B0))
            self._accept(B0, x, nu, steps, aux, sys_)
        while self.B < target:
            Bn = min(target, self.B + self.h)
            try:
                steps, easy = self._advance(Bn)
            except NoConvergence as exc:
                self.h /= 2
                if self.h < Fraction(1, 1000):
                    raise NoConvergence(f"{exc}, with continuation steps in B down to "
                                        f"{float(2 * self.h):.2g}") from exc
                continue
            if steps <= easy:
                self.h = min(self.h * 3 / 2, Fraction(8 * max(1, round(self.mm_norm))))

    def _advance(self, Bn: Fraction):
        ctx = self.ctx
        dB = q2mpf(ctx, Bn - self.B)
        # nu decays exponentially in B: extrapolate log nu linearly
        nu = self.nu * ctx.exp(dB * self.tangent[-1] / self.nu)
        sys_ = self.system(Bn, nu)
        x = sys_.predict(self.x, self.tangent, dB)
        try:
            x, nu, steps, aux = sys_.newton(x, nu, q2mpf(ctx, Bn), self.step_tol(Bn))
        finally:
            self.high = self.high or sys_.high
        self._accept(Bn, x, nu, steps, aux, sys_)
        return steps, sys_.easy_steps

    def _accept(self, B, x, nu, steps, aux, sys_):
        Bm = q2mpf(self.ctx, B)
        self.tangent = sys_.tangent(x, nu, aux, Bm, self.step_tol(B) / max(1, Bm))
        self.high = self.high or sys_.high
        self.B, self.x, self.nu, self.aux = B, x, nu, aux
        self.sys_, self.dps = sys_, int(self.ctx.dps)
        self.steps += steps

    def record(self, B: Fraction, added: bool) -> None:
        """Record the current point (at radius B), at the digits it was computed with."""
        ctx, sys_ = self.ctx, self.sys_
        ctx.dps = self.dps
        ev = self.evaluator(int(ctx.dps))
        W, nu = sys_.W_of(self.x), self.nu
        proj = frob(ctx, msub(ev.project_F(W), ev.W_star)) if ev.W_star is not None else None
        cos = ev.cos_gap(W)
        with ctx.extradps(RESIDUAL_EXTRA):
            hi = self.evaluator(int(ctx.dps))
            Bm = q2mpf(ctx, B)
            g = hi.grad(W)
            stat = frob(ctx, [[gi + nu * wi for gi, wi in zip(rg, rw)] for rg, rw in zip(g, W)]) / (nu * Bm)
            normres = frob(ctx, W) - Bm
        tangent = sys_.tangent_W(self.tangent)
        self.points.append(PathPoint(B=B, W=W, nu=+nu, digits=int(ctx.dps), newton_steps=self.steps,
                                     norm_residual=+normres, stationarity=+stat, proj_err=proj,
                                     cos_gap=cos, tangent=tangent, added=added))
        self.steps = 0
        if self.progress is not None:
            self.progress(len(self.points), max(self.n_requested, len(self.points)))

    def target(self):
        ev = self.evaluator(int(self.ctx.dps))
        ws = frob(self.ctx, ev.W_star)
        return self.ctx.power(10, -self.confirm) * max(self.ctx.one, ws)

    def confirmed(self) -> bool:
        """Whether the last point matches W* to ``confirm`` digits (True when W* is unknown)."""
        p = self.points[-1]
        return p.proj_err is None or p.proj_err <= self.target()

    def settled_elsewhere(self) -> bool:
        """Whether P_F(W_B) moved by less than ``confirm`` digits over the last radius step while
        W* is not matched: the F-part converges elsewhere, and more radii would not confirm it. On
        a valid instance confirmation comes first (the step is the error one radius earlier)."""
        if len(self.points) < 2 or self.confirmed():
            return False
        ev = self.evaluator(int(self.ctx.dps))
        p0, p1 = self.points[-2:]
        return frob(self.ctx, msub(ev.project_F(p1.W), ev.project_F(p0.W))) <= self.target()
