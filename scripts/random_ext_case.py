"""Seeded random instances where separability (and often compatibility) fails (theory.md section 7).

    python scripts/random_ext_case.py OUT.yaml [--seed 0] [--kind underparam|duplicate]

Two kinds, alternating with the seed when none is given:
- ``underparam``: m = 4-7 contexts in d = 1-3 dimensions (d < m), V = 3-5 tokens, small integer
  embeddings in [-3, 3], supports of random size 1..V-1 with counts 1..5;
- ``duplicate``: 2-3 distinct embeddings shared by 4-6 contexts (pooled contexts, different
  continuations), d = 2-3, V = 3-5.
The instances are small so that the exact layer and a gradient descent run take seconds.
"""

from __future__ import annotations

import argparse
import random

from random_case import case_text

KINDS = ("underparam", "duplicate")


def ext_case_text(seed: int, kind: str | None = None) -> str:
    rng = random.Random(10_007 * seed + 3)
    kind = kind or KINDS[seed % 2]
    V = rng.randint(3, 5)
    vocab = [f"t{i}" for i in range(V)]
    if kind == "underparam":
        m = rng.randint(4, 7)
        d = rng.randint(1, 3)
        embs = [[rng.randint(-3, 3) for _ in range(d)] for _ in range(m)]
        for e in embs:
            if not any(e):
                e[0] = 1
    else:
        d = rng.randint(2, 3)
        base = [[rng.randint(-3, 3) for _ in range(d)] for _ in range(rng.randint(2, 3))]
        for e in base:
            if not any(e):
                e[0] = 1
        m = rng.randint(4, 6)
        embs = [base[j % len(base)] for j in range(m)]
    contexts = []
    for j in range(m):
        toks = sorted(rng.sample(range(V), rng.randint(1, V - 1)))
        contexts.append(([str(x) for x in embs[j]], {vocab[t]: rng.randint(1, 5) for t in toks}))
    return case_text(f"ext-{kind}-seed{seed}", vocab, contexts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kind", choices=KINDS)
    a = ap.parse_args()
    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write(ext_case_text(a.seed, a.kind))


if __name__ == "__main__":
    main()
