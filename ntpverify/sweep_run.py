"""Running a sweep on Dask distributed, and its results folder.

- Each Dask task runs a small batch of instances. Every instance runs in its own forked child
  process, so its time limit is enforced by killing the child (Dask tasks run in worker threads,
  where SIGALRM cannot interrupt them), and a crash of the instance (an exception, a segfault, a
  hang) becomes a row with its message instead of a lost worker or a lost sweep. Before its first
  fork a worker runs one tiny instance itself, so every child inherits the imported solvers and
  compiled loops instead of loading them again.
- Rows are written as they arrive, a few seconds' worth at a time, as Parquet part files
  (``OUTDIR/parts/part-NNNNNN.parquet``, each written under a temporary name and renamed: a kill
  never leaves half a part). A rerun reads every row already in OUTDIR and submits only the
  missing (cell, seed) pairs; at the end all rows are consolidated, deduplicated and sorted (grid
  order, then seed) into ``OUTDIR/results.parquet``, and the parts are removed.
- ``OUTDIR/sweep.yaml`` is a copy of the sweep file and ``OUTDIR/sweep.json`` records its identity:
  a folder holds the rows of one sweep only.
"""

from __future__ import annotations

import faulthandler
import json
import logging
import math
import os
import select
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import BadInput
from .fsutil import write_bytes_atomic, write_text_atomic
from .instance import CLAIM_IDS
from .sweep import Cell, Ensemble, Sweep, draw_case_text

RESULTS = "results.parquet"
PARTS = "parts"
FLUSH_ROWS = 500            # a part file at least every FLUSH_ROWS rows ...
FLUSH_SECONDS = 5.0         # ... or every FLUSH_SECONDS, whichever comes first
KILL_GRACE = 5              # seconds past the time limit after which an orphaned child stops itself

BASE_COLUMNS = ("cell", "seed", "m", "d", "V", "support", "instance_sha256", "status", "error",
                "compatible", "separable", "F_dim", "tight", "W_mm_norm_sq", "W_mm_norm",
                "exact_verified")
CHECK_COLUMNS = ("verdict",) + tuple(f"claim_{c}" for c in CLAIM_IDS)


def columns(compute: str) -> tuple[str, ...]:
    """The results table's columns, in order (``seconds`` last: the only nondeterministic one)."""
    return BASE_COLUMNS + (CHECK_COLUMNS if compute == "check" else ()) + ("seconds",)


def schema(compute: str):
    import pyarrow as pa

    types = {"seed": pa.int64(), "m": pa.int64(), "d": pa.int64(), "V": pa.int64(),
             "support": pa.int64(), "compatible": pa.bool_(), "separable": pa.bool_(),
             "F_dim": pa.int64(), "tight": pa.int64(), "W_mm_norm": pa.float64(),
             "exact_verified": pa.bool_(), "seconds": pa.float64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in columns(compute)])


# ---------------------------------------------------------------------------------------------
# One instance (inside a worker)

@dataclass(frozen=True)
class Job:
    """What a worker needs to draw and run instances (small: shipped with every task)."""

    ensemble: Ensemble
    ensemble_key: str
    compute: str
    time_limit: float
    budget: float
    allow_large: bool

    @classmethod
    def of(cls, sweep: Sweep) -> "Job":
        return cls(sweep.ensemble, sweep.ensemble_key, sweep.compute, sweep.time_limit, sweep.budget,
                   sweep.allow_large)


def row_values(cert: dict, compute: str) -> dict:
    """The table's values for one certificate (exact rationals as text)."""
    ex = cert["exact"]
    sep = ex["separable"]
    norm_sq = ex["W_mm_norm_sq"] if sep else None
    out = {"compatible": ex["compatible"], "separable": sep, "F_dim": ex["F_dim"],
           "tight": len(ex["support"]) if sep else None, "W_mm_norm_sq": norm_sq,
           "W_mm_norm": math.sqrt(_fraction(norm_sq)) if norm_sq is not None else None,
           "exact_verified": cert["exact_verified"]}
    if compute == "check":
        out["verdict"] = cert["verdict"]
        out.update({f"claim_{c['id']}": c["status"] for c in cert["claims"]})
    return out


def _fraction(text: str) -> float:
    from fractions import Fraction
    return float(Fraction(text))


def compute_instance(text: str, job: Job, where: str) -> dict:
    """Load the case text and run it (``check --exact-only`` or the full check)."""
    from .instance import parse_case
    from .runner import run_case

    case = parse_case(text.encode(), where, allow_large=job.allow_large)
    cert = run_case(case, numeric=job.compute == "check", budget=job.budget)
    return row_values(cert, job.compute)


_warm: set[str] = set()
WARM_UP_CASE = """name: warm-up
vocabulary: [a, b, c]
contexts:
  - {embedding: [1, 0], next: {a: 1/2, b: 1/2}}
  - {embedding: [0, 1], next: {b: 1}}
"""


def warm_up(job: Job) -> None:
    """Run one tiny instance in this process once per compute mode, so forked children inherit
    the imported solvers and compiled GD loops instead of loading them again."""
    if job.compute in _warm:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compute_instance(WARM_UP_CASE, Job(job.ensemble, job.ensemble_key, job.compute, job.time_limit,
                                           min(job.budget, 5.0), job.allow_large), "<warm-up>")
    _warm.add(job.compute)


def run_limited(fn, time_limit: float) -> tuple[str, dict | str]:
    """Run ``fn()`` (returning a JSON-ready dict) in a forked child with a wall-time limit.

    Returns ("ok", value), ("error", message) or ("timeout", message). The child is killed at
    the limit; it also stops itself KILL_GRACE seconds later should this process die first.
    """
    if not hasattr(os, "fork"):        # pragma: no cover - no fork: in-process, no time limit
        try:
            return "ok", fn()
        except Exception as exc:
            return "error", f"{type(exc).__name__}: {exc}"
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: compute, write, exit
        status = 0
        try:
            os.close(rfd)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
                signal.signal(sig, signal.SIG_DFL)
            signal.alarm(int(math.ceil(time_limit)) + KILL_GRACE)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            faulthandler.disable()                 # a crash is reported by the parent, as a row
            warnings.simplefilter("ignore")
            try:
                payload = {"ok": fn()}
            except BaseException as exc:           # recorded as this instance's error row
                payload = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            data = json.dumps(payload).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(wfd, view):]
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(wfd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + time_limit
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([rfd], [], [], left)
            if ready:
                chunk = os.read(rfd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(rfd)
        if timed_out:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, wstatus = os.waitpid(pid, 0)
    if timed_out:
        return "timeout", f"timeout: no result within the time limit of {time_limit:g} s"
    try:
        payload = json.loads(b"".join(chunks))
    except ValueError:
        if os.WIFSIGNALED(wstatus):
            name = signal.Signals(os.WTERMSIG(wstatus)).name
            return "error", f"the instance's process died with signal {name}"
        return "error", f"the instance's process exited with status {os.waitstatus_to_exitcode(wstatus)} " \
                        "without a result"
    if "error" in payload:
        return "error", payload["error"]
    return "ok", payload["ok"]


def run_item(job: Job, cell: Cell, seed: int) -> dict:
    """One row: draw the instance, run it in a child under the time limit."""
    import hashlib

    start = time.perf_counter()
    row = {"cell": cell.text, "seed": seed, "m": cell.m, "d": cell.d, "V": cell.V, "support": cell.support}
    try:
        text = draw_case_text(job.ensemble, job.ensemble_key, cell, seed)
    except Exception as exc:  # recorded in the row (a generator defect must not stop the sweep)
        return {**row, "status": "error", "error": f"drawing the instance: {type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - start}
    row["instance_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    status, value = run_limited(lambda: compute_instance(text, job, f"<{cell.text}:{seed}>"), job.time_limit)
    if status == "ok":
        row.update(value)
        row.update(status="ok", error=None)
    else:
        row.update(status=status, error=value)
    row["seconds"] = round(time.perf_counter() - start, 4)
    return row


def run_batch(job: Job, items: list[tuple[Cell, int]]) -> list[dict]:
    """A Dask task: rows for a few instances, one child process each."""
    warm_up(job)
    return [run_item(job, cell, seed) for cell, seed in items]


# ---------------------------------------------------------------------------------------------
# The results folder

class Store:
    """OUTDIR: the sweep's copy and identity, part files as rows arrive, the final table."""

    def __init__(self, outdir: str | Path, sweep: Sweep):
        self.dir = Path(outdir)
        self.sweep = sweep
        self.schema = schema(sweep.compute)
        self.parts = self.dir / PARTS
        self.next_part = 0

    def check(self) -> None:
        """Refuse (before anything is written) a folder that is not ours to write into."""
        if self.dir.exists() and not self.dir.is_dir():
            raise BadInput("exists and is not a folder", where=str(self.dir))
        if not self.dir.parent.is_dir():
            raise BadInput(f"the folder {str(self.dir.parent)!r} does not exist", where=str(self.dir))
        meta = self.dir / "sweep.json"
        if meta.exists():
            try:
                old = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BadInput(f"cannot read sweep.json ({exc})", where=str(self.dir)) from None
            if old.get("identity") != self.sweep.identity():
                raise BadInput(f"holds the results of another sweep ({old.get('name')!r}: its grid, "
                               "seeds, compute or ensemble differ); use a new folder",
                               where=str(self.dir))
        elif self.dir.is_dir() and any(self.dir.iterdir()):
            raise BadInput("is not empty and holds no sweep.json: not a sweep results folder; use a "
                           "new or empty folder", where=str(self.dir))

    def open(self, raw: bytes) -> None:
        self.parts.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.dir / "sweep.yaml", raw)
        write_text_atomic(self.dir / "sweep.json", json.dumps(
            {"format": "ntpverify-sweep-results/1", "name": self.sweep.name, "compute": self.sweep.compute,
             "identity": self.sweep.identity(), "instances": self.sweep.size}, indent=1) + "\n")
        names = [p.name for p in self.parts.glob("part-*.parquet")]
        self.next_part = 1 + max((int(n[5:-8]) for n in names if n[5:-8].isdigit()), default=-1)

    def existing(self) -> list[dict]:
        """Every row already in the folder (results table and parts), deduplicated."""
        import pyarrow.parquet as pq

        rows: dict[tuple[str, int], dict] = {}
        files = [self.dir / RESULTS] if (self.dir / RESULTS).exists() else []
        if self.parts.exists():
            files += sorted(self.parts.glob("part-*.parquet"))
        for f in files:
            for row in pq.read_table(f).to_pylist():
                rows.setdefault((row["cell"], row["seed"]), row)
        return list(rows.values())

    def write_part(self, rows: list[dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not rows:
            return
        table = pa.Table.from_pylist([{c: r.get(c) for c in self.schema.names} for r in rows],
                                     schema=self.schema)
        target = self.parts / f"part-{self.next_part:06d}.parquet"
        tmp = self.parts / f".part-{self.next_part:06d}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, target)
        self.next_part += 1

    def consolidate(self) -> int:
        """Write results.parquet (the sweep's rows, grid order then seed) and remove the parts."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        order = {c.text: i for i, c in enumerate(self.sweep.cells)}
        seeds = set(self.sweep.seeds)
        rows = [r for r in self.existing() if r["cell"] in order and r["seed"] in seeds]
        rows.sort(key=lambda r: (order[r["cell"]], r["seed"]))
        table = pa.Table.from_pylist([{c: r.get(c) for c in self.schema.names} for r in rows],
                                     schema=self.schema)
        tmp = self.dir / f".{RESULTS}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.dir / RESULTS)
        for p in self.parts.glob("*"):
            p.unlink()
        self.parts.rmdir()
        return len(rows)


# ---------------------------------------------------------------------------------------------
# The driver

@dataclass
class SweepOutcome:
    total: int
    done_before: int
    ran: int
    counts: dict
    seconds: float


def todo(sweep: Sweep, done: set[tuple[str, int]]) -> list[tuple[Cell, int]]:
    return [(c, s) for c in sweep.cells for s in sweep.seeds if (c.text, s) not in done]


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def quiet_dask() -> None:
    """Keep Dask's INFO/WARNING chatter off the terminal (errors still show)."""
    for name in ("distributed", "distributed.nanny", "distributed.scheduler", "distributed.worker",
                 "distributed.core", "distributed.http.proxy", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.ERROR)


def client_for(workers: int | None, scheduler: str | None):
    """A Dask client: on the cluster at ``scheduler``, or on a new LocalCluster (processes, one
    thread each). Returns (client, cluster or None)."""
    import dask
    from distributed import Client, LocalCluster

    quiet_dask()
    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
    dask.config.set({"distributed.worker.daemon": False, "logging.distributed": "error"})
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise BadInput(f"cannot reach a Dask scheduler there ({type(exc).__name__}: {exc})",
                           where=f"--scheduler {scheduler}") from None
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_sweep(sweep: Sweep, raw: bytes, outdir: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, batch: int = 4, progress=None,
              max_in_flight: int | None = None, flush_seconds: float = FLUSH_SECONDS) -> SweepOutcome:
    """Run every instance not yet in OUTDIR; write rows as they arrive; consolidate at the end.

    ``progress(done, total)`` is called as rows arrive (``done`` counts rows from earlier runs).
    An interruption (KeyboardInterrupt, or the CLI's SIGTERM exception) writes the rows received
    so far and propagates; rerunning resumes.
    """
    from distributed import as_completed

    start = time.perf_counter()
    store = Store(outdir, sweep)
    store.check()
    store.open(raw)
    done = {(r["cell"], r["seed"]) for r in store.existing()}
    pending = todo(sweep, done)
    done_before = sweep.size - len(pending)
    ran = 0
    if progress:
        progress(done_before, sweep.size)
    if pending:
        client, cluster = client_for(workers, scheduler)
        try:
            job = client.scatter(Job.of(sweep), broadcast=True)
            queue = batches(pending, batch)
            limit = max_in_flight or 4 * max(1, len(client.scheduler_info().get("workers", {})) or 1)
            futures = as_completed()
            for b in queue[:limit]:
                futures.add(client.submit(run_batch, job, b, pure=False))
            queue = queue[limit:]
            buffer: list[dict] = []
            last = time.monotonic()
            try:
                for fut in futures:
                    rows = fut.result()
                    fut.release()
                    if queue:
                        futures.add(client.submit(run_batch, job, queue.pop(0), pure=False))
                    buffer += rows
                    ran += len(rows)
                    if len(buffer) >= FLUSH_ROWS or time.monotonic() - last >= flush_seconds:
                        store.write_part(buffer)
                        buffer, last = [], time.monotonic()
                    if progress:
                        progress(done_before + ran, sweep.size)
            finally:
                store.write_part(buffer)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    n = store.consolidate()
    counts = _counts(store)
    return SweepOutcome(total=n, done_before=done_before, ran=ran, counts=counts,
                        seconds=time.perf_counter() - start)


def _counts(store: Store) -> dict:
    import pyarrow.parquet as pq

    t = pq.read_table(store.dir / RESULTS, columns=["status", "separable", "compatible"]).to_pylist()
    return {"ok": sum(r["status"] == "ok" for r in t), "error": sum(r["status"] == "error" for r in t),
            "timeout": sum(r["status"] == "timeout" for r in t),
            "separable": sum(bool(r["separable"]) for r in t),
            "compatible": sum(bool(r["compatible"]) for r in t)}
