"""Run the calibration corpus through the whole tool and count verdicts per claim.

    python scripts/calibrate.py N [--start S] [--jobs J] [--iterations K] [--budget SEC]
                                  [--perturb KIND] [--out results.jsonl] [--kinds k1,k2]

Seeds S..S+N-1 of ``ntpverify.calibration.generate`` (instances certified compatible, separable,
non-trivial, admissible step) go through ``ntpverify.runner.run_case``. Every numeric fail on them
is a false alarm unless --perturb hands the numeric layer a wrong closed form (W_star, W_mm, H,
ext-loss, ext-offset; see ``ntpverify.calibration.perturb``): then the affected claims should fail,
and their fail fraction is the power. Prints a claim x status table, the verdict counts, wall time
and per-case time, and every FAIL; --out writes one JSON line per case. --jobs J > 1 uses a process
pool (the machine is shared: keep J = 1 for long runs). Output order is by seed whatever J is.
"""

from __future__ import annotations

import argparse
import inspect
import json
import random
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from ntpverify import calibration, runner
from ntpverify.instance import parse_case

CLAIM_ORDER = ("prop1", "lemma1", "remark1", "thm1", "lemma2", "thm2", "ext-loss-rate",
               "ext-proj-rate", "ext-offset", "ext-angle-rate", "ext-path-rate")
STATUSES = ("pass", "fail", "inconclusive", "not-applicable", "not-checked")


def accepts_budget() -> bool:
    return "budget" in inspect.signature(runner.run_case).parameters


def run_one(seed: int, iterations: int | None, budget: float | None, perturb: str | None) -> dict:
    """One corpus seed through run_case; a JSON-ready record (errors are recorded, not raised)."""
    t0 = time.perf_counter()
    cc = calibration.generate(seed)
    record = {"seed": seed, "kind": cc.kind, "name": cc.name, "m": cc.m, "d": cc.d, "V": cc.V,
              "supports": list(cc.supports), "features": list(cc.features), "tries": cc.tries}
    case = parse_case(cc.text.encode(), f"<{cc.name}>")
    kwargs: dict = {"iterations": iterations}
    if budget is not None and accepts_budget():
        kwargs["budget"] = budget
    seen: list[str] = []

    def hook(problem):
        # degeneracy of the true instance (a turned W^mm can hide it): the rate models and the
        # ext-offset prediction do not apply there, so the power is also counted without them
        record["degenerate"] = problem.offsets.degenerate_reason
        new, desc = calibration.perturb(problem, perturb, random.Random(seed))
        seen.append(desc)
        record["perturbed"] = new is not problem
        return new

    if perturb:
        kwargs["problem_hook"] = hook
    try:
        cert = runner.run_case(case, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a crash is a calibration finding, recorded per case
        record.update(verdict="error", error=f"{type(exc).__name__}: {exc}", claims={},
                      seconds=round(time.perf_counter() - t0, 3))
        return record
    if perturb:
        record["perturbation"] = seen[0] if seen else "hook not called (numeric part skipped)"
        record.setdefault("perturbed", False)
    record["claims"] = {c["id"]: {"status": c["status"], "summary": c["summary"]} for c in cert["claims"]}
    record["verdict"] = cert["verdict"]
    record["exact_verified"] = cert.get("exact_verified")
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


def claim_rows(records: list[dict]) -> list[str]:
    seen = {cid for r in records for cid in r["claims"]}
    return list(CLAIM_ORDER) + sorted(seen - set(CLAIM_ORDER))


def table(records: list[dict]) -> str:
    rows = claim_rows(records)
    width = max(len(r) for r in rows) + 2
    head = "claim".ljust(width) + "".join(s.rjust(16) for s in STATUSES)
    lines = [head, "-" * len(head)]
    for cid in rows:
        counts = {s: 0 for s in STATUSES}
        for r in records:
            st = r["claims"].get(cid, {}).get("status")
            if st in counts:
                counts[st] += 1
        lines.append(cid.ljust(width) + "".join(str(counts[s]).rjust(16) for s in STATUSES))
    return "\n".join(lines)


def report(records: list[dict], wall: float, perturb: str | None, budget_note: str | None) -> str:
    import ntpverify
    out = [f"ntpverify {ntpverify.__version__} from {ntpverify.__file__}"]
    if budget_note:
        out.append(budget_note)
    kinds: dict[str, int] = {}
    for r in records:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    out.append(f"cases: {len(records)}  kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    out.append("")
    out.append(table(records))
    out.append("")
    verdicts: dict[str, int] = {}
    for r in records:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    out.append("verdicts: " + ", ".join(f"{v} {verdicts[v]}" for v in sorted(verdicts)))
    secs = [r["seconds"] for r in records]
    if secs:
        out.append(f"wall time {wall:.1f} s; per case median {statistics.median(secs):.1f} s, "
                   f"max {max(secs):.1f} s (seed {records[secs.index(max(secs))]['seed']})")
    if perturb:
        out.append("")
        out.append(f"power (--perturb {perturb}): fraction of perturbed cases where the affected claim failed")
        hit = [r for r in records if r.get("perturbed")]
        out.append(f"  perturbed cases: {len(hit)} of {len(records)}")
        regular = [r for r in hit if not r.get("degenerate")]
        for cid in calibration.AFFECTED[perturb] + ("any",):
            failed = (lambda r: any(r["claims"].get(c, {}).get("status") == "fail"
                                    for c in calibration.AFFECTED[perturb])) if cid == "any" else (
                lambda r: r["claims"].get(cid, {}).get("status") == "fail")
            row = []
            for group in (hit, regular):
                n = sum(1 for r in group if failed(r))
                row.append(f"{n}/{len(group)} ({n / len(group):.3f})" if group else "n/a")
            name = "any affected claim" if cid == "any" else cid
            out.append(f"  {name}: failed on {row[0]}; on the non-degenerate ones {row[1]}")
    out.append("")
    fails = [(r, cid, c) for r in records for cid, c in r["claims"].items() if c["status"] == "fail"]
    errors = [r for r in records if r["verdict"] == "error"]
    out.append(f"FAILs: {len(fails)}" + (f"; errors: {len(errors)}" if errors else ""))
    for r, cid, c in fails:
        out.append(f"  seed {r['seed']} {r['kind']} {cid}: {c['summary']}")
    for r in errors:
        out.append(f"  seed {r['seed']} {r['kind']} ERROR: {r['error']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", type=int, help="number of corpus seeds")
    ap.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (1: in-process)")
    ap.add_argument("--iterations", type=int, default=None, help="GD iterations (default: case settings)")
    ap.add_argument("--budget", type=float, default=None, help="seconds per case, if run_case supports it")
    ap.add_argument("--perturb", choices=calibration.PERTURBATIONS, default=None)
    ap.add_argument("--out", default=None, help="JSON lines, one per case")
    ap.add_argument("--kinds", default=None, help="comma-separated kinds to keep (others skipped)")
    a = ap.parse_args(argv)

    seeds = list(range(a.start, a.start + a.n))
    if a.kinds:
        keep = {k.strip() for k in a.kinds.split(",") if k.strip()}
        unknown = keep - set(calibration.KINDS)
        if unknown:
            ap.error(f"unknown kinds {sorted(unknown)}; choose from {', '.join(calibration.KINDS)}")
        seeds = [s for s in seeds if calibration.kind_of(s) in keep]
    budget_note = None
    budget = a.budget
    if budget is not None and not accepts_budget():
        budget_note = f"note: --budget {budget:g} ignored (this run_case has no budget keyword)"
        budget = None

    progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    records: dict[int, dict] = {}
    # --out is written as cases finish, in seed order (a long run can be watched and, if stopped,
    # keeps every case of the finished prefix)
    out = open(a.out, "w", encoding="utf-8") if a.out else None
    written = 0

    def done(rec: dict) -> None:
        nonlocal written
        records[rec["seed"]] = rec
        while out is not None and written < len(seeds) and seeds[written] in records:
            out.write(json.dumps(records[seeds[written]], sort_keys=True) + "\n")
            out.flush()
            written += 1
        if progress:
            print(f"[{len(records)}/{len(seeds)}] seed {rec['seed']} {rec['kind']}: {rec['verdict']} "
                  f"({rec['seconds']:.1f} s)", file=sys.stderr, flush=True)

    if a.jobs <= 1:
        for s in seeds:
            done(run_one(s, a.iterations, budget, a.perturb))
    else:
        with ProcessPoolExecutor(a.jobs) as pool:
            futures = [pool.submit(run_one, s, a.iterations, budget, a.perturb) for s in seeds]
            for f in as_completed(futures):
                done(f.result())
    wall = time.perf_counter() - t0
    if out is not None:
        out.close()
    ordered = [records[s] for s in seeds]
    print(report(ordered, wall, a.perturb, budget_note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
