"""Gradient descent continued in log time: where its growth direction goes after the run stops.

GD's growth direction converges like k^-rho with rho often below 0.05 (theory.md 6), so no
affordable run reaches its limit. Past the transient, though, GD is its gradient flow
dW/dk = -eta grad CE(W) up to O(1/k) per unit of log k, and in log time s = log k the flow is slow
and smooth: dW/ds = -eta e^s grad CE(W). Split grad CE = sum_j pi_j (q_j - p_j) h_j^T + sum_j pi_j
r_j h_j^T with q_j the softmax of the in-support logits (the first sum lies in F: each q_j - p_j
lives on S_j and sums to 0) and r_j the out-of-support mass terms (r_{j,v} = s_{j,v} off S_j,
-m_j q_{j,z} on S_j, m_j the mass off S_j). The F-part settles like 1/k; the rest, P = P_perp(W),
moves by

    dP/ds = -eta P_perp( sum_j pi_j e^s r_j h_j^T ),

with every e^s s_{j,v} = exp(s + l_{j,v} - logsumexp l_j) computed in the log domain, O(1) for the
support constraints at any s. With the F-part frozen at the run's own last value P_F(W_N) (no
closed form enters), this ODE continues the run from k = N to k = e^1000 and beyond in a few
hundred float64 steps (scipy's LSODA; stiff directions are handled).

Two things keep it honest:

- **validation on the run**: the same continuation started at k = N/10 (F-part frozen at
  P_F(W_{N/10})) must reproduce GD's own last decade, P_perp(W_N) - P_perp(W_{N/10}), to within
  ``VALIDATION_TOL`` (relative); otherwise GD is not yet where its flow describes it and the
  continuation is not used;
- **the limit is judged with the theory's rate**: checkpoints s_i spaced so that the predicted
  contraction e^(-rho (s_i - s_i-1)) is about CONTRACTION; the growth direction over each stretch,
  unit(P(s_i) - P(s_i-1)), goes to ``estimate.estimate_limit`` with the rate model e^(-rho s)
  (degenerate instances: 1/s, never failed).

The direction of the flow's growth does not depend on where it starts (thm2 holds from any W_0)
nor on an O(1/N) error in the frozen F-part (it shifts the constants of the tail terms, not the
max-margin program that sets the direction): the continuation's start only has to be on GD's
trajectory for the evidence to be about GD.

Where the frozen F-part is the limit (near-collinear instances: P_F(W_k) still moves 1e-3 a
decade at k = 1e7, and lemma2's CE - H "needs k about 1e8"), ``FullFlow`` continues the whole of
W, F-part included: dW/ds = -eta e^s grad CE(W), stiff on F (rate ~ eta k lambda; LSODA with the
analytic Jacobian), noisy like e^s eps in float64 (tolerance FULL_RTOL, a few decades only). It
is validated on the run's last decade the same way (``validate_full``: the relative mismatch of
the move, and the absolute ones of P_F and CE, which set the floor of what it decides), and it is
also where the frozen-F continuation starts when GD itself is not yet on that flow.

The norm-ball path is continued the same way in B (``TailPath``): its stationarity with the tail
part divided by nu, solved by float64 Newton with B doubling, after it reproduced the
multiprecision path's last radius step.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.integrate import solve_ivp

from .path_reduced import one_blas_thread

RTOL, ATOL = 1e-10, 1e-12      # ODE tolerances (relative; absolute in units of W)
VALIDATION_TOL = 1e-2          # continuation vs GD over the run's last decade, relative
CONTRACTION = 0.3              # predicted error contraction between continuation checkpoints
MAX_CHECKPOINTS = 40
EXTRA_DOUBLINGS = 12           # then s doubles (to S_MAX at most) until the direction settles
FLOOR = 1e-8                   # the continued direction's precision floor: 100 x the ODE tolerance,
NOISE_FACTOR = 100             # which grows to NOISE_FACTOR eps max |logit| where the logits are large
MAX_EVALS = 50000              # right-hand sides per stretch before the continuation stops there
S_MAX = 1e5                    # log k; float64 logits of size ~1e5 ||W^mm|| keep ~1e-10 absolute


def _one_thread(fn):
    """Run ``fn`` with BLAS on one thread: these matrices are small, and on a loaded 2-core
    machine OpenBLAS's spinning threads made a continuation take 45 s instead of 1 s."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)
    return wrapper


def _lse(L: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp (-inf entries allowed, at least one finite per row)."""
    mx = L.max(axis=1)
    return mx + np.log(np.exp(L - mx[:, None]).sum(axis=1))


def support_mask(exact) -> np.ndarray:
    """m x V booleans: token v is in S_j."""
    mask = np.zeros((exact.m, exact.V), dtype=bool)
    for j, S in enumerate(exact.supports):
        mask[j, list(S)] = True
    return mask


def log_softmax_parts(L: np.ndarray, mask: np.ndarray):
    """(log s, log q): log-softmax over all tokens and over the support only (-inf off it)."""
    Ls = np.where(mask, L, -np.inf)
    return L - _lse(L)[:, None], Ls - _lse(Ls)[:, None]


def scaled_parts(L: np.ndarray, mask: np.ndarray, s: float):
    """(log s, q, o) of the logits L: the log-softmax over all tokens, the softmax over the
    support (0 off it) and the off-support softmax scaled by e^s (0 on the support), each e^s s_{j,v}
    = exp(s + log s_{j,v}) in the log domain, so O(1) at any s."""
    log_s, log_q = log_softmax_parts(L, mask)
    q = np.where(mask, np.exp(log_q), 0.0)
    o = np.where(mask, 0.0, np.exp(np.where(mask, -np.inf, s + log_s)))
    return log_s, q, o


def kron_hessian(pi: np.ndarray, K: np.ndarray, H: np.ndarray) -> np.ndarray:
    """sum_j pi_j K_j kron h_j h_j^T as a (V d) x (V d) matrix (vec of V x d, row-major): the
    Hessian in W of a sum of functions of the logits H W^T whose Hessians in the logits are K_j
    (one matrix product: m x V^2 against m x d^2)."""
    m, V, d = K.shape[0], K.shape[1], H.shape[1]
    X = (pi[:, None] * K.reshape(m, V * V)).T @ np.einsum("ji,jk->jik", H, H).reshape(m, d * d)
    return X.reshape(V, V, d, d).transpose(0, 2, 1, 3).reshape(V * d, V * d)


def tail_kernel(q: np.ndarray, o: np.ndarray, M: np.ndarray, m: np.ndarray, nu: float) -> np.ndarray:
    """e^tau x the Hessian in the logits of the tail T_j = log(1 + e^(LSE_off - LSE_S)), per
    context (m x V x V), from the in-support softmax q, the scaled off-support masses
    o = e^tau s_off, their sums M and m = nu M (nu = e^-tau): every entry O(1) at any tau."""
    eye = np.eye(q.shape[1])
    return (np.einsum("ja,ab->jab", -M[:, None] * q + o, eye)
            - ((M * m - 2 * M)[:, None, None] * np.einsum("ja,jb->jab", q, q))
            - (1 - m)[:, None, None] * (np.einsum("ja,jb->jab", q, o) + np.einsum("ja,jb->jab", o, q))
            - nu * np.einsum("ja,jb->jab", o, o))


class _Flow:
    """The instance in float64, for the log-time flows: H (m x d), pi, the support mask, eta."""

    def __init__(self, exact, eta: float):
        self.V, self.d = exact.V, exact.d
        self.H = to_array(exact.H)
        self.pi = np.array([float(x) for x in exact.pi])
        self.mask = support_mask(exact)
        self.eta = float(eta)
        self.exact = exact


class TailFlow(_Flow):
    """The log-time flow of P_perp(W) with W's F-part frozen (float64)."""

    def __init__(self, exact, eta: float, W_F: np.ndarray):
        super().__init__(exact, eta)
        self.W_F = np.asarray(W_F, dtype=float)

    @functools.cached_property
    def Q(self) -> np.ndarray:
        """An orthonormal basis of F, (V d) x dim F (built when first needed: ``scaled_tail``
        never needs it)."""
        return f_basis(self.exact)

    def perp(self, X: np.ndarray) -> np.ndarray:
        x = X.reshape(-1)
        return x - self.Q @ (self.Q.T @ x) if self.Q.shape[1] else x.copy()

    def rhs(self, s: float, p: np.ndarray) -> np.ndarray:
        W = self.W_F + p.reshape(self.V, self.d)
        _, q, off = scaled_parts(self.H @ W.T, self.mask, s)         # off: e^s s_{j,v}
        r = off - off.sum(axis=1, keepdims=True) * q                  # the sum: e^s m_j
        G = (self.pi[:, None] * r).T @ self.H          # sum_j pi_j e^s r_j h_j^T, V x d
        return -self.eta * self.perp(G)

    def jac(self, s: float, p: np.ndarray) -> np.ndarray:
        """d rhs / dp = -eta P_perp (e^s x the Hessian of the tail): LSODA's finite-difference
        Jacobian cost V d right-hand sides, each a dense projection onto F (about 275000 of them
        at V d = 1700, 164 s, on random_case.py's m = 50, d = 100, V = 17)."""
        W = self.W_F + p.reshape(self.V, self.d)
        _, q, o = scaled_parts(self.H @ W.T, self.mask, s)
        M = o.sum(axis=1)
        J = kron_hessian(self.pi, tail_kernel(q, o, M, M * math.exp(-s), math.exp(-s)), self.H)
        if self.Q.shape[1]:
            J -= self.Q @ (self.Q.T @ J)
        return -self.eta * J

    def scaled_tail(self, s: float, p: np.ndarray) -> float:
        """e^s T(W), T = sum_j pi_j log(1 + e^(LSE_off(l_j) - LSE_S(l_j))) the out-of-support part of
        CE - H (the in-support part is O(||W_F - W*||^2)), in the log domain."""
        W = self.W_F + p.reshape(self.V, self.d)
        L = self.H @ W.T
        off = np.where(self.mask, -np.inf, L)
        on = np.where(self.mask, L, -np.inf)
        x = _lse(off) - _lse(on)
        y = np.exp(x)
        factor = np.where(y > 0, np.log1p(y) / np.where(y > 0, y, 1.0), 1.0)
        return float(np.sum(self.pi * np.exp(s + x) * factor))

    def rtol(self, p: np.ndarray) -> float:
        """RTOL, or more where the logits are so large that float64 makes the right-hand side
        noisier (relative ~ eps max |logit|): a tolerance below its noise made LSODA crawl (2.4 M
        evaluations for one stretch at s ~ 5e3 on calibration seed 1117)."""
        W = self.W_F + p.reshape(self.V, self.d)
        return max(RTOL, NOISE_FACTOR * np.finfo(float).eps * float(np.abs(self.H @ W.T).max()))

    def solve(self, s0: float, p0: np.ndarray, s_points: list[float]) -> list[np.ndarray]:
        """P at each of the ascending s_points (>= s0), from P(s0) = p0; FloatingPointError when
        the solver fails or needs over MAX_EVALS right-hand sides."""
        count = [0]

        def fun(s, p):
            count[0] += 1
            if count[0] > MAX_EVALS:
                raise _TooLong
            return self.rhs(s, p)

        p_end_guess = np.asarray(p0, dtype=float).reshape(-1) * (s_points[-1] / max(s0, 1.0))
        try:
            sol = solve_ivp(fun, (s0, s_points[-1]), np.asarray(p0, dtype=float).reshape(-1), method="LSODA",
                            t_eval=s_points, rtol=self.rtol(p_end_guess), atol=ATOL, jac=self.jac)
        except _TooLong:
            raise FloatingPointError(f"log-time continuation from s = {s0:.6g} needed over {MAX_EVALS} "
                                     "right-hand sides") from None
        if sol.status != 0:
            raise FloatingPointError(f"log-time continuation stopped at s = {sol.t[-1]:.6g}: {sol.message}")
        return [sol.y[:, i] for i in range(sol.y.shape[1])]


class _TooLong(Exception):
    pass


def f_basis(exact) -> np.ndarray:
    """An orthonormal basis of F (columns, vec of V x d matrices) from its generators
    B_{j,z} = (e_z - e_{a_j}) h_j^T (float64 QR; the generators are exactly independent)."""
    V, d = exact.V, exact.d
    cols = []
    for j, z in exact.F_pairs:
        B = np.zeros((V, d))
        h = np.array([float(x) for x in exact.H[j]])
        B[z] += h
        B[exact.anchors[j]] -= h
        cols.append(B.reshape(-1))
    if not cols:
        return np.zeros((V * d, 0))
    Q, _ = np.linalg.qr(np.array(cols).T)
    return Q


def to_array(M) -> np.ndarray:
    return np.array([[float(x) for x in row] for row in M])


@_one_thread
def validate(exact, eta, W_prev: np.ndarray, PF_prev: np.ndarray, k_prev: int,
             W_last: np.ndarray, k_last: int) -> float:
    """Relative mismatch between GD's last stretch of P_perp and the continuation over it."""
    flow = TailFlow(exact, eta, PF_prev)
    p0 = flow.perp(W_prev - PF_prev)
    p1 = flow.solve(math.log(k_prev), p0, [math.log(k_last)])[-1]
    gd_move = flow.perp(W_last) - p0
    return float(np.linalg.norm(p1 - p0 - gd_move) / max(np.linalg.norm(gd_move), 1e-300))


def validation_record(axis: str, t0, t1, mismatch: float, what: str) -> dict:
    """The evidence of a continuation's validation over the run's last stretch (t0 -> t1)."""
    return {f"from_{axis}": t0, f"to_{axis}": t1, "relative_mismatch": f"{mismatch:.3g}",
            "tolerance": f"{VALIDATION_TOL:g}",
            "criterion": f"the continuation from {what} within the tolerance (relative)"}


def checkpoint_times(ss: list[float]) -> list[float]:
    """The continuation's checkpoints past its start, s = log k rounded for the evidence."""
    return [round(s, 4) for s in ss[1:]]


def next_s(s: float, rate: float | None) -> float:
    """The checkpoint after s: spaced for a contraction CONTRACTION per stretch under e^(-rate s)
    (at least one decade of k apart); doubling s when the rate is unknown (1/s)."""
    return s + max(math.log(10), -math.log(CONTRACTION) / rate) if rate else 2 * s


@_one_thread
def continue_run(exact, eta, W_N: np.ndarray, PF_N: np.ndarray, N: int,
                 rate: float | None) -> tuple[list, list, dict]:
    """(s_i, P(s_i), info) from s_0 = log N (P_perp(W_N), F-part frozen at P_F(W_N)), checkpoint
    after checkpoint (``next_s``; doubling s after MAX_CHECKPOINTS), until the growth direction
    has stopped moving (two consecutive changes below half the floor), S_MAX, or a stretch the
    solver cannot finish (then the checkpoints reached, at least three, are returned). ``info``:
    why it stopped, and the precision floor of the direction (FLOOR, or 100 x the largest ODE
    tolerance used)."""
    flow = TailFlow(exact, eta, PF_N)
    ss, Ps = [math.log(N)], [flow.perp(W_N - PF_N)]
    dirs, still = [], 0
    info = {"stopped": "the direction settled", "floor": FLOOR}
    while len(ss) <= MAX_CHECKPOINTS + EXTRA_DOUBLINGS:
        # past MAX_CHECKPOINTS without settling (the rate was slower than predicted), double s
        s = next_s(ss[-1], rate if len(ss) <= MAX_CHECKPOINTS else None)
        if s > S_MAX:
            info["stopped"] = f"S_MAX = {S_MAX:g} reached"
            break
        try:
            P = flow.solve(ss[-1], Ps[-1], [s])[-1]
        except FloatingPointError as exc:
            if len(ss) < 4:
                raise
            info["stopped"] = str(exc)       # judged on the checkpoints reached
            break
        info["floor"] = max(info["floor"], 100 * flow.rtol(P))
        Ps.append(P)
        ss.append(s)
        step = Ps[-1] - Ps[-2]
        dirs.append(step / np.linalg.norm(step))
        still = still + 1 if len(dirs) > 1 and np.linalg.norm(dirs[-1] - dirs[-2]) < info["floor"] / 2 else 0
        if still >= 2:
            break
    return ss, Ps, info


# ---------------------------------------------------------------------------------------------
# The norm-ball path continued in B (thm1)

PATH_B_MAX = 1e5               # float64 tangents lose ~1e-12 B (measured): 1e-7 here
PATH_NEWTON_TOL = 1e-13        # relative residual of the scaled stationarity, per unit of max |logit|


class TailPath(TailFlow):
    """The norm-ball path past its multiprecision radii: grad CE + nu W = 0 with the gradient
    split like the flow's, CE = CE_in (in-support part, a function of P_F(W) = Q c) + T (the tail).
    Unknowns x = (c, y, tau): W = Q c + Z y (Q, Z orthonormal bases of F and F-perp), tau = -log nu.
    Equations: Q^T (grad CE_in + grad T + nu W) = 0 (the F-part, unscaled: it pins c near W*'s
    coefficients), e^tau Z^T grad T + y = 0 (the rest, divided by nu, every e^tau-scaled tail term
    in the log domain) and ||c||^2 + ||y||^2 = B^2. The unscaled system's condition grows like
    1/nu ~ e^(B/||W^mm||); this one's like B."""

    def __init__(self, exact):
        super().__init__(exact, 1.0, np.zeros((exact.V, exact.d)))
        full, _ = np.linalg.qr(np.hstack([self.Q, np.eye(self.V * self.d)]))
        self.Z = full[:, self.Q.shape[1]:]
        self.nF = self.Q.shape[1]
        self.P_in = to_array(exact.P)

    def W_of(self, x: np.ndarray) -> np.ndarray:
        return (self.Q @ x[:self.nF] + self.Z @ x[self.nF:-1]).reshape(self.V, self.d)

    def parts(self, x: np.ndarray):
        """(q, o, M, m): in-support softmax, e^tau-scaled off-support masses, their sums M and
        the unscaled sums m = e^-tau M, per context."""
        tau = x[-1]
        _, q, o = scaled_parts(self.H @ self.W_of(x).T, self.mask, tau)
        M = o.sum(axis=1)
        return q, o, M, M * math.exp(-tau)

    def _in_W(self, coef: np.ndarray) -> np.ndarray:
        """sum_j pi_j coef_j h_j^T, flattened (coef: m x V)."""
        return ((self.pi[:, None] * coef).T @ self.H).reshape(-1)

    def residual(self, x: np.ndarray, B: float) -> np.ndarray:
        q, o, M, m = self.parts(x)
        tail = self._in_W(o - M[:, None] * q)                   # e^tau grad T
        g_in = self._in_W(q - self.P_in)                         # grad CE_in
        c, y, nu = x[:self.nF], x[self.nF:-1], math.exp(-x[-1])
        rF = self.Q.T @ (g_in + nu * tail) + nu * c
        rZ = self.Z.T @ tail + y
        return np.concatenate([rF, rZ, [c @ c + y @ y - B * B]])

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        q, o, M, m = self.parts(x)
        nu = math.exp(-x[-1])
        K_in = np.einsum("ja,ab->jab", q, np.eye(self.V)) - np.einsum("ja,jb->jab", q, q)
        # Hessian of CE_in; e^tau x Hessian of T
        H_in, H_t = (kron_hessian(self.pi, K, self.H) for K in (K_in, tail_kernel(q, o, M, m, nu)))
        tail = self._in_W(o - M[:, None] * q)
        QZ = np.hstack([self.Q, self.Z])
        nF, nZ = self.nF, self.Z.shape[1]
        J = np.zeros((nF + nZ + 1, nF + nZ + 1))
        J[:nF, :-1] = self.Q.T @ (H_in + nu * H_t) @ QZ
        J[:nF, :nF] += nu * np.eye(nF)
        J[:nF, -1] = -nu * (self.Q.T @ tail + x[:nF]) + nu * (self.Q.T @ tail)   # d/dtau (nu = e^-tau)
        J[nF:-1, :-1] = self.Z.T @ H_t @ QZ
        J[nF:-1, nF:-1] += np.eye(nZ)
        J[nF:-1, -1] = self.Z.T @ tail
        J[-1, :-1] = 2 * x[:-1]
        return J

    def matched_tau(self, x: np.ndarray) -> np.ndarray:
        """x with tau shifted so that the largest scaled tail term, pi_j e^tau s_{j,v} ||h_j||, is
        about ||y|| (in the log domain: at a guessed x the terms may all underflow)."""
        log_s, _ = log_softmax_parts(self.H @ self.W_of(x).T, self.mask)
        size = np.log(self.pi)[:, None] + np.log(np.linalg.norm(self.H, axis=1))[:, None] + log_s
        top = float(np.max(np.where(self.mask, -np.inf, size)))
        out = x.copy()
        if np.isfinite(top):
            out[-1] = math.log(max(np.linalg.norm(x[self.nF:-1]), 1e-300)) - top
        return out

    def solve(self, B: float, x: np.ndarray, max_steps: int = 60) -> np.ndarray:
        """Newton (halving steps while the weighted residual does not fall) from the guess x, whose
        tau is first shifted so that the scaled tail term matches y in size."""
        x = self.matched_tau(x)
        nF, nZ = self.nF, self.Z.shape[1]
        for _ in range(max_steps):
            r = self.residual(x, B)
            # float64 logits of size |L| carry an absolute error ~ eps |L|, relative on each term
            noise = PATH_NEWTON_TOL * max(1.0, float(np.abs(self.H @ self.W_of(x).T).max()))
            w = np.concatenate([np.full(nF, 1.0), np.full(nZ, 1 / max(B, 1.0)), [1 / max(1.0, B * B)]])
            if np.abs(r * w).max() <= noise:
                return x
            step = np.linalg.solve(self.jacobian(x), -r)
            t, base = 1.0, np.linalg.norm(r * w)
            while t > 1e-6:
                x2 = x + t * step
                with np.errstate(all="ignore"):          # a trial step may overflow: inf is not < base
                    r2 = self.residual(x2, B)
                    smaller = np.linalg.norm(r2 * w) < base      # False on nan
                if smaller:
                    break
                t /= 2
            else:
                raise FloatingPointError(f"path continuation: Newton line search failed at B = {B:.6g}")
            x = x2
        raise FloatingPointError(f"path continuation: Newton did not converge at B = {B:.6g}")

    def tangent(self, x: np.ndarray, B: float) -> np.ndarray:
        """dx/dB along the path (the Newton system differentiated in B)."""
        rhs = np.zeros(len(x))
        rhs[-1] = 2 * B
        return np.linalg.solve(self.jacobian(x), rhs)


def path_point(flow: TailPath, W: np.ndarray, tau: float) -> np.ndarray:
    """x = (c, y, tau) of a multiprecision path point (tau = -log nu, taken in the path's own
    precision: nu underflows float64 past B ~ 700 ||W^mm||)."""
    w = W.reshape(-1)
    return np.concatenate([flow.Q.T @ w, flow.Z.T @ w, [tau]])


@_one_thread
def validate_path(exact, W0: np.ndarray, tau0: float, W1: np.ndarray, B1: float) -> float:
    """Relative mismatch between the multiprecision path's last radius step W_B1 - W_B0 and the
    continuation's over it."""
    flow = TailPath(exact)
    x0 = path_point(flow, W0, tau0)
    x1 = flow.solve(B1, x0 * np.append(np.full(len(x0) - 1, B1 / max(np.linalg.norm(x0[:-1]), 1e-300)), 1.0))
    move = (W1 - W0).reshape(-1)
    return float(np.linalg.norm(flow.W_of(x1).reshape(-1) - W0.reshape(-1) - move) / max(np.linalg.norm(move), 1e-300))


@_one_thread
def continue_path(exact, W_B: np.ndarray, tau: float, B: float, min_B: float = 0.0) -> tuple[list, list, list]:
    """(B_i, unit tangent dW/dB at B_i, P_F(W_B_i) flattened): from the path's last radius, doubling B until the tangent
    stops moving (two changes below ``path_floor``) at B >= ``min_B``, MAX_CHECKPOINTS or PATH_B_MAX."""
    flow = TailPath(exact)
    x = path_point(flow, W_B, tau)
    Bs, tans, Fs, still, dx = [], [], [], 0, None
    B_prev = B
    while len(Bs) < MAX_CHECKPOINTS and 2 * B_prev <= PATH_B_MAX:
        B_new = 2 * B_prev
        # predictor: along the last tangent (linear in B), else the same point scaled
        guess = (x + (B_new - B_prev) * dx if dx is not None else
                 x * np.append(np.full(len(x) - 1, B_new / max(np.linalg.norm(x[:-1]), 1e-300)), 1.0))
        x = flow.solve(B_new, guess)
        dx = flow.tangent(x, B_new)
        t = (flow.Q @ dx[:flow.nF] + flow.Z @ dx[flow.nF:-1])
        tans.append(t / np.linalg.norm(t))
        Fs.append(flow.Q @ x[:flow.nF])
        Bs.append(B_new)
        B_prev = B_new
        still = still + 1 if len(tans) > 1 and np.linalg.norm(tans[-1] - tans[-2]) < path_floor(B_new) else 0
        if still >= 2 and B_new >= min_B:
            break
    return Bs, tans, Fs


def path_floor(B: float) -> float:
    """The continued tangent's precision floor at radius B: FLOOR + 1e-11 B (float64 noise grows
    like B: 2e-8..5e-7 measured at B = 1e5 on calibration seeds 8, 14)."""
    return FLOOR + 1e-11 * B


# ---------------------------------------------------------------------------------------------
# The whole of W continued in log time (lemma2's CE - H and thm2's P_F(W_k) -> W*)

FULL_RTOL = 1e-8               # against 1e-10, two decades past k = 1e7 on calibration seeds 4005, 4015, 4155,
                               # 4165: P_F within 1.1e-10, CE within 1.4e-12; 0.01-0.02 s against 0.03-0.25 s
                               # (and 1e-10 ran out of right-hand sides on seed 4295)
FULL_DECADES = 3               # the continuation's length past the run, in decades of k
FULL_MAX_EVALS = 20000         # right-hand sides per decade before the continuation stops there
FULL_MAX_SIZE = 800            # V d above which the dense Jacobian (V d)^2 is not worth building


class FullFlow(_Flow):
    """GD's gradient flow in log time for the whole of W, F-part included (float64):

        dW/ds = -eta e^s grad CE(W) = -eta [sum_j pi_j e^s (q_j - p_j) h_j^T + sum_j pi_j e^s r_j h_j^T]

    (q_j, r_j as in ``TailFlow``; the second sum in the log domain). The F-part is stiff (its rate
    is ~ eta k lambda), so LSODA gets the analytic Jacobian -eta sum_j pi_j e^s (diag sigma_j -
    sigma_j sigma_j^T) kron h_j h_j^T (sigma_j the full softmax). The first sum carries float64
    noise ~ e^s eps, which is why the tolerance is FULL_RTOL and the continuation is short."""

    def __init__(self, exact, eta):
        super().__init__(exact, eta)
        self.P = to_array(exact.P)

    def _parts(self, s: float, w: np.ndarray):
        return scaled_parts(self.H @ w.reshape(self.V, self.d).T, self.mask, s)

    def rhs(self, s: float, w: np.ndarray) -> np.ndarray:
        _, q, off = self._parts(s, w)
        g = math.exp(s) * (q - self.P) + off - off.sum(axis=1, keepdims=True) * q
        return -self.eta * ((self.pi[:, None] * g).T @ self.H).reshape(-1)

    def jac(self, s: float, w: np.ndarray) -> np.ndarray:
        log_s, _, _ = self._parts(s, w)
        sig = np.exp(s + log_s)                                     # e^s sigma_j (full softmax)
        K = np.einsum("jv,vu->jvu", sig, np.eye(self.V)) - math.exp(-s) * np.einsum("jv,ju->jvu", sig, sig)
        return -self.eta * kron_hessian(self.pi, K, self.H)

    def ce(self, w: np.ndarray) -> float:
        """CE(W) = sum_j pi_j (-sum_v p_{j,v} log q_{j,v} + log(1 + e^(LSE_off - LSE_S))), the
        off-support mass in the log domain."""
        L = self.H @ w.reshape(self.V, self.d).T
        _, log_q = log_softmax_parts(L, self.mask)
        x = _lse(np.where(self.mask, -np.inf, L)) - _lse(np.where(self.mask, L, -np.inf))
        inner = -np.sum(np.where(self.P > 0, self.P * np.where(self.mask, log_q, 0.0), 0.0), axis=1)
        return float(np.sum(self.pi * (inner + np.logaddexp(0.0, x))))

    def solve(self, s0: float, w0: np.ndarray, s_points: list[float]) -> list[np.ndarray]:
        """W at each ascending s_point from W(s0) = w0 (flattened); FloatingPointError when the
        solver fails or needs over FULL_MAX_EVALS right-hand sides a decade."""
        count, cap = [0], FULL_MAX_EVALS * max(1.0, (s_points[-1] - s0) / math.log(10))

        def fun(s, w):
            count[0] += 1
            if count[0] > cap:
                raise _TooLong
            return self.rhs(s, w)

        w0 = np.asarray(w0, dtype=float).reshape(-1)
        atol = ATOL * max(1.0, float(np.linalg.norm(w0)))
        try:
            sol = solve_ivp(fun, (s0, s_points[-1]), w0, method="LSODA", t_eval=s_points, jac=self.jac,
                            rtol=FULL_RTOL, atol=atol)
        except _TooLong:
            raise FloatingPointError(f"log-time continuation of W from s = {s0:.6g} needed over "
                                     f"{int(cap)} right-hand sides") from None
        if sol.status != 0:
            raise FloatingPointError(f"log-time continuation of W stopped at s = {sol.t[-1]:.6g}: {sol.message}")
        return [sol.y[:, i] for i in range(sol.y.shape[1])]


@_one_thread
def validate_full(exact, eta, W_prev: np.ndarray, k_prev: int, W_last: np.ndarray, k_last: int,
                  Q: np.ndarray, ce_last: float) -> dict:
    """The whole-W flow started at GD's W_prev against GD's own W_last: the relative mismatch of
    the move W_last - W_prev, and the absolute mismatches of P_F(W_last) (Q: an orthonormal basis
    of F) and of CE(W_last)."""
    flow = FullFlow(exact, eta)
    w1 = flow.solve(math.log(k_prev), W_prev, [math.log(k_last)])[-1]
    diff = w1 - W_last.reshape(-1)
    move = np.linalg.norm(W_last - W_prev)
    return {"relative": float(np.linalg.norm(diff) / max(move, 1e-300)),
            "F_part": float(np.linalg.norm(Q.T @ diff)) if Q.shape[1] else 0.0,
            "ce": abs(flow.ce(w1) - ce_last)}


@_one_thread
def continue_full(exact, eta, W_N: np.ndarray, N: int, decades: int = FULL_DECADES) -> list[tuple[int, np.ndarray, float]]:
    """[(k, W_k flattened, CE(W_k))] at k = 10 N, 100 N, ... (``decades`` of them) along the
    whole-W flow from W_N; the decades reached when the solver stops early (at least one, else
    FloatingPointError)."""
    flow = FullFlow(exact, eta)
    s, w, out = math.log(N), np.asarray(W_N, dtype=float).reshape(-1), []
    for i in range(1, decades + 1):
        k = N * 10 ** i
        try:
            w = flow.solve(s, w, [math.log(k)])[-1]
        except FloatingPointError:
            if not out:
                raise
            break
        s = math.log(k)
        out.append((k, w, flow.ce(w)))
    return out
