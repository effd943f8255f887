"""Compare a case's hand derivation (its ``expect`` block) with the exact results, exactly."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from .exactnum import LinLog, fmt_q, sqrt_text, square_of
from .status import Status


@dataclass
class ExpectResult:
    key: str
    status: Status
    detail: str

    def to_json(self) -> dict:
        return {"key": self.key, "status": self.status.value, "detail": self.detail}


def _diff(expected: LinLog, actual: LinLog) -> str:
    return f"expected {expected}, got {actual} (got - expected = {actual - expected})"


def _matrix(key: str, expected, actual, what: str) -> ExpectResult:
    if actual is None:
        return ExpectResult(key, Status.FAIL, f"expected a matrix, but {what}")
    bad = []
    for r, (erow, arow) in enumerate(zip(expected, actual)):
        for c, (e, a) in enumerate(zip(erow, arow)):
            if e != a:
                bad.append(f"[{r}][{c}]: {_diff(e, a)}")
    if bad:
        more = f" (and {len(bad) - 3} more entries)" if len(bad) > 3 else ""
        return ExpectResult(key, Status.FAIL, "; ".join(bad[:3]) + more)
    return ExpectResult(key, Status.PASS, "equal entry by entry (exact)")


def _scalar(key: str, expected, actual) -> ExpectResult:
    if expected == actual:
        return ExpectResult(key, Status.PASS, f"{actual}")
    if isinstance(expected, LinLog) and isinstance(actual, LinLog):
        return ExpectResult(key, Status.FAIL, _diff(expected, actual))
    return ExpectResult(key, Status.FAIL, f"expected {expected}, got {actual}")


def check_expectations(expect: dict, ex, claims: list) -> list[ExpectResult]:
    """One result per expect key, in file order. Exact comparisons only: no tolerance anywhere."""
    out = []
    sep = ex.svm.separable
    for key, value in expect.items():
        if key == "compatible":
            out.append(_scalar(key, value, ex.compat.compatible))
        elif key == "separable":
            out.append(_scalar(key, value, sep))
        elif key == "trivial":
            out.append(_scalar(key, value, ex.trivial))
        elif key == "F_dim":
            out.append(_scalar(key, value, ex.F.dim))
        elif key == "entropy":
            out.append(_scalar(key, value, ex.H))
        elif key == "W_star":
            out.append(_matrix(key, value, ex.compat.W_star, "the instance is not compatible (no W*)"))
        elif key == "W_mm":
            actual = [[LinLog.rational(x) for x in row] for row in ex.svm.W] if sep else None
            out.append(_matrix(key, value, actual, "the instance is not separable (no W^mm)"))
        elif key == "W_mm_norm_sq":
            out.append(_scalar(key, value, LinLog.rational(ex.svm.norm_sq)) if sep else
                       ExpectResult(key, Status.FAIL, "the instance is not separable (no W^mm)"))
        elif key == "margin":
            out.append(_margin(value, ex.margin_sq))
        elif key == "support":
            if not sep:
                out.append(ExpectResult(key, Status.FAIL, "the instance is not separable (no support)"))
            else:
                out.append(_pairs(key, value, [ex.geo.label(i) for i in ex.svm.tight], "tight pairs"))
        elif key in ("stuck", "vanishing"):
            out.append(_pairs(key, value, [ex.geo.label(i) for i in getattr(ex.dec, key)], f"{key} pairs"))
        elif key == "W_hat":
            actual = ([[LinLog.rational(x) for x in row] for row in ex.dec.W_hat]
                      if ex.dec.W_hat is not None and ex.dec.vanishing else None)
            out.append(_matrix(key, value, actual, "no pair vanishes (no What)"))
        elif key == "inf_CE":
            out.append(_inf_ce(value, ex.infce))
        elif key == "claims":
            got = {c.id: c.status.value for c in claims}
            for cid, status in value.items():
                actual = got.get(cid, "not-checked")
                out.append(ExpectResult(f"claims.{cid}", Status.PASS if actual == status else Status.FAIL,
                                        f"expected {status}, got {actual}"))
    return out


def _pairs(key: str, expected, actual: list, what: str) -> ExpectResult:
    """Two sets of (context, token) pairs, compared as sets."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    ok = not missing and not extra
    detail = f"same set of {what}" if ok else f"missing {missing}, unexpected {extra}"
    return ExpectResult(key, Status.PASS if ok else Status.FAIL, detail)


def _inf_ce(expected: LinLog, bracket) -> ExpectResult:
    """Exact comparison when inf CE has an exact form; otherwise the expected value is refuted when
    it lies outside the proven bracket and reported consistent (not confirmed) inside it."""
    if bracket.expr is not None:
        return _scalar("inf_CE", expected, bracket.expr)
    import flint

    from .exact import linlog_arb

    with flint.ctx.workprec(600):
        x = linlog_arb(expected)
        if x < flint.arb(bracket.lower) or x > flint.arb(bracket.upper):
            return ExpectResult("inf_CE", Status.FAIL, f"expected {expected} lies outside the proven bracket "
                                                       f"[{bracket.lower}, {bracket.upper}]")
        if x >= flint.arb(bracket.lower) and x <= flint.arb(bracket.upper):
            return ExpectResult("inf_CE", Status.PASS, f"consistent: {expected} lies inside the proven bracket "
                                f"[{bracket.lower}, {bracket.upper}] (qbar is irrational: no exact comparison)")
    return ExpectResult("inf_CE", Status.FAIL, f"expected {expected} overlaps an end of the bracket "
                                               f"[{bracket.lower}, {bracket.upper}] at 600 bits")


def _margin(expected: LinLog, margin_sq: Fraction | None) -> ExpectResult:
    """Margins are compared through their squares: 1/||W^mm||^2 is rational."""
    if margin_sq is None:
        return ExpectResult("margin", Status.FAIL, "no finite margin (not separable, or trivial)")
    sq = square_of(expected)
    actual = sqrt_text(margin_sq)
    if sq is None:
        return ExpectResult("margin", Status.FAIL, f"expected {expected} is not c * sqrt(rational) with c >= 0; "
                                                   f"the margin is {actual}")
    if sq == margin_sq:
        return ExpectResult("margin", Status.PASS, actual)
    return ExpectResult("margin", Status.FAIL, f"expected {expected}, got {actual} "
                                               f"(squares: expected {fmt_q(sq)}, got {fmt_q(margin_sq)})")
