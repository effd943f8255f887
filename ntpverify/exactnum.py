"""Exact numbers: the number grammar of case files, and values of the form
sum of c * sqrt(s) * log(q) (c rational, s square-free, q prime or absent) with a canonical text.

Why this value type and not floats or general SymPy expressions: every object the theory produces
(entropy, W*, W^mm, the margin) is such a combination, and for it equality is decidable. By Baker's
theorem 1, log 2, log 3, log 5, ... are linearly independent over the algebraic numbers, and the
square roots of distinct square-free integers are linearly independent over Q, so two values are
equal exactly when their canonical term lists are equal. Products of two logs are refused: their
independence is Schanuel-conjecture territory, and the theory never needs them.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

import flint

from .errors import BadInput

MAX_NUMBER_CHARS = 200      # one number literal
MAX_DECIMAL_EXPONENT = 400  # 1e400 is fine, 1e999999999 is refused
MAX_BITS = 20_000           # numerator or denominator of any intermediate rational
MAX_EXPR_CHARS = 4_000
MAX_EXPR_DEPTH = 60
MAX_POWER = 1_000

_NUMBER = re.compile(
    r"""^\s*(?P<sign>[+-]?)
         (?: (?P<num>\d+)\s*/\s*(?P<den>\d+)
           | (?P<int>\d*)(?:\.(?P<frac>\d*))?(?:[eE](?P<exp>[+-]?\d+))? )\s*$""",
    re.VERBOSE,
)


class ExprError(ValueError):
    """An expression or number outside the grammar; ``pos`` is the character offset if known."""

    def __init__(self, message: str, pos: int | None = None):
        super().__init__(message)
        self.pos = pos


def _check_size(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_BITS or x.denominator.bit_length() > MAX_BITS:
        raise ExprError(f"a number grows beyond {MAX_BITS} bits; refusing to continue")
    return x


def parse_number(text: object) -> Fraction:
    """The exact rational a case-file number denotes: integer, ``p/q`` or decimal literal.

    A decimal literal means exactly that decimal (``0.1`` is 1/10). Raises ExprError otherwise.
    """
    if isinstance(text, bool) or text is None:
        raise ExprError(f"expected a number, got {text!r}")
    if isinstance(text, int):
        return _check_size(Fraction(text))
    if not isinstance(text, str):
        raise ExprError(f"expected a number, got a {type(text).__name__}")
    if len(text) > MAX_NUMBER_CHARS:
        raise ExprError(f"number literal longer than {MAX_NUMBER_CHARS} characters")
    m = _NUMBER.match(text)
    if not m or (m["num"] is None and not (m["int"] or m["frac"])):
        raise ExprError(f"{text!r} is not a number (integer, p/q or decimal)")
    sign = -1 if m["sign"] == "-" else 1
    if m["num"] is not None:
        if int(m["den"]) == 0:
            raise ExprError(f"{text!r} divides by zero")
        return _check_size(sign * Fraction(int(m["num"]), int(m["den"])))
    exp = int(m["exp"] or 0)
    if abs(exp) > MAX_DECIMAL_EXPONENT:
        raise ExprError(f"exponent {exp} in {text!r} is beyond +-{MAX_DECIMAL_EXPONENT}")
    digits = (m["int"] or "") + (m["frac"] or "")
    exp -= len(m["frac"] or "")
    value = Fraction(int(digits or "0")) * Fraction(10) ** exp
    return _check_size(sign * value)


def fmt_q(x: Fraction) -> str:
    """Canonical text of a rational: ``"p/q"`` or ``"p"``."""
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


@lru_cache(maxsize=65536)
def factor_int(n: int) -> tuple[tuple[int, int], ...]:
    """Prime factorisation of a positive integer as ((p, e), ...), p increasing."""
    if n < 1:
        raise ValueError("factor_int needs a positive integer")
    if n == 1:
        return ()
    return tuple(sorted((int(p), int(e)) for p, e in flint.fmpz(n).factor()))


def log_exponents(r: Fraction) -> dict[int, int]:
    """log r = sum e_p log p: the integer exponents e_p of a positive rational."""
    if r <= 0:
        raise ExprError(f"log of a non-positive number {fmt_q(r)}")
    out: dict[int, int] = {}
    for p, e in factor_int(r.numerator):
        out[p] = out.get(p, 0) + e
    for p, e in factor_int(r.denominator):
        out[p] = out.get(p, 0) - e
    return {p: e for p, e in out.items() if e}


SQRT_FACTOR_LIMIT = 10**40   # canonical r*sqrt(s) only when factoring num*den is cheap


def sqrt_text(r: Fraction) -> str:
    """Text of sqrt(r) for a rational r >= 0: exact rational if r is a square, canonical
    r' * sqrt(s) (s square-free) when r's size allows cheap factoring, else ``sqrt(p/q)``."""
    from math import isqrt

    n, d = r.numerator, r.denominator
    if isqrt(n) ** 2 == n and isqrt(d) ** 2 == d:
        return fmt_q(Fraction(isqrt(n), isqrt(d)))
    if n * d < SQRT_FACTOR_LIMIT:
        return str(LinLog.sqrt(r))
    return f"sqrt({fmt_q(r)})"


def square_of(value: "LinLog") -> Fraction | None:
    """value^2 as a rational when value = c * sqrt(s) with c >= 0 (or 0), else None."""
    if not value.terms:
        return Fraction(0)
    if len(value.terms) != 1:
        return None
    ((s, q), c), = value.terms.items()
    if q != 1 or c < 0:
        return None
    return c * c * s


def _squarefree_split(n: int) -> tuple[int, int]:
    """n = a^2 * s with s square-free; returns (a, s)."""
    a, s = 1, 1
    for p, e in factor_int(n):
        a *= p ** (e // 2)
        if e % 2:
            s *= p
    return a, s


class LinLog:
    """An exact value sum_{(s, q)} c * sqrt(s) * log(q); q == 1 means no log factor.

    Immutable; ``terms`` maps (s, q) to a non-zero Fraction. Equality is exact equality of values.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple[int, int], Fraction] | None = None):
        self.terms = {k: v for k, v in (terms or {}).items() if v}

    # constructors
    @classmethod
    def rational(cls, x: Fraction | int) -> LinLog:
        return cls({(1, 1): Fraction(x)})

    @classmethod
    def log(cls, r: Fraction) -> LinLog:
        return cls({(1, p): Fraction(e) for p, e in log_exponents(Fraction(r)).items()})

    @classmethod
    def from_log_coeffs(cls, coeffs: dict[int, Fraction]) -> LinLog:
        """sum_q coeffs[q] * log q (q prime, or 1 for the rational part)."""
        return cls({(1, q): Fraction(c) for q, c in coeffs.items()})

    @classmethod
    def sqrt(cls, r: Fraction) -> LinLog:
        r = Fraction(r)
        if r < 0:
            raise ExprError(f"sqrt of a negative number {fmt_q(r)}")
        if r == 0:
            return cls()
        # sqrt(n/d) = sqrt(n d) / d
        a, s = _squarefree_split(r.numerator * r.denominator)
        return cls({(s, 1): Fraction(a, r.denominator)})

    # queries
    def is_rational(self) -> bool:
        return all(k == (1, 1) for k in self.terms)

    def as_rational(self) -> Fraction:
        if not self.is_rational():
            raise ExprError(f"{self} is not a rational number")
        return self.terms.get((1, 1), Fraction(0))

    def has_log(self) -> bool:
        return any(q != 1 for _, q in self.terms)

    def log_coeffs(self) -> dict[int, Fraction]:
        """For a value without square roots: {q: c} with q = 1 for the rational part."""
        if any(s != 1 for s, _ in self.terms):
            raise ExprError(f"{self} has a square root")
        return {q: c for (_, q), c in self.terms.items()}

    # arithmetic
    def __add__(self, other: LinLog) -> LinLog:
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = _check_size(out.get(k, Fraction(0)) + v)
        return LinLog(out)

    def __neg__(self) -> LinLog:
        return LinLog({k: -v for k, v in self.terms.items()})

    def __sub__(self, other: LinLog) -> LinLog:
        return self + (-other)

    def __mul__(self, other: LinLog) -> LinLog:
        out: dict[tuple[int, int], Fraction] = {}
        for (s1, q1), c1 in self.terms.items():
            for (s2, q2), c2 in other.terms.items():
                if q1 != 1 and q2 != 1:
                    raise ExprError("a product of two logarithms is outside the exact grammar")
                g = _gcd(s1, s2)
                key = ((s1 // g) * (s2 // g), q1 if q1 != 1 else q2)
                out[key] = _check_size(out.get(key, Fraction(0)) + c1 * c2 * g)
        return LinLog(out)

    def __truediv__(self, other: LinLog) -> LinLog:
        if not other.terms:
            raise ExprError("division by zero")
        if len(other.terms) != 1:
            raise ExprError("division by a sum of logarithms or square roots is not supported")
        ((s, q), c), = other.terms.items()
        if q != 1:
            raise ExprError("division by a logarithm is outside the exact grammar")
        # 1 / (c sqrt(s)) = sqrt(s) / (c s)
        return self * LinLog({(s, 1): 1 / (c * s)})

    def __pow__(self, n: int) -> LinLog:
        if abs(n) > MAX_POWER:
            raise ExprError(f"exponent {n} is beyond +-{MAX_POWER}")
        if n < 0:
            return LinLog.rational(1) / (self ** (-n))
        if n > 1 and self.has_log():
            raise ExprError("a power of a logarithm is outside the exact grammar")
        out = LinLog.rational(1)
        base = self
        while n:
            if n & 1:
                out = out * base
            n >>= 1
            if n:
                base = base * base
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinLog) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def __repr__(self) -> str:
        return f"LinLog({self})"

    def __str__(self) -> str:
        """Canonical text, parseable by ``parse_expr``: rational part first, then by prime."""
        if not self.terms:
            return "0"
        parts = []
        for (s, q) in sorted(self.terms, key=lambda k: (k[1], k[0])):
            c = self.terms[(s, q)]
            factors = ([f"sqrt({s})"] if s != 1 else []) + ([f"log({q})"] if q != 1 else [])
            mag = abs(c)
            if factors and mag == 1:
                body = "*".join(factors)
            else:
                body = "*".join([fmt_q(mag)] + factors)
            parts.append(("-" if c < 0 else "+", body))
        text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        for sign, body in parts[1:]:
            text += f" {sign} {body}"
        return text

    def to_mpf(self, ctx):
        """The value in the mpmath context ``ctx`` (at its precision)."""
        total = ctx.mpf(0)
        for (s, q), c in self.terms.items():
            term = ctx.mpf(c.numerator) / c.denominator
            if s != 1:
                term *= ctx.sqrt(s)
            if q != 1:
                term *= ctx.log(q)
            total += term
        return total

    def to_sympy(self):
        import sympy

        return sympy.Add(*[
            sympy.Rational(c.numerator, c.denominator) * sympy.sqrt(s) * (sympy.log(q) if q != 1 else 1)
            for (s, q), c in sorted(self.terms.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ])


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


# ---------------------------------------------------------------------------------------------
# The expression grammar (never evaluated as code):
#   expr  := term (('+' | '-') term)*
#   term  := unary (('*' | '/') unary)*
#   unary := ('+' | '-') unary | power
#   power := atom ('^' unary)?          the exponent must be an integer
#   atom  := NUMBER | '(' expr ')' | ('log' | 'sqrt') '(' expr ')'
# log takes a positive rational, sqrt a non-negative rational.

_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_]+)|(?P<op>[-+*/^()]))")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected character {text[pos:].lstrip()[0]!r}", pos)
        kind = m.lastgroup
        tokens.append((kind, m[kind], m.start(kind)))
        pos = m.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.i]

    def take(self, value: str | None = None):
        tok = self.tokens[self.i]
        if value is not None and tok[1] != value:
            got = tok[1] or "end of expression"
            raise ExprError(f"expected {value!r} but found {got!r}", tok[2])
        self.i += 1
        return tok

    def nested(self):
        self.depth += 1
        if self.depth > MAX_EXPR_DEPTH:
            raise ExprError(f"expression nested deeper than {MAX_EXPR_DEPTH}", self.peek()[2])

    def expr(self) -> LinLog:
        self.nested()
        value = self.term()
        while self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        self.depth -= 1
        return value

    def term(self) -> LinLog:
        value = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            pos = self.peek()[2]
            rhs = self.unary()
            try:
                value = value * rhs if op == "*" else value / rhs
            except ExprError as exc:
                raise ExprError(str(exc), pos) from None
        return value

    def unary(self) -> LinLog:
        if self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            self.nested()
            value = self.unary()
            self.depth -= 1
            return -value if op == "-" else value
        return self.power()

    def power(self) -> LinLog:
        base = self.atom()
        if self.peek()[1] == "^":
            pos = self.take()[2]
            exponent = self.unary()
            if not exponent.is_rational() or exponent.as_rational().denominator != 1:
                raise ExprError(f"exponent {exponent} is not an integer", pos)
            try:
                return base ** int(exponent.as_rational())
            except ExprError as exc:
                raise ExprError(str(exc), pos) from None
        return base

    def atom(self) -> LinLog:
        kind, value, pos = self.peek()
        if kind == "num":
            self.take()
            try:
                return LinLog.rational(parse_number(value))
            except ExprError as exc:
                raise ExprError(str(exc), pos) from None
        if value == "(":
            self.take()
            inner = self.expr()
            self.take(")")
            return inner
        if kind == "name":
            if value not in ("log", "sqrt"):
                raise ExprError(f"unknown name {value!r} (only log and sqrt are allowed)", pos)
            self.take()
            self.take("(")
            arg = self.expr()
            self.take(")")
            if not arg.is_rational():
                raise ExprError(f"{value} needs a rational argument, got {arg}", pos)
            x = arg.as_rational()
            try:
                return LinLog.log(x) if value == "log" else LinLog.sqrt(x)
            except ExprError as exc:
                raise ExprError(str(exc), pos) from None
        raise ExprError(f"unexpected {value or 'end of expression'!r}", pos)


def parse_expr(text: object) -> LinLog:
    """Parse an expectation value (number or expression) into an exact LinLog; never runs code."""
    if isinstance(text, bool) or text is None:
        raise ExprError(f"expected a number or expression, got {text!r}")
    if isinstance(text, int):
        return LinLog.rational(text)
    if not isinstance(text, str):
        raise ExprError(f"expected a number or expression, got a {type(text).__name__}")
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    parser = _Parser(text)
    value = parser.expr()
    kind, tok, pos = parser.peek()
    if kind != "end":
        raise ExprError(f"unexpected {tok!r} after a complete expression", pos)
    return value


def bad_number(exc: ExprError, where: str, place: str, line: int | None) -> BadInput:
    """Turn an ExprError into the BadInput the CLI reports."""
    msg = str(exc)
    if exc.pos is not None:
        msg += f" (at character {exc.pos + 1})"
    return BadInput(msg, where=where, place=place, line=line)
