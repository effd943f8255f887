"""Known answers in closed form, built without the exact layer (theory.md section 8).

Orthogonal embeddings h_j = c_j e_j (d >= m): with n_j = |S_j| and ||h_j||^2 = c_j^2,
  W^mm = sum_j l_j h_j^T / c_j^2,  l_{j,v} = (V - n_j)/V on S_j and -n_j/V off it,
  every inequality active with lambda_{j,v} = n_j / (V c_j^2),
  ||W^mm||^2 = sum_j n_j (V - n_j) / (V c_j^2),
  W* = sum_j l*_j h_j^T / c_j^2,  l*_{j,z} = log p_{j,z} - mean_{S_j} log p_j on S_j, 0 off it,
  F basis = all eq_pairs (each context's generators are independent and contexts are orthogonal),
  admissible step eta = 1 / max_j (pi_j c_j^2)  (lambda_max(M) for orthogonal embeddings).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from ntpverify.exactnum import LinLog
from ntpverify.instance import Instance
from ntpverify.numeric.problem import NumericProblem

F = Fraction


def orthogonal_problem(contexts, V: int, *, d: int | None = None, pi=None, eta=None,
                       name: str = "orthogonal") -> NumericProblem:
    """contexts: list of (c_j, {token index: probability}); h_j = c_j e_j in R^d."""
    m = len(contexts)
    d = m if d is None else d
    assert d >= m
    H = tuple(tuple(F(c) if i == j else F(0) for i in range(d)) for j, (c, _) in enumerate(contexts))
    P = tuple(tuple(F(p.get(v, 0)) for v in range(V)) for _, p in contexts)
    pi = tuple(F(1, m) for _ in range(m)) if pi is None else tuple(F(x) for x in pi)
    inst = Instance(name=name, vocab=tuple(f"t{v}" for v in range(V)),
                    contexts=tuple(f"c{j}" for j in range(m)), H=H, pi=pi, P=P)
    supports = inst.supports
    norms2 = [F(c) ** 2 for c, _ in contexts]

    entropy = LinLog()
    for j in range(m):
        for z in supports[j]:
            entropy = entropy + LinLog.rational(-pi[j] * P[j][z]) * LinLog.log(P[j][z])

    zero = LinLog()
    W_star = [[zero] * d for _ in range(V)]
    for j, (c, _) in enumerate(contexts):
        S = supports[j]
        mean = LinLog()
        for z in S:
            mean = mean + LinLog.rational(F(1, len(S))) * LinLog.log(P[j][z])
        for z in S:
            W_star[z][j] = (LinLog.log(P[j][z]) - mean) * LinLog.rational(1 / F(c))

    trivial = inst.is_trivial()
    W_mm = None
    norm_sq = None
    multipliers = {}
    if not trivial:
        W_mm = [[F(0)] * d for _ in range(V)]
        for j, (c, _) in enumerate(contexts):
            n = len(supports[j])
            for v in range(V):
                lv = F(V - n, V) if v in supports[j] else F(-n, V)
                W_mm[v][j] = lv / F(c)
                if v not in supports[j]:
                    multipliers[(j, v)] = F(n, V) / norms2[j]
        norm_sq = sum(F(len(S) * (V - len(S)), V) / n2 for S, n2 in zip(supports, norms2))
    lam_max = max(p * n2 for p, n2 in zip(pi, norms2))
    eta = 1 / lam_max if eta is None else F(eta)
    return NumericProblem(
        instance=inst, entropy=entropy, compatible=True, separable=not trivial,
        W_star=tuple(tuple(r) for r in W_star),
        W_mm=tuple(tuple(r) for r in W_mm) if W_mm is not None else None,
        W_mm_norm_sq=norm_sq, multipliers=multipliers, F_basis=tuple(inst.eq_pairs()),
        eta=eta, eta_admissible=eta * lam_max <= 1)


def three_orthogonal(**kw) -> NumericProblem:
    """V = 4, h = e1, e2, 2 e3; p = {a: 2/3, b: 1/3}, {b: 1/2, c: 1/2}, {a: 1}; uniform weights."""
    return orthogonal_problem([(1, {0: F(2, 3), 1: F(1, 3)}),
                               (1, {1: F(1, 2), 2: F(1, 2)}),
                               (2, {0: F(1)})], V=4, name="three-orthogonal", **kw)


def perturbed(problem: NumericProblem, which: str, eps: Fraction = F(1, 1000),
              at: tuple[int, int] = (0, 0)) -> NumericProblem:
    """A copy with W* (which="W_star") or W^mm (which="W_mm") changed by eps in one entry."""
    v, i = at
    if which == "W_star":
        rows = [list(r) for r in problem.W_star]
        rows[v][i] = rows[v][i] + LinLog.rational(eps)
        return replace(problem, W_star=tuple(tuple(r) for r in rows))
    if which == "W_mm":
        rows = [list(r) for r in problem.W_mm]
        rows[v][i] = rows[v][i] + eps
        return replace(problem, W_mm=tuple(tuple(r) for r in rows))
    if which == "entropy":
        return replace(problem, entropy=problem.entropy + LinLog.rational(eps))
    raise ValueError(which)


def _entropy(inst: Instance) -> LinLog:
    out = LinLog()
    for j, p in enumerate(inst.P):
        for x in p:
            if x:
                out = out + LinLog.rational(-inst.pi[j] * x) * LinLog.log(x)
    return out


def separable_incompatible() -> NumericProblem:
    """h_B = 2 h_A on the support {a, b} with p_A = (1/2, 1/2), p_B = (2/3, 1/3): the log-odds
    0 and log(1/2) cannot both hold (2 * 0 != log 1/2), but the off-support token c separates.
    F = span{(e_b - e_a) h_A^T}; W^mm = [1/3, 1/3, -2/3] h_A^T (only context A's constraint binds)."""
    inst = Instance(name="separable-incompatible", vocab=("a", "b", "c"), contexts=("A", "B"),
                    H=((F(1), F(0)), (F(2), F(0))), pi=(F(1, 2), F(1, 2)),
                    P=((F(1, 2), F(1, 2), F(0)), (F(2, 3), F(1, 3), F(0))))
    W_mm = ((F(1, 3), F(0)), (F(1, 3), F(0)), (F(-2, 3), F(0)))
    return NumericProblem(instance=inst, entropy=_entropy(inst), compatible=False, separable=True,
                          W_star=None, W_mm=W_mm, W_mm_norm_sq=F(2, 3),
                          multipliers={(0, 2): F(2, 3)}, F_basis=((0, 1),), eta=F(2, 5),
                          eta_admissible=True)


def compatible_nonseparable() -> NumericProblem:
    """Contexts A, B share h = e1 with opposite one-hot next tokens (a vs b, weights 1/2 vs 1/4):
    not separable, F = {0}, W* = 0 (compatible). Context C (h = e2, next a) is separable on its
    own and drives ||W_k|| to infinity. Expected: w_a - w_b -> log 2 on e1, and
    inf CE = (3/4) H(2/3, 1/3) = (3/4) (log 3 - (2/3) log 2) > H = 0."""
    inst = Instance(name="compatible-nonseparable", vocab=("a", "b"), contexts=("A", "B", "C"),
                    H=((F(1), F(0)), (F(1), F(0)), (F(0), F(1))), pi=(F(1, 2), F(1, 4), F(1, 4)),
                    P=((F(1), F(0)), (F(0), F(1)), (F(1), F(0))))
    zero = LinLog()
    return NumericProblem(instance=inst, entropy=_entropy(inst), compatible=True, separable=False,
                          W_star=((zero, zero), (zero, zero)), W_mm=None, W_mm_norm_sq=None,
                          multipliers={}, F_basis=(), eta=F(4, 3), eta_admissible=True)


def three_contexts(eta=F(1, 2)) -> NumericProblem:
    """The worked example of the case-format contract (cases/three-contexts.yaml): contexts A, B
    orthogonal, C = A + B + e3 one-hot on a. Hand-derived: H = log(3)/3 + log(2)/9,
    W* = log(2)/2 (e_a - e_b) e1^T, W^mm as in the contract (margin 1/2, ||W^mm||^2 = 4), the unique
    KKT multipliers lambda = 1/2, 1/2, 3/2, 1/2, 1 on (A,c), (A,d), (B,a), (B,d), (C,b) and 0 on the
    weakly active (C,c) (a degenerate case). lambda_max(M) = (4 + sqrt 7)/9 < 1, so eta = 1/2 is
    admissible."""
    inst = Instance(name="three-contexts", vocab=("a", "b", "c", "d"), contexts=("A", "B", "C"),
                    H=((F(1), F(0), F(0)), (F(0), F(1), F(0)), (F(1), F(1), F(1))),
                    pi=(F(1, 3),) * 3,
                    P=((F(2, 3), F(1, 3), F(0), F(0)), (F(0), F(1, 2), F(1, 2), F(0)),
                       (F(1), F(0), F(0), F(0))))
    half_log2 = LinLog.rational(F(1, 2)) * LinLog.log(F(2))
    z = LinLog()
    W_star = ((half_log2, z, z), (-half_log2, z, z), (z, z, z), (z, z, z))
    W_mm = ((F(1, 2), F(-1, 2), F(1)), (F(1, 2), F(1, 2), F(-1)),
            (F(-1, 2), F(1, 2), F(0)), (F(-1, 2), F(-1, 2), F(0)))
    mult = {(0, 2): F(1, 2), (0, 3): F(1, 2), (1, 0): F(3, 2), (1, 3): F(1, 2), (2, 1): F(1)}
    return NumericProblem(instance=inst, entropy=_entropy(inst), compatible=True, separable=True,
                          W_star=W_star, W_mm=W_mm, W_mm_norm_sq=F(4), multipliers=mult,
                          F_basis=tuple(inst.eq_pairs()), eta=eta, eta_admissible=True)
