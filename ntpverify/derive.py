"""``ntpverify derive CASE [--latex]``: the theory's equations for one instance, written out.

The compatibility equations (one per generator B_{j,z}), the NTP-SVM and its KKT system, and
their exact solutions W*, W^mm and the multipliers, as plain text or as a LaTeX fragment ready to
paste (amsmath ``align*``; values through sympy's ``latex()`` on expressions built from exact
values). Everything comes from the exact layer (``runner.run_exact``); nothing is numeric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import sympy

from .exactnum import LinLog, fmt_q, sqrt_text
from .instance import Case, Instance
from .exact import decimal
from .explain import section7_lines
from .runner import Exact, decomposition_json, inf_ce_detail, run_exact
from .summary import matrix_lines

EXPAND_MAX_D = 4          # write <B, W> out coordinate by coordinate up to this d
SHOW_MAX_CHARS = 40       # longer exact results are shown as 6-digit decimals unless full=True
TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
               "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}"}


@dataclass
class Pair:
    """One constraint: context j, token (z for a generator, v for a margin constraint), anchor."""

    j: int
    token: int
    anchor: int


class Show:
    """How results are shown: exactly, or (``full=False``) exact values longer than
    SHOW_MAX_CHARS characters as 6-digit decimals marked with * (random data give W^mm entries
    with hundreds of digits). Counts what it shortened, so the output can say so."""

    def __init__(self, full: bool = False):
        self.full = full
        self.shortened = 0

    def _long(self, text: str, limit: int = SHOW_MAX_CHARS) -> bool:
        if self.full or len(text) <= limit:
            return False
        self.shortened += 1
        return True

    def q(self, x: Fraction) -> str:
        text = fmt_q(x)
        return f"~{float(x):.6g}" if self._long(text) else text

    def ll(self, v: LinLog) -> str:
        text = str(v)
        return f"~{decimal(v, 6)}" if self._long(text, 2 * SHOW_MAX_CHARS) else text

    def sqrt(self, r: Fraction) -> str:
        text = sqrt_text(r)
        return f"~{math.sqrt(float(r)):.6g}" if self._long(text) else text

    def tq(self, x: Fraction):
        return sympy.Float(float(x), 6) if self._long(fmt_q(x)) else _q_sym(x)

    def tll(self, v: LinLog):
        if not v.terms:
            return sympy.Integer(0)
        return sympy.Float(decimal(v, 6), 6) if self._long(str(v), 2 * SHOW_MAX_CHARS) else v.to_sympy()

    def tsqrt(self, r: Fraction):
        return sympy.Float(math.sqrt(float(r)), 6) if self._long(sqrt_text(r)) else sympy.sqrt(_q_sym(r))

    def note(self, latex: bool) -> list[str]:
        if not self.shortened:
            return []
        text = (f"{self.shortened} exact value(s) longer than {SHOW_MAX_CHARS} characters are shown as "
                "6-digit decimals" + ("" if latex else " (prefixed ~)") + "; `ntpverify derive --full` prints "
                "every value exactly (so does the certificate of `ntpverify check --json`).")
        return ["% " + text, r"\par\noindent\emph{Note:} " + _tex_escape(text)] if latex else ["", "Note: " + text]


def derive(case: Case | Instance, latex: bool = False, full: bool = False) -> str:
    """The derivation text for a case (or a bare instance); ``full`` prints long values exactly."""
    inst = case.instance if isinstance(case, Case) else case
    eta = case.settings.gd.step if isinstance(case, Case) else None
    ex = run_exact(inst, eta)
    return render_latex(ex, Show(full)) if latex else render_text(ex, Show(full))


def _pairs(ex: Exact) -> tuple[list[Pair], list[Pair]]:
    geo = ex.geo
    eq = [Pair(g.j, g.token, g.minus) for g in geo.E]
    ineq = [Pair(g.j, g.token, g.plus) for g in geo.I]
    return eq, ineq


def _log_ratio(inst: Instance, p: Pair) -> tuple[Fraction, LinLog]:
    r = inst.P[p.j][p.token] / inst.P[p.j][p.anchor]
    return r, LinLog.log(r)


# ---------------------------------------------------------------------------------------------
# text

def _vec(xs) -> str:
    return "(" + ", ".join(fmt_q(x) if isinstance(x, Fraction) else str(x) for x in xs) + ")"


def _text_linear(inst: Instance, plus: int, minus: int, j: int) -> str:
    """(w_plus - w_minus)^T h_j written out over coordinates: sum_c h_jc (W[plus,c] - W[minus,c])."""
    sym = {v: [sympy.Symbol(f"W[{inst.vocab[v]},{c + 1}]") for c in range(inst.d)] for v in (plus, minus)}
    expr = sympy.expand(sum(_q_sym(inst.H[j][c]) * (sym[plus][c] - sym[minus][c]) for c in range(inst.d)))
    return sympy.sstr(expr) if expr != 0 else "0"


def render_text(ex: Exact, show: Show | None = None) -> str:
    show = show or Show()
    inst, geo = ex.inst, ex.geo
    V, tok, ctx = inst.V, inst.vocab, inst.contexts
    eq, ineq = _pairs(ex)
    L = [f"Derivation for {inst.name}: V = {V} tokens, d = {inst.d}, m = {inst.m} contexts", ""]
    L.append("Instance (S_j = support, a_j = anchor: the first token of S_j in vocabulary order)")
    for j in range(inst.m):
        S = inst.supports[j]
        probs = ", ".join(f"{tok[z]}: {fmt_q(inst.P[j][z])}" for z in S)
        L.append(f"  {ctx[j]}: h = {_vec(inst.H[j])}, pi = {fmt_q(inst.pi[j])}, p = {{{probs}}}, "
                 f"a = {tok[inst.anchors[j]]}")
    L += ["", "Entropy", f"  H = - sum_j pi_j sum_(z in S_j) p_jz log p_jz = {ex.H}"]
    L += ["", f"Compatibility equations (one per generator B_(j,z) = (e_z - e_(a_j)) h_j^T, {len(eq)} in all):",
          "  <B_(j,z), W> = (w_z - w_(a_j))^T h_j = log(p_(j,z) / p_(j,a_j))"]
    for p in eq:
        r, lg = _log_ratio(inst, p)
        rhs = f"log({fmt_q(r)})" + ("" if str(lg) == f"log({fmt_q(r)})" else f" = {lg}")
        line = f"  ({ctx[p.j]},{tok[p.token]}):  (w_{tok[p.token]} - w_{tok[p.anchor]})^T h_{ctx[p.j]} = {rhs}"
        if inst.d <= EXPAND_MAX_D:
            line += f"    i.e. {_text_linear(inst, p.token, p.anchor, p.j)} = {lg}"
        L.append(line)
    if not eq:
        L.append("  (none: every context has a single next token, so F = {0})")
    basis = ", ".join(f"B({ctx[geo.E[i].j]},{tok[geo.E[i].token]})" for i in ex.F.basis)
    L.append(f"  F = span of the generators: dim F = {ex.F.dim}" + (f"; basis {basis}" if basis else ""))
    if ex.compat.compatible:
        L.append("  The system is consistent (compatible). W* = its unique solution in F (minimum norm):")
        L += matrix_lines([[show.ll(v) for v in row] for row in ex.compat.W_star], list(tok))
    else:
        w = ex.compat.witness
        y = " + ".join(f"({yi:+d}) B({ctx[g.j]},{tok[g.token]})" for yi, g in zip(w["y"], geo.E) if yi)
        L.append(f"  NOT compatible: {y} = 0, but the same combination of the right-hand sides is "
                 f"{show.ll(LinLog.from_log_coeffs(w['exponents']))} != 0" + (f" (the product of the ratios is {show.q(w['product'])}, not 1)"
                                           if w["product"] is not None else ""))
    L += ["", "NTP-SVM (max-margin problem)", "  minimise ||W||^2 over W in R^(V x d) subject to",
          "    (w_z - w_(a_j))^T h_j = 0      for every generator (j, z)   [multiplier mu_(j,z), free]",
          "    (w_(a_j) - w_v)^T h_j >= 1     for every j and v not in S_j [multiplier lambda_(j,v) >= 0]"]
    for p in ineq:
        line = f"    ({ctx[p.j]},{tok[p.token]}):  (w_{tok[p.anchor]} - w_{tok[p.token]})^T h_{ctx[p.j]} >= 1"
        if inst.d <= EXPAND_MAX_D:
            line += f"    i.e. {_text_linear(inst, p.anchor, p.token, p.j)} >= 1"
        L.append(line)
    L += ["  KKT system (necessary and sufficient: the problem is a strictly convex QP):",
          "    stationarity:     W = sum lambda_(j,v) (e_(a_j) - e_v) h_j^T + sum mu_(j,z) (e_z - e_(a_j)) h_j^T",
          "    primal:           the constraints above",
          "    dual:             lambda_(j,v) >= 0",
          "    complementarity:  lambda_(j,v) ((w_(a_j) - w_v)^T h_j - 1) = 0",
          "    then ||W^mm||^2 = sum lambda (strong duality) and the margin is 1/||W^mm||"]
    r = ex.svm
    if ex.trivial:
        L.append("  Trivial instance (every support is the whole vocabulary): no margin constraints, W^mm = 0.")
    elif r.separable:
        L.append("  Solution W^mm (exact):")
        L += matrix_lines([[show.q(x) for x in row] for row in r.W], list(tok))
        L.append(f"  ||W^mm||^2 = sum lambda = {show.q(r.norm_sq)}; margin = 1/||W^mm|| = {show.sqrt(ex.margin_sq)}")
        L.append("  lambda (non-zero): " + (", ".join(f"({ctx[geo.all[i].j]},{tok[geo.all[i].token]}) = {show.q(v)}"
                                                      for i, v in sorted(r.lam.items()) if v) or "none"))
        L.append("  mu: " + (", ".join(f"({ctx[geo.all[i].j]},{tok[geo.all[i].token]}) = {show.q(v)}"
                                       for i, v in sorted(r.mu.items()) if v) or "all zero"))
        L.append("  tight constraints: " + (" ".join(f"({ctx[geo.all[i].j]},{tok[geo.all[i].token]})"
                                                     for i in r.tight) or "none"))
    else:
        f = r.farkas
        lam = " + ".join(f"{show.q(v)} A({ctx[geo.all[i].j]},{tok[geo.all[i].token]})"
                         for i, v in sorted(f["lam"].items()) if v)
        mu = " + ".join(f"({show.q(v)}) B({ctx[geo.all[i].j]},{tok[geo.all[i].token]})"
                        for i, v in sorted(f["mu"].items()) if v)
        L.append(f"  NOT separable. Farkas certificate: {lam}" + (f" + {mu}" if mu else "")
                 + " = 0 with lambda >= 0, sum lambda > 0: pairing with any feasible W would give 0 >= sum lambda.")
    L += [""] + section7_lines(_section7_json(ex), inf_ce_detail(ex), q=lambda t: show.q(Fraction(t)))
    s = ex.step
    L += ["", f"GD step: eta = {fmt_q(s.eta)} ({'auto' if s.auto else 'from the case'}; "
              f"{'proven eta * lambda_max(M) <= 1, so eta <= 1/(2L)' if s.admissible else 'NOT proven admissible'})"]
    L += show.note(latex=False)
    return "\n".join(L) + "\n"


def _section7_json(ex: Exact) -> dict:
    """The certificate's section-7 fields (decomposition, W_hat, inf_CE) and the entropy's text."""
    return {**decomposition_json(ex), "entropy": {"expr": str(ex.H)}}


# ---------------------------------------------------------------------------------------------
# LaTeX

def tex_text(s: str) -> str:
    """A name as LaTeX text (special characters escaped)."""
    return r"\text{" + _tex_escape(str(s)) + "}"


def _q_sym(x: Fraction):
    return sympy.Rational(x.numerator, x.denominator)


def _tex(expr) -> str:
    return sympy.latex(expr)


def _tex_linlog(v: LinLog) -> str:
    return _tex(v.to_sympy()) if v.terms else "0"


def _tex_matrix(rows) -> str:
    return _tex(sympy.Matrix(rows))


TEX_BLOCK_COLS = 8        # wider matrices are printed in blocks of columns (a page is ~8 entries wide)
TEX_ROW_ITEMS = 4         # multipliers per displayed line


def _tex_matrix_display(name: str, rows) -> list[str]:
    r"""``\[ name = [...] \]``, split into column blocks name_{[:, a:b]} when wide."""
    d = len(rows[0]) if rows else 0
    if d <= TEX_BLOCK_COLS:
        return [r"\[ " + name + " = " + _tex_matrix(rows) + r" \]"]
    out = []
    for a in range(0, d, TEX_BLOCK_COLS):
        b = min(a + TEX_BLOCK_COLS, d)
        block = [row[a:b] for row in rows]
        out.append(r"\[ " + name + rf"_{{[:,\,{a + 1}:{b}]}} = " + _tex_matrix(block) + r" \]")
    return out


def _tex_lines(items: list[str]) -> str:
    """Items joined by commas, TEX_ROW_ITEMS per line (for gather*)."""
    return " \\\\\n".join(", \\quad ".join(items[i:i + TEX_ROW_ITEMS])
                            for i in range(0, len(items), TEX_ROW_ITEMS))


def _tex_linear(inst: Instance, plus: int, minus: int, j: int) -> str:
    """sum_c h_jc (W_{plus,c} - W_{minus,c}) through sympy, symbols printed as W_{token,c}."""
    syms, names = {}, {}
    for v in (plus, minus):
        syms[v] = [sympy.Symbol(f"w_{v}_{c}") for c in range(inst.d)]
        names.update({s: f"W_{{{tex_text(inst.vocab[v])},{c + 1}}}" for c, s in enumerate(syms[v])})
    expr = sympy.expand(sum(_q_sym(inst.H[j][c]) * (syms[plus][c] - syms[minus][c]) for c in range(inst.d)))
    return sympy.latex(expr, symbol_names=names) if expr != 0 else "0"


def _tex_escape(text: str) -> str:
    return "".join(TEX_SPECIAL.get(ch, ch) for ch in text)


def render_latex(ex: Exact, show: Show | None = None) -> str:
    show = show or Show()
    inst, geo = ex.inst, ex.geo
    tok = [tex_text(t) for t in inst.vocab]
    ctx = [tex_text(c) for c in inst.contexts]
    eq, ineq = _pairs(ex)
    w = lambda z: f"w_{{{tok[z]}}}"            # noqa: E731 - row z of W
    h = lambda j: f"h_{{{ctx[j]}}}"            # noqa: E731
    L = [f"% ntpverify derive --latex: {inst.name} (V = {inst.V}, d = {inst.d}, m = {inst.m})",
         "% needs amsmath; w_z is row z of W, h_j the embedding of context j, a_j the anchor",
         r"\paragraph{Instance.}",
         r"\begin{align*}"]
    rows = []
    for j in range(inst.m):
        probs = ", ".join(f"p_{{{ctx[j]},{tok[z]}}} = {_tex(_q_sym(inst.P[j][z]))}" for z in inst.supports[j])
        emb = (_tex_matrix([[_q_sym(x)] for x in inst.H[j]]).replace(chr(10), " ") if inst.d <= TEX_BLOCK_COLS
               else rf"\in \mathbf{{Q}}^{{{inst.d}}}")
        rows.append(f"{h(j)} &{'' if inst.d > TEX_BLOCK_COLS else '= '}{emb}, "
                    f"& \\pi_{{{ctx[j]}}} &= {_tex(_q_sym(inst.pi[j]))}, & &{probs}, "
                    f"& a_{{{ctx[j]}}} &= {tok[inst.anchors[j]]}")
    L.append(" \\\\\n".join(rows))
    L.append(r"\end{align*}")
    if inst.d > TEX_BLOCK_COLS:
        L.append(f"(The embeddings, d = {inst.d}, are listed by \\texttt{{ntpverify derive}} without \\texttt{{--latex}}.)")
    L += [r"\paragraph{Entropy.}",
          r"\[ H = -\sum_j \pi_j \sum_{z \in S_j} p_{j,z} \log p_{j,z} = " + _tex_linlog(ex.H) + r" \]"]
    L.append(r"\paragraph{Compatibility equations} ($\langle B_{j,z}, W\rangle = (w_z - w_{a_j})^\top h_j "
             r"= \log(p_{j,z}/p_{j,a_j})$, one per generator $B_{j,z} = (e_z - e_{a_j}) h_j^\top$):")
    if eq:
        L.append(r"\begin{align*}")
        rows = []
        for p in eq:
            r, lg = _log_ratio(inst, p)
            row = (f"({w(p.token)} - {w(p.anchor)})^\\top {h(p.j)} &= "
                   f"\\log {_tex(_q_sym(r))} = {_tex_linlog(lg)}")
            if inst.d <= EXPAND_MAX_D:
                row += f" && \\text{{i.e. }} {_tex_linear(inst, p.token, p.anchor, p.j)} = {_tex_linlog(lg)}"
            rows.append(row)
        L.append(" \\\\\n".join(rows))
        L.append(r"\end{align*}")
    else:
        L.append(r"None: every context has a single next token, so $F = \{0\}$.")
    L.append(f"$\\dim F = {ex.F.dim}$. ")
    if ex.compat.compatible:
        L.append(r"The system is consistent (compatible); its unique solution in $F$ is")
        L += _tex_matrix_display(r"W^\star", [[show.tll(v) for v in row] for row in ex.compat.W_star])
        L.append(f"(rows in vocabulary order: ${', '.join(tok)}$).")
    else:
        wit = ex.compat.witness
        terms = " + ".join(f"({yi}) B_{{{ctx[g.j]},{tok[g.token]}}}" for yi, g in zip(wit["y"], geo.E) if yi)
        L.append(r"The system is \emph{not} compatible: $" + terms + r" = 0$, but the same combination of "
                 r"the right-hand sides is $" + _tex(show.tll(LinLog.from_log_coeffs(wit["exponents"]))) + r" \neq 0$.")
    L += [r"\paragraph{NTP-SVM.}",
          r"\begin{align*}",
          r"W^{\mathrm{mm}} = \arg\min_W \ \|W\|^2 \quad \text{s.t.}\quad "
          r"&(w_z - w_{a_j})^\top h_j = 0 && \text{for every generator } (j,z) \quad [\mu_{j,z}] \\",
          r"&(w_{a_j} - w_v)^\top h_j \ge 1 && \text{for every } j,\ v \notin S_j \quad [\lambda_{j,v} \ge 0]",
          r"\end{align*}"]
    if ineq:
        L.append(r"Margin constraints:")
        L.append(r"\begin{align*}")
        rows = []
        for p in ineq:
            row = f"({w(p.anchor)} - {w(p.token)})^\\top {h(p.j)} &\\ge 1"
            if inst.d <= EXPAND_MAX_D:
                row += f" && \\text{{i.e. }} {_tex_linear(inst, p.anchor, p.token, p.j)} \\ge 1"
            rows.append(row)
        L.append(" \\\\\n".join(rows))
        L.append(r"\end{align*}")
    L += [r"KKT system:",
          r"\begin{align*}",
          r"&W = \sum_{j,\,v \notin S_j} \lambda_{j,v} (e_{a_j} - e_v) h_j^\top + "
          r"\sum_{j,\,z \in S_j \setminus \{a_j\}} \mu_{j,z} (e_z - e_{a_j}) h_j^\top && \text{(stationarity)} \\",
          r"&\lambda_{j,v} \ge 0, \qquad \lambda_{j,v}\big((w_{a_j} - w_v)^\top h_j - 1\big) = 0 "
          r"&& \text{(dual feasibility, complementary slackness)} \\",
          r"&\|W^{\mathrm{mm}}\|^2 = \textstyle\sum \lambda_{j,v} && \text{(strong duality)}",
          r"\end{align*}"]
    r = ex.svm
    if ex.trivial:
        L.append(r"Trivial instance: no margin constraints, $W^{\mathrm{mm}} = 0$.")
    elif r.separable:
        L += _tex_matrix_display(r"W^{\mathrm{mm}}", [[show.tq(x) for x in row] for row in r.W])
        margin = show.tsqrt(ex.margin_sq)
        L.append(r"\[ \|W^{\mathrm{mm}}\|^2 = " + _tex(show.tq(r.norm_sq)) + r", \qquad \text{margin } "
                 r"1/\|W^{\mathrm{mm}}\| = " + _tex(margin) + r" \]")
        lam = [f"\\lambda_{{{ctx[geo.all[i].j]},{tok[geo.all[i].token]}}} = {_tex(show.tq(v))}"
               for i, v in sorted(r.lam.items()) if v]
        mu = [f"\\mu_{{{ctx[geo.all[i].j]},{tok[geo.all[i].token]}}} = {_tex(show.tq(v))}"
              for i, v in sorted(r.mu.items()) if v]
        L.append(r"Multipliers (all others zero):")
        L.append(r"\begin{gather*}")
        L.append(_tex_lines(lam) if lam else r"\text{no non-zero } \lambda")
        if mu:
            L.append(r"\\ " + _tex_lines(mu))
        L.append(r"\end{gather*}")
    else:
        f = r.farkas
        terms = " + ".join([f"{_tex(show.tq(v))} A_{{{ctx[geo.all[i].j]},{tok[geo.all[i].token]}}}"
                            for i, v in sorted(f["lam"].items()) if v]
                           + [f"\\left({_tex(show.tq(v))}\\right) B_{{{ctx[geo.all[i].j]},{tok[geo.all[i].token]}}}"
                              for i, v in sorted(f["mu"].items()) if v])
        L.append(r"Not separable; Farkas certificate ($A_{j,v} = (e_{a_j} - e_v) h_j^\top$): "
                 r"\[ " + terms + r" = 0. \]")
    L += _tex_section7(ex, show, ctx, tok)
    s = ex.step
    L.append(r"\paragraph{Gradient descent step.} $\eta = " + _tex(_q_sym(s.eta)) + "$ "
             + (r"(proven $\eta\,\lambda_{\max}(M) \le 1$, hence $\eta \le 1/(2L)$)." if s.admissible
                else r"(\emph{not} proven admissible)."))
    L += show.note(latex=True)
    return "\n".join(L) + "\n"


def _tex_section7(ex: Exact, show: Show, ctx: list[str], tok: list[str]) -> list[str]:
    """theory.md section 7 in LaTeX: stuck pairs and their certificate, What, inf CE."""
    d, b, geo = ex.dec, ex.infce, ex.geo
    pair = lambda i: f"({ctx[geo.all[i].j]},{tok[geo.all[i].token]})"  # noqa: E731
    L = [r"\paragraph{When the conditions fail (stuck and vanishing pairs).}"]
    if d.stuck:
        terms = ([f"{_tex(show.tq(v))} A_{{{pair(i)[1:-1]}}}" for i, v in sorted(d.lam.items())]
                 + [rf"\left({_tex(show.tq(v))}\right) B_{{{pair(i)[1:-1]}}}" for i, v in sorted(d.mu.items())])
        L.append(r"Stuck pairs $E = \{" + ", ".join(pair(i) for i in d.stuck) + r"\}$: the combination "
                 r"\[ " + " + ".join(terms) + r" = 0 \] has $\lambda > 0$ on every stuck pair, so each stuck "
                 r"margin $\langle A_{j,v}, W\rangle$ is $0$ on the cone $C$.")
    else:
        L.append(r"No pair is stuck ($E = \emptyset$).")
    if d.vanishing:
        L.append(r"Vanishing pairs $P = \{" + ", ".join(pair(i) for i in d.vanishing) + r"\}$; "
                 r"$\hat W$ (margin $\ge 1$ on $P$, perpendicular to $\bar F$), with "
                 r"$\|\hat W\|^2 = " + _tex(show.tq(d.W_hat_norm_sq)) + "$:")
        L += _tex_matrix_display(r"\hat W", [[show.tq(x) for x in row] for row in d.W_hat])
    if b.expr is not None:
        L.append(r"\[ \inf \mathrm{CE} = " + _tex_linlog(b.expr) + r" \]")
    else:
        L.append(r"\[ \inf \mathrm{CE} \in [" + b.lower + ", " + b.upper + r"] \]"
                 r" (a proven bracket; no exact form found).")
    return L

