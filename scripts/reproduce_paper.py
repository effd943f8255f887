"""Reproduce the shapes of the paper's two experiments (Thrampoulidis, NeurIPS 2024).

    python scripts/reproduce_paper.py OUT_DIR [--part a|b|all] [--quick] [--seed 0] [--iterations N]

(a) Fig. 1: a two-dimensional toy (d = 2, m = 3, V = 5, supports {1,2,5}, {1,4,5}, {2,3,4}), the
    case cases/fig1-toy.yaml. Writes OUT_DIR/fig1.png (contexts, rows of W^mm with their
    largest-logit regions and tight margin lines; rows of W*) and OUT_DIR/fig1.txt, and asserts
    the theory's remark: tokens with equal support patterns (z1 and z5) get equal rows of W^mm
    but different rows of W*.
(b) App. A.2: a random instance of the paper's size (m = 50, d = 60, V = 10, |S_j| = 6; built by
    scripts/random_case.py), exact W*, W^mm and F from ntpverify's exact layer, then GD
    (eta = 0.5), normalized GD and Adam (eta = 0.01, betas 0.9 / 0.99) for 1e4 iterations in
    float64. Writes OUT_DIR/appA2.png (CE vs H, ||W_k||, cosine of W_k and of W_k - W* with W^mm,
    ||P_F W_k - W*||) and OUT_DIR/appA2_table.md / .csv (final cosines and projection errors).
    --quick runs 300 iterations (for the tests).

Runs in well under a few minutes on 2 cores (the exact layer takes about 5 s, the optimizers
about 10 s at 1e4 iterations).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from pathlib import Path

import mpmath
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from random_case import random_case_text  # noqa: E402

from ntpverify.fsutil import write_bytes_atomic, write_text_atomic  # noqa: E402
from ntpverify.instance import load_case, parse_case  # noqa: E402
from ntpverify.runner import run_case, run_exact  # noqa: E402

FIG1_CASE = ROOT / "cases" / "fig1-toy.yaml"


# ---------------------------------------------------------------------------------------------
# (a) Fig. 1

def part_a(out: Path) -> dict:
    from ntpverify.report import figure_geometry

    case = load_case(FIG1_CASE)
    inst = case.instance
    supports = [{inst.vocab[z] for z in s} for s in inst.supports]
    assert inst.d == 2 and inst.m == 3 and inst.V == 5, "the Fig. 1 toy has d = 2, m = 3, V = 5"
    assert supports == [{"z1", "z2", "z5"}, {"z1", "z4", "z5"}, {"z2", "z3", "z4"}], supports
    cert = run_case(case, numeric=False)
    ex = run_exact(inst, None)
    Wmm, Wstar = ex.svm.W, ex.compat.W_star
    # equal support patterns -> equal rows of W^mm, different rows of W*
    pattern = {z: tuple(inst.P[j][z] > 0 for j in range(inst.m)) for z in range(inst.V)}
    lines = [f"Fig. 1 toy ({FIG1_CASE.name}): d = 2, m = 3, V = 5; H = {ex.H} = {cert['exact']['entropy']['value'][:8]} nats",
             f"||W^mm||^2 = {ex.svm.norm_sq}, margin = {cert['exact']['margin']['expr']}"]
    same = []
    for a in range(inst.V):
        for b in range(a + 1, inst.V):
            if pattern[a] == pattern[b]:
                same.append((a, b))
                za, zb = inst.vocab[a], inst.vocab[b]
                assert Wmm[a] == Wmm[b], f"rows {za}, {zb} of W^mm differ"
                assert Wstar[a] != Wstar[b], f"rows {za}, {zb} of W* are equal"
                lines.append(f"tokens {za} and {zb} have the same support pattern: equal rows of W^mm "
                             f"{[str(x) for x in Wmm[a]]}, but different rows of W*: "
                             f"{[str(x) for x in Wstar[a]]} vs {[str(x) for x in Wstar[b]]}")
    assert same, "the Fig. 1 toy has tokens with equal support patterns"
    write_bytes_atomic(out / "fig1.png", figure_geometry(cert))
    write_text_atomic(out / "fig1.txt", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out / 'fig1.png'} and {out / 'fig1.txt'}")
    return {"verdict": cert["verdict"], "equal_pairs": same}


# ---------------------------------------------------------------------------------------------
# (b) App. A.2

class Problem:
    """The instance in float64 plus the exact objects (as floats) the plots compare against."""

    def __init__(self, inst, ex):
        self.H = np.array([[float(x) for x in h] for h in inst.H])          # m x d
        self.P = np.array([[float(x) for x in p] for p in inst.P])          # m x V
        self.pi = np.array([float(x) for x in inst.pi])
        ctx = mpmath.MPContext()          # never the global mpmath.mp
        ctx.dps = 30
        self.entropy = float(ex.H.to_mpf(ctx))
        self.W_star = np.array([[float(v.to_mpf(ctx)) for v in row] for row in ex.compat.W_star])
        self.W_mm = np.array([[float(x) for x in row] for row in ex.svm.W])
        V, d = inst.V, inst.d
        # orthonormal basis of F from the basis generators B = (e_z - e_a) h_j^T
        rows = []
        for i in ex.F.basis:
            g = ex.geo.E[i]
            B = np.zeros((V, d))
            B[g.plus] += self.H[g.j]
            B[g.minus] -= self.H[g.j]
            rows.append(B.ravel())
        self.Q = np.linalg.qr(np.array(rows).T)[0] if rows else np.zeros((V * d, 0))

    def loss_grad(self, W):
        L = self.H @ W.T                                   # m x V logits
        L = L - L.max(axis=1, keepdims=True)
        E = np.exp(L)
        Z = E.sum(axis=1, keepdims=True)
        S = E / Z
        logS = L - np.log(Z)
        ce = -float(np.sum(self.pi[:, None] * np.where(self.P > 0, self.P * logS, 0.0)))
        grad = ((S - self.P) * self.pi[:, None]).T @ self.H
        return ce, grad

    def project_F(self, W):
        v = W.ravel()
        return (self.Q @ (self.Q.T @ v)).reshape(W.shape)


def _cos(A, B) -> float:
    na, nb = np.linalg.norm(A), np.linalg.norm(B)
    return float(np.sum(A * B) / (na * nb)) if na and nb else float("nan")


def run_optimizer(pb: Problem, kind: str, iterations: int, eta: float) -> dict:
    """GD / normalized GD / Adam from W_0 = 0; metrics at every iteration."""
    W = np.zeros_like(pb.W_mm)
    m1, m2 = np.zeros_like(W), np.zeros_like(W)
    b1, b2, eps = 0.9, 0.99, 1e-8
    rec = {k: [] for k in ("k", "ce", "norm", "cos", "cos_centered", "proj_err")}
    for k in range(1, iterations + 1):
        _, g = pb.loss_grad(W)
        if kind == "GD":
            W = W - eta * g
        elif kind == "NGD":
            W = W - eta * g / max(np.linalg.norm(g), 1e-300)
        elif kind == "Adam":
            m1 = b1 * m1 + (1 - b1) * g
            m2 = b2 * m2 + (1 - b2) * g * g
            W = W - eta * (m1 / (1 - b1 ** k)) / (np.sqrt(m2 / (1 - b2 ** k)) + eps)
        else:
            raise ValueError(kind)
        ce, _ = pb.loss_grad(W)
        rec["k"].append(k)
        rec["ce"].append(ce)
        rec["norm"].append(float(np.linalg.norm(W)))
        rec["cos"].append(_cos(W, pb.W_mm))
        rec["cos_centered"].append(_cos(W - pb.W_star, pb.W_mm))
        rec["proj_err"].append(float(np.linalg.norm(pb.project_F(W) - pb.W_star)))
    return rec


def plot_appA2(runs: dict, pb: Problem, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 4)
    colours = {"GD": "C0", "NGD": "C1", "Adam": "C2"}
    for name, r in runs.items():
        c = colours[name]
        axes[0].plot(r["k"], r["ce"], color=c, label=name)
        axes[1].plot(r["k"], r["norm"], color=c, label=name)
        axes[2].plot(r["k"], r["cos"], color=c, label=f"{name}: W_k")
        axes[2].plot(r["k"], r["cos_centered"], color=c, linestyle="--", label=f"{name}: W_k - W*")
        axes[3].plot(r["k"], r["proj_err"], color=c, label=name)
    axes[0].axhline(pb.entropy, color="black", linestyle=":", label=f"H = {pb.entropy:.4f}")
    axes[0].set_title("CE(W_k) and the entropy H")
    axes[1].set_title("||W_k||")
    axes[2].set_title("cos with W^mm")
    axes[3].set_title("||P_F(W_k) - W*||")
    axes[3].set_yscale("log")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("iteration k")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def part_b(out: Path, iterations: int, seed: int) -> list[dict]:
    text = random_case_text(m=50, d=60, V=10, support=6, seed=seed)
    case = parse_case(text.encode(), f"random_case_text(seed={seed})")
    inst = case.instance
    t0 = time.perf_counter()
    ex = run_exact(inst, None)
    t_exact = time.perf_counter() - t0
    assert ex.compat.compatible and ex.svm.separable, "d > m: Lemma 1 promises compatible and separable"
    pb = Problem(inst, ex)
    print(f"App. A.2 instance (seed {seed}): m = {inst.m}, d = {inst.d}, V = {inst.V}, |S_j| = 6; "
          f"H = {pb.entropy:.4f} nats, dim F = {ex.F.dim}, ||W^mm||^2 = {float(ex.svm.norm_sq):.4f}; "
          f"exact layer {t_exact:.1f} s")
    settings = {"GD": 0.5, "NGD": 0.01, "Adam": 0.01}
    runs, rows = {}, []
    for name, eta in settings.items():
        t = time.perf_counter()
        r = run_optimizer(pb, name, iterations, eta)
        runs[name] = r
        rows.append({"optimizer": name, "eta": eta, "iterations": iterations,
                     "CE_minus_H": r["ce"][-1] - pb.entropy, "norm": r["norm"][-1],
                     "cos_W_Wmm": r["cos"][-1], "cos_WminusWstar_Wmm": r["cos_centered"][-1],
                     "proj_err": r["proj_err"][-1], "seconds": round(time.perf_counter() - t, 2)})
    png = plot_appA2(runs, pb, f"App. A.2 shape: m = 50, d = 60, V = 10, |S_j| = 6 (seed {seed}), "
                                f"{iterations} iterations; GD eta = 0.5, NGD and Adam eta = 0.01")
    write_bytes_atomic(out / "appA2.png", png)
    head = ["optimizer", "eta", "iterations", "CE - H", "||W_k||", "cos(W_k, W^mm)", "cos(W_k - W*, W^mm)",
            "||P_F W_k - W*||"]
    md = ["| " + " | ".join(h.replace("|", "\\|") for h in head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        md.append(f"| {r['optimizer']} | {r['eta']} | {r['iterations']} | {r['CE_minus_H']:.3e} | {r['norm']:.3f} | "
                  f"{r['cos_W_Wmm']:.4f} | {r['cos_WminusWstar_Wmm']:.4f} | {r['proj_err']:.3e} |")
    write_text_atomic(out / "appA2_table.md", "\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(out / "appA2_table.csv", buf.getvalue())
    print("\n".join(md))
    print(f"wrote {out / 'appA2.png'}, {out / 'appA2_table.md'}, {out / 'appA2_table.csv'}")
    for r in rows:
        if not all(math.isfinite(r[k]) for k in ("CE_minus_H", "cos_W_Wmm", "proj_err")):
            raise SystemExit(f"{r['optimizer']}: non-finite result")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output folder (created if missing)")
    ap.add_argument("--part", choices=["a", "b", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="part (b) with 300 iterations (for tests)")
    ap.add_argument("--iterations", type=int, default=None, help="part (b) iterations (default 10000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the part (b) instance")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if a.part in ("a", "all"):
        part_a(out)
    if a.part in ("b", "all"):
        part_b(out, a.iterations or (300 if a.quick else 10_000), a.seed)
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
