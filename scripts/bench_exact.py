"""Time the exact layer on the paper-size random instance (m=50, d=60, V=10, |S_j|=6).

    python scripts/bench_exact.py [--seeds 0 1 2] [--m 50 --d 60 --V 10 --support 6]

Prints, per seed: time to load, to run the exact producers (F, compatibility, W*, NTP-SVM with
exact refinement, step), to build the certificate and to verify it with the trusted checker.
The target (issue "ntpverify core"): the exact part under 60 s on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from random_case import random_case_text  # noqa: E402

from ntpverify import checker  # noqa: E402
from ntpverify.instance import parse_case  # noqa: E402
from ntpverify.runner import exact_json, run_exact  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--m", type=int, default=50)
    ap.add_argument("--d", type=int, default=60)
    ap.add_argument("--V", type=int, default=10)
    ap.add_argument("--support", type=int, default=6)
    a = ap.parse_args()
    for seed in a.seeds:
        text = random_case_text(a.m, a.d, a.V, a.support, seed)
        t0 = time.perf_counter()
        case = parse_case(text.encode(), f"<random seed {seed}>")
        t1 = time.perf_counter()
        ex = run_exact(case.instance, None)
        t2 = time.perf_counter()
        cert = {"format": "ntpverify-certificate/1",
                "case": {"V": case.instance.V, "d": case.instance.d, "m": case.instance.m,
                         "instance": case.instance.to_json()},
                "exact": exact_json(ex)}
        t3 = time.perf_counter()
        problems = checker.verify(cert)
        t4 = time.perf_counter()
        print(f"seed {seed}: m={a.m} d={a.d} V={a.V} |S|={a.support}: "
              f"compatible={ex.compat.compatible} separable={ex.svm.separable} "
              f"F_dim={ex.F.dim} tight={len(ex.svm.tight)} lambda>0={len(ex.svm.lam)}")
        print(f"  load {t1 - t0:.2f} s, exact {t2 - t1:.2f} s, certificate {t3 - t2:.2f} s, "
              f"checker {t4 - t3:.2f} s, verified={not problems}")
        for line in ex.svm.log:
            print(f"  solver: {line}")
        if problems:
            print("  PROBLEMS:", problems[:3])


if __name__ == "__main__":
    main()
