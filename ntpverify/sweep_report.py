"""``ntpverify sweep-report OUTDIR``: phase diagrams, thresholds and margins from a sweep's rows.

Written to OUTDIR/report.html and the PNGs it shows in OUTDIR/report_files/ (together, atomically:
``fsutil.write_page_with_folder``). The rows are read from OUTDIR (the final table and any part
files of an unfinished run), so a report can be drawn while a sweep is still going.

Methods (also stated on the page):
- fractions per cell with Wilson 95 % score intervals (rows with status ``ok`` only);
- the empirical 50 % threshold of the separable fraction in d/m, per (V, |S_j|, m): the first
  crossing of 1/2 by the fraction along the d/m grid, linearly interpolated between the two grid
  points around it; its 95 % interval is the 2.5-97.5 percentile range of the same estimate over
  BOOTSTRAP resamplings of the seeds of every cell (resampling n Bernoulli outcomes with
  replacement is drawing Binomial(n, p_hat) / n, which is how it is computed);
- for V = 2, |S_j| = 1 the separable fraction is compared with Cover's function-counting formula
  P(m, d) = 2^(1-m) sum_{k<d} C(m-1, k) (points in general position, random labels, no bias).
"""

from __future__ import annotations

import html
import io
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from .errors import BadInput

BOOTSTRAP = 1000
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for k successes in n trials (0..1; (0, 1) when n = 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))   # p inside, despite rounding


def crossing(x: np.ndarray, frac: np.ndarray) -> float:
    """First x where ``frac`` (along increasing x) reaches 1/2, linearly interpolated; -inf if it
    starts at or above 1/2, +inf if it never gets there."""
    above = np.nonzero(frac >= 0.5)[0]
    if not len(above):
        return math.inf
    i = above[0]
    if i == 0:
        return -math.inf
    x0, x1, f0, f1 = x[i - 1], x[i], frac[i - 1], frac[i]
    return float(x0 + (0.5 - f0) * (x1 - x0) / (f1 - f0))


def threshold(x: np.ndarray, k: np.ndarray, n: np.ndarray, rng: np.random.Generator,
              draws: int = BOOTSTRAP) -> tuple[float, float, float]:
    """(estimate, low, high): the 50 % crossing and its bootstrap 95 % interval over seeds."""
    frac = k / np.maximum(n, 1)
    est = crossing(x, frac)
    boot = rng.binomial(n[None, :], frac[None, :], size=(draws, len(n))) / np.maximum(n, 1)
    values = np.sort([crossing(x, b) for b in boot])
    # order statistics, not interpolated percentiles: a resample may never cross (+-inf)
    lo, hi = values[int(0.025 * (draws - 1))], values[math.ceil(0.975 * (draws - 1))]
    return est, float(lo), float(hi)


def cover(m: int, d: int) -> float:
    """Cover (1965): the chance that m random-labelled points in general position in R^d are
    linearly separable through the origin, 2^(1-m) sum_{k<d} C(m-1, k)."""
    return min(1.0, sum(math.comb(m - 1, k) for k in range(min(d, m))) / 2 ** (m - 1))


# ---------------------------------------------------------------------------------------------
# Tables

def load_rows(outdir: str | Path) -> tuple[object, list[dict]]:
    """(the sweep, its rows so far) from a results folder; BadInput if it is not one."""
    from .sweep import parse_sweep
    from .sweep_run import Store

    folder = Path(outdir)
    src = folder / "sweep.yaml"
    if not folder.is_dir() or not src.exists():
        raise BadInput("is not a sweep results folder (no sweep.yaml in it; run `ntpverify sweep "
                       "SWEEP.yaml -o OUTDIR` first)", where=str(outdir))
    sweep = parse_sweep(src.read_bytes(), str(src))
    rows = Store(folder, sweep).existing()
    if not rows:
        raise BadInput("holds no rows yet", where=str(outdir))
    return sweep, rows


def cell_table(rows: list[dict]) -> list[dict]:
    """Per cell: n (ok rows), counts separable / compatible / both, Wilson intervals, and
    ||W^mm|| and tight-constraint summaries over the separable rows."""
    by = defaultdict(list)
    for r in rows:
        by[(r["V"], r["support"], r["m"], r["d"])].append(r)
    out = []
    for (V, s, m, d), rs in sorted(by.items()):
        ok = [r for r in rs if r["status"] == "ok"]
        n = len(ok)
        sep = sum(bool(r["separable"]) for r in ok)
        com = sum(bool(r["compatible"]) for r in ok)
        both = sum(bool(r["separable"]) and bool(r["compatible"]) for r in ok)
        norms = [r["W_mm_norm"] for r in ok if r["separable"] and r["W_mm_norm"] is not None]
        tight = [r["tight"] for r in ok if r["separable"] and r["tight"] is not None]
        out.append({"V": V, "support": s, "m": m, "d": d, "x": d / m, "rows": len(rs), "n": n,
                    "errors": sum(r["status"] == "error" for r in rs),
                    "timeouts": sum(r["status"] == "timeout" for r in rs),
                    "separable": sep, "compatible": com, "both": both,
                    "ci": {k: wilson(v, n) for k, v in (("separable", sep), ("compatible", com), ("both", both))},
                    "norm_median": float(np.median(norms)) if norms else None,
                    "norm_q": (float(np.percentile(norms, 25)), float(np.percentile(norms, 75))) if norms else None,
                    "tight_mean": float(np.mean(tight)) if tight else None,
                    "tight_sd": float(np.std(tight)) if tight else None,
                    "seconds": float(np.mean([r["seconds"] for r in rs if r["seconds"] is not None] or [0]))})
    return out


def thresholds(cells: list[dict], seed: int = 0) -> list[dict]:
    """The separable 50 % threshold in d/m per (V, |S_j|, m), with bootstrap 95 % intervals."""
    rng = np.random.default_rng(seed)
    groups = defaultdict(list)
    for c in cells:
        groups[(c["V"], c["support"], c["m"])].append(c)
    out = []
    for (V, s, m), cs in sorted(groups.items()):
        cs = sorted(cs, key=lambda c: c["x"])
        x = np.array([c["x"] for c in cs])
        k = np.array([c["separable"] for c in cs])
        n = np.array([c["n"] for c in cs])
        if len(cs) < 2 or not n.sum():
            continue
        est, lo, hi = threshold(x, k, n, rng)
        out.append({"V": V, "support": s, "m": m, "estimate": est, "low": lo, "high": hi,
                    "cover": 0.5 if (V, s) == (2, 1) else None})
    return out


# ---------------------------------------------------------------------------------------------
# Figures

def _yerr(f: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """Error bar lengths below and above (never negative: the Wilson bounds are floats)."""
    return [np.clip(f - lo, 0, None), np.clip(hi - f, 0, None)]


def _figures(cells: list[dict], ths: list[dict]) -> dict[str, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    pairs = sorted({(c["V"], c["support"]) for c in cells})
    ms = sorted({c["m"] for c in cells})
    colors = {m: plt.cm.viridis(i / max(1, len(ms) - 1) * 0.85) for i, m in enumerate(ms)}
    files = {}

    def save(fig, name):
        from PIL import Image     # matplotlib's own dependency

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=72)
        plt.close(fig)
        buf.seek(0)
        small = io.BytesIO()      # a 256-colour palette: line plots look the same at a third of the size
        Image.open(buf).convert("RGB").quantize(colors=256).save(small, format="PNG", optimize=True)
        files[name] = small.getvalue()

    def series(V, s, m, key):
        cs = sorted((c for c in cells if (c["V"], c["support"], c["m"]) == (V, s, m) and c["n"]),
                    key=lambda c: c["x"])
        x = np.array([c["x"] for c in cs])
        f = np.array([c[key] / c["n"] for c in cs])
        lo = np.array([c["ci"][key][0] for c in cs]) if key in ("separable", "compatible", "both") else None
        hi = np.array([c["ci"][key][1] for c in cs]) if lo is not None else None
        return cs, x, f, lo, hi

    # 1. phase diagram: fraction separable / compatible / both against d/m
    fig, axes = plt.subplots(len(pairs), 3, figsize=(10, 2.1 * len(pairs) + 0.6), squeeze=False,
                             sharex=True, sharey=True)
    for row, (V, s) in enumerate(pairs):
        for col, key in enumerate(("separable", "compatible", "both")):
            ax = axes[row][col]
            for m in ms:
                cs, x, f, lo, hi = series(V, s, m, key)
                if not cs:
                    continue
                ax.errorbar(x, f, yerr=_yerr(f, lo, hi), color=colors[m], marker="o", ms=3, lw=1,
                            capsize=2, label=f"m = {m}")
                if key == "separable" and (V, s) == (2, 1):
                    ax.plot(x, [cover(m, c["d"]) for c in cs], color=colors[m], ls=":", lw=1.2)
            ax.axhline(0.5, color="0.8", lw=0.6, zorder=0)
            ax.set_ylim(-0.04, 1.04)
            if row == 0:
                ax.set_title("fraction " + ("separable and compatible" if key == "both" else key), fontsize=10)
            if col == 0:
                ax.set_ylabel(f"V = {V}, |S_j| = {s}", fontsize=9)
            if row == len(pairs) - 1:
                ax.set_xlabel("d / m")
    axes[0][0].legend(fontsize=7, loc="lower right")
    if (2, 1) in pairs:
        axes[pairs.index((2, 1))][0].text(0.98, 0.45, "dotted: Cover's formula", fontsize=7,
                                          ha="right", transform=axes[pairs.index((2, 1))][0].transAxes)
    fig.tight_layout()
    save(fig, "phase.png")

    # 2. thresholds against |S_j|, per V, one marker per m
    if ths:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        Vs = sorted({t["V"] for t in ths})
        for iv, V in enumerate(Vs):
            for im, m in enumerate(ms):
                ts = [t for t in ths if t["V"] == V and t["m"] == m and math.isfinite(t["estimate"])]
                if not ts:
                    continue
                xs = np.array([t["support"] for t in ts]) + (im - (len(ms) - 1) / 2) * 0.06 + iv * 0.01
                ys = np.array([t["estimate"] for t in ts])
                lo = np.array([t["low"] for t in ts])
                hi = np.array([t["high"] for t in ts])
                ax.errorbar(xs, ys, yerr=_yerr(ys, lo, hi),
                            color=plt.cm.tab10(iv), marker="osD^v"[im % 5], ms=4, lw=1, capsize=2,
                            label=f"V = {V}, m = {m}")
        ax.axhline(0.5, color="0.7", lw=0.6, ls="--")
        ax.set_xlabel("|S_j|")
        ax.set_ylabel("50 % separability threshold, d / m")
        ax.set_xticks(sorted({t["support"] for t in ths}))
        ax.legend(fontsize=6.5, ncol=2)
        fig.tight_layout()
        save(fig, "threshold.png")

    # 3. against m at fixed d (the d values that occur with at least two m)
    n_m = {d: len({c["m"] for c in cells if c["d"] == d}) for d in {c["d"] for c in cells}}
    fixed = sorted(d for d in n_m if n_m[d] >= 2)
    if len(fixed) > 4:          # at most four curves: those with the most m, spread over the range
        best = max(n_m[d] for d in fixed)
        fixed = [d for d in fixed if n_m[d] == best] or fixed
        fixed = [fixed[round(i * (len(fixed) - 1) / 3)] for i in range(4)] if len(fixed) > 4 else fixed
        fixed = sorted(set(fixed))
    if fixed:
        fig, axes = plt.subplots(1, len(pairs), figsize=(2.4 * len(pairs) + 0.4, 2.8), squeeze=False, sharey=True)
        for i, (V, s) in enumerate(pairs):
            ax = axes[0][i]
            for jd, d in enumerate(fixed):
                cs = sorted((c for c in cells if (c["V"], c["support"], c["d"]) == (V, s, d) and c["n"]),
                            key=lambda c: c["m"])
                if len(cs) < 2:
                    continue
                f = np.array([c["separable"] / c["n"] for c in cs])
                lo = np.array([c["ci"]["separable"][0] for c in cs])
                hi = np.array([c["ci"]["separable"][1] for c in cs])
                ax.errorbar([c["m"] for c in cs], f, yerr=_yerr(f, lo, hi), marker="o", ms=3, lw=1,
                            capsize=2, color=plt.cm.plasma(jd / max(1, len(fixed) - 1) * 0.85), label=f"d = {d}")
            ax.set_title(f"V = {V}, |S_j| = {s}", fontsize=9)
            ax.set_xlabel("m")
            ax.set_ylim(-0.04, 1.04)
        axes[0][0].set_ylabel("fraction separable")
        axes[0][0].legend(fontsize=6)
        fig.tight_layout()
        save(fig, "by_m.png")

    # 4. ||W^mm|| and tight constraints against d/m
    fig, axes = plt.subplots(2, len(pairs), figsize=(2.4 * len(pairs) + 0.4, 5), squeeze=False, sharex=True)
    for i, (V, s) in enumerate(pairs):
        for m in ms:
            cs = sorted((c for c in cells if (c["V"], c["support"], c["m"]) == (V, s, m)
                         and c["norm_median"] is not None), key=lambda c: c["x"])
            if not cs:
                continue
            x = [c["x"] for c in cs]
            axes[0][i].plot(x, [c["norm_median"] for c in cs], marker="o", ms=3, lw=1, color=colors[m],
                            label=f"m = {m}")
            axes[0][i].fill_between(x, [c["norm_q"][0] for c in cs], [c["norm_q"][1] for c in cs],
                                    color=colors[m], alpha=0.15, lw=0)
            axes[1][i].errorbar(x, [c["tight_mean"] / m for c in cs], yerr=[c["tight_sd"] / m for c in cs],
                                marker="o", ms=3, lw=1, capsize=2, color=colors[m])
        axes[0][i].set_yscale("log")
        axes[0][i].yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axes[0][i].set_title(f"V = {V}, |S_j| = {s}", fontsize=9)
        axes[1][i].set_xlabel("d / m")
    axes[0][0].set_ylabel("||W^mm|| (median, IQR)")
    axes[1][0].set_ylabel("tight constraints / m")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    save(fig, "wmm.png")
    return files


# ---------------------------------------------------------------------------------------------
# The page

def _fmt_t(t: dict) -> str:
    def f(x):
        return "below the grid" if x == -math.inf else "above the grid" if x == math.inf else f"{x:.3f}"
    return f"{f(t['estimate'])} [{f(t['low'])}, {f(t['high'])}]"


def render_html(sweep, rows: list[dict], cells: list[dict], ths: list[dict], figures: list[str],
                folder: str) -> str:
    esc = html.escape
    n_ok = sum(r["status"] == "ok" for r in rows)
    n_err = sum(r["status"] == "error" for r in rows)
    n_to = sum(r["status"] == "timeout" for r in rows)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>sweep {esc(sweep.name)}</title><style>"
        "body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 7px;text-align:right}th{background:#f3f3f3}"
        "img{max-width:100%;border:1px solid #eee;margin:0.4em 0}code{background:#f5f5f5}"
        "details{margin:0.6em 0}</style></head><body>",
        f"<h1>Sweep <code>{esc(sweep.name)}</code></h1>",
        f"<p>{esc(sweep.description)}</p>" if sweep.description else "",
        f"<p><b>{len(rows)}</b> of {sweep.size} instances ({len(sweep.cells)} cells x {len(sweep.seeds)} seeds), "
        f"<code>compute: {esc(sweep.compute)}</code>, ensemble <code>{esc(sweep.ensemble_key)}</code>: "
        f"{n_ok} ok, {n_err} error, {n_to} timeout (error and timeout rows are left out of every fraction).</p>",
        "<h2>Separability threshold</h2>",
        "<p>The empirical 50 % threshold of the separable fraction in d/m: the first crossing of 1/2 "
        "along the d/m grid, linearly interpolated; in brackets its 95 % interval from "
        f"{BOOTSTRAP} bootstrap resamplings of the seeds of every cell. For V = 2, |S_j| = 1 (binary "
        "labels, one-hot supports) Cover's formula puts it at d/m = 1/2 exactly.</p>",
        "<table><tr><th>V</th><th>|S_j|</th><th>m</th><th>threshold d/m [95 %]</th></tr>",
    ]
    for t in ths:
        parts.append(f"<tr><td>{t['V']}</td><td>{t['support']}</td><td>{t['m']}</td><td>{_fmt_t(t)}</td></tr>")
    parts.append("</table>")
    titles = {"phase.png": "Separable, compatible, both", "threshold.png": "Threshold against |S_j| and V",
              "by_m.png": "Against m at fixed d", "wmm.png": "||W^mm|| and tight constraints"}
    captions = {
        "phase.png": "Fraction of instances separable, compatible and both against d/m, one line per m, "
                     "with Wilson 95 % intervals (dotted for V = 2, |S_j| = 1: Cover's formula).",
        "threshold.png": "The 50 % threshold in d/m against |S_j|, per V and m, with bootstrap 95 % intervals.",
        "by_m.png": "Fraction separable against m at fixed d (the d that occur with several m).",
        "wmm.png": "Top: ||W^mm|| over the separable instances (median and interquartile band). Bottom: "
                   "the number of tight margin constraints of W^mm per context (mean +- sd).",
    }
    for name in figures:
        parts.append(f"<h2>{esc(titles[name])}</h2><p>{esc(captions[name])}</p>"
                     f"<img src='{esc(folder)}/{esc(name)}' alt='{esc(name)}'>")
    parts.append("<details><summary>Every cell</summary><table><tr><th>V</th><th>|S_j|</th><th>m</th>"
                 "<th>d</th><th>d/m</th><th>ok</th><th>error</th><th>timeout</th><th>separable [95 %]</th>"
                 "<th>compatible [95 %]</th><th>both [95 %]</th><th>median ||W^mm||</th>"
                 "<th>mean tight</th><th>mean s</th></tr>")
    for c in cells:
        def frac(key, c=c):
            if not c["n"]:
                return "-"
            lo, hi = c["ci"][key]
            return f"{c[key] / c['n']:.2f} [{lo:.2f}, {hi:.2f}]"
        norm = "-" if c["norm_median"] is None else f"{c['norm_median']:.3g}"
        tight = "-" if c["tight_mean"] is None else f"{c['tight_mean']:.1f}"
        parts.append(
            f"<tr><td>{c['V']}</td><td>{c['support']}</td><td>{c['m']}</td><td>{c['d']}</td>"
            f"<td>{c['x']:.3f}</td><td>{c['n']}</td><td>{c['errors']}</td><td>{c['timeouts']}</td>"
            f"<td>{frac('separable')}</td><td>{frac('compatible')}</td><td>{frac('both')}</td>"
            f"<td>{norm}</td><td>{tight}</td>"
            f"<td>{c['seconds']:.2f}</td></tr>")
    parts.append("</table></details>")
    errors = [r for r in rows if r["status"] != "ok"][:50]
    if errors:
        parts.append("<h2>Rows that did not finish</h2><table><tr><th>cell</th><th>seed</th><th>status</th>"
                     "<th>message</th></tr>")
        for r in errors:
            parts.append(f"<tr><td>{esc(r['cell'])}</td><td>{r['seed']}</td><td>{esc(r['status'])}</td>"
                         f"<td style='text-align:left'>{esc(str(r['error'])[:300])}</td></tr>")
        parts.append("</table>")
    parts.append("<p>Each row can be rerun on its own: <code>ntpverify sweep SWEEP.yaml --instance "
                 "CELL:SEED -o case.yaml</code>, then <code>ntpverify check case.yaml</code>.</p></body></html>\n")
    return "\n".join(p for p in parts if p)


def write_sweep_report(outdir: str | Path) -> Path:
    """Draw the report of a results folder; returns the page's path."""
    from .fsutil import write_page_with_folder

    sweep, rows = load_rows(outdir)
    cells = cell_table(rows)
    ths = thresholds(cells)
    files = _figures(cells, ths)
    folder = Path(outdir) / "report_files"
    page = Path(outdir) / "report.html"
    names = [n for n in ("phase.png", "threshold.png", "by_m.png", "wmm.png") if n in files]
    write_page_with_folder(page, render_html(sweep, rows, cells, ths, names, folder.name), folder, files)
    return page
