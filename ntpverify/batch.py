"""Batch runs (``ntpverify check FOLDER --jobs N --junit PATH``): the non-click part.

Cases run in worker processes (``concurrent.futures.ProcessPoolExecutor``); results always come
back in input order, so the printed output and every written file are the same whatever N is
(apart from timing fields). An unexpected error in one case is recorded for that case (JUnit
``<error>``) instead of stopping the others.
"""

from __future__ import annotations

import multiprocessing
import re
import signal
import time
import traceback
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from . import __version__
from .errors import NtpError
from .instance import Case
from .status import Status


@dataclass
class Outcome:
    """One case's result: a certificate, or the error that stopped it."""

    path: str
    name: str
    cert: dict | None = None
    error: str | None = None          # "TypeName: message" when the case could not be run
    detail: str = ""                  # traceback text for an error
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "error" if self.cert is None else self.cert["verdict"]


@dataclass(frozen=True)
class RunOptions:
    precision: int | None = None
    iterations: int | None = None
    numeric: bool = True
    backend: str = "auto"
    budget: float | None = 60.0


def run_one(case: Case, options: RunOptions, progress=None, catch: bool = True) -> Outcome:
    """Run one loaded case; with ``catch`` an exception becomes an error Outcome."""
    from .runner import run_case

    start = time.perf_counter()
    try:
        cert = run_case(case, precision=options.precision, iterations=options.iterations,
                        numeric=options.numeric, backend=options.backend, progress=progress,
                        budget=options.budget)
    except Exception as exc:  # recorded per case; the CLI turns it into exit status 3
        if not catch:
            raise
        return Outcome(case.path, case.instance.name, error=f"{type(exc).__name__}: {exc}",
                       detail=traceback.format_exc(), seconds=time.perf_counter() - start)
    return Outcome(case.path, case.instance.name, cert=cert, seconds=time.perf_counter() - start)


def _worker_init() -> None:
    # The parent may have turned SIGTERM into an exception; a worker should simply stop.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _work(args) -> Outcome:
    case, options = args
    return run_one(case, options, catch=True)


def _context():
    """fork where available (cheap, and independent of how the program was started), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_batch(cases: list[Case], options: RunOptions, *, jobs: int = 1, progress_factory=None,
              on_result=None, catch: bool = True) -> list[Outcome]:
    """Run every case, ``jobs`` at a time; outcomes in input order.

    ``on_result(outcome)`` is called in input order as soon as each outcome (and all before it)
    is known. ``progress_factory()`` gives a progress callback for in-process runs (jobs = 1).
    With ``catch=False`` (jobs = 1 only) an exception propagates instead of being recorded.
    """
    outcomes: list[Outcome] = []
    if jobs <= 1 or len(cases) <= 1:
        for case in cases:
            progress = progress_factory() if progress_factory else None
            out = run_one(case, options, progress=progress, catch=catch)
            outcomes.append(out)
            if on_result:
                on_result(out)
        return outcomes
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(cases)), mp_context=_context(),
                               initializer=_worker_init)
    try:
        for out in pool.map(_work, [(c, options) for c in cases]):
            outcomes.append(out)
            if on_result:
                on_result(out)
    except BaseException:
        # stop the workers this pool started (by their process objects), then re-raise
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                proc.terminate()
            except Exception:
                pass
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    keys = [s.value for s in Status] + ["error"]
    return {k: sum(o.status == k for o in outcomes) for k in keys}


def summary_line(outcomes: list[Outcome]) -> str:
    """``N passed, N failed`` (+ ``, N inconclusive`` and ``, N errors`` when there are any)."""
    n = counts(outcomes)
    line = f"{n['pass']} passed, {n['fail']} failed"
    if n["inconclusive"]:
        line += f", {n['inconclusive']} inconclusive"
    if n["error"]:
        line += f", {n['error']} error{'s' if n['error'] != 1 else ''}"
    return line


def failing_items(cert: dict, status: str) -> list[str]:
    """Claims (non-extension: the ones the verdict counts), expectations and exact checks with
    the given status, one line each."""
    out = [f"claim {c['id']}: {c['summary']}" for c in cert.get("claims", [])
           if c["status"] == status and not c["id"].startswith("ext-")]
    out += [f"expectation {e['key']}: {e['detail']}" for e in cert.get("expectations", [])
            if e["status"] == status]
    if status == "fail" and cert.get("exact_problems"):
        out += [f"exact certificate: {p}" for p in cert["exact_problems"]]
    return out


def junit_xml(outcomes: list[Outcome], suite: str = "ntpverify") -> str:
    """JUnit XML: one <testsuite> (inside <testsuites>), one <testcase> per case.

    fail -> <failure> listing the failing claims and expectations; inconclusive -> <skipped>
    with the undecided claims (nothing failed, but the run was too short to decide); a case that
    could not be run -> <error>. Each test case carries the terminal summary in <system-out>.
    """
    from .summary import render_summary

    n = counts(outcomes)
    total = sum(o.seconds for o in outcomes)
    attrs = {"name": suite, "tests": str(len(outcomes)), "failures": str(n["fail"]),
             "errors": str(n["error"]), "skipped": str(n["inconclusive"]), "time": f"{total:.3f}"}
    root = ET.Element("testsuites", attrs)
    ts = ET.SubElement(root, "testsuite", attrs)
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", {"name": "ntpverify.version", "value": __version__})
    for o in outcomes:
        tc = ET.SubElement(ts, "testcase", {"classname": suite, "name": o.name, "file": str(o.path),
                                            "time": f"{o.seconds:.3f}"})
        if o.cert is None:
            el = ET.SubElement(tc, "error", {"message": o.error or "error", "type": (o.error or "Error").split(":")[0]})
            el.text = o.detail or o.error
            continue
        verdict = o.cert["verdict"]
        if verdict == "fail":
            items = failing_items(o.cert, "fail")
            el = ET.SubElement(tc, "failure", {"message": f"{len(items)} failing: " + "; ".join(
                i.split(":")[0] for i in items), "type": "fail"})
            el.text = "\n".join(items)
        elif verdict == "inconclusive":
            items = failing_items(o.cert, "inconclusive")
            ET.SubElement(tc, "skipped", {"message": "inconclusive (run too short to decide): " + "; ".join(items)})
        out = ET.SubElement(tc, "system-out")
        out.text = render_summary(o.cert)
    for el in root.iter():
        el.attrib = {k: _xml_safe(v) for k, v in el.attrib.items()}
        if el.text:
            el.text = _xml_safe(el.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_XML_BAD = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    """Replace characters XML 1.0 cannot carry (control characters, lone surrogates) with U+FFFD."""
    return _XML_BAD.sub("\ufffd", str(text))


def exit_code(outcomes: list[Outcome]) -> int:
    """3 if a case could not be run, else the usual 0 / 1 / 4 from the verdicts."""
    from .status import verdict

    if any(o.cert is None for o in outcomes):
        return NtpError.exit_code
    v = verdict([Status(o.cert["verdict"]) for o in outcomes])
    return {Status.PASS: 0, Status.FAIL: 1, Status.INCONCLUSIVE: 4}[v]
