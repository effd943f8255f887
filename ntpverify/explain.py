"""Plain-words explanations of a certificate's claims (``ntpverify check --explain``, reports).

Built from the certificate alone: what each claim says, and why it passed, failed, was
inconclusive or not applicable, read off the claim's evidence. Nothing here decides a status.
"""

from __future__ import annotations

import textwrap
from fractions import Fraction

# What each claim says, in plain words (theory.md section 4 and 6).
MEANING = {
    "remark1": ("If every context has exactly one possible next token (one-hot labels), the entropy is 0, "
                "the data subspace F is {0}, W* = 0, and the NTP-SVM is the classical multiclass "
                "hard-margin SVM (Crammer-Singer without slack or bias)."),
    "lemma1": ("If there are more embedding dimensions than contexts (d > m) and the embeddings are "
               "linearly independent, the data are automatically compatible and separable."),
    "prop1": ("When the data are compatible and separable, the loss never reaches the entropy H at a finite "
              "W, but it approaches H along W* + g W^mm as g grows (the gap shrinks like C e^-g)."),
    "thm1": ("Regularisation path: the minimiser W_B of the loss inside the ball ||W|| <= B sits on the "
             "sphere ||W|| = B, its direction tends to W^mm, and its part in the data subspace F tends "
             "to W* as B grows."),
    "lemma2": ("Gradient descent with a small enough step drives the loss down to the entropy H, while "
               "the norm of the iterates grows without bound (like ||W^mm|| log k)."),
    "thm2": ("Gradient descent's direction tends to the NTP-SVM solution W^mm (cosine -> 1), and its "
             "projection on the data subspace F tends to W*: the implicit bias of the paper."),
    "ext-loss-rate": ("Extension (beyond the paper): the loss gap of GD decays like ||W^mm||^2 / (eta k), "
                      "i.e. eta k (CE(W_k) - H) -> ||W^mm||^2."),
    "ext-proj-rate": ("Extension: the error ||P_F(W_k) - W*|| of GD decays like 1/k (a factor 10 per "
                      "decade of iterations)."),
    "ext-offset": ("Extension: after removing log(k) W^mm, the margins of GD's iterate on the support "
                   "constraints converge to values predicted from the KKT multipliers, "
                   "log(eta pi_j p_{j,a_j} / lambda_{j,v}) - <A_{j,v}, W*>."),
    "ext-angle-rate": ("Extension: 1 - cos(W_k, W^mm) decays like 1/log^2 k (so cot of the angle grows "
                       "linearly in log k)."),
    "ext-path-rate": ("Extension: along the regularisation path, ||P_F(W_B) - W*|| decays exponentially, "
                      "like e^(-B / ||W^mm||)."),
    "ext-inf-ce": ("Extension (theory.md 7, when compatibility or separability fails): the loss of GD "
                   "tends to inf CE, which lies inside a proven bracket; CE(W_k) - inf CE = "
                   "sum pi KL(qbar || q(W_k))."),
    "ext-finite-part": ("Extension (theory.md 7): the part of GD's iterate in the extended data subspace "
                        "Fbar tends to Wbar, and the predicted probabilities tend to qbar (tokens stuck "
                        "after a context keep a positive probability)."),
    "ext-growth": ("Extension, a conjecture (theory.md 7): when some out-of-support token can be pushed to "
                   "zero, ||W_k|| grows like ||What|| log k in the direction of What, the max-margin "
                   "solution on the vanishing pairs."),
}

WHY_HYPOTHESES = {
    "not compatible": ("No decoder reproduces every log-odds ratio log(p_z/p_a) of the data, so there is "
                       "no W* and the loss cannot reach H; the paper's convergence results do not apply."),
    "not separable": ("No decoder puts every in-support token above every out-of-support token by a "
                      "margin, so some out-of-support probability always stays positive; W^mm does not "
                      "exist and the paper's results do not apply."),
    "trivial": ("Every context can be followed by every token, so nothing needs to be pushed to zero "
                "probability: the problem is an ordinary strictly-feasible logistic fit and the "
                "paper's claims are about nothing."),
    "admissible": ("The gradient-descent theorems assume eta <= 1/(2L); this step could not be proven "
                   "small enough, so the run is an experiment, not a test of the theorem."),
}

STATUS_WORDS = {
    "pass": "PASSED",
    "fail": "FAILED",
    "inconclusive": "INCONCLUSIVE",
    "not-applicable": "NOT APPLICABLE",
    "not-checked": "NOT CHECKED",
}


def _limit_sentence(ev: dict) -> str | None:
    """One sentence about a convergence analysis (the dicts with quantity/errors/tolerance)."""
    errors = ev.get("errors") or []
    if not errors:
        return None
    axis = next((a for a in errors[0] if a != "error"), "k")     # k, B, g or log k
    first, last = errors[0], errors[-1]
    s = (f"{ev.get('quantity', 'the error')}: the error went from {first.get('error')} at {axis} = "
         f"{first.get(axis)} to {last.get('error')} at {axis} = {last.get(axis)}")
    s += f"; the tolerance is {ev.get('tolerance')}"
    if ev.get("floor"):
        s += f" and the precision floor {ev.get('floor')}"
    if ev.get("model"):
        s += f". Model: {ev['model']}"
    rows = ev.get("regime_test") or []
    if rows:
        r = rows[-1]
        s += (f"; over the last step the change shrank x{r.get('observed_ratio')} (predicted "
              f"x{r.get('predicted_ratio')}): {'in' if ev.get('in_regime') else 'not yet in'} the asymptotic regime")
    est = ev.get("estimate")
    if isinstance(est, dict):
        s += (f". The estimated limit is {est.get('distance_to_claimed')} from the claimed value, with "
              f"uncertainty {est.get('uncertainty')}; the smallest discrepancy this run could resolve "
              f"is {ev.get('resolution')}")
    if ev.get("model_applies"):
        s += f" (the model does not apply here, so nothing is failed: {ev['model_applies'].removeprefix('no: ')})"
    if ev.get("needed"):
        s += f". To reach the tolerance it needs {ev['needed']}"
    return s + "."


def _evidence_lines(claim: dict) -> list[str]:
    ev = claim.get("evidence") or {}
    out: list[str] = []
    if "hypothesis_failed" in ev and ev["hypothesis_failed"] not in claim.get("summary", ""):
        out.append(f"The hypothesis fails: {ev['hypothesis_failed']}.")
    for key, val in ev.items():
        if isinstance(val, dict):
            s = _limit_sentence(val)
            if s:
                out.append(s)
    if claim["id"] == "lemma1" and "rank" in ev:
        out.append(f"Here d = {ev.get('d')}, m = {ev.get('m')} and rank(Hbar) = {ev.get('rank')}.")
    if claim["id"] == "remark1" and "contexts_with_several_tokens" in ev:
        names = ev["contexts_with_several_tokens"]
        out.append("Contexts with several possible next tokens: " + ", ".join(map(str, names[:10]))
                   + (" ..." if len(names) > 10 else "") + ".")
    if claim["id"] == "remark1" and claim["status"] in ("pass", "fail"):
        bad = [k for k, v in ev.items() if v is False]
        out.append("All four consequences hold." if not bad else "These do not hold: " + ", ".join(bad) + ".")
    if claim["id"] == "prop1" and ev.get("table"):
        last = ev["table"][-1]
        out.append(f"Along W* + g W^mm the gap CE - H was computed at g = 1 ... {last.get('g')}; there "
                   f"gap e^g / C = {last.get('gap_times_e^g_over_C')} (C = {ev.get('C')}).")
    norm = ev.get("norm")
    if isinstance(norm, dict) and "growth_last_decade" in norm:
        out.append(f"||W_k|| grew by {norm['growth_last_decade']} over the last decade; ||W^mm|| ln 10 "
                   f"predicts {norm.get('predicted')} (ratio {norm.get('ratio')}).")
    cos = ev.get("cosine")
    if isinstance(cos, dict) and cos.get("cos_gap"):
        last = cos["cos_gap"][-1]
        where = {k: v for k, v in last.items() if k in ("k", "B")}
        (axis, at), = where.items() if where else (("k", "?"),)
        out.append(f"1 - cos(W, W^mm) = {last.get('cos_gap')} at {axis} = {at}.")
    if "digits_confirmed" in ev:
        out.append(f"The path confirms W* to {ev['digits_confirmed']} digits "
                   f"(target {ev.get('confirm_digits_target')}).")
    if "slope_last_decade" in ev:
        pred = ev.get("predicted_slope")
        out.append(f"Measured slope over the last decade: {ev['slope_last_decade']}"
                   + (f" (predicted {pred})" if pred else "") + ".")
    if "local_slopes" in ev and ev["local_slopes"]:
        last = ev["local_slopes"][-1]
        out.append(f"ln ||P_F(W_B) - W*|| falls {last.get('slope')} per unit of B between B = {last.get('from_B')} "
                   f"and {last.get('to_B')}; predicted {ev.get('predicted_slope')}.")
    if "predicted_k_needed" in ev:
        out.append(f"Predicted iterations needed to decide: {ev['predicted_k_needed']}.")
    if ev.get("degenerate"):
        out.append(f"Degenerate instance: {ev['degenerate']}.")
    if ev.get("weakly_active"):
        out.append(f"Weakly active constraints (margin 1 but multiplier 0): {ev['weakly_active']}; "
                   "the prediction assumes none, so a mismatch is not held against it.")
    crit = ev.get("criterion")
    if crit:
        out.append(f"Rule: {crit}.")
    return out


def _status_reason(claim: dict, cert: dict) -> str:
    st, summ = claim["status"], claim.get("summary", "")
    if st == "pass":
        return f"Why it passed: {summ}."
    if st == "fail":
        return (f"Why it failed: {summ}. A failure means the observed behaviour contradicts the claim "
                "at the stated tolerance; check the case, then rerun with more precision or iterations.")
    if st == "inconclusive":
        it = (cert.get("numeric") or {}).get("gd", {}).get("iterations")
        more = f" (this run: {it} GD iterations; raise --budget, or fix the length with --iterations N)" if it else ""
        return f"Why it is inconclusive: {summ}. The run was too short to decide{more}."
    if st == "not-applicable":
        reason = summ
        extra = ""
        low = summ.lower()
        for key, words in WHY_HYPOTHESES.items():
            if key in low:
                extra = " " + words
                break
        return f"Why it does not apply: {reason}.{extra}"
    if st == "not-checked":
        return ("Not checked: the numeric part (gradient descent and the regularisation path) was skipped "
                "with --exact-only; run without it to check this claim.")
    return f"Status {st}: {summ}."


def explain_claim(claim: dict, cert: dict) -> str:
    """A few plain-words sentences: what the claim says, and why it got its status."""
    cid = claim["id"]
    parts = [MEANING.get(cid, "(no description for this claim id)"), _status_reason(claim, cert)]
    if claim["status"] not in ("not-checked",):
        parts += _evidence_lines(claim)
    return " ".join(p.strip() for p in parts if p)


def explain_certificate(cert: dict, width: int = 100) -> str:
    """The ``--explain`` text for one certificate: one paragraph per claim."""
    name = cert.get("case", {}).get("name", "?")
    lines = [f"{name}: what each claim means and why it got its status"]
    ex = cert.get("exact") or {}
    facts = []
    if ex:
        facts.append(f"compatible: {'yes' if ex.get('compatible') else 'no'}")
        facts.append(f"separable: {'yes' if ex.get('separable') else 'no'}")
        step = ex.get("step") or {}
        if step:
            facts.append(f"GD step eta = {step.get('eta')} "
                         f"({'proven <= 1/(2L)' if step.get('admissible') else 'NOT proven admissible'})")
    if facts:
        lines.append("  (" + "; ".join(facts) + ")")
    for claim in cert.get("claims", []):
        head = f"  {claim['id']}: {STATUS_WORDS.get(claim['status'], claim['status'])}"
        lines.append(head)
        body = explain_claim(claim, cert)
        lines += textwrap.wrap(body, width=width, initial_indent="      ", subsequent_indent="      ",
                               break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines) + "\n\n"


def _pairs_text(pairs: list, most: int = 12) -> str:
    shown = ", ".join(f"({c}, {t})" for c, t in pairs[:most])
    return (shown + (f" and {len(pairs) - most} more" if len(pairs) > most else "")) or "none"


def section7_lines(ex: dict, detail: dict | None = None, q=str) -> list[str]:
    """theory.md section 7 in words, from a certificate's ``exact`` part (decomposition, W_hat,
    inf_CE, entropy) and its ``inf_CE_detail``: which tokens are stuck after which context and
    why (the Goldman-Tucker certificate in words), What, and inf CE's bracket. ``q`` shortens
    long exact numbers."""
    dec = ex["decomposition"]
    stuck, van = dec["stuck"], dec["vanishing"]
    out = ["When the paper's conditions fail (theory.md section 7; checked by the trusted checker):"]
    if not stuck and not van:
        out.append("  No out-of-support pair at all (every support is the whole vocabulary).")
    elif not stuck:
        out.append(f"  Nothing is stuck: all {len(van)} out-of-support pairs vanish (E is empty, the instance is "
                   "separable), so What = W^mm.")
    else:
        by_ctx: dict = {}
        for c, t in stuck:
            by_ctx.setdefault(c, []).append(t)
        out.append("  Stuck pairs E (the token never follows the context, yet keeps a positive limiting "
                   "probability under GD): " + "; ".join(f"after {c}: {', '.join(ts)}" for c, ts in by_ctx.items()) + ".")
        terms = [f"{q(e['lambda'])} A({e['context']},{e['token']})" for e in dec["lambda"]]
        terms += [f"({q(e['mu'])}) B({e['context']},{e['token']})" for e in dec["mu"]]
        out.append("  Why: " + " + ".join(terms[:16]) + (" + ..." if len(terms) > 16 else "") + " = 0, with "
                   "lambda > 0 on every stuck pair (A(j,v) = (e_(a_j) - e_v) h_j^T, B(j,z) = (e_z - e_(a_j)) h_j^T). "
                   "A decoder that keeps each context's in-support logits level and never puts an out-of-support "
                   "token above them gives every A-term a margin >= 0 and every B-term 0; the combination sums "
                   "to 0, so each stuck margin is 0: the stuck token can never be pushed below its context's "
                   "support, not even in the limit.")
        out.append(f"  Vanishing pairs P: {_pairs_text(van)}" + (
            ": What (below) is such a decoder with margin >= 1 on each, so GD drives their probabilities to 0."
            if van else " (none: inf CE is attained at a finite Wbar)."))
    if ex.get("W_hat") is not None:
        out.append(f"  What (min ||U|| with U perpendicular to Fbar and margin >= 1 on P): ||What||^2 = "
                   f"{q(ex['W_hat_norm_sq'])}; rows in vocabulary order:")
        out += ["    [" + ", ".join(q(x) for x in row) + "]" for row in ex["W_hat"][:12]]
        if len(ex["W_hat"]) > 12:
            out.append(f"    ... ({len(ex['W_hat'])} rows, see the certificate)")
    inf = ex["inf_CE"]
    H = (ex.get("entropy") or {}).get("expr", "?")
    if inf["expr"] is not None:
        out.append(f"  inf CE = {inf['expr']} exactly (= {inf['lower'][:22]}...); H = {H}"
                   + ("" if inf["expr"] == H else "; inf CE > H: no decoder brings CE down to H."))
    else:
        width = float(Fraction(inf["upper"]) - Fraction(inf["lower"]))
        out.append(f"  inf CE lies in the proven bracket [{inf['lower']}, {inf['upper']}] (width "
                   f"{width:.1e}; no exact form found: qbar is not a short rational); H = {H}.")
    if detail:
        qb = detail.get("q_bar") or []
        shown = "; ".join(f"{e['context']}: {{" + ", ".join(f"{t}: {v if '/' in v else f'{float(v):.6g}'}" for t, v in e["next"].items())
                          + "}" for e in qb[:8])
        bound = detail.get("q_bar_l1_bound")
        out.append(f"  qbar (limit of GD's probabilities, on the extended supports): {shown}"
                   + (" ..." if len(qb) > 8 else "") + ("; exact." if bound == "0" else f"; known to within {bound} "
                                                        "(L1, by Pinsker from the bracket's width)."))
    return out
