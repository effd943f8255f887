"""The path's Newton system in reduced coordinates, for instances too large for the dense one.

Structure used (theory.md 2-3, 5):

- **Row space.** grad CE(W) = sum_j pi_j (s_j - p_j) h_j^T has its rows in the row space of the
  embedding matrix X = Hbar^T, so W_B = -grad CE(W_B) / nu does too: W = C R, where R holds r
  linearly independent embeddings h_{p_1} .. h_{p_r} (chosen exactly: pivots of Hbar) and C is
  V x r. With k_j = R h_j (K = X R^T, m x r) and G = R R^T (both exact rationals from the exact
  Gram matrix of the embeddings), logits are l_j = C k_j and ||W||^2 = <C G, C>. The KKT system
  becomes  grad_C CE + nu C G = 0  (grad_C CE = sum_j pi_j (s_j - p_j) k_j^T),  <C G, C> = B^2:
  V r + 1 unknowns instead of V d + 1 (r = rank X <= min(m, d)), and every evaluation is a few
  flint ``arb_mat`` products of sizes V x r x m.
- **Hessian by products.** Hess_C CE = sum_j pi_j (diag(s_j) - s_j s_j^T) (x) k_j k_j^T, assembled
  with numpy in float64 (an einsum) or, block by block, as K^T diag(c) K in arb.
- **Mixed precision.** The Jacobian's condition grows like e^(B/||W^mm||) (1/nu), while the
  residual must vanish to the working precision. Newton evaluates the residual at full precision
  (arb) and solves for its step with a float64 LU of the Jacobian refactored at every iterate:
  quadratic convergence down to float64's resolution of J, then linear, each step gaining about
  16 - log10 cond(J) digits. When float64 stops contracting (cond(J) near 1e16, B near
  30 ||W^mm||) the system switches for good to Newton with the Jacobian assembled and solved in
  arb at the working precision (``high``: 5-15 s a step at V r = 500 on a loaded machine,
  against 0.05 s). The path tangent (J dx/dB = [0; B]) is solved the same way, refined with
  full-precision Jacobian products.

Nothing here decides a claim: ``path.run_path`` recomputes the KKT residuals in W coordinates
with more digits.
"""

from __future__ import annotations

import contextlib

import flint
import numpy as np

from ..errors import NoConvergence
from ..linalg import mat, pivots, to_fmpq
from .gd import arb_mid_to_mpf, mpf_to_arb, q2mpf

STALL_CONTRACTION = 0.25   # float64 has stalled when a step shrinks less than this ...
QUADRATIC_SIZE = 1e-8       # ... after a step below this (times B): Newton's own error is nil there
MAX_STEPS = 300             # Newton steps at one radius with float64 solves (0.05 s each) ...
MAX_STEPS_HIGH = 60         # ... and with arb ones (5-15 s each at V r = 500)
MAX_REFINE = 40             # iterative refinement steps of one linear solve


def one_blas_thread():
    """A context limiting BLAS to one thread: on a shared 2-core machine OpenBLAS's threads made a
    501 x 501 LU take 0.37 s instead of 0.01 s. A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def basis_rows(exact) -> list[int]:
    """Contexts whose embeddings form a basis of the row space of X (exact pivots)."""
    return pivots(mat([list(h) for h in exact.H]).transpose())


class ReducedSystem:
    """The KKT system in coordinates x = vec C (index v r + i) plus nu, at ``ctx``'s precision.

    ``newton`` returns (x, nu, steps, aux) with the Newton step below ``step_tol`` (same stopping
    rule as the dense system); ``tangent`` solves J t = [0; B]. Flat lists of mpf cross the
    interface; inside, flint ``arb_mat`` midpoints at ``ctx.prec`` bits and numpy float64.
    """

    def __init__(self, problem, exact, ctx, rows: list[int] | None = None, high: bool = False):
        self.ctx, self.exact = ctx, exact
        self.bits = int(ctx.prec)
        self.rows = basis_rows(exact) if rows is None else rows
        V, m, r = exact.V, exact.m, len(self.rows)
        self.V, self.m, self.r, self.d = V, m, r, exact.d
        self.n = V * r
        self.high = high                # True: Newton in arb (float64 no longer contracts)
        hh = exact.hh
        K = [[hh[j][p] for p in self.rows] for j in range(m)]
        G = [[hh[p][q] for q in self.rows] for p in self.rows]
        q = lambda x: flint.arb(to_fmpq(x))  # noqa: E731
        with flint.ctx.workprec(self.bits):
            self.Kt = flint.arb_mat(r, m, [q(K[j][i]) for i in range(r) for j in range(m)]).mid()
            self.PiK = flint.arb_mat(m, r, [q(exact.pi[j] * K[j][i]) for j in range(m) for i in range(r)]).mid()
            self.G = flint.arb_mat(r, r, [q(x) for row in G for x in row]).mid()
            self.P = flint.arb_mat(V, m, [q(exact.P[j][v]) for v in range(V) for j in range(m)]).mid()
            self.R = flint.arb_mat(r, exact.d, [q(x) for p in self.rows for x in exact.H[p]]).mid()
            self.pi = [q(x).mid() for x in exact.pi]
        self.Kf = np.array([[float(x) for x in row] for row in K])
        self.Gf = np.array([[float(x) for x in row] for row in G])
        self.pif = np.array([float(x) for x in exact.pi])
        self.lu = None                  # the float64 factor of the Jacobian at the current iterate

    # -- conversions -----------------------------------------------------------------------------
    def _arb(self, x) -> flint.arb_mat:
        return flint.arb_mat(self.V, self.r, [mpf_to_arb(v) for v in x])

    def _flat(self, M) -> list:
        return [arb_mid_to_mpf(self.ctx, M[a, b]) for a in range(M.nrows()) for b in range(M.ncols())]

    def W_of(self, x) -> list[list]:
        """W = C R as a V x d list of mpf."""
        with flint.ctx.workprec(self.bits):
            W = self._arb(x) * self.R
        d = self.d
        flat = self._flat(W)
        return [flat[v * d:(v + 1) * d] for v in range(self.V)]

    def tangent_W(self, t) -> list[list]:
        return self.W_of(t[:self.n])

    def predict(self, x, t, dB) -> list:
        return [a + dB * b for a, b in zip(x, t)]

    @property
    def easy_steps(self) -> int:
        """Steps at one radius below which the continuation lengthens its radius step: Newton's
        7 in arb; with float64 solves the tail converges linearly (a bounded number of digits a
        step), so more."""
        return 7 if self.high else 7 + int(self.ctx.dps) // 8

    # -- residual, Jacobian products -------------------------------------------------------------
    def residual(self, x, nu, B):
        """(F1 = grad_C CE + nu C G flat, F2 = (<C G, C> - B^2)/2, aux, scale) at full precision;
        aux = (C, C G, S) as arb matrices, scale = ||grad_C CE|| + nu ||C G|| (for the merit)."""
        V, m = self.V, self.m
        ctx = self.ctx
        with flint.ctx.workprec(self.bits):
            C = self._arb(x)
            L = C * self.Kt
            S = flint.arb_mat(V, m)
            for j in range(m):
                e = [L[v, j].exp() for v in range(V)]
                tot = sum(e[1:], e[0])
                for v in range(V):
                    S[v, j] = (e[v] / tot).mid()
            g = ((S - self.P) * self.PiK).mid()
            CG = (C * self.G).mid()
            nua = mpf_to_arb(nu)
            F1 = (g + nua * CG).mid()
            nsq = sum((CG[v, i] * C[v, i] for v in range(V) for i in range(self.r)), flint.arb(0))
            F2 = ((nsq - mpf_to_arb(B) * mpf_to_arb(B)) / 2).mid()
        gn = ctx.sqrt(ctx.fsum(y * y for y in self._flat(g)))
        cgn = ctx.sqrt(ctx.fsum(y * y for y in self._flat(CG)))
        return self._flat(F1), arb_mid_to_mpf(ctx, F2), (C, CG, S), gn + abs(nu) * cgn

    def jac_vec(self, aux, nu, t) -> list:
        """J t at full precision (Hessian-vector product, no Jacobian formed)."""
        C, CG, S = aux
        V, m, r = self.V, self.m, self.r
        with flint.ctx.workprec(self.bits):
            U = self._arb(t[:self.n])
            tn = mpf_to_arb(t[self.n])
            Lu = U * self.Kt
            Y = flint.arb_mat(V, m)
            for j in range(m):
                su = sum((S[v, j] * Lu[v, j] for v in range(1, V)), S[0, j] * Lu[0, j])
                for v in range(V):
                    Y[v, j] = (S[v, j] * (Lu[v, j] - su)).mid()
            top = (Y * self.PiK + mpf_to_arb(nu) * (U * self.G) + tn * CG).mid()
            last = sum((CG[v, i] * U[v, i] for v in range(V) for i in range(r)), flint.arb(0)).mid()
        return self._flat(top) + [arb_mid_to_mpf(self.ctx, last)]

    def _jac_f64(self, aux, nu) -> np.ndarray:
        C, CG, S = aux
        V, m, r, n = self.V, self.m, self.r, self.n
        Sf = np.array([[float(S[v, j]) for j in range(m)] for v in range(V)])
        D = np.einsum('j,vj,vu->jvu', self.pif, Sf, np.eye(V)) - np.einsum('j,vj,uj->jvu', self.pif, Sf, Sf)
        H = np.einsum('jvu,ja,jb->vaub', D, self.Kf, self.Kf, optimize=True).reshape(n, n)
        H += float(nu) * np.kron(np.eye(V), self.Gf)
        w = np.array([float(CG[v, i]) for v in range(V) for i in range(r)])
        J = np.zeros((n + 1, n + 1))
        J[:n, :n], J[:n, n], J[n, :n] = H, w, w
        return J

    def _jac_arb(self, aux, nu) -> flint.arb_mat:
        """The Jacobian in arb at the working precision: block (a, b) of the Hessian is
        K^T diag(pi_j (delta_ab s_ja - s_ja s_jb)) K."""
        C, CG, S = aux
        V, m, r, n = self.V, self.m, self.r, self.n
        nua = mpf_to_arb(nu)
        with flint.ctx.workprec(self.bits):
            J = flint.arb_mat(n + 1, n + 1)
            for a in range(V):
                for b in range(a, V):
                    c = flint.arb_mat(m, m)
                    for j in range(m):
                        c[j, j] = (S[a, j] * ((1 if a == b else 0) - S[b, j])).mid()
                    blk = (self.Kt * c * self.PiK).mid()
                    if a == b:
                        blk = (blk + nua * self.G).mid()
                    for i in range(r):
                        for k in range(r):
                            J[a * r + i, b * r + k] = blk[i, k]
                            J[b * r + k, a * r + i] = blk[i, k]
            for v in range(V):
                for i in range(r):
                    J[v * r + i, n] = CG[v, i]
                    J[n, v * r + i] = CG[v, i]
        return J

    # -- linear solves ---------------------------------------------------------------------------
    def _factor(self, aux, nu) -> None:
        import scipy.linalg     # here, not at import: 0.2 s that the small (dense) cases never need

        J = self._jac_f64(aux, nu)
        if not np.all(np.isfinite(J)):
            raise NoConvergence("the path's float64 Jacobian overflowed")
        self.lu = scipy.linalg.lu_factor(J, check_finite=False)

    def _solve64(self, rhs) -> list:
        """LU^-1 rhs with rhs scaled into float64's range (entries are mpf, possibly tiny)."""
        ctx = self.ctx
        big = max(abs(y) for y in rhs)
        if not big:
            return [ctx.zero] * len(rhs)
        import scipy.linalg

        y = scipy.linalg.lu_solve(self.lu, np.array([float(v / big) for v in rhs]), check_finite=False)
        if not np.all(np.isfinite(y)):
            raise NoConvergence("the path's float64 solve overflowed")
        return [ctx.mpf(float(v)) * big for v in y]

    def _solve_arb(self, aux, nu, rhs) -> list:
        J = self._jac_arb(aux, nu)
        with flint.ctx.workprec(self.bits):
            b = flint.arb_mat(len(rhs), 1, [mpf_to_arb(v) for v in rhs])
            try:
                x = J.solve(b, algorithm="approx")
            except ZeroDivisionError:
                raise NoConvergence("the path's Newton system is singular at this precision") from None
            return [arb_mid_to_mpf(self.ctx, x[i, 0]) for i in range(len(rhs))]

    def tangent(self, x, nu, aux, B, tol) -> list:
        """dx/dB: J t = [0; B], by float64 LU with full-precision iterative refinement until a
        correction is below ``tol`` ||t|| (arb solve when ``high``, or when a correction shrinks
        less than STALL_CONTRACTION)."""
        ctx = self.ctx
        rhs = [ctx.zero] * self.n + [B]
        if self.high:
            return self._solve_arb(aux, nu, rhs)
        self._factor(aux, nu)
        t = self._solve64(rhs)
        tn = ctx.sqrt(ctx.fsum(v * v for v in t))
        last = None
        for _ in range(MAX_REFINE):
            res = [a - b for a, b in zip(rhs, self.jac_vec(aux, nu, t))]
            c = self._solve64(res)
            t = [a + b for a, b in zip(t, c)]
            size = ctx.sqrt(ctx.fsum(v * v for v in c))
            if size <= tol * tn:
                return t
            if last is not None and size > STALL_CONTRACTION * last:
                break
            last = size
        self.high = True                # refinement stalled: float64 no longer resolves J
        return self._solve_arb(aux, nu, rhs)

    # -- Newton ----------------------------------------------------------------------------------
    def newton(self, x, nu, B, step_tol):
        """Newton at radius B from (x, nu); (x, nu, steps, aux) with the last step on x below
        ``step_tol``, or NoConvergence. The step solves the float64 Jacobian refactored at every
        iterate (0.02 s at V r = 500), or, once ``high``, the arb one. A step is damped (halved)
        until the scale-free merit max(||F1|| / scale, |F2| / B^2) decreases and nu stays above
        nu/4. Float64 is given up (``high``, for good) when its steps stop contracting: twice a
        step above STALL_CONTRACTION times the one before, where that one was already below
        QUADRATIC_SIZE B (Newton's own error negligible), or a line search failing."""
        ctx = self.ctx
        F1, F2, aux, scale = self.residual(x, nu, B)
        merit = self._merit(F1, F2, scale, B)
        last_size, stalls = None, 0
        for it in range(1, (MAX_STEPS_HIGH if self.high else MAX_STEPS) + 1):
            rhs = F1 + [F2]
            if self.high:
                delta = [-v for v in self._solve_arb(aux, nu, rhs)]
            else:
                self._factor(aux, nu)
                delta = [-v for v in self._solve64(rhs)]
            size = ctx.sqrt(ctx.fsum(v * v for v in delta[:-1]))
            if size <= step_tol and nu + delta[-1] > 0:
                x = [a + b for a, b in zip(x, delta)]
                nu = nu + delta[-1]
                return x, nu, it, self.residual(x, nu, B)[2]
            if (not self.high and last_size is not None and last_size <= QUADRATIC_SIZE * B
                    and size > STALL_CONTRACTION * last_size):
                stalls += 1
                if stalls >= 2:
                    self.high = True
                    continue
            t = ctx.one
            while True:
                nu_t = nu + t * delta[-1]
                if nu_t > nu / 4:
                    x_t = [a + t * b for a, b in zip(x, delta)]
                    F1, F2, aux_t, scale = self.residual(x_t, nu_t, B)
                    merit_t = self._merit(F1, F2, scale, B)
                    if merit_t < merit:
                        break
                t /= 2
                if t < ctx.power(2, -30):
                    break
            if t < ctx.power(2, -30):
                if self.high:
                    raise NoConvergence(f"path Newton line search failed at B = {float(B):g}")
                self.high = True        # the float64 direction is no descent direction: arb
                F1, F2, aux, scale = self.residual(x, nu, B)
                last_size = None
                continue
            last_size = size if t == 1 else None
            x, nu, aux, merit = x_t, nu_t, aux_t, merit_t
        raise NoConvergence(f"path Newton did not converge in {it} steps at B = {float(B):g}")

    def _merit(self, F1, F2, scale, B):
        ctx = self.ctx
        n1 = ctx.sqrt(ctx.fsum(v * v for v in F1))
        return max(n1 / scale if scale else n1, abs(F2) / (B * B))

    def start(self, B):
        """Steepest descent for small B: W = -B grad CE(0) / ||grad CE(0)||, nu = ||grad|| / B.
        In these coordinates grad_W = Gamma R with Gamma = grad_C G^-1."""
        ctx = self.ctx
        zero = [ctx.zero] * self.n
        F1 = self.residual(zero, ctx.zero, ctx.zero)[0]
        with flint.ctx.workprec(self.bits):
            gC = self._arb(F1)
            Gam = self.G.solve(gC.transpose(), algorithm="approx").transpose()   # G symmetric
            ng2 = sum((Gam[v, i] * gC[v, i] for v in range(self.V) for i in range(self.r)), flint.arb(0))
        gam = self._flat(Gam)
        ng = ctx.sqrt(arb_mid_to_mpf(ctx, ng2))
        if not ng:
            raise NoConvergence("grad CE(0) = 0: W = 0 minimises CE, the ball constraint never binds")
        Bm = q2mpf(ctx, B)
        return [-Bm * v / ng for v in gam], ng / Bm
