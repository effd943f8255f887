"""The readable terminal summary of a certificate (built from the certificate alone)."""

from __future__ import annotations


def matrix_lines(rows: list[list[str]], names: list[str], indent: str = "    ") -> list[str]:
    """Rows of a matrix, each prefixed by its (right-aligned) name, columns aligned."""
    if not rows:
        return []
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    nw = max(len(n) for n in names)
    return [f"{indent}{n:>{nw}} [ " + "  ".join(x.rjust(w) for x, w in zip(r, widths)) + " ]"
            for n, r in zip(names, rows)]


MAX_SHOWN = 64            # matrices with more entries are abbreviated to a note
MAX_LISTED = 8            # lists (support, witness terms, Farkas terms) show this many entries


def _matrix_or_note(rows: list[list[str]], names: list[str]) -> list[str]:
    cells = sum(len(r) for r in rows)
    if cells <= MAX_SHOWN:
        return matrix_lines(rows, names)
    longest = max(len(x) for r in rows for x in r)
    return [f"    ({len(rows)} x {len(rows[0])} entries, the longest {longest} characters: in full in the "
            "certificate (--json) or from `ntpverify derive CASE --full`)"]


def _first(items: list[str], sep: str) -> str:
    shown = sep.join(items[:MAX_LISTED])
    return shown + (f"{sep}... ({len(items)} in all)" if len(items) > MAX_LISTED else "")


def witness_terms(inc: dict) -> list[str]:
    """The incompatibility witness y, one "+y x (context,token)" per generator."""
    return [f"{e['y']:+d} x ({e['generator'][0]},{e['generator'][1]})" for e in inc["y"]]


def farkas_terms(ex: dict) -> list[str]:
    """The Farkas certificate's margin terms, one "lambda A(context,token)" each."""
    return [f"{e['lambda']} A({e['context']},{e['token']})" for e in (ex.get("farkas") or {}).get("lambda", [])]


def product_text(inc: dict) -> str:
    """The incompatibility witness's product, or its size when too long to write out."""
    if inc["product"] is not None:
        return inc["product"]
    digits = max(len(str(abs(e))) for e in inc["product_exponents"].values())
    return (f"prod_q q^e_q with {digits}-digit exponents over the primes "
            f"{', '.join(inc['product_exponents'])}")


def render_summary(cert: dict, quiet: bool = False) -> str:
    case, ex = cert["case"], cert["exact"]
    t = cert.get("timing", {})
    head = (f"{case['name']}: {cert['verdict'].upper()}  "
            f"(exact {t.get('exact_seconds', 0):.2f} s, numeric {t.get('numeric_seconds', 0):.2f} s)")
    if quiet:
        return head + "\n"
    vocab = case["instance"]["vocabulary"]
    L = [head,
         f"  instance: V = {case['V']}, d = {case['d']}, m = {case['m']}"
         + ("  (trivial: every support is the whole vocabulary)" if ex["trivial"] else ""),
         f"  entropy H = {ex['entropy']['expr']} = {ex['entropy']['value'][:22]}",
         f"  dim F = {ex['F_dim']}; compatible: {'yes' if ex['compatible'] else 'NO'}; "
         f"separable: {'yes' if ex['separable'] else 'NO'}"]
    if ex["compatible"]:
        L.append("  W* (rows in vocabulary order, sum of c log q):")
        L += _matrix_or_note(ex["W_star"]["expr"], vocab)
    else:
        inc = ex["incompatibility"]
        y = _first(witness_terms(inc), ", ")
        L.append(f"  not compatible: the log-odds along y = [{y}] multiply to {product_text(inc)} != 1")
    if ex["separable"]:
        L.append("  W^mm:")
        L += _matrix_or_note(ex["W_mm"], vocab)
        margin = ex["margin"]["expr"] if ex["margin"] else "none (no margin constraints)"
        L.append(f"  ||W^mm||^2 = {ex['W_mm_norm_sq']}; margin = {margin}; "
                 f"support: {_first([f'({c},{v})' for c, v in ex['support']], ' ') or 'none'}")
    else:
        lam = _first(farkas_terms(ex), " + ")
        L.append(f"  not separable: Farkas certificate {lam} + (mu terms) = 0")
    st = ex["step"]
    L.append(f"  GD step eta = {st['eta']} ({'auto, ' if st['auto'] else ''}"
             f"{'proven admissible' if st['admissible'] else 'NOT admissible: eta * lambda_max(M) > 1'}; "
             f"lambda_max(M) ~ {st['lambda_max_M']})")
    L.append("  certificate: exact parts " + ("verified by the checker" if cert.get("exact_verified")
                                              else "DO NOT verify: " + "; ".join(cert.get("exact_problems", []))))
    L.append("  claims:")
    for c in cert["claims"]:
        L.append(f"    {c['id']:<15} {c['status']:<15} {c['summary']}")
    if cert["expectations"]:
        L.append("  expectations:")
        for e in cert["expectations"]:
            L.append(f"    {e['key']:<15} {e['status'].upper() if e['status'] == 'fail' else e['status']:<15} {e['detail']}")
    return "\n".join(L) + "\n\n"
