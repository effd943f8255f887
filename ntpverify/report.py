"""Human reports (``ntpverify check --report PATH``): Markdown with PNGs beside it, or one HTML page.

Built from certificates alone (a certificate embeds its exact instance, so even the d = 2 picture
needs nothing else). Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure``
on an Agg canvas), never pyplot, so no global figure state leaks between figures or calls.

A report is first built as a list of blocks (headings, paragraphs, tables, images), then rendered
to Markdown or HTML; both carry the same content. Writes are atomic (see ``fsutil``).
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

import numpy as np

from . import __version__
from .explain import explain_claim, section7_lines
from .fsutil import write_page_with_folder, write_text_atomic
from .summary import farkas_terms, product_text, witness_terms

DPI = 110
ANNOTATE_CELLS = 80          # write values into heat-map cells up to this many cells
TEXT_MATRIX_CELLS = 120      # print W*, W^mm as text tables up to this many entries
INSTANCE_TABLE_ROWS = 40     # list contexts in a table up to this many
MAX_MARGIN_LINES = 16        # d = 2 picture: at most this many tight margin lines
STATUS_MARK = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive",
               "not-applicable": "not applicable", "not-checked": "not checked"}


# ---------------------------------------------------------------------------------------------
# blocks

@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Para:
    text: str


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    name: str           # file name (unique within a report)
    caption: str
    png: bytes


@dataclass
class Details:
    summary: str
    text: str


# ---------------------------------------------------------------------------------------------
# numbers

def _q(s) -> float:
    """A certificate number ('p/q' or a decimal string) as a float (nan when absent)."""
    if s is None:
        return math.nan
    try:
        return float(Fraction(str(s)))
    except (ValueError, ZeroDivisionError, OverflowError):
        try:
            return float(s)
        except ValueError:
            return math.nan


def _mat(rows) -> np.ndarray:
    return np.array([[_q(x) for x in row] for row in rows], dtype=float)


def _instance_arrays(cert: dict):
    """(vocab, context names, H m x d, pi, P m x V) as floats, and P as strings."""
    inst = cert["case"]["instance"]
    vocab = list(inst["vocabulary"])
    idx = {t: z for z, t in enumerate(vocab)}
    names = [c["name"] for c in inst["contexts"]]
    H = np.array([[_q(x) for x in c["embedding"]] for c in inst["contexts"]], dtype=float)
    pi = np.array([_q(c["weight"]) for c in inst["contexts"]])
    P = np.zeros((len(names), len(vocab)))
    Ptext = [[""] * len(vocab) for _ in names]
    for j, c in enumerate(inst["contexts"]):
        for tok, p in c["next"].items():
            P[j, idx[tok]] = _q(p)
            Ptext[j][idx[tok]] = str(p)
    return vocab, names, H, pi, P, Ptext


def _figure(**kwargs):
    """A matplotlib Figure on its own Agg canvas (matplotlib is imported on first use only)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as _Figure

    fig = _Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _short(x: float, digits: int = 3) -> str:
    if not math.isfinite(x):
        return ""
    if x == 0:
        return "0"
    if abs(x) >= 1e-2 and abs(x) < 1e4:
        return f"{x:.{digits}g}"
    return f"{x:.{max(digits - 1, 1)}e}"


# ---------------------------------------------------------------------------------------------
# figures

def figure_instance(cert: dict) -> bytes:
    """P as a heat map (contexts x tokens); cells outside the support are hatched and marked x."""
    from matplotlib.patches import Rectangle

    vocab, names, _, pi, P, Ptext = _instance_arrays(cert)
    m, V = P.shape
    w = min(max(5.5, 2.6 + 0.55 * V), 16)
    h = min(max(2.6, 1.5 + 0.32 * m), 18)
    fig = _figure(figsize=(w, h))
    ax = fig.add_subplot()
    masked = np.ma.masked_where(P <= 0, P)
    cmap = _cmap("Blues").with_extremes(bad="white")
    im = ax.imshow(masked, cmap=cmap, vmin=0, vmax=max(float(P.max()), 1e-12), aspect="auto",
                   interpolation="nearest")
    annotate = m * V <= ANNOTATE_CELLS
    for j in range(m):
        for z in range(V):
            if P[j, z] <= 0:
                ax.add_patch(Rectangle((z - 0.5, j - 0.5), 1, 1, fill=False, hatch="///",
                                       edgecolor="0.65", linewidth=0))
                if annotate:
                    ax.text(z, j, "x", ha="center", va="center", color="0.45", fontsize=9)
            elif annotate:
                ax.text(z, j, Ptext[j][z], ha="center", va="center", fontsize=8,
                        color="white" if P[j, z] > 0.6 * P.max() else "black")
    cols = _every(V, 60)
    ax.set_xticks(cols, [_clip(vocab[z]) for z in cols], rotation=90 if V > 12 else 0, fontsize=8)
    rows = _every(m, 60)
    ax.set_yticks(rows, [f"{_clip(names[j])} ({_short(pi[j], 2)})" for j in rows], fontsize=8)
    ax.set_xlabel("next token z")
    ax.set_ylabel("context j (weight pi_j)")
    ax.set_title("next-token probabilities p_{j,z}\n(hatched, x: outside the support S_j)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    fig.tight_layout()
    return _png(fig)


def figure_decoders(cert: dict) -> bytes:
    """W* and W^mm as heat maps side by side, rows in the same (vocabulary) order."""
    ex = cert["exact"]
    vocab = cert["case"]["instance"]["vocabulary"]
    V, d = cert["case"]["V"], cert["case"]["d"]
    panels = [("W* (in F; sum_q M_q log q)", _mat(ex["W_star"]["value"]) if ex.get("W_star") else None,
               None if ex.get("W_star") else "not compatible: W* does not exist"),
              ("W^mm (NTP-SVM, in F-perp)", _mat(ex["W_mm"]) if ex.get("W_mm") else None,
               None if ex.get("W_mm") else "not separable: W^mm does not exist")]
    w = min(2.5 + 2 * (1.2 + 0.45 * d), 18)
    h = min(1.6 + 0.3 * V, 16)
    fig = _figure(figsize=(w, h))
    axes = fig.subplots(1, 2, sharey=True)
    annotate = V * d <= ANNOTATE_CELLS
    for ax, (title, M, missing) in zip(axes, panels):
        ax.set_title(title, fontsize=9)
        if M is None:
            ax.imshow(np.zeros((V, d)), cmap=_cmap("Greys"), vmin=0, vmax=1, aspect="auto")
            ax.text((d - 1) / 2, (V - 1) / 2, missing, ha="center", va="center", fontsize=9, wrap=True)
        else:
            vmax = float(np.nanmax(np.abs(M))) or 1.0
            im = ax.imshow(M, cmap=_cmap("RdBu_r"), vmin=-vmax, vmax=vmax, aspect="auto",
                           interpolation="nearest")
            fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
            if annotate:
                for r in range(V):
                    for c in range(d):
                        ax.text(c, r, _short(M[r, c], 2), ha="center", va="center", fontsize=7,
                                color="white" if abs(M[r, c]) > 0.6 * vmax else "black")
        cols = _every(d, 30)
        ax.set_xticks(cols, [str(c + 1) for c in cols], fontsize=7)
        ax.set_xlabel("embedding coordinate")
    rows = _every(V, 60)
    axes[0].set_yticks(rows, [_clip(vocab[r]) for r in rows], fontsize=8)
    axes[0].set_ylabel("token (row)")
    fig.tight_layout()
    return _png(fig)


def _tidy_log_axes(ax) -> None:
    """Few ticks on log axes (matplotlib draws a tick per decade and 8 minor ticks each by default,
    which is slow and unreadable over 60 decades)."""
    from matplotlib.ticker import LogLocator, NullLocator

    for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()), (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        if scale == "log" and min(lim) > 0 and math.log10(max(lim) / min(lim)) > 4:
            axis.set_major_locator(LogLocator(base=10, numticks=7))
            axis.set_minor_locator(NullLocator())


def _positive(xs, ys):
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0]
    return [p[0] for p in pts], [p[1] for p in pts]


def _k_panel(ax, label: str, ks: list, ys: list, log_y: bool) -> tuple[list, list]:
    """Title and log-k axes of one GD panel; returns the points that can be drawn (finite, and
    positive on a log axis)."""
    ax.set_title(label, fontsize=10)
    ax.set_xlabel("iteration k")
    ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
        return _positive(ks, ys)
    keep = [(k, y) for k, y in zip(ks, ys) if math.isfinite(y)]
    return [k for k, _ in keep], [y for _, y in keep]


def figure_gd(cert: dict) -> bytes | None:
    """Loss gap, projection error, cosine gap and norm of the GD iterates against k, with the
    predicted rates (drawn only when the case is compatible and separable)."""
    gd = (cert.get("numeric") or {}).get("gd")
    if not gd or not gd.get("checkpoints"):
        return None
    ex = cert["exact"]
    cps = gd["checkpoints"]
    ks = [c["k"] for c in cps]
    theory = bool(ex.get("compatible") and ex.get("separable") and not ex.get("trivial")
                  and ex.get("W_mm_norm_sq"))
    nsq = _q(ex.get("W_mm_norm_sq")) if theory else math.nan
    eta = _q(gd.get("eta"))
    fig = _figure(figsize=(10, 7.2))
    axes = fig.subplots(2, 2).ravel()
    specs = [("loss_gap", "CE(W_k) - H", "||W^mm||^2 / (eta k)"),
             ("proj_err", "||P_F(W_k) - W*||", "c / k (c fitted at the last k)"),
             ("cos_gap", "1 - cos(W_k, W^mm)", "c / log^2 k (c fitted at the last k)"),
             ("norm", "||W_k||", "||W^mm|| log k + c (c fitted at the last k)")]
    for ax, (key, label, pred_label) in zip(axes, specs):
        ys = [_q(c.get(key)) for c in cps]
        xs_m, ys_m = _k_panel(ax, label, ks, ys, key != "norm")
        if all(not math.isfinite(y) for y in ys):
            ax.text(0.5, 0.5, "not defined for this case\n(W* or W^mm does not exist)",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.minorticks_off()
            continue
        if not ys_m:
            ax.text(0.5, 0.5, "zero at every checkpoint\n(at the precision floor)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=9)
            continue
        ax.plot(xs_m, ys_m, "o-", color="C0", markersize=3.5, label="measured")
        dropped = len([y for y in ys if math.isfinite(y)]) - len(ys_m)
        if dropped:
            ax.text(0.02, 0.02, f"{dropped} checkpoint(s) at 0 (precision floor) not drawn",
                    transform=ax.transAxes, fontsize=7, color="0.4")
        if theory:
            kk = np.logspace(math.log10(max(min(ks), 1)), math.log10(max(ks)), 200)
            kl, yl = xs_m[-1], ys_m[-1]
            pred = None
            if key == "loss_gap" and math.isfinite(eta) and eta > 0:
                pred = nsq / (eta * kk)
            elif key == "proj_err":
                pred = yl * kl / kk
            elif key == "cos_gap" and kl > 1:
                kk = kk[kk >= 2]
                pred = yl * math.log(kl) ** 2 / np.log(kk) ** 2
            elif key == "norm":
                pred = yl + math.sqrt(nsq) * (np.log(kk) - math.log(kl))
                keep = pred > 0
                kk, pred = kk[keep], pred[keep]
            if pred is not None and len(kk):
                ax.plot(kk, pred, "--", color="C3", linewidth=1.3, label="predicted: " + pred_label)
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="major", alpha=0.3)
        _tidy_log_axes(ax)
    note = f"GD, eta = {gd.get('eta')}, {gd.get('iterations')} iterations, {gd.get('backend')} at {gd.get('precision')} digits"
    if not theory:
        note += "  (no predicted rates: the paper's hypotheses do not hold for this case)"
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def figure_path(cert: dict) -> bytes | None:
    """Projection error and cosine gap of the norm-ball path W_B against B, with e^(-B/||W^mm||)."""
    path = (cert.get("numeric") or {}).get("path")
    if not path:
        return None
    ex = cert["exact"]
    Bs = [_q(p["B"]) for p in path]
    nsq = _q(ex.get("W_mm_norm_sq"))
    fig = _figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    xs, ys = _positive(Bs, [_q(p.get("proj_err")) for p in path])
    ax1.set_title("||P_F(W_B) - W*|| (log scale)", fontsize=10)
    ax1.set_yscale("log")
    ax1.set_xlabel("radius B")
    if ys:
        ax1.plot(xs, ys, "o-", color="C0", markersize=3.5, label="measured")
        if math.isfinite(nsq) and nsq > 0:
            bb = np.linspace(min(Bs), max(Bs), 200)
            nrm = math.sqrt(nsq)
            pred = ys[-1] * np.exp(-(bb - xs[-1]) / nrm)
            ax1.plot(bb, pred, "--", color="C3", label="predicted: c e^(-B/||W^mm||) (c fitted at the last B)")
        ax1.legend(fontsize=7)
    else:
        ax1.text(0.5, 0.5, "zero (precision floor) or not defined", transform=ax1.transAxes,
                 ha="center", va="center", fontsize=9)
    xs, ys = _positive(Bs, [_q(p.get("cos_gap")) for p in path])
    ax2.set_title("1 - cos(W_B, W^mm)", fontsize=10)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("radius B")
    if ys:
        ax2.plot(xs, ys, "o-", color="C0", markersize=3.5, label="measured")
        bb = np.logspace(math.log10(min(xs)), math.log10(max(xs)), 100)
        ax2.plot(bb, ys[-1] * (xs[-1] / bb) ** 2, ":", color="0.4",
                 label="reference c / B^2 (polynomial decay; thm1 checks (1-cos) B^2 bounded)")
        ax2.legend(fontsize=7)
    else:
        ax2.text(0.5, 0.5, "not defined for this case", transform=ax2.transAxes, ha="center",
                 va="center", fontsize=9)
    for ax in (ax1, ax2):
        ax.grid(True, alpha=0.3)
        _tidy_log_axes(ax)
    fig.suptitle("norm-ball regularisation path W_B = argmin_{||W|| <= B} CE(W)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _token_groups(W: np.ndarray, vocab: list[str], exact_rows=None) -> list[tuple[list[int], np.ndarray]]:
    """Tokens with identical rows (exactly identical when ``exact_rows`` is given), in first order."""
    keys = exact_rows if exact_rows is not None else [tuple(np.round(r, 12)) for r in W]
    groups: dict = {}
    for z, key in enumerate(keys):
        groups.setdefault(tuple(key), []).append(z)
    return [(zs, W[zs[0]]) for zs in groups.values()]


def figure_geometry(cert: dict) -> bytes | None:
    """d = 2 only (paper Fig. 1 style): contexts h_j, rows of W^mm as vectors, the regions where each
    row has the largest logit, and the margin lines (w_{a_j} - w_v)^T h = 1 of the tight pairs; a
    second panel shows the rows of W* the same way."""
    if cert["case"]["d"] != 2:
        return None
    ex = cert["exact"]
    vocab, names, H, _, P, _ = _instance_arrays(cert)
    supports = [[z for z in range(len(vocab)) if P[j, z] > 0] for j in range(len(names))]
    panels = []
    if ex.get("W_mm"):
        panels.append(("W^mm", _mat(ex["W_mm"]), [tuple(r) for r in ex["W_mm"]]))
    if ex.get("W_star"):
        panels.append(("W*", _mat(ex["W_star"]["value"]), [tuple(r) for r in ex["W_star"]["expr"]]))
    if not panels:
        panels.append((None, None, None))
    fig = _figure(figsize=(5.6 * len(panels), 5.4))
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    lim = 1.3 * (float(np.max(np.abs(H))) or 1.0)
    for ax, (title, M, rows) in zip(axes, panels):
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", linewidth=0.8)
        ax.axvline(0, color="0.85", linewidth=0.8)
        scale = 1.0
        if M is not None:
            groups = _token_groups(M, vocab, rows)
            longest = max(float(np.linalg.norm(w)) for _, w in groups)
            if longest > 0 and not 0.3 * lim <= longest <= 0.85 * lim:
                scale = 0.7 * lim / longest          # arrows drawn to a readable length
            # background: which group has the largest logit w^T h at each point h
            g = np.linspace(-lim, lim, 300)
            X, Y = np.meshgrid(g, g)
            logits = np.stack([w[0] * X + w[1] * Y for _, w in groups])
            arg = np.argmax(logits, axis=0)
            colours = [_tab(zs[0]) for zs, _ in groups]      # a token keeps its colour in every panel
            rgb = np.array(colours)[arg]
            ax.imshow(0.82 + 0.18 * rgb, extent=(-lim, lim, -lim, lim), origin="lower", alpha=1.0,
                      interpolation="nearest", zorder=0)
            for i, (zs, w) in enumerate(groups):
                label = "=".join(_clip(vocab[z], 8) for z in zs)
                tip = scale * w
                ax.annotate("", xy=(tip[0], tip[1]), xytext=(0, 0),
                            arrowprops=dict(arrowstyle="-|>", color=colours[i], linewidth=2), zorder=3)
                ax.text(tip[0] * 1.1, tip[1] * 1.1, f"w_{label}", color=colours[i], fontsize=9,
                        fontweight="bold", ha="center", va="center", zorder=4,
                        bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.6))
            if title == "W^mm":
                _margin_lines(ax, cert, M, vocab, names, lim)
        for j, (h, S) in enumerate(zip(H, supports)):
            ax.plot(h[0], h[1], "o", color="black", markersize=7, zorder=5)
            ax.plot(h[0], h[1], "o", color="white", markersize=4, zorder=6)
            text = f"{_clip(names[j], 10)} {{{','.join(_clip(vocab[z], 6) for z in S)}}}"
            ax.text(h[0], h[1] + 0.05 * lim, text, fontsize=8, ha="center", va="bottom", zorder=6,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
        shown = "" if scale == 1.0 else f" (arrows x{_short(scale, 2)})"
        if title == "W^mm":
            ax.set_title(f"contexts h_j (support in braces), rows of W^mm{shown},\nregions of the largest "
                         "logit, tight margin lines (w_a - w_v)^T h = 1", fontsize=9)
        elif title == "W*":
            ax.set_title(f"rows of W*{shown} and their largest-logit regions\n(equal support patterns do "
                         "not give equal rows here)", fontsize=9)
        else:
            ax.set_title("contexts h_j (neither W* nor W^mm exists)", fontsize=9)
        ax.set_xlabel("coordinate 1")
        ax.set_ylabel("coordinate 2")
    fig.tight_layout()
    return _png(fig)


def _margin_lines(ax, cert, M, vocab, names, lim):
    """Lines {h : (w_{a_j} - w_v)^T h = 1} of the tight pairs (j, v), dashed, labelled with the pairs
    (a tight pair's context h_j lies on its line)."""
    inst = cert["case"]["instance"]
    idx = {t: z for z, t in enumerate(vocab)}
    anchors = {c["name"]: min(idx[t] for t in c["next"]) for c in inst["contexts"]}
    lines: dict = {}
    for ctx, tok in cert["exact"].get("support") or []:
        n = M[anchors[ctx]] - M[idx[tok]]
        if not np.any(n):
            continue
        lines.setdefault(tuple(np.round(n, 12)), (n, []))[1].append(f"({_clip(ctx, 6)},{_clip(tok, 6)})")
    for n, labels in list(lines.values())[:MAX_MARGIN_LINES]:
        base = n / float(n @ n)               # the point of the line closest to the origin
        u = np.array([-n[1], n[0]]) / float(np.linalg.norm(n))
        t = np.linspace(-3 * lim, 3 * lim, 2)
        line = base[None, :] + t[:, None] * u[None, :]
        ax.plot(line[:, 0], line[:, 1], "--", color="0.35", linewidth=0.9, zorder=2)
        reach = 0.8 * lim
        s = math.sqrt(max(reach ** 2 - float(base @ base), 0.0))
        at = base + s * u
        ax.text(at[0], at[1], " ".join(labels[:3]) + (" ..." if len(labels) > 3 else ""), fontsize=6.5,
                color="0.25", ha="center", va="center", zorder=4,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.7))


def _tab(i: int):
    import matplotlib

    return np.array(matplotlib.colormaps["tab10"](i % 10)[:3])


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name].copy()


def _cell(exact: str, value: str | None = None, limit: int = 40) -> str:
    """An exact value for a table; longer than ``limit`` characters: a 6-digit decimal with ~
    (the certificate keeps the exact value)."""
    if len(exact) <= limit:
        return exact
    x = _q(value if value is not None else exact)
    return f"~{x:.6g} (exact: see the certificate)"


def _every(n: int, most: int) -> list[int]:
    """Tick positions 0..n-1, thinned to at most about ``most`` labels."""
    step = max(1, math.ceil(n / most))
    return list(range(0, n, step))


def _clip(s: str, n: int = 14) -> str:
    s = str(s)
    return s if len(s) <= n else s[: n - 1] + "~"


# ---------------------------------------------------------------------------------------------
# content

def figure_section7(cert: dict) -> bytes | None:
    """GD against theory.md section 7's predictions: CE(W_k) - inf CE, ||P_Fbar(W_k) - Wbar||,
    1 - cos(W_k, What) and ||W_k|| against ||What|| log k (from numeric.gd.section7)."""
    gd = (cert.get("numeric") or {}).get("gd") or {}
    rows = gd.get("section7")
    if not rows:
        return None
    ex = cert["exact"]
    ks = [r["k"] for r in rows]
    nh = math.sqrt(_q(ex["W_hat_norm_sq"])) if ex.get("W_hat_norm_sq") else None
    eta = _q(gd.get("eta"))
    fig = _figure(figsize=(10, 7.2))
    axes = fig.subplots(2, 2).ravel()
    specs = [("ce_minus_inf", "CE(W_k) - inf CE (bracket midpoint)"), ("fbar_err", "||P_Fbar(W_k) - Wbar||"),
             ("cos_gap_W_hat", "1 - cos(W_k, What)"), ("norm", "||W_k||")]
    for ax, (key, label) in zip(axes, specs):
        xs_m, ys_m = _k_panel(ax, label, ks, [_q(r.get(key)) for r in rows], key != "norm")
        if not ys_m:
            ax.text(0.5, 0.5, "not defined (no pair vanishes)" if key == "cos_gap_W_hat" else "at the precision floor",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9)
            continue
        ax.plot(xs_m, ys_m, "o-", color="C0", markersize=3.5, label="measured")
        kk = np.logspace(math.log10(max(min(xs_m), 1)), math.log10(max(xs_m)), 200)
        kl, yl = xs_m[-1], ys_m[-1]
        pred, plabel = None, ""
        if key == "ce_minus_inf" and nh and math.isfinite(eta) and eta > 0:
            pred, plabel = nh ** 2 / (eta * kk), "||What||^2 / (eta k) (analogue of ext-loss-rate; observed only)"
        elif key in ("ce_minus_inf", "fbar_err"):
            pred, plabel = yl * kl / kk, "c / k (assumed rate, c fitted at the last k)"
        elif key == "norm" and nh:
            pred, plabel = yl + nh * (np.log(kk) - math.log(kl)), "||What|| log k + c (conjecture)"
        if pred is not None:
            ax.plot(kk, pred, "--", color="C3", linewidth=1.3, label="predicted: " + plabel)
        ax.legend(fontsize=7, loc="best")
        ax.grid(True, which="major", alpha=0.3)
        _tidy_log_axes(ax)
    inf = ex["inf_CE"]
    fig.suptitle(f"GD against theory.md 7 (eta = {gd.get('eta')}, {gd.get('iterations')} iterations); inf CE = "
                 + (inf["expr"] if inf["expr"] else f"[{inf['lower'][:14]}, {inf['upper'][:14]}]"), fontsize=9)
    fig.tight_layout()
    return _png(fig)


def section7_blocks(cert: dict) -> list:
    """The decomposition in words, What and the inf CE bracket (theory.md 7)."""
    ex = cert["exact"]
    if "decomposition" not in ex:
        return []
    lines = section7_lines(ex, cert.get("inf_CE_detail"), q=lambda t: t if len(t) <= 24 else f"~{_q(t):.6g}")
    return [Heading(3, "Stuck and vanishing pairs, What, inf CE (theory.md 7)")] + [Para(x.strip()) for x in lines[1:]]


def case_blocks(cert: dict, prefix: str) -> list:
    """The blocks of one case's section; image names start with ``prefix``."""
    case, ex = cert["case"], cert["exact"]
    vocab = case["instance"]["vocabulary"]
    B: list = [Heading(2, f"{case['name']}: {cert['verdict'].upper()}")]
    t = cert.get("timing", {})
    B.append(Para(f"V = {case['V']} tokens, d = {case['d']}, m = {case['m']} contexts. "
                  f"Case file sha256 {case.get('sha256', '?')[:16]}...; exact part "
                  f"{'verified by the trusted checker' if cert.get('exact_verified') else 'DOES NOT VERIFY: ' + '; '.join(cert.get('exact_problems', []))}"
                  f"; exact {t.get('exact_seconds', 0)} s, numeric {t.get('numeric_seconds', 0)} s."))
    # instance
    B.append(Heading(3, "Instance"))
    inst = case["instance"]
    if len(inst["contexts"]) <= INSTANCE_TABLE_ROWS:
        B.append(Table(["context", "weight pi_j", "embedding h_j", "next-token probabilities p_j"],
                       [[c["name"], c["weight"], "[" + ", ".join(c["embedding"]) + "]",
                         ", ".join(f"{k}: {v}" for k, v in c["next"].items())] for c in inst["contexts"]]))
    B.append(Image(f"{prefix}instance.png",
                   "Next-token probabilities P (rows: contexts, columns: tokens); hatched cells marked x are "
                   "outside the support S_j.", figure_instance(cert)))
    # exact objects
    B.append(Heading(3, "Exact objects"))
    facts = [f"entropy H = {_cell(ex['entropy']['expr'], ex['entropy']['value'], 200)} = {ex['entropy']['value'][:24]}",
             f"dim F = {ex['F_dim']}",
             f"compatible: {'yes' if ex['compatible'] else 'NO'}",
             f"separable: {'yes' if ex['separable'] else 'NO'}"]
    if ex.get("trivial"):
        facts.append("trivial instance: every support is the whole vocabulary")
    if ex["separable"]:
        margin = _cell(ex["margin"]["expr"], ex["margin"]["value"]) if ex.get("margin") else "none"
        facts.append(f"||W^mm||^2 = {_cell(ex['W_mm_norm_sq'])}, margin 1/||W^mm|| = {margin}")
    else:
        lam = " + ".join(farkas_terms(ex))
        facts.append(f"not separable; Farkas certificate: {lam} + (mu terms) = 0")
    if not ex["compatible"]:
        inc = ex["incompatibility"]
        y = ", ".join(witness_terms(inc))
        facts.append(f"not compatible: the log-odds along y = [{y}] multiply to {product_text(inc)}, not 1")
    st = ex["step"]
    facts.append(f"GD step eta = {st['eta']} ({'proven admissible' if st['admissible'] else 'NOT admissible'})")
    B.append(Para("; ".join(facts) + "."))
    if case["V"] * case["d"] <= TEXT_MATRIX_CELLS:
        cols = [f"{c + 1}" for c in range(case["d"])]
        if ex.get("W_star"):
            B.append(Para("W* (rows in vocabulary order):"))
            B.append(Table(["token"] + cols, [[t] + [_cell(e, v) for e, v in zip(row, vals)] for t, row, vals
                                              in zip(vocab, ex["W_star"]["expr"], ex["W_star"]["value"])]))
        if ex.get("W_mm"):
            B.append(Para("W^mm:"))
            B.append(Table(["token"] + cols, [[t] + [_cell(x) for x in row] for t, row in zip(vocab, ex["W_mm"])]))
    B.append(Image(f"{prefix}decoders.png",
                   "W* (left) and W^mm (right) as heat maps, rows in the same (vocabulary) order, columns "
                   "= embedding coordinates (paper Fig. 2 style).", figure_decoders(cert)))
    if ex.get("multipliers"):
        rows = [[e["context"], e["token"], _cell(e["lambda"])] for e in ex["multipliers"]]
        if len(rows) <= 60:
            B.append(Para("KKT multipliers of the NTP-SVM (lambda_{j,v} > 0 only on tight pairs; "
                          "sum lambda = ||W^mm||^2):"))
            B.append(Table(["context j", "token v", "lambda_{j,v}"], rows))
        else:
            B.append(Para(f"{len(rows)} non-zero KKT multipliers (see the certificate)."))
    geo = figure_geometry(cert)
    if geo is not None:
        B.append(Image(f"{prefix}geometry.png",
                       "d = 2 (paper Fig. 1 style): context embeddings with their supports, rows of the "
                       "decoder as vectors (tokens with equal rows are joined with '='), the regions where "
                       "each row gives the largest logit, and the dashed margin lines of the tight "
                       "constraints.", geo))
    B += section7_blocks(cert)
    # claims
    B.append(Heading(3, "Claims"))
    B.append(Table(["claim", "status", "evidence summary"],
                   [[c["id"], STATUS_MARK.get(c["status"], c["status"]), c["summary"]] for c in cert["claims"]]))
    for c in cert["claims"]:
        B.append(Details(f"{c['id']}: {STATUS_MARK.get(c['status'], c['status'])}", explain_claim(c, cert)))
    if cert.get("expectations"):
        B.append(Heading(3, "Expectations (your hand derivation)"))
        B.append(Table(["key", "status", "detail"],
                       [[e["key"], STATUS_MARK.get(e["status"], e["status"]), e["detail"]] for e in cert["expectations"]]))
    else:
        B.append(Para("No expectations were given (add an expect block to the case to have your hand "
                      "derivation checked)."))
    # numerics
    gd_png, path_png = figure_gd(cert), figure_path(cert)
    if gd_png or path_png:
        B.append(Heading(3, "Convergence"))
        if gd_png:
            B.append(Image(f"{prefix}gd.png",
                           "Gradient descent, from the certificate's checkpoints (log axes): measured values "
                           "(solid) and the predicted rates (dashed): loss gap ~ ||W^mm||^2/(eta k), "
                           "projection error ~ 1/k, cosine gap ~ c/log^2 k, norm ~ ||W^mm|| log k.", gd_png))
        if path_png:
            B.append(Image(f"{prefix}path.png",
                           "Regularisation path: projection error against B (predicted e^(-B/||W^mm||)) "
                           "and cosine gap against B.", path_png))
        s7 = figure_section7(cert)
        if s7:
            B.append(Image(f"{prefix}section7.png",
                           "Gradient descent against theory.md section 7 (log axes): CE(W_k) - inf CE, the "
                           "distance of the finite part P_Fbar(W_k) to Wbar, the angle to What and the norm, "
                           "measured (solid) and predicted (dashed).", s7))
        fr = (cert.get("numeric") or {}).get("gd", {}).get("failure_report")
        if fr:
            inf = fr.get("inf_ce", {})
            B.append(Para(f"The paper's hypotheses fail here; observed instead: inf CE is about "
                          f"{inf.get('estimate', '?')} (+- {inf.get('uncertainty', '?')}) against H = {fr.get('H', '?')}; "
                          f"norm of the iterates: {fr.get('norm', {}).get('verdict', '?')}."))
    else:
        B.append(Para("No numeric part in this certificate (run without --exact-only to get the "
                      "convergence plots)."))
    return B


def report_blocks(certs: list[dict]) -> list:
    B: list = [Heading(1, "ntpverify report")]
    from .status import Status
    counts = {s.value: sum(c["verdict"] == s.value for c in certs) for s in Status}
    line = f"{len(certs)} case(s): {counts['pass']} passed, {counts['fail']} failed"
    if counts["inconclusive"]:
        line += f", {counts['inconclusive']} inconclusive"
    B.append(Para(f"{line}. ntpverify {__version__}. Each section is built from the case's certificate; "
                  "exact objects are exact (rationals and logs of primes), plots are numeric evidence "
                  "(observed vs predicted), never a proof."))
    if len(certs) > 1:
        B.append(Table(["case", "verdict", "V", "d", "m"],
                       [[c["case"]["name"], c["verdict"], str(c["case"]["V"]), str(c["case"]["d"]),
                         str(c["case"]["m"])] for c in certs]))
    used: set[str] = set()
    for i, cert in enumerate(certs):
        base = _slug(cert["case"]["name"])
        prefix = base if base not in used else f"{base}-{i + 1}"
        used.add(prefix)
        B += case_blocks(cert, prefix + "-")
    return B


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:60] or "case"


# ---------------------------------------------------------------------------------------------
# rendering

def _md_cell(s: str) -> str:
    """A table cell (already through ``_md_text``): pipes escaped, one line."""
    return str(s).replace("|", "\\|").replace("\n", " ")


def _md_text(s: str) -> str:
    """Escape characters Markdown would read as emphasis or markup."""
    out = str(s)
    for ch in ("\\", "*", "_", "`", "<", "[", "]"):
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(blocks: list, folder: str) -> tuple[str, dict[str, bytes]]:
    """(Markdown text, {file name: PNG bytes}); images are linked as ``folder/name``."""
    out: list[str] = []
    files: dict[str, bytes] = {}
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + _md_text(b.text))
        elif isinstance(b, Para):
            out.append(_md_text(b.text))
        elif isinstance(b, Table):
            out.append("| " + " | ".join(_md_cell(_md_text(h)) for h in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out += ["| " + " | ".join(_md_cell(_md_text(c)) for c in row) + " |" for row in b.rows]
        elif isinstance(b, Image):
            files[b.name] = b.png
            alt = b.caption.replace("[", "(").replace("]", ")").replace("\n", " ")
            out.append(f"![{alt}]({quote(folder)}/{quote(b.name)})")
            out.append("")
            out.append(f"*{_md_text(b.caption)}*")
        elif isinstance(b, Details):
            out.append(f"- **{_md_text(b.summary)}**: {_md_text(b.text)}")
            continue
        out.append("")
    return "\n".join(out).rstrip() + "\n", files


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 7px;
font-size:0.9em;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}
figure{margin:1em 0}figcaption{font-size:0.85em;color:#555}details{margin:0.2em 0}
summary{cursor:pointer}.fail{color:#b00;font-weight:bold}.pass{color:#070}
.inconclusive{color:#a60}code{font-size:0.9em}
"""


def render_html(blocks: list, title: str = "ntpverify report") -> str:
    """One self-contained HTML page (PNGs inlined as base64 data URIs)."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{e(title)}</title><style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Table):
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.header) + "</tr>")
            for row in b.rows:
                out.append("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>")
            out.append("</table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            out.append(f'<figure><img alt="{e(b.caption)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{e(b.caption)}</figcaption></figure>")
        elif isinstance(b, Details):
            out.append(f"<details><summary>{e(b.summary)}</summary><p>{e(b.text)}</p></details>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_cell(c: str) -> str:
    cls = {"pass": "pass", "FAIL": "fail", "inconclusive": "inconclusive"}.get(str(c))
    return f'<td class="{cls}">{html.escape(str(c))}</td>' if cls else f"<td>{html.escape(str(c))}</td>"


def files_folder(path: Path) -> Path:
    """The folder of PNGs that goes with a Markdown report: ``STEM_files`` beside it."""
    return path.with_name(path.stem + "_files")


def write_report(path: str | Path, certs: list[dict]) -> list[Path]:
    """Write the report for ``certs`` to ``path`` (``.md`` or ``.html``/``.htm``) atomically.

    Returns the paths written. A ``.md`` report puts its PNGs in ``STEM_files/`` beside it.
    Raises ValueError for another extension (the CLI checks this before any work).
    """
    path = Path(path)
    kind = report_kind(path)
    blocks = report_blocks(certs)
    if kind == "html":
        write_text_atomic(path, render_html(blocks))
        return [path]
    folder = files_folder(path)
    text, files = render_markdown(blocks, folder.name)
    write_page_with_folder(path, text, folder, files)
    return [path, folder]


def report_kind(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".md":
        return "md"
    if suffix in (".html", ".htm"):
        return "html"
    raise ValueError(f"{path}: a report must end in .md or .html (got {suffix or 'no extension'!r})")
