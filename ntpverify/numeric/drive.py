"""The numeric part of ``check``: gradient descent, decade by decade, until its claims are decided.

Without a fixed iteration count the run starts at N = 10^3 and multiplies N by 10 (keeping the
iterate: a decade costs 9 N more steps) while a core claim (lemma2, thm2) is still inconclusive,
or an extension is and the next decade is cheap, and while the next decade fits in the budget.
When the next decade does not fit but lemma2 or thm2 is still undecided, a final partial stretch
to 5 N (else 2 N) runs if that fits and reaches the k an undecided estimate of theirs says would
decide it: many are short of their tolerance by a factor 2 or less at the last decade ("needs k
about 1.6e+7" at N = 10^7), while a direction needing k = 1e20 is left alone and the budget to
the path. The claims then use the checkpoints 5 N / 10^4 .. 5 N (all in
``gd.checkpoint_schedule``), still a decade apart.
``iterations`` fixes N instead.

The budget is spent by a cost model, not by the clock, so that the same case gives the same
certificate on any machine and under any load (the contract's determinism): seconds per step
``step_seconds`` = a + b m V d + c m V + e m d, measured on this project's 2-core machine
(float64: numba loop 0.13-2.2 us/step on the calibration corpus, numpy loop 11-18 us/step at
m V d = 18000-85000; flint about 150x that), plus the mpmath diagnostics at each checkpoint
(``diag_seconds``); the constants below say where they come from. Not modelled: evaluating the
claims after each extension, mostly the log-time continuation (median 0.15 s at N = 10^5 on
calibration seeds 0-39, but about 10 s on seed 21 at larger N). ``scripts/calibrate.py`` prints
the wall time a run really took.

Backend ``auto``: ``float64`` when its proven rounding bound, projected from a 1000-step probe
to the longest run the budget pays for, stays ``AUTO_FACTOR`` times below the smallest tolerance
on a distance in W (thm2's, 3e-4 max(1, ||W*||)); ``flint`` otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath

from ..status import ClaimResult, Status
from . import gd
from .estimate import needed_t
from .ext_claims import ext7_claims
from .gd_claims import CORE_GD_CLAIMS, DEFAULT_TOL, gd_claims, gd_hypotheses
from .problem import NumericProblem

FIRST_N = 1000
FAILURE_N = 10**4            # length of the run the failure report describes
MAX_N = 10**9
AUTO_FACTOR = 100
EXT_DECADE_SECONDS = 5.0     # an extension alone may pay for one more decade only this cheap
# float64 seconds per step, a + b m V d + c m V + e m d (the multiply-adds; the exps and softmax;
# the numba loop's short inner loops over V) and seconds per checkpoint's mpmath diagnostics,
# a + b m V d: the tightest models nowhere below the times scripts/bench_cost_model.py measured on
# this 2-core machine (the minimum over three runs, the machine shared with other jobs), on
# calibration seeds 0-39 and random_case.py shapes up to m V d = 85000. Model / measured: numba
# median 1.15, at most 1.5 (the SIMD-friendly V = 8 runs fastest); numpy 1.13, at most 1.15;
# diagnostics 1.5, at most 2.3. Before (1.5e-7 + 1.6e-9 m V d, 5e-6 + 4.5e-10 m V d, 3e-5 m V d):
# numba 0.8-1.8 on the corpus and 1.7-2.7 at m V d 5000-15000, numpy 1.2-2.8, diagnostics 1.2-11.
STEP_NUMBA = (8.2e-8, 3.3e-10, 5.3e-9, 5.3e-9)  # m V d <= f64.NUMBA_MAX_WORK (3 % over the fit)
STEP_NUMPY = (7.8e-6, 4.6e-11, 7.1e-9, 0.0)    # the numpy loop, above
# the multiprecision backends relative to float64: flint measured 56-135 x the float64 model above
# on calibration seeds 0, 5, 21, 31 (50 digits); mpmath is run only on request
FLINT_FACTOR, MPMATH_FACTOR = 150, 1000
DIAG_SECONDS = (5.5e-4, 5.7e-6)
STRETCH_FACTORS = (5, 2)                 # the final partial stretch: N -> 5 N, else 2 N


def step_seconds(problem: NumericProblem, backend: str) -> float:
    """Modelled seconds per GD step (see the module doc)."""
    from .f64 import NUMBA_MAX_WORK
    m, V, d = problem.instance.m, problem.instance.V, problem.instance.d
    a, b, c, e = STEP_NUMBA if m * V * d <= NUMBA_MAX_WORK else STEP_NUMPY
    factor = {"float64": 1, "flint": FLINT_FACTOR}.get(backend, MPMATH_FACTOR)
    return (a + b * m * V * d + c * m * V + e * m * d) * factor


def diag_seconds(problem: NumericProblem) -> float:
    """Modelled seconds of one checkpoint's diagnostics (mpmath, whatever the backend)."""
    inst = problem.instance
    return DIAG_SECONDS[0] + DIAG_SECONDS[1] * inst.m * inst.V * inst.d


def extension_seconds(problem: NumericProblem, backend: str, N: int, N_new: int) -> float:
    """Modelled seconds to go from N to N_new steps: the steps and the checkpoints between."""
    diagnosed = sum(1 for k in gd.checkpoint_schedule(N_new) if k > N)
    return (N_new - N) * step_seconds(problem, backend) + diagnosed * diag_seconds(problem)


def decade_seconds(problem: NumericProblem, backend: str, N: int) -> float:
    """Modelled seconds to go from N to 10 N steps (9 N steps and three checkpoints)."""
    return extension_seconds(problem, backend, N, 10 * N)


def needed_ks(evidence) -> list[float]:
    """Every k that an estimate in this claim evidence says would decide it (its "needed")."""
    if isinstance(evidence, dict):
        own = needed_t(evidence)
        return ([] if own is None else [own]) + [k for v in evidence.values() for k in needed_ks(v)]
    if isinstance(evidence, list):
        return [k for v in evidence for k in needed_ks(v)]
    return []


def final_stretch(problem: NumericProblem, backend: str, N: int, left: float,
                  needed: list[float]) -> int | None:
    """The largest factor f of STRETCH_FACTORS whose extension from N fits in ``left`` modelled
    seconds (and in MAX_N) and reaches the smallest k ``needed`` by an undecided estimate; None
    when none does (a stretch that cannot decide anything leaves the budget to the path)."""
    for f in STRETCH_FACTORS:
        if (f * N <= MAX_N and needed and min(needed) <= f * N
                and extension_seconds(problem, backend, N, f * N) <= left):
            return f
    return None


DECIDED = {Status.PASS, Status.FAIL, Status.NOT_APPLICABLE, Status.NOT_CHECKED}


@dataclass
class GdOutcome:
    run: gd.GdRun
    claims: list[ClaimResult]
    schedule: list[dict]          # per decade: N, seconds so far, undecided claims
    stop_reason: str
    backend_choice: str


def smallest_tolerance() -> Fraction:
    """The smallest tolerance on a distance in W, in units of max(1, ||W*||): thm2's on P_F(W_k)
    (the loss gap's floor is the bound times ||grad CE||, far smaller; the direction's is the
    bound / ||W^mm||)."""
    return DEFAULT_TOL.proj


def choose_backend(requested: str, problem: NumericProblem, precision: int,
                   budget: float | None = None, iterations: int | None = None) -> tuple[str, str]:
    """(backend, why). ``auto`` probes float64 for 1000 steps and projects its bound to the
    longest run: ``iterations``, or the most float64 steps ``budget`` pays for (at most MAX_N)."""
    if requested != "auto":
        return requested, "requested"
    if "float64" not in gd.BACKENDS:
        return "flint", "auto: float64 backend not available"
    probe = gd.run_gd(problem, 1000, 15, backend="float64")
    per_step = probe.rounding.bound / 1000
    longest = iterations or (MAX_N if budget is None else
                             max(FIRST_N, min(MAX_N, int(budget / step_seconds(problem, "float64")))))
    projected = per_step * longest
    tol = smallest_tolerance()
    ctx = mpmath.MPContext()          # 15 digits suffice for a tolerance; never the global mpmath.mp
    ws = 1.0 if problem.W_star is None else math.sqrt(sum(float(x.to_mpf(ctx)) ** 2
                                                          for row in problem.W_star for x in row))
    limit = mpmath.mpf(tol.numerator) / tol.denominator * max(1.0, ws) / AUTO_FACTOR
    if probe.rounding.kind == "proven" and projected <= limit:
        return "float64", (f"auto: float64's proven rounding bound, {mpmath.nstr(per_step, 2)} per step, "
                           f"projected to {longest} steps ({mpmath.nstr(projected, 2)}) is {AUTO_FACTOR}x "
                           f"below the smallest tolerance on W, {mpmath.nstr(limit * AUTO_FACTOR, 2)}")
    return "flint", (f"auto: float64's rounding bound projected to {longest} steps "
                     f"({mpmath.nstr(projected, 2)}) is not {AUTO_FACTOR}x below the smallest tolerance on W "
                     f"({mpmath.nstr(limit * AUTO_FACTOR, 2)}), or not proven")


def run_gd_claims(problem: NumericProblem, *, precision: int, backend: str = "auto",
                  iterations: int | None = None, budget: float | None = None, init_seed=None,
                  init_scale=Fraction(1, 10), progress=None) -> GdOutcome:
    """Run GD (fixed ``iterations``, or adaptively within ``budget`` modelled seconds; None: no
    limit but MAX_N) and judge its claims. ``GdOutcome.schedule[-1]["modelled_seconds"]`` is what
    it spent."""
    backend, why = choose_backend(backend, problem, precision, budget, iterations)
    max_n = iterations or MAX_N
    sess = gd.GdSession(problem, precision, backend, max_n, init_seed, init_scale)
    schedule = []
    N = iterations or FIRST_N
    hyp = gd_hypotheses(problem)
    spent = extension_seconds(problem, backend, 0, N)    # the first N steps (modelled)
    stretched = None          # the stop reason, once the final partial stretch is under way
    while True:
        run = sess.extend(N, progress)
        claims = gd_claims(problem, run) + ext7_claims(problem, run)
        pending = [c.id for c in claims if c.status not in DECIDED]
        schedule.append({"N": N, "modelled_seconds": round(spent, 3), "undecided": pending})
        if iterations is not None:
            return GdOutcome(run, claims, schedule,
                             f"fixed length N = {N} (--iterations or settings.gd.iterations)", why)
        if stretched is not None:
            schedule[-1]["stretch"] = "final partial stretch (the next decade did not fit)"
            done = f"; every claim decided at N = {N}" if not pending else ""
            return GdOutcome(run, claims, schedule, stretched + done, why)
        next_cost = decade_seconds(problem, backend, N)
        if hyp is not None:
            if N < FAILURE_N and not problem.instance.is_trivial():
                spent += next_cost
                N *= 10          # the failure report describes a longer run
                continue
            # section 7's claims (extensions) may pay for more decades, when cheap and in budget
            if (not pending or 10 * N > MAX_N or next_cost > EXT_DECADE_SECONDS
                    or (budget is not None and spent + next_cost > budget)):
                return GdOutcome(run, claims, schedule, "hypotheses fail: nothing to decide" if not pending else
                                 f"paper's hypotheses fail; {', '.join(pending)} undecided at N = {N} (the next "
                                 f"decade would cost about {next_cost:.3g} s)", why)
            spent += next_cost
            N *= 10
            continue
        if not pending:
            return GdOutcome(run, claims, schedule, f"every claim decided at N = {N}", why)
        core_pending = [c for c in pending if c in CORE_GD_CLAIMS]
        if 10 * N > MAX_N:
            return GdOutcome(run, claims, schedule, f"largest N ({N}) reached", why)
        if budget is not None and spent + next_cost > budget:
            stop = f"budget: the next decade (modelled {next_cost:.3g} s) does not fit in the {budget:.3g} s left to GD"
            needed = [k for c in claims if c.id in core_pending for k in needed_ks(c.evidence)]
            f = final_stretch(problem, backend, N, budget - spent, needed)
            if f is None:
                return GdOutcome(run, claims, schedule, stop + (
                    f"; no final stretch (to 5 N or 2 N): the undecided estimates need k about "
                    f"{min(needed):.2g} or more" if needed else ""), why)
            cost = extension_seconds(problem, backend, N, f * N)
            stretched = (f"{stop}; {', '.join(core_pending)} undecided at N = {N}, so a final partial "
                         f"stretch to N = {f * N} ({f} N, modelled {cost:.3g} s) ran, the last extension")
            spent += cost
            N *= f
            continue
        if not core_pending and next_cost > EXT_DECADE_SECONDS:
            return GdOutcome(run, claims, schedule, (f"core claims decided; the next decade for "
                                                     f"{', '.join(pending)} would cost about {next_cost:.3g} s"), why)
        spent += next_cost
        N *= 10
