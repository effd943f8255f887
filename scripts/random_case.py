"""Write a seeded random case file shaped like the paper's App. A.2 experiment.

    python scripts/random_case.py OUT.yaml [--m 50 --d 60 --V 10 --support 6 --seed 0]

Embeddings are rationals k/100 with k uniform in [-100, 100]; each context draws a support of the
given size and positive integer counts 1..9 on it (so probabilities are exact rationals).
"""

from __future__ import annotations

import argparse
import random


def case_text(name: str, vocab: list[str], contexts: list[tuple[list[str], dict[str, int]]]) -> str:
    """A case file: contexts x0, x1, ... as (embedding entries as text, counts per token)."""
    lines = [f"name: {name}", f"vocabulary: [{', '.join(vocab)}]", "contexts:"]
    for j, (emb, counts) in enumerate(contexts):
        lines.append(f"  - name: x{j}")
        lines.append(f"    embedding: [{', '.join(emb)}]")
        lines.append("    counts: {" + ", ".join(f"{t}: {c}" for t, c in counts.items()) + "}")
    return "\n".join(lines) + "\n"


def random_case_text(m: int = 50, d: int = 60, V: int = 10, support: int = 6, seed: int = 0) -> str:
    rng = random.Random(seed)
    vocab = [f"t{i}" for i in range(V)]
    contexts = []
    for _ in range(m):
        emb = [f"{rng.randint(-100, 100)}/100" for _ in range(d)]
        toks = sorted(rng.sample(range(V), support))
        contexts.append((emb, {vocab[t]: rng.randint(1, 9) for t in toks}))
    return case_text(f"random-m{m}-d{d}-V{V}-s{support}-seed{seed}", vocab, contexts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--m", type=int, default=50)
    ap.add_argument("--d", type=int, default=60)
    ap.add_argument("--V", type=int, default=10)
    ap.add_argument("--support", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write(random_case_text(a.m, a.d, a.V, a.support, a.seed))


if __name__ == "__main__":
    main()
