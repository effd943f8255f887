"""Exact numbers: the number grammar of case files, and values of the form
sum of c * sqrt(s) * log(q) (c rational, s square-free, q prime or absent) with a canonical text.

Why this value type and not floats or general SymPy expressions: every object the theory produces
(entropy, W*, W^mm, the margin) is such a combination, and for it equality is decidable. By Baker's
theorem 1, log 2, log 3, log 5, ... are linearly independent over the algebraic numbers, and the
square roots of distinct square-free integers are linearly independent over Q, so two values are
equal exactly when their canonical term lists are equal. Products of two logs are refused: their
independence is Schanuel-conjecture territory, and the theory never needs them.

Bounds (what a case file may ask for; larger inputs are refused with an ExprError, never a hang or
a crash):

- MAX_BITS: the numerator and denominator of every number a case file denotes, and of every
  intermediate value while an expression is parsed, have at most 2048 bits (617 digits). So every
  value prints (Python refuses to print integers over 4300 digits) and every coefficient of a
  canonical text is a literal the parser accepts again.
- MAX_NUMBER_CHARS: one number literal has at most 1250 characters, enough for ``fmt_q`` of any
  value within MAX_BITS (``p/q``, 617 digits each), so canonical text always reads back.
- MAX_FACTOR_DIGITS: ``log(x)`` factors the numerator and the denominator of x into primes and
  ``sqrt(x)`` factors numerator * denominator, so these integers must have at most 40 digits.
  Measured with python-flint 0.9 ``fmpz.factor()`` on balanced semiprimes (the hard case) just
  below 10^40: median 0.06 s, worst 0.18 s of 100 (0.3 s on a loaded machine); 48 digits take
  about 0.4 s, 60 digits about 6 s, 81 digits minutes. A square root sqrt(s) in a value has s
  below 10^40 too, so its canonical ``sqrt(s)`` reads back.
- MAX_EXPR_CHARS: an expression has at most 4000 characters, and so does the canonical text of
  its value: ``parse_expr(str(v)) == v`` for every value ``parse_expr`` accepts.

LinLog arithmetic itself is unbounded (the exact producers build values from instance data); the
bounds above are checked by the parser on what a case file writes.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache
from math import gcd

import flint

from .errors import BadInput

MAX_NUMBER_CHARS = 1_250    # one number literal: fits fmt_q of any value within MAX_BITS
MAX_DECIMAL_EXPONENT = 400  # 1e400 is fine, 1e999999999 is refused
MAX_BITS = 2_048            # numerator or denominator of any number or parse intermediate
MAX_EXPR_CHARS = 4_000      # an expression, and the canonical text of its value
MAX_EXPR_DEPTH = 60
MAX_POWER = 1_000
MAX_FACTOR_DIGITS = 40      # integers factored for log / sqrt (at most ~0.2 s each with flint)
FACTOR_LIMIT = 10**MAX_FACTOR_DIGITS
BRIEF_DIGITS = 50           # messages show integers up to this many digits, else their size

_NUMBER = re.compile(
    r"""\s*(?P<sign>[+-]?)
         (?: (?P<num>[0-9]+)\s*/\s*(?P<den>[0-9]+)
           | (?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))? )\s*""",
    re.VERBOSE | re.ASCII,
)


class ExprError(ValueError):
    """An expression or number outside the grammar; ``pos`` is the character offset if known."""

    def __init__(self, message: str, pos: int | None = None):
        super().__init__(message)
        self.pos = pos


def _check_size(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_BITS or x.denominator.bit_length() > MAX_BITS:
        raise ExprError(f"a number grows beyond {MAX_BITS} bits (here {fmt_brief(x)}); "
                        "refusing to continue")
    return x


def parse_number(text: object) -> Fraction:
    """The exact rational a case-file number denotes: integer, ``p/q`` or decimal literal.

    A decimal literal means exactly that decimal (``0.1`` is 1/10). Only ASCII digits count.
    Raises ExprError otherwise, or if the value is beyond MAX_BITS.
    """
    if isinstance(text, bool) or text is None:
        raise ExprError(f"expected a number, got {text!r}")
    if isinstance(text, int):
        return _check_size(Fraction(text))
    if not isinstance(text, str):
        raise ExprError(f"expected a number, got a {type(text).__name__}")
    if len(text) > MAX_NUMBER_CHARS:
        raise ExprError(f"number literal longer than {MAX_NUMBER_CHARS} characters")
    return _number_text(text)


@lru_cache(maxsize=16384)
def _number_text(text: str) -> Fraction:
    """parse_number for a string of at most MAX_NUMBER_CHARS (cached: case files repeat numbers)."""
    m = _NUMBER.fullmatch(text)
    if not m or (m["num"] is None and not (m["int"] or m["frac"])):
        raise ExprError(f"{text!r} is not a number (integer, p/q or decimal)")
    sign = -1 if m["sign"] == "-" else 1
    if m["num"] is not None:
        den = int(m["den"])
        if den == 0:
            raise ExprError(f"{text!r} divides by zero")
        return _check_size(Fraction(sign * int(m["num"]), den))
    exp = int(m["exp"] or 0)
    if abs(exp) > MAX_DECIMAL_EXPONENT:
        raise ExprError(f"exponent {fmt_brief(exp)} in {text[:40]!r} is beyond +-{MAX_DECIMAL_EXPONENT}")
    frac = m["frac"] or ""
    n = sign * int((m["int"] or "") + frac or "0")
    exp -= len(frac)
    return _check_size(Fraction(n * 10**exp) if exp >= 0 else Fraction(n, 10**-exp))


def _int_text(n: int) -> str:
    """Decimal text of any int (Python's str refuses more than 4300 digits; flint does not)."""
    return str(n) if n.bit_length() <= 14_000 else str(flint.fmpz(n))


def fmt_q(x: Fraction) -> str:
    """Canonical text of a rational: ``"p/q"`` or ``"p"`` (exact, however long)."""
    if x.denominator == 1:
        return _int_text(x.numerator)
    return f"{_int_text(x.numerator)}/{_int_text(x.denominator)}"


def ndigits(n: int) -> int:
    """The number of decimal digits of |n| (without printing it)."""
    n = abs(int(n))
    if n < 10**18:
        return len(str(n))
    k = int((n.bit_length() - 1) * 0.30102999566398119521) + 1   # digits of 2^(bits-1), or one less
    return k + 1 if n >= 10**k else k


def fmt_brief(x) -> str:
    """A rational (Fraction, int or flint fmpq) for a message: exact text when numerator and
    denominator have at most BRIEF_DIGITS digits, else their sizes ("a 6021-digit integer")."""
    if isinstance(x, flint.fmpq):
        num, den = int(x.p), int(x.q)
    else:
        x = Fraction(x)
        num, den = x.numerator, x.denominator
    dn, dd = ndigits(num), ndigits(den)
    if dn <= BRIEF_DIGITS and dd <= BRIEF_DIGITS:
        return str(num) if den == 1 else f"{num}/{den}"
    sign = "negative " if num < 0 else ""
    if den == 1:
        return f"a {sign}{dn}-digit integer"
    return f"a {sign}fraction with a {dn}-digit numerator and a {dd}-digit denominator"


@lru_cache(maxsize=65536)
def factor_int(n: int) -> tuple[tuple[int, int], ...]:
    """Prime factorisation of a positive integer below FACTOR_LIMIT (at most MAX_FACTOR_DIGITS
    digits, so at most about 0.2 s) as ((p, e), ...), p increasing. Raises ExprError beyond."""
    if n < 1:
        raise ValueError("factor_int needs a positive integer")
    if n >= FACTOR_LIMIT:
        raise ExprError(f"a {ndigits(n)}-digit integer is beyond the factoring bound of "
                        f"{MAX_FACTOR_DIGITS} digits")
    if n == 1:
        return ()
    return tuple(sorted((int(p), int(e)) for p, e in flint.fmpz(n).factor()))


def log_exponents(r: Fraction) -> dict[int, int]:
    """log r = sum e_p log p: the integer exponents e_p of a positive rational whose numerator and
    denominator have at most MAX_FACTOR_DIGITS digits (ExprError otherwise)."""
    r = Fraction(r)
    if r <= 0:
        raise ExprError(f"log of a non-positive number {fmt_brief(r)}")
    for part, n in (("numerator", r.numerator), ("denominator", r.denominator)):
        if n >= FACTOR_LIMIT:
            raise ExprError(
                f"log of {fmt_brief(r)}: its {part} has {ndigits(n)} digits, but exact logs factor "
                f"numerator and denominator into primes, which is cheap only up to "
                f"{MAX_FACTOR_DIGITS} digits; write it as a sum of logs of smaller numbers")
    out: dict[int, int] = {}
    for p, e in factor_int(r.numerator):
        out[p] = out.get(p, 0) + e
    for p, e in factor_int(r.denominator):
        out[p] = out.get(p, 0) - e
    return {p: e for p, e in out.items() if e}


SQRT_FACTOR_LIMIT = FACTOR_LIMIT   # canonical r*sqrt(s) only when factoring num*den is cheap


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
    Arithmetic is exact and unbounded; the parser bounds what a case file may write.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple[int, int], Fraction] | None = None):
        self.terms = {k: v for k, v in (terms or {}).items() if v}

    # constructors
    @classmethod
    def rational(cls, x: Fraction | int) -> LinLog:
        return cls({(1, 1): x if type(x) is Fraction else Fraction(x)})

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
            raise ExprError(f"sqrt of a negative number {fmt_brief(r)}")
        if r == 0:
            return cls()
        # sqrt(n/d) = sqrt(n d) / d
        nd = r.numerator * r.denominator
        if nd >= FACTOR_LIMIT:
            raise ExprError(
                f"sqrt of {fmt_brief(r)}: numerator times denominator has {ndigits(nd)} digits, but "
                f"exact square roots factor it into primes, which is cheap only up to "
                f"{MAX_FACTOR_DIGITS} digits; simplify it (a^2*b as a*sqrt(b))")
        a, s = _squarefree_split(nd)
        return cls({(s, 1): Fraction(a, r.denominator)})

    # queries
    def is_rational(self) -> bool:
        return all(k == (1, 1) for k in self.terms)

    def as_rational(self) -> Fraction:
        if not self.is_rational():
            raise ExprError(f"{_show(self)} is not a rational number")
        return self.terms.get((1, 1), Fraction(0))

    def has_log(self) -> bool:
        return any(q != 1 for _, q in self.terms)

    def log_coeffs(self) -> dict[int, Fraction]:
        """For a value without square roots: {q: c} with q = 1 for the rational part."""
        if any(s != 1 for s, _ in self.terms):
            raise ExprError(f"{_show(self)} has a square root")
        return {q: c for (_, q), c in self.terms.items()}

    # arithmetic
    def __add__(self, other: LinLog) -> LinLog:
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = out.get(k, Fraction(0)) + v
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
                c = c1 * c2
                if s1 == 1 or s2 == 1:
                    key = (s1 * s2, q1 if q1 != 1 else q2)
                else:
                    g = gcd(s1, s2)
                    key = ((s1 // g) * (s2 // g), q1 if q1 != 1 else q2)
                    c *= g
                prev = out.get(key)
                out[key] = c if prev is None else prev + c
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
            raise ExprError(f"exponent {fmt_brief(n)} is beyond +-{MAX_POWER}")
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


def _show(value: LinLog) -> str:
    """A LinLog for a message: its canonical text, or its size when a coefficient is long."""
    if value.is_rational():
        return fmt_brief(value.as_rational())
    big = max(max(ndigits(c.numerator), ndigits(c.denominator)) for c in value.terms.values())
    if big <= BRIEF_DIGITS and len(value.terms) <= 8:
        return str(value)
    return f"a sum of {len(value.terms)} terms with coefficients of up to {big} digits"


def _check_value(value: LinLog) -> LinLog:
    """A parse intermediate within the bounds: coefficients within MAX_BITS, every sqrt(s) with
    s below FACTOR_LIMIT (so that its canonical text reads back)."""
    for (s, _), c in value.terms.items():
        _check_size(c)
        if s >= FACTOR_LIMIT:
            raise ExprError(f"a product of square roots gives sqrt(s) with a {ndigits(s)}-digit s; "
                            f"square roots are exact here only up to {MAX_FACTOR_DIGITS} digits")
    return value


def _canonical_length_ok(value: LinLog) -> None:
    """The canonical text of a parsed value is itself a valid expression (MAX_EXPR_CHARS)."""
    bits = sum(c.numerator.bit_length() + c.denominator.bit_length() for c in value.terms.values())
    if 0.302 * bits + 100 * len(value.terms) < MAX_EXPR_CHARS:   # 100: signs, sqrt(s), log(q)
        return
    n = len(str(value))
    if n > MAX_EXPR_CHARS:
        raise ExprError(f"the exact value's canonical text would have {n} characters; the limit "
                        f"is {MAX_EXPR_CHARS} (simplify the expression or use smaller numbers)")


# ---------------------------------------------------------------------------------------------
# The expression grammar (never evaluated as code; ASCII digits only):
#   expr  := term (('+' | '-') term)*
#   term  := unary (('*' | '/') unary)*
#   unary := ('+' | '-') unary | power
#   power := atom ('^' unary)?          the exponent must be an integer
#   atom  := NUMBER | '(' expr ')' | ('log' | 'sqrt') '(' expr ')'
# log takes a positive rational, sqrt a non-negative rational. Parentheses, unary signs and the
# exponent of '^' each count one level of nesting (at most MAX_EXPR_DEPTH), so the recursion is
# bounded; every intermediate value is checked against MAX_BITS.

_TOKEN = re.compile(r"(?:(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)|(?P<name>[A-Za-z_]+)"
                    r"|(?P<op>[-+*/^()]))", re.ASCII)
_SPACE = re.compile(r"[ \t\n\r\f\v]*")


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens = []
    pos = _SPACE.match(text).end()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ExprError(f"unexpected character {text[pos]!r}", pos)
        kind = m.lastgroup
        tokens.append((kind, m[kind], pos))
        pos = _SPACE.match(text, m.end()).end()
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

    @staticmethod
    def checked(fn, pos: int) -> LinLog:
        """fn() within the bounds; an ExprError from it gets the position ``pos``."""
        try:
            return _check_value(fn())
        except ExprError as exc:
            raise ExprError(str(exc), pos if exc.pos is None else exc.pos) from None

    def expr(self) -> LinLog:
        self.nested()
        value = self.term()
        while self.peek()[1] in ("+", "-"):
            op, pos = self.take()[1:]
            rhs = self.term()
            value = self.checked(lambda: value + rhs if op == "+" else value - rhs, pos)
        self.depth -= 1
        return value

    def term(self) -> LinLog:
        value = self.unary()
        while self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            pos = self.peek()[2]
            rhs = self.unary()
            value = self.checked(lambda: value * rhs if op == "*" else value / rhs, pos)
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
            self.nested()
            exponent = self.unary()
            self.depth -= 1
            if not exponent.is_rational() or exponent.as_rational().denominator != 1:
                raise ExprError(f"exponent {_show(exponent)} is not an integer", pos)
            return self.checked(lambda: _checked_power(base, int(exponent.as_rational())), pos)
        return base

    def atom(self) -> LinLog:
        kind, value, pos = self.peek()
        if kind == "num":
            self.take()
            return self.checked(lambda: LinLog.rational(parse_number(value)), pos)
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
                raise ExprError(f"{value} needs a rational argument, got {_show(arg)}", pos)
            x = arg.as_rational()
            return self.checked(lambda: LinLog.log(x) if value == "log" else LinLog.sqrt(x), pos)
        raise ExprError(f"unexpected {value or 'end of expression'!r}", pos)


def _checked_power(base: LinLog, n: int) -> LinLog:
    """base ** n by repeated squaring, every intermediate checked (so (2^1000)^1000 stops early)."""
    if abs(n) > MAX_POWER:
        raise ExprError(f"exponent {fmt_brief(n)} is beyond +-{MAX_POWER}")
    if n < 0:
        return _check_value(LinLog.rational(1) / _checked_power(base, -n))
    if n > 1 and base.has_log():
        raise ExprError("a power of a logarithm is outside the exact grammar")
    out = LinLog.rational(1)
    while n:
        if n & 1:
            out = _check_value(out * base)
        n >>= 1
        if n:
            base = _check_value(base * base)
    return out


def parse_expr(text: object) -> LinLog:
    """Parse an expectation value (number or expression) into an exact LinLog; never runs code.

    Every value it returns has a canonical text ``str(value)`` that it parses back to the same
    value (within MAX_EXPR_CHARS, literals within MAX_NUMBER_CHARS, sqrt/log arguments within
    the factoring bound)."""
    if isinstance(text, bool) or text is None:
        raise ExprError(f"expected a number or expression, got {text!r}")
    if isinstance(text, int):
        return _check_value(LinLog.rational(text))
    if not isinstance(text, str):
        raise ExprError(f"expected a number or expression, got a {type(text).__name__}")
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression longer than {MAX_EXPR_CHARS} characters")
    if len(text) <= MAX_NUMBER_CHARS and _NUMBER.fullmatch(text):
        try:                     # a plain number (most cells of a matrix): the same value, faster
            return LinLog.rational(_number_text(text))
        except ExprError:
            pass                 # let the parser say what is wrong, in its words
    parser = _Parser(text)
    value = parser.expr()
    kind, tok, pos = parser.peek()
    if kind != "end":
        raise ExprError(f"unexpected {tok!r} after a complete expression", pos)
    _canonical_length_ok(value)
    return value


def bad_number(exc: ExprError, where: str, place: str, line: int | None) -> BadInput:
    """Turn an ExprError into the BadInput the CLI reports."""
    msg = str(exc)
    if exc.pos is not None:
        msg += f" (at character {exc.pos + 1})"
    return BadInput(msg, where=where, place=place, line=line)
