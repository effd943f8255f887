"""A float64 backend for gradient descent with a proven bound on its accumulated rounding error.

``Float64Stepper`` (backend name ``"float64"``) has the interface of the other steppers in
``gd.py``: ``advance(n)``, ``current()`` (the iterate as mpf, converted exactly) and
``rounding(admissible)``. One GD step, in IEEE double precision with round-to-nearest,

    L = W Hf^T (logits, m x V),  x_j = L_j - max(L_j),  e = exp(x_j),  s_j = e / sum(e),
    C_{j,v} = pif_j (s_{j,v} - Pf_{j,v}),  G = C^T Hf (V x d),  W <- W - etaf G,

where Hf, pif, Pf, etaf are the exact rational data rounded to the nearest float64. Two inner
loops compute exactly these operations: a numba-compiled loop running n steps per call (small
m*V*d, where numpy's per-call overhead dominates) and a numpy loop on preallocated buffers (large
instances). Both report, per step, the computed norm of the iterate, from which the rounding
bound below is accumulated.

Rounding bound (standard model, u = 2^-53, gamma_n = n u / (1 - n u)). T is the exact GD map
with the exact rational data; for the computed iterate W (a float64 matrix, N = ||W||_F) the step
error delta = ||fl(T)(W) - T(W)||_F is bounded term by term:

- constants: every entry of Hf, pif, Pf and etaf has relative error <= u (correct rounding);
- logits: inner products of length d (any summation order, FMA or not, as in BLAS or the numba
  loop) plus the rounding of h: |fl(l) - l| <= gamma_{d+2} ||W_v|| ||h_j||, so the logits of
  context j are off by <= gamma_{d+2} ||h_j|| N in the 2-norm over v;
- max shift: fl(l - max) = (l - max)(1 + e), |e| <= u: a logit perturbation of 2-norm
  <= u (1 + sqrt(V)) ||fl(l_j)||; softmax is 1/2-Lipschitz in the 2-norm
  (lambda_max(diag(s) - s s^T) <= 1/2), so the softmax input errors cost
  kappa_1 ||h_j|| N with kappa_1 = (gamma_{d+2} + u (1 + sqrt V)(1 + gamma_{d+2})) / 2;
- exp: ASSUMED accuracy of the platform's exp (libm in the numba loop, numpy's SIMD/SVML loop
  in the numpy loop) |fl(exp a) - exp a| <= EXP_REL u exp(a) (+ an underflow term) for a <= 0,
  with EXP_REL = 16 (8 ulp; glibc is < 1 ulp, numpy documents <= 4 ulp); tests check a sample;
- normalisation: a sum of V positive terms (gamma_{V-1}) and one division (u): each softmax
  entry has relative error <= rho_s = (1 + c u)(1 + u) / ((1 - c u)(1 - gamma_{V-1})) - 1,
  c = EXP_REL, so its vector error is <= rho_s in the 2-norm (||s||_2 <= 1);
- coefficients C: subtraction, the product with pif and the rounding of pi, p:
  ||C_j - c_j||_2 <= pi_j (||ds_j|| + u + gamma_3 (2 + rho_s + u));
- gradient: inner products of length m: ||fl(G) - G_exact||_F <= gamma_m c_C (1 + u) beta
  + (1 + u) sum_j ||C_j - c_j|| ||h_j|| + sqrt(2) u beta, with c_C = (1 + u)^3 (2 + rho_s + u),
  beta = sum_j pi_j ||h_j||, alpha = sum_j pi_j ||h_j||^2, ||G_exact|| <= sqrt(2) beta;
- update: fl(etaf G) and fl(W - X) add eta gamma_2 ||G|| and u (N + eta (1 + gamma_2) ||G||).

Collected: delta <= c0 + c1 N with (q = 1 + gamma_2 + u (1 + gamma_2))

    c1 = u + eta q (1 + u) kappa_1 alpha,
    c0 = eta q beta (gamma_m c_C (1 + u) + (1 + u)(rho_s + u + gamma_3 (2 + rho_s + u))
         + sqrt(2) u) + eta (gamma_2 + u (1 + gamma_2)) sqrt(2) beta + tau,

with tau a catch-all for underflow (every elementary operation is allowed an absolute error of
2^-1000 on top of the relative one, covering gradual underflow and flush-to-zero, amplified by
at most 4 (1 + eta)(1 + max ||h_j||)^2). The constants are computed in exact rational arithmetic
(square roots rounded up). N is the computed norm Nc of the iterate inflated by
1 / ((1 - u)(1 - gamma_{Vd})) (plus 2^-480 sqrt(Vd)); the per-call sum of Nc is computed in float64
and inflated by 1 / (1 - gamma_{n-1}); totals are accumulated in exact rationals. With an
admissible step (eta lambda_max(M) <= 1) the exact GD map is non-expansive, so
||computed W_k - exact GD W_k||_F <= ||fl(W_0) - W_0||_F + sum_{i<k} delta_i: "proven" (given
the stated exp assumption); without an admissible step the same number is only "estimated".
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np

try:  # numba is a dependency; the numpy loop is a fallback if it cannot be imported
    import numba
    from numba import njit
except Exception:  # pragma: no cover - exercised only without numba
    numba = None

U = Fraction(1, 2**53)
EXP_REL = 16                       # assumed: |fl(exp a) - exp a| <= EXP_REL * u * exp(a) (8 ulp)
TINY = Fraction(1, 2**1000)        # absolute error allowed per elementary operation (underflow)
NUMBA_MAX_WORK = 15000             # m*V*d up to which the numba loop is used (measured crossover)


def gamma(n: int) -> Fraction:
    """gamma_n = n u / (1 - n u), exactly."""
    return n * U / (1 - n * U)


def sqrt_up(q: Fraction) -> Fraction:
    """A rational >= sqrt(q) (q >= 0), within a relative 2^-60 of it."""
    q = Fraction(q)
    if q < 0:
        raise ValueError("sqrt_up of a negative number")
    if q == 0:
        return Fraction(0)
    k = 64 + max(0, (q.denominator.bit_length() - q.numerator.bit_length()) // 2 + 1)
    t = -((-q.numerator * 4**k) // q.denominator)       # ceil(q * 4^k)
    r = math.isqrt(t)
    if r * r < t:
        r += 1
    return Fraction(r, 2**k)


def float_up(q: Fraction) -> float:
    """The smallest float >= q (q finite, below the float range's top)."""
    f = float(q)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


def step_constants(exact, eta: Fraction) -> tuple[Fraction, Fraction, Fraction]:
    """(c0, c1, cN) of the per-step bound delta <= c0 + c1 N, N <= (1 + cN) Nc + 2^-480 sqrt(Vd)
    (see the module docstring), exact rationals (square roots rounded up)."""
    V, m, d = exact.V, exact.m, exact.d
    u = U
    eta = Fraction(eta)
    hn2 = [sum((x * x for x in h), Fraction(0)) for h in exact.H]
    hn = [sqrt_up(x) for x in hn2]
    alpha = sum((p * x for p, x in zip(exact.pi, hn2)), Fraction(0))
    beta = sum((p * x for p, x in zip(exact.pi, hn)), Fraction(0))
    hmax = max(hn, default=Fraction(0))
    sqV, sq2 = sqrt_up(Fraction(V)), sqrt_up(Fraction(2))
    c = EXP_REL
    gd2 = gamma(d + 2)
    kappa1 = (gd2 + u * (1 + sqV) * (1 + gd2)) / 2
    gv = gamma(max(V - 1, 0))
    hi = (1 + c * u) * (1 + u) / ((1 - c * u) * (1 - gv)) - 1
    lo = 1 - (1 - c * u) * (1 - u) / ((1 + c * u) * (1 + gv))
    rho = max(hi, lo)
    g2, g3 = gamma(2), gamma(3)
    cC = (1 + u) ** 3 * (2 + rho + u)
    q = 1 + g2 + u * (1 + g2)
    c1 = u + eta * q * (1 + u) * kappa1 * alpha
    ops = 2 * V * m * d + 6 * V * m + 3 * V * d + m + V + 1
    tau = ops * TINY * 4 * (1 + eta) * (1 + hmax) ** 2
    c0 = (eta * q * beta * (gamma(m) * cC * (1 + u) + (1 + u) * (rho + u + g3 * (2 + rho + u)) + sq2 * u)
          + eta * (g2 + u * (1 + g2)) * sq2 * beta + tau)
    cN = 1 / ((1 - u) * (1 - gamma(V * d))) - 1
    c0 += c1 * sqrt_up(Fraction(V * d)) / 2**480
    return c0, c1, cN


# ---------------------------------------------------------------------------------------------
# Inner loops. Both compute exactly the operations of the module docstring and return the float64
# sum of the computed Frobenius norms of the iterates the n steps started from.

if numba is not None:
    @njit(cache=True)
    def _numba_steps(Wt, H, P, pi, eta, n, L, e):  # pragma: no cover - compiled
        """n GD steps on Wt = W^T (d x V) in place; returns sum of fl(||W_k||_F) over the steps."""
        d, V = Wt.shape
        m = H.shape[0]
        total = 0.0
        for _ in range(n):
            nrm = 0.0
            for i in range(d):
                for v in range(V):
                    nrm += Wt[i, v] * Wt[i, v]
            total += math.sqrt(nrm)
            # logits L[j, v] = sum_i H[j, i] W[v, i]
            for j in range(m):
                for v in range(V):
                    L[j, v] = 0.0
                for i in range(d):
                    h = H[j, i]
                    for v in range(V):
                        L[j, v] += h * Wt[i, v]
            # softmax and C[j, v] = pi_j (s_{j,v} - p_{j,v}), stored back into L
            for j in range(m):
                mx = L[j, 0]
                for v in range(1, V):
                    if L[j, v] > mx:
                        mx = L[j, v]
                tot = 0.0
                for v in range(V):
                    x = math.exp(L[j, v] - mx)
                    e[v] = x
                    tot += x
                pj = pi[j]
                for v in range(V):
                    L[j, v] = pj * (e[v] / tot - P[j, v])
            # W^T[i, v] <- W^T[i, v] - eta * sum_j H[j, i] C[j, v]
            for i in range(d):
                for v in range(V):
                    e[v] = 0.0
                for j in range(m):
                    h = H[j, i]
                    for v in range(V):
                        e[v] += h * L[j, v]
                for v in range(V):
                    Wt[i, v] = Wt[i, v] - eta * e[v]
        return total
else:  # pragma: no cover
    _numba_steps = None


class _NumpyLoop:
    """The same steps with numpy on preallocated buffers (state W, V x d, C-contiguous)."""

    def __init__(self, H, P, pi, eta):
        m, d = H.shape
        V = P.shape[1]
        self.HT = np.ascontiguousarray(H.T)            # d x m
        self.H = H                                      # m x d
        self.PT = np.ascontiguousarray(P.T)            # V x m
        self.pi = pi                                    # m
        self.eta = eta
        self.L = np.empty((V, m))
        self.mx = np.empty((1, m))
        self.tot = np.empty((1, m))
        self.G = np.empty((V, d))

    def steps(self, W: np.ndarray, n: int) -> float:
        HT, H, PT, pi, eta = self.HT, self.H, self.PT, self.pi, self.eta
        L, mx, tot, G = self.L, self.mx, self.tot, self.G
        w = W.reshape(-1)
        matmul, exp, sub, mul, div = np.matmul, np.exp, np.subtract, np.multiply, np.divide
        sqrt = math.sqrt
        total = 0.0
        for _ in range(n):
            total += sqrt(float(w @ w))
            matmul(W, HT, out=L)                        # logits, V x m
            L.max(axis=0, keepdims=True, out=mx)
            sub(L, mx, out=L)
            exp(L, out=L)
            L.sum(axis=0, keepdims=True, out=tot)
            div(L, tot, out=L)                          # softmax
            sub(L, PT, out=L)
            mul(L, pi, out=L)                           # C^T, V x m
            matmul(L, H, out=G)                         # gradient, V x d
            mul(G, eta, out=G)
            sub(W, G, out=W)
        return total


class Float64Stepper:
    """GD in float64 with a proven bound on the accumulated rounding error (module docstring).

    ``loop``: "auto" (numba when m*V*d <= NUMBA_MAX_WORK and numba is available, else numpy),
    "numba" or "numpy".
    """

    name = "float64"

    def __init__(self, ev, W0: Sequence[Sequence[Fraction]], loop: str = "auto"):
        ex = ev.exact
        self.ev = ev
        self.V, self.m, self.d = ex.V, ex.m, ex.d
        self.eta = Fraction(ev.problem.eta)
        H = np.array([[float(x) for x in h] for h in ex.H], dtype=np.float64).reshape(self.m, self.d)
        P = np.array([[float(x) for x in p] for p in ex.P], dtype=np.float64).reshape(self.m, self.V)
        pi = np.array([float(x) for x in ex.pi], dtype=np.float64)
        etaf = float(self.eta)
        if loop == "auto":
            loop = "numba" if (_numba_steps is not None and self.m * self.V * self.d <= NUMBA_MAX_WORK) else "numpy"
        if loop not in ("numba", "numpy"):
            raise ValueError(f"loop {loop!r} is not one of auto, numba, numpy")
        if loop == "numba" and _numba_steps is None:
            raise ValueError("numba is not available")
        self.loop = loop
        W = np.array([[float(Fraction(x)) for x in row] for row in W0], dtype=np.float64)
        W = W.reshape(self.V, self.d)
        init_sq = sum(((Fraction(float(Fraction(x))) - Fraction(x)) ** 2 for row in W0 for x in row),
                      Fraction(0))
        self.init_error = sqrt_up(init_sq)                  # ||fl(W0) - W0||_F, rounded up
        self.c0, self.c1, self.cN = step_constants(ex, self.eta)
        self.steps_done = 0
        self.sum_error = Fraction(0)                        # sum of the per-step bounds so far
        self.finite = True
        if loop == "numba":
            self.Wt = np.ascontiguousarray(W.T)             # d x V
            self._args = (np.ascontiguousarray(H), np.ascontiguousarray(P), pi, etaf)
            self._L = np.empty((self.m, self.V))
            self._e = np.empty(self.V)
        else:
            self.W = np.ascontiguousarray(W)
            self._np = _NumpyLoop(np.ascontiguousarray(H), P, pi, etaf)

    # -- stepping -------------------------------------------------------------------------------
    def advance(self, n: int) -> None:
        if n <= 0:
            return
        if self.loop == "numba":
            H, P, pi, etaf = self._args
            total = _numba_steps(self.Wt, H, P, pi, etaf, n, self._L, self._e)
        else:
            total = self._np.steps(self.W, n)
        self.steps_done += n
        if not (self.finite and math.isfinite(total) and np.isfinite(self.matrix()).all()):
            self.finite = False
            return
        # sum of true norms <= (1 + cN) * (sum of computed norms) + n 2^-480 sqrt(Vd) (in c0);
        # the float64 sum of n nonnegative terms is >= (1 - gamma_{n-1}) times their exact sum
        norms = (1 + self.cN) * Fraction(total) / (1 - gamma(n - 1))
        self.sum_error += n * self.c0 + self.c1 * norms

    def matrix(self) -> np.ndarray:
        """The current iterate as a float64 V x d array (a view or a copy; do not modify)."""
        return self.Wt.T if self.loop == "numba" else self.W

    def current(self):
        """The iterate as V x d lists of mpf of ``ev.ctx``, converted exactly (no rounding)."""
        ctx = self.ev.ctx
        W = self.matrix()
        with ctx.workprec(max(int(ctx.prec), 60)):
            return [[ctx.mpf(float(x)) for x in row] for row in W.tolist()]

    def bound(self) -> Fraction | None:
        """The bound so far as an exact rational (None when the iterate is no longer finite)."""
        if not self.finite:
            return None
        return self.init_error + self.sum_error

    def rounding(self, admissible: bool):
        from .gd import RoundingBound
        ctx = self.ev.ctx
        b = self.bound()
        with ctx.workprec(max(int(ctx.prec), 60)):
            value = ctx.inf if b is None else ctx.mpf(float_up(b))
        common = (f"float64 GD ({self.loop} loop) against exact-arithmetic GD with the exact rational "
                  "data, standard model u = 2^-53, gamma_n = n u/(1 - n u): per step "
                  "delta_k <= c0 + c1 ||W_k||_F with c1 = u + eta q (1+u) kappa1 alpha, "
                  "kappa1 = (gamma_{d+2} + u (1+sqrt V)(1+gamma_{d+2}))/2, alpha = sum_j pi_j ||h_j||^2, "
                  "q = 1+gamma_2+u(1+gamma_2), and c0 = eta q beta (gamma_m c_C (1+u) + (1+u)(rho_s + u + "
                  "gamma_3 (2+rho_s+u)) + sqrt2 u) + eta (gamma_2 + u(1+gamma_2)) sqrt2 beta + underflow "
                  "term, beta = sum_j pi_j ||h_j||, rho_s = (1+16u)(1+u)/((1-16u)(1-gamma_{V-1})) - 1, "
                  "c_C = (1+u)^3 (2+rho_s+u); covering logits (length-d inner products, rounding of H), "
                  "the max shift, exp, the softmax sum and division, the coefficients (rounding of pi, P), "
                  "the length-m gradient sums, the update W - eta G (rounding of eta); ASSUMED: the "
                  "platform's exp has relative error <= 16u (8 ulp) and matrix products are sums of "
                  "products in some order (no Strassen); constants in exact rationals, norms and sums "
                  "inflated for their own rounding; plus ||fl(W_0) - W_0||_F. "
                  f"Here c0 = {float_up(self.c0):.3e}, c1 = {float_up(self.c1):.3e}.")
        if b is None:
            return RoundingBound(value, "estimated", "the float64 iterate overflowed (not finite); "
                                 "no bound. " + common)
        if admissible:
            kind = "proven"
            how = ("proven (given the stated exp and matmul assumptions): the exact GD map is "
                   "non-expansive (eta lambda_max(M) <= 1), so ||computed W_k - exact GD W_k||_F <= "
                   "||fl(W_0) - W_0||_F + sum_{i<k} delta_i; " + common)
        else:
            kind = "estimated"
            how = ("estimated: the per-step bounds are proven, but the step is not proven admissible, "
                   "so non-expansiveness and hence the sum bound are not established; " + common)
        return RoundingBound(value, kind, how)
