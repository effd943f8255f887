"""Exact producers for theory.md section 7: the stuck pairs E, the vanishing pairs P, and What.

Untrusted like every producer (the checker re-verifies what they return), but exact: floating
point LPs only propose, and every object that leaves this module has passed its own exact test.

- ``decompose`` splits the out-of-support pairs (j, v) into E and P with a Goldman-Tucker
  certificate: multipliers lambda >= 0 (> 0 on every pair of E), mu free, with
  sum lambda A + sum mu B = 0 (so every pair of E is an implicit equality of the cone C), and the
  point U0 = What of C with <A, U0> >= 1 > 0 on every pair of P (so no pair of P is one).
- What = argmin ||U|| s.t. U perpendicular to Fbar, <A_{j,v}, U> >= 1 on P: the NTP-SVM's
  program (``svm.solve_svm``) on a restricted geometry whose equalities are the generators of
  Fbar (the B_{j,z} and the A_{j,v} of E) and whose margin constraints are those of P.

When the instance is separable E is empty and What is W^mm: nothing is recomputed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from . import svm
from .constraints import Geometry
from .errors import InternalError
from .linalg import to_fmpq


@dataclass
class Decomposition:
    """E and P as indices into ``geo.all`` (margin constraints), with their certificate."""

    stuck: list[int]
    vanishing: list[int]
    lam: dict[int, Fraction] = field(default_factory=dict)   # pair of E -> lambda > 0
    mu: dict[int, Fraction] = field(default_factory=dict)    # generator B -> mu
    # What and its KKT multipliers (keys: indices into geo.all; hat_mu on the B's and on E)
    W_hat: list[list[Fraction]] | None = None
    W_hat_norm_sq: Fraction | None = None
    hat_lam: dict[int, Fraction] = field(default_factory=dict)
    hat_mu: dict[int, Fraction] = field(default_factory=dict)
    hat_tight: list[int] = field(default_factory=list)
    same_as_W_mm: bool = False      # separable: What is W^mm, its certificate is W^mm's
    log: list[str] = field(default_factory=list)


def decompose(geo: Geometry, sep: svm.SvmResult) -> Decomposition:
    """E, P, their certificate and What, for any instance (``sep``: the NTP-SVM's result)."""
    nE = geo.nE
    pairs = list(range(nE, len(geo.all)))
    if not pairs:
        return Decomposition([], [], log=["no out-of-support pair"])
    if sep.separable:
        return Decomposition([], pairs, W_hat=sep.W, W_hat_norm_sq=sep.norm_sq, hat_lam=dict(sep.lam),
                             hat_mu=dict(sep.mu), hat_tight=list(sep.tight), same_as_W_mm=True,
                             log=["separable: E is empty, U0 = What = W^mm"])
    log: list[str] = []
    stuck, cert = _seed(geo, log)
    while True:
        rest = [i for i in pairs if i not in set(stuck)]
        view = geo.restricted(list(range(nE)) + stuck, rest)
        res = svm.solve_svm(view)
        if res.separable:
            break
        # a Farkas combination on the view: its margin pairs are implicit equalities too
        new = {view.orig[i]: v for part in (res.farkas["lam"], res.farkas["mu"]) for i, v in part.items()}
        added = sorted(i for i, v in res.farkas["lam"].items() if v > 0)
        log.append(f"exact: {len(added)} more stuck pairs from a Farkas combination on the remaining ones")
        cert = _combine(cert, new, stuck)
        stuck = sorted(set(stuck) | {view.orig[i] for i in added})
    dec = Decomposition(stuck, rest, lam={i: cert[i] for i in stuck}, mu={i: v for i, v in cert.items() if i < nE and v},
                        log=log + [f"What: {line}" for line in res.log])
    if rest:
        dec.W_hat, dec.W_hat_norm_sq = res.W, res.norm_sq
        dec.hat_lam = {view.orig[i]: v for i, v in res.lam.items()}
        dec.hat_mu = {view.orig[i]: v for i, v in res.mu.items()}
        dec.hat_tight = sorted(view.orig[i] for i in res.tight)
    _self_check(geo, dec)
    return dec


def _seed(geo: Geometry, log: list[str]) -> tuple[list[int], dict]:
    """A first set of stuck pairs with an exact certificate, from a floating point LP (its guess
    is kept only as far as an exact multiplier vector with lambda > 0 on it is found)."""
    guess = numeric_stuck(geo)
    if guess is None:
        log.append("numeric LP for the stuck pairs failed; exact Farkas rounds only")
        return [], {}
    lam_num, mu_num = guess
    cert = svm.exact_farkas(geo, lam_num, mu_num)
    if cert is None or not svm._farkas_holds(geo, cert):
        log.append("numeric LP for the stuck pairs could not be made exact; exact Farkas rounds only")
        return [], {}
    stuck = sorted(i for i, v in cert["lam"].items() if v > 0)
    log.append(f"numeric LP (HiGHS, max sum t): {int(np.sum(lam_num > 0))} stuck pairs proposed, "
               f"{len(stuck)} certified exactly")
    return stuck, {**cert["lam"], **cert["mu"]}


def numeric_stuck(geo: Geometry):
    """(lambda, mu) from the LP max sum s, 0 <= s <= 1, s <= lambda, sum lambda A + mu B = 0
    (HiGHS): s = 1 exactly on the stuck pairs at an optimum. lambda is zeroed off them."""
    from scipy.optimize import linprog

    G = svm._dense_rows(geo)
    nE, nI = geo.nE, len(geo.I)
    n = 2 * nI + nE                                 # lambda, mu, s
    A_eq = np.hstack([G[nE:].T, G[:nE].T, np.zeros((G.shape[1], nI))])
    A_ub = np.hstack([-np.eye(nI), np.zeros((nI, nE)), np.eye(nI)])
    c = np.concatenate([np.zeros(nI + nE), -np.ones(nI)])
    bounds = [(0, 1e6)] * nI + [(None, None)] * nE + [(0, 1)] * nI
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = linprog(c, A_ub=A_ub, b_ub=np.zeros(nI), A_eq=A_eq, b_eq=np.zeros(G.shape[1]),
                          bounds=bounds, method="highs")
    except Exception:   # the numeric LP is only a hint
        return None
    if res.status != 0 or res.x is None or n != len(res.x):
        return None
    lam, mu, s = res.x[:nI], res.x[nI:nI + nE], res.x[nI + nE:]
    lam = np.where(s > 0.5, lam, 0.0)
    if not np.any(lam > 0):
        return None
    return lam, mu


def _combine(cert: dict, new: dict, stuck: list[int]) -> dict:
    """t * cert + new with t >= 1 large enough that every pair of ``stuck`` stays > 0 (both are
    combinations summing to zero, so the result is one too)."""
    t = Fraction(1)
    for i in stuck:
        if new.get(i, 0) < 0:
            t = max(t, -new[i] / cert[i] + 1)
    out = {i: t * v for i, v in cert.items()}
    for i, v in new.items():
        out[i] = out.get(i, Fraction(0)) + v
    return {i: v for i, v in out.items() if v}


def _self_check(geo: Geometry, dec: Decomposition) -> None:
    """The certificate's exact conditions, before it leaves the producer."""
    coeffs = {i: to_fmpq(v) for i, v in {**dec.lam, **dec.mu}.items()}
    identity = all(v == 0 for v in geo.values(coeffs).values()) if coeffs else not dec.stuck
    positive = all(dec.lam.get(i, 0) > 0 for i in dec.stuck)
    ok_u0 = True
    if dec.vanishing:
        coeffs = {i: to_fmpq(v) for i, v in {**dec.hat_lam, **dec.hat_mu}.items()}
        vals = geo.values(coeffs)
        ok_u0 = (all(vals[i] == 0 for i in range(geo.nE)) and all(vals[i] == 0 for i in dec.stuck)
                 and all(vals[i] >= 1 for i in dec.vanishing))
    if not (identity and positive and ok_u0):
        raise InternalError("the decomposition into stuck and vanishing pairs failed its own exact check; "
                            "this is a bug, please report the case file")
