"""Gradient descent on the NTP loss in high precision (an untrusted numeric producer).

    W_{k+1} = W_k - eta * grad CE(W_k),   grad CE(W) = sum_j pi_j (softmax(W h_j) - p_j) h_j^T.

Two interchangeable backends compute the same iterates:

- ``"mpmath"``: the reference; lists of mpf in a local ``mpmath.MPContext`` (never the global
  ``mpmath.mp``).
- ``"flint"``: python-flint ``arb_mat`` products on ball midpoints (fast). Its ball arithmetic
  encloses the exact GD map of every step, which gives a proven bound on the rounding error
  (see ``RoundingBound``).

Both backends hand their iterate at each checkpoint to the same code (``Evaluator``: mpmath, with
flint matrix products for the projection onto F), so the reported quantities (CE, projections,
cosines) never depend on the backend's own arithmetic. The precision-independent exact data (the
Gram matrix of the F basis, its exact inverse when dim F <= EXACT_INVERSE_MAX) is computed once
with rationals (``ExactData``) and rounded to a working precision only by ``Evaluator``.

Rounding (``RoundingBound``): GD with an admissible step on the convex, L-smooth CE is
non-expansive (||T(X) - T(Y)|| <= ||X - Y|| for the exact map T), so after k steps the computed
iterate is within the sum of the per-step errors of exact-arithmetic GD from the same exact W_0.
The flint backend *proves* each per-step error (sum of arb radii); the mpmath backend *estimates* it
with a first-order floating-point model. Both say which in the JSON.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Sequence

import flint
import mpmath

from ..errors import InternalError
from ..exactnum import fmt_q
from ..linalg import mat, rows_of, to_fmpq
from .problem import NumericProblem

Matrix = list  # list of rows, each a list of mpf (V x d unless stated)

GUARD_DIGITS = 10          # extra decimal digits on top of the requested precision
REPORT_DIGITS = 20         # significant digits of decimal strings in JSON
BACKENDS = ("flint", "mpmath", "float64")
PROGRESS_CALLS = 100       # at most this many progress callbacks per run


# ---------------------------------------------------------------------------------------------
# Exact data and its evaluation in a working precision


def _arb(x: Fraction) -> flint.arb:
    """A rational as an arb (exact when representable at the working precision, else rounded)."""
    return flint.arb(to_fmpq(x))


from .exactdata import (EXACT_INVERSE_MAX, ExactData, _common_denominator, constraint_inner,  # noqa: E402,F401
                        exact_data, exact_inverse, integer_matrix)


def gram_inverse(exact: ExactData, bits: int):
    """The inverse Gram matrix of the F basis as an arb_mat of exact midpoints at ``bits``.

    From the exact inverse when available (each entry correctly rounded); otherwise from arb's ball
    inverse of the exact Gram matrix, at increasing precision until every radius is below
    2^-(bits + 8) times the largest entry, so the midpoints agree with the exact inverse to the
    working precision. Call inside ``flint.ctx.workprec(bits)``.
    """
    n = len(exact.gram)
    if exact.gram_inv is not None:
        return flint.arb_mat(n, n, [_arb(x) for row in exact.gram_inv for x in row]).mid()
    work = bits + 64
    for _ in range(8):
        with flint.ctx.workprec(work):
            G = flint.arb_mat(n, n, [_arb(x) for row in exact.gram for x in row])
            try:
                inv = G.inv()
            except ZeroDivisionError:
                work *= 2
                continue
            big = max(abs(x.mid()).upper() for x in inv.entries())
            worst = max(x.rad().upper() for x in inv.entries())
            ok = bool(worst <= big * flint.arb(2) ** -(bits + 8))
        if ok:
            return (inv * 1).mid()       # rounded to ``bits`` by the caller's working precision
        work *= 2
    raise InternalError(f"could not enclose the inverse Gram matrix (dim F = {n}) to working precision")


def _generator_vec(exact: ExactData, pair: tuple[int, int]) -> list:
    """vec(B_{j,z}) = vec((e_z - e_{a_j}) h_j^T) (index v*d + i) as exact arbs."""
    j, z = pair
    a = exact.anchors[j]
    out = [flint.arb(0)] * (exact.V * exact.d)
    for i, h in enumerate(exact.H[j]):
        x = _arb(h)
        out[z * exact.d + i] = x
        out[a * exact.d + i] = -x
    return out


def q2mpf(ctx, q) -> object:
    """A rational (Fraction or int) in the context ``ctx``, correctly rounded."""
    q = Fraction(q)
    return ctx.mpf(q.numerator) / q.denominator


def frob(ctx, A: Matrix):
    """Frobenius norm."""
    return ctx.sqrt(ctx.fsum(x * x for row in A for x in row))


def inner(ctx, A: Matrix, B: Matrix):
    """Frobenius inner product <A, B>."""
    return ctx.fdot((a, b) for ra, rb in zip(A, B) for a, b in zip(ra, rb))


def msub(A: Matrix, B: Matrix) -> Matrix:
    return [[a - b for a, b in zip(ra, rb)] for ra, rb in zip(A, B)]


def mscale(c, A: Matrix) -> Matrix:
    return [[c * a for a in r] for r in A]


def fmt_mpf(ctx, x, digits: int = REPORT_DIGITS) -> str:
    """A decimal string with ``digits`` significant digits."""
    return ctx.nstr(x, digits, strip_zeros=False) if x else "0"


class Evaluator:
    """The loss, gradient and projections of one problem in one mpmath context.

    All constants are converted once at the context's current precision; build a new Evaluator
    after changing ``ctx.dps``. Every method computes at that precision with max-shifted
    log-sum-exp, and returns plain lists of mpf.
    """

    def __init__(self, problem: NumericProblem, exact: ExactData, ctx):
        self.ctx = ctx
        self.problem = problem
        self.exact = exact
        self.V, self.m, self.d = exact.V, exact.m, exact.d
        q = lambda x: q2mpf(ctx, x)  # noqa: E731
        self.H = [[q(x) for x in h] for h in exact.H]
        self.pi = [q(x) for x in exact.pi]
        self.P = [[q(x) for x in p] for p in exact.P]
        self.eta = q(problem.eta)
        self.entropy = problem.entropy.to_mpf(ctx)
        self.W_star = ([[x.to_mpf(ctx) for x in row] for row in problem.W_star]
                       if problem.W_star is not None else None)
        self.W_mm = [[q(x) for x in row] for row in problem.W_mm] if problem.W_mm is not None else None
        self.W_mm_norm = frob(ctx, self.W_mm) if self.W_mm is not None else None
        self.bits = int(ctx.prec)
        n = len(exact.F_pairs)
        with flint.ctx.workprec(self.bits):
            # P_F(W) = Bmat c with c = G^-1 b: Bmat's column i is vec(B_i) = vec((e_z - e_a) h_j^T)
            self.gram_inv = gram_inverse(exact, self.bits) if n else None
            cols = [_generator_vec(exact, p) for p in exact.F_pairs]
            self.Bmat = (flint.arb_mat(self.V * self.d, n, [cols[i][r] for r in range(self.V * self.d)
                                                            for i in range(n)]).mid() if n else None)
        self.H_cols = [[h[i] for h in self.H] for i in range(self.d)]

    # -- loss and gradient ---------------------------------------------------------------------
    def logits(self, W: Matrix) -> list[list]:
        """l_j = W h_j for every context: an m x V list."""
        fdot = self.ctx.fdot
        return [[fdot(Wv, h) for Wv in W] for h in self.H]

    def softmaxes(self, L: list[list]) -> list[list]:
        """softmax(l_j) for every context (max subtracted before exponentiating)."""
        ctx = self.ctx
        out = []
        for l in L:
            mx = max(l)
            e = [ctx.exp(x - mx) for x in l]
            tot = ctx.fsum(e)
            out.append([x / tot for x in e])
        return out

    def ce_from_logits(self, L: list[list]):
        """CE = sum_j pi_j (logsumexp(l_j) - sum_z p_{j,z} l_{j,z}) (sum_z p_{j,z} = 1)."""
        ctx = self.ctx
        terms = []
        for pij, l, p in zip(self.pi, L, self.P):
            mx = max(l)
            lse = mx + ctx.log(ctx.fsum(ctx.exp(x - mx) for x in l))
            terms.append(pij * (lse - ctx.fdot(p, l)))
        return ctx.fsum(terms)

    def ce(self, W: Matrix):
        return self.ce_from_logits(self.logits(W))

    def grad_from_softmax(self, S: list[list]) -> Matrix:
        """grad CE = sum_j pi_j (s_j - p_j) h_j^T (V x d)."""
        fdot = self.ctx.fdot
        coef = [[pij * (s[v] - p[v]) for pij, s, p in zip(self.pi, S, self.P)] for v in range(self.V)]
        return [[fdot(cv, col) for col in self.H_cols] for cv in coef]

    def grad(self, W: Matrix) -> Matrix:
        return self.grad_from_softmax(self.softmaxes(self.logits(W)))

    # -- the subspace F --------------------------------------------------------------------------
    def project_F(self, W: Matrix, L: list[list] | None = None) -> Matrix:
        """P_F(W) = sum_i c_i B_i with c = Gram^-1 (<B_i, W>)_i, at the working precision, from the
        exact Gram matrix (see ``gram_inverse``); zero when F = {0}."""
        ctx = self.ctx
        out = [[ctx.zero] * self.d for _ in range(self.V)]
        pairs = self.exact.F_pairs
        if not pairs:
            return out
        L = self.logits(W) if L is None else L
        anchors = self.exact.anchors
        b = [L[j][z] - L[j][anchors[j]] for j, z in pairs]          # <B_i, W>
        d = self.d
        with flint.ctx.workprec(self.bits):
            bv = flint.arb_mat(len(b), 1, [mpf_to_arb(x) for x in b])
            pf = self.Bmat * (self.gram_inv * bv)
            return [[arb_mid_to_mpf(ctx, pf[v * d + i, 0]) for i in range(d)] for v in range(self.V)]

    def cos_gap(self, W: Matrix):
        """1 - cos(W, W^mm) (Frobenius); None without W^mm."""
        if self.W_mm is None or not self.W_mm_norm:
            return None
        nW = frob(self.ctx, W)
        if not nW:
            return None
        return 1 - inner(self.ctx, W, self.W_mm) / (nW * self.W_mm_norm)


# ---------------------------------------------------------------------------------------------
# Backends


def _flint_bits(ctx) -> int:
    return int(ctx.prec)


def mpf_to_arb(x):
    """An mpf as an exact arb (no rounding)."""
    sign, man, exp, _ = x._mpf_
    if not man:
        return flint.arb(0)
    return flint.arb((-man if sign else man, exp))


def arb_mid_to_mpf(ctx, x):
    """The midpoint of an arb as an mpf of ``ctx`` (rounded to ctx precision)."""
    man, exp = x.mid().man_exp()
    return ctx.mpf((int(man), int(exp)))


class MpmathStepper:
    """Reference backend: one GD step = logits, softmax, gradient, update, all in mpmath.

    The per-step rounding error is *estimated* (not proven) from the standard floating-point model,
    see ``step_error_estimate``.
    """

    name = "mpmath"

    def __init__(self, ev: Evaluator, W0: Sequence[Sequence[Fraction]]):
        self.ev = ev
        self.W = [[q2mpf(ev.ctx, x) for x in row] for row in W0]
        self.error = self._init_error()

    def _init_error(self):
        # rounding the exact rational init: at most one half-ulp per entry
        ctx = self.ev.ctx
        return ctx.ldexp(frob(ctx, self.W), 1 - ctx.prec)

    def step_error_estimate(self, W: Matrix):
        """First-order model of one step's rounding error in Frobenius norm (an estimate).

        With u = 2^(1-prec): logits lose <= d u ||W|| ||h_j||, the softmax turns that into <= 2x
        that plus (V + 3) u in l1, the gradient sums m terms and the update adds u (||W|| + eta
        ||grad||); ||grad|| <= 2 sum_j pi_j ||h_j||.
        """
        ev, ctx = self.ev, self.ev.ctx
        u = ctx.ldexp(1, 1 - ctx.prec)
        nW = frob(ctx, W)
        per = ctx.fsum(p * ctx.sqrt(ctx.fsum(x * x for x in h)) *
                       (2 * ev.d * nW * ctx.sqrt(ctx.fsum(x * x for x in h)) + ev.V + 2 * ev.m + 5)
                       for p, h in zip(ev.pi, ev.H))
        return u * (nW + ev.eta * per)

    def advance(self, n: int) -> None:
        ev, eta = self.ev, self.ev.eta
        W = self.W
        for _ in range(n):
            G = ev.grad(W)
            W = [[w - eta * g for w, g in zip(rw, rg)] for rw, rg in zip(W, G)]
        self.W = W
        self.error += n * self.step_error_estimate(W)

    def current(self) -> Matrix:
        return [list(r) for r in self.W]

    def rounding(self, admissible: bool) -> "RoundingBound":
        how = ("estimated: (number of steps) x (first-order floating-point model of one step at "
               "the iterate, re-evaluated at each checkpoint), plus rounding of the initial point; "
               "summing per-step errors is justified because the exact GD map is non-expansive")
        if not admissible:
            how += " (not established here: the step is not proven admissible)"
        return RoundingBound(self.error, "estimated", how)


class FlintStepper:
    """Fast backend: python-flint ``arb_mat`` on midpoints, with a proven per-step error.

    State: Y = W^T / D (d x V) where D is the common denominator of the embeddings, so that the
    embedding matrix is an exact integer matrix Hi = D Hbar^T and logits^T = Hi Y is one product.
    One step:
        E = exp(Hi Y) entrywise,  S'_j = c_j E_j / sum(E_j)  with c_j = eta pi_j / D^2,
        Y <- mid(Y + R - Hi^T mid(S')),  R = Hi^T diag(c) P^T (exact, rounded once).
    Arb's balls enclose the exact GD map applied to the current midpoint, so the step's error in W
    (Frobenius) is at most D (sum rad(Y_ball) + max_j ||D h_j||_1 sum rad(S')) -- proven.
    No max-shift is needed in exp: arb exponents are unbounded, and the relative error of exp
    does not depend on the shift. Precision is set only inside ``flint.ctx.workprec``.
    """

    name = "flint"

    def __init__(self, ev: Evaluator, W0: Sequence[Sequence[Fraction]]):
        ex = ev.exact
        self.ev = ev
        self.bits = _flint_bits(ev.ctx)
        self.V, self.m, self.d = ex.V, ex.m, ex.d
        D = self.D = _common_denominator(ex.H)
        Hi = [[int(x * D) for x in h] for h in ex.H]                       # m x d integers
        cs = [Fraction(ev.problem.eta) * p / (D * D) for p in ex.pi]
        R = rows_of(mat(Hi, self.m, self.d).transpose()                    # Hi^T diag(c) P, exact
                    * mat([[c * p for p in row] for c, row in zip(cs, ex.P)], self.m, self.V))
        self.colmax = max(sum(abs(x) for x in row) for row in Hi)
        with flint.ctx.workprec(self.bits):
            self.Hi = flint.arb_mat(self.m, self.d, [x for row in Hi for x in row])
            self.HiT = self.Hi.transpose()
            self.c = [_arb(c) for c in cs]
            self.R = flint.arb_mat(self.d, self.V, [_arb(x) for row in R for x in row])
            Y0 = flint.arb_mat(self.d, self.V, [_arb(Fraction(W0[v][i]) / D)
                                                for i in range(self.d) for v in range(self.V)])
            self.ones_d = flint.arb_mat(1, self.d, [1] * self.d)
            self.ones_m = flint.arb_mat(1, self.m, [1] * self.m)
            self.ones_V = flint.arb_mat(self.V, 1, [1] * self.V)
            self.acc = self._radsum(Y0)
            self.Y = Y0.mid()

    def _radsum(self, X):
        """An arb whose value bounds sum of the radii of X's entries (>= Frobenius norm of them)."""
        ones_r = self.ones_d if X.nrows() == self.d else self.ones_m
        return (ones_r * X * self.ones_V)[0, 0].rad()

    def advance(self, n: int) -> None:
        V, m = self.V, self.m
        Hi, HiT, R, c, colmax = self.Hi, self.HiT, self.R, self.c, self.colmax
        od, om, oV = self.ones_d, self.ones_m, self.ones_V
        spans = [(j, j * V, (j + 1) * V) for j in range(m)]
        arb_mat = flint.arb_mat
        with flint.ctx.workprec(self.bits):
            Y, acc = self.Y, self.acc
            for _ in range(n):
                e = (Hi * Y).entries()
                out = []
                for j, lo, hi in spans:
                    row = [x.exp() for x in e[lo:hi]]
                    inv = c[j] / sum(row)
                    out += [x * inv for x in row]
                S = arb_mat(m, V, out)
                Yb = Y + (R - HiT * S.mid())
                acc += (od * Yb * oV)[0, 0].rad() + colmax * (om * S * oV)[0, 0].rad()
                Y = Yb.mid()
            self.Y, self.acc = Y, acc

    def current(self) -> Matrix:
        """The iterate W = D Y^T as mpf, converted without rounding (extra bits for the factor D)."""
        ctx = self.ev.ctx
        D = self.D
        with flint.ctx.workprec(self.bits), ctx.extraprec(D.bit_length() + 2):
            rows = [[arb_mid_to_mpf(ctx, self.Y[i, v]) * D for i in range(self.d)] for v in range(self.V)]
        return rows

    def rounding(self, admissible: bool) -> "RoundingBound":
        ctx = self.ev.ctx
        with flint.ctx.workprec(self.bits):
            total = (self.acc * self.D).upper()
        man, exp = total.mid().man_exp()
        bound = ctx.mpf((int(man), int(exp)))
        if admissible:
            kind = "proven"
            how = ("proven: arb balls enclose the exact GD map applied to each computed iterate, so "
                   "each step's deviation is at most the sum of its ball radii; the exact GD map is "
                   "non-expansive (CE convex and L-smooth, eta <= 1/lambda_max(M) <= 2/L), hence "
                   "the distance to exact-arithmetic GD after k steps is at most the sum of the "
                   "per-step radii, plus the rounding of the initial point")
        else:
            kind = "estimated"
            how = ("estimated: sum of per-step arb radii (each step is enclosed), but the step is not "
                   "proven admissible, so non-expansiveness and hence the sum bound are not "
                   "established")
        return RoundingBound(bound, kind, how)


def make_stepper(backend: str, ev: Evaluator, W0):
    if backend == "flint":
        return FlintStepper(ev, W0)
    if backend == "mpmath":
        return MpmathStepper(ev, W0)
    if backend == "float64":
        from .f64 import Float64Stepper      # imports numba: only when asked for
        return Float64Stepper(ev, W0)
    raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")


# ---------------------------------------------------------------------------------------------
# Runs


@dataclass
class RoundingBound:
    """Accumulated rounding error: ||W_computed - W_exact-GD||_F after the last step <= ``bound``.

    ``kind`` is "proven" (flint backend with an admissible step) or "estimated"; ``method`` says how.
    """

    bound: object
    kind: str
    method: str

    def to_json(self, ctx) -> dict:
        return {"bound": fmt_mpf(ctx, self.bound, 6), "kind": self.kind, "method": self.method}


@dataclass
class Checkpoint:
    """Everything recorded about the iterate W_k (values are mpf of the run's context).

    ``loss_gap`` is set only when compatible, ``proj_err`` only when W* is known, ``cos_gap`` only
    when W^mm is known; ``PF`` is P_F(W_k); ``grad`` is grad CE(W_k).
    """

    k: int
    W: Matrix
    grad: Matrix
    PF: Matrix
    ce: object
    norm: object
    loss_gap: object | None
    proj_err: object | None
    cos_gap: object | None

    def to_json(self, ctx) -> dict:
        out = {"k": self.k}
        for key in ("loss_gap", "proj_err", "cos_gap"):
            val = getattr(self, key)
            if val is not None:
                out[key] = fmt_mpf(ctx, val)
        out["norm"] = fmt_mpf(ctx, self.norm)
        return out


@dataclass
class GdRun:
    """The result of ``run_gd``: checkpoints at log-spaced k and the rounding bound."""

    eta: Fraction
    eta_admissible: bool
    iterations: int
    backend: str
    precision: int
    working_digits: int
    init_seed: int | None
    init_scale: Fraction
    checkpoints: list[Checkpoint]
    rounding: RoundingBound
    ctx: object = field(repr=False, compare=False)
    seconds: float = field(default=0.0, compare=False)
    evaluator: object = field(default=None, repr=False, compare=False)   # the Evaluator GD used

    def evaluator_for(self, problem: NumericProblem) -> Evaluator:
        """The run's own Evaluator when ``problem`` is the one it ran on, else a new one in the
        run's context (tests judge a run against a perturbed problem)."""
        if self.evaluator is not None and self.evaluator.problem is problem:
            return self.evaluator
        return Evaluator(problem, problem.exact, self.ctx)

    def init_json(self):
        if self.init_seed is None:
            return "zero"
        return {"seed": self.init_seed, "scale": fmt_q(self.init_scale)}

    def to_json(self) -> dict:
        """The certificate's ``numeric.gd`` object (no timing fields: deterministic)."""
        return {
            "eta": fmt_q(self.eta),
            "iterations": self.iterations,
            "backend": self.backend,
            "precision": self.precision,
            "working_digits": self.working_digits,
            "checkpoints": [c.to_json(self.ctx) for c in self.checkpoints],
            "rounding_bound": self.rounding.to_json(self.ctx),
            # the contract's name for the same bound (certificate.md: numeric.gd.rounding)
            "rounding": {"backend": self.backend, **self.rounding.to_json(self.ctx)},
            "init": self.init_json(),
        }

    def at(self, k: int) -> Checkpoint | None:
        for c in self.checkpoints:
            if c.k == k:
                return c
        return None


def checkpoint_schedule(n: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to n, plus n//10, n//100, n//1000 and n itself (sorted)."""
    if n < 1:
        raise ValueError(f"iterations must be at least 1, got {n}")
    ks = {n}
    p = 1
    while p <= n:
        ks.update(f * p for f in (1, 2, 5) if f * p <= n)
        p *= 10
    ks.update(n // q for q in (10, 100, 1000) if n // q >= 1)
    return sorted(ks)


def working_digits(precision: int, iterations: int) -> int:
    """Decimal digits carried: the requested ones, GUARD_DIGITS, and log10 of the step count."""
    return precision + GUARD_DIGITS + len(str(iterations))


def initial_point(V: int, d: int, seed: int | None, scale: Fraction) -> list[list[Fraction]]:
    """Zero, or exact rationals uniform on a grid of [-scale, scale] drawn by random.Random(seed)."""
    if seed is None:
        return [[Fraction(0)] * d for _ in range(V)]
    rng = random.Random(seed)
    grid = 10**6
    return [[Fraction(rng.randint(-grid, grid), grid) * Fraction(scale) for _ in range(d)]
            for _ in range(V)]


def diagnose(ev: Evaluator, k: int, W: Matrix) -> Checkpoint:
    """All checkpoint quantities of the iterate W_k, computed in mpmath at ev's precision."""
    ctx, pb = ev.ctx, ev.problem
    L = ev.logits(W)
    S = ev.softmaxes(L)
    ce = ev.ce_from_logits(L)
    PF = ev.project_F(W, L)
    proj = frob(ctx, msub(PF, ev.W_star)) if ev.W_star is not None else None
    trivial = pb.instance.is_trivial()
    cos = ev.cos_gap(W) if (pb.separable and not trivial) else None
    return Checkpoint(k=k, W=W, grad=ev.grad_from_softmax(S), PF=PF, ce=ce, norm=frob(ctx, W),
                      loss_gap=(ce - ev.entropy) if pb.compatible else None,
                      proj_err=proj, cos_gap=cos)


class GdSession:
    """A GD run that can be extended: the stepper keeps its iterate between calls of ``extend``,
    which records the checkpoints of ``checkpoint_schedule`` not reached yet. ``max_n`` (the
    longest N it may be extended to) sets the working digits, ``working_digits(precision, max_n)``."""

    def __init__(self, problem: NumericProblem, precision: int, backend: str, max_n: int,
                 init_seed: int | None = None, init_scale: Fraction = Fraction(1, 10)):
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}")
        if precision < 1:
            raise ValueError(f"precision must be at least 1 digit, got {precision}")
        self.problem, self.precision, self.backend = problem, precision, backend
        self.ctx = mpmath.MPContext()
        self.ctx.dps = working_digits(precision, max_n)
        self.ev = Evaluator(problem, problem.exact, self.ctx)
        self.init_seed, self.init_scale = init_seed, Fraction(init_scale)
        W0 = initial_point(problem.instance.V, problem.instance.d, init_seed, init_scale)
        start = time.perf_counter()
        self.stepper = make_stepper(backend, self.ev, W0)
        self.k = 0
        self.checkpoints: list[Checkpoint] = []
        self.seconds = time.perf_counter() - start    # measured: timing only, not deterministic

    def extend(self, N: int, progress: Callable[[int, int], None] | None = None) -> GdRun:
        """Step on to N (>= the current k) and return the run so far."""
        todo = [k for k in checkpoint_schedule(N) if k > self.k]
        chunk = max(1, N // PROGRESS_CALLS)
        start = time.perf_counter()
        for target in todo:
            while self.k < target:
                n = min(chunk - self.k % chunk, target - self.k)
                self.stepper.advance(n)
                self.k += n
                if progress is not None and (self.k % chunk == 0 or self.k == N):
                    progress(self.k, N)
            self.checkpoints.append(diagnose(self.ev, self.k, self.stepper.current()))
        self.seconds += time.perf_counter() - start
        pb = self.problem
        return GdRun(eta=Fraction(pb.eta), eta_admissible=pb.eta_admissible, iterations=N,
                     backend=self.backend, precision=self.precision, working_digits=self.ctx.dps,
                     init_seed=self.init_seed, init_scale=self.init_scale, checkpoints=list(self.checkpoints),
                     rounding=self.stepper.rounding(pb.eta_admissible), ctx=self.ctx, seconds=self.seconds,
                     evaluator=self.ev)


def run_gd(problem: NumericProblem, iterations: int, precision: int, backend: str = "flint",
           init_seed: int | None = None, init_scale: Fraction = Fraction(1, 10),
           progress: Callable[[int, int], None] | None = None) -> GdRun:
    """Run ``iterations`` GD steps with step ``problem.eta`` and record log-spaced checkpoints.

    Deterministic: the same arguments give the same checkpoints (both backends agree up to the
    reported rounding bounds). Works at ``working_digits(precision, iterations)`` digits in a
    local mpmath context; flint's global precision is changed only inside ``workprec`` blocks.
    ``progress(k_done, iterations)`` is called at most about PROGRESS_CALLS + len(checkpoints) times.
    """
    checkpoint_schedule(iterations)          # validates iterations before any work
    return GdSession(problem, precision, backend, iterations, init_seed, init_scale).extend(iterations, progress)
