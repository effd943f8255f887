"""The command line (the only module that imports click). Thin commands over the library."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sys
from pathlib import Path

import click

from . import __version__
from .errors import BadCertificate, BadInput, NtpError
from .fsutil import write_bytes_atomic, write_text_atomic

MAX_CERT_BYTES = 2 << 30        # a compressed certificate is refused past 2 GB of text


class Interrupted(BaseException):
    """SIGTERM, raised as a BaseException so that no producer's `except Exception` swallows it."""


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


def _guard(fn):
    """Run a command body, turning our exceptions into one-paragraph messages and exit codes."""
    def wrapper(*args, **kwargs):
        old = signal.signal(signal.SIGTERM, _on_signal)
        try:
            return fn(*args, **kwargs)
        except BadInput as exc:
            _fail(f"error: {exc.render()}", 2)
        except NtpError as exc:
            _fail(f"error: {exc}", exc.exit_code)
        except (KeyboardInterrupt, Interrupted) as exc:   # before Exception: these are BaseExceptions
            name = str(exc) or "SIGINT"
            _fail(f"interrupted ({name}); no output file was written", 130)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as exc:  # an internal error: short message, traceback only on request
            if os.environ.get("NTPVERIFY_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} "
                  "(set NTPVERIFY_DEBUG=1 for a traceback; please report this with the case file)", 3)
        finally:
            signal.signal(signal.SIGTERM, old)
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _fail(message: str, code: int):
    click.echo(message, err=True)
    sys.exit(code)


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=False) + "\n"


def expand_cases(paths: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(path.glob("*.yaml"))
            if not found:
                raise BadInput("the folder holds no *.yaml case files", where=str(path))
            out.extend(found)
        elif not path.exists():
            raise BadInput("no such file or folder", where=str(path))
        else:
            out.append(path)
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ntpverify")
def main():
    """Exact and high-precision checks of the implicit bias of next-token prediction."""


GD_DEFAULT_ITERATIONS = 20000     # `ntpverify gd` without --iterations or settings.gd.iterations

_allow_large = click.option(
    "--allow-large", is_flag=True,
    help="Run an instance beyond the one-minute work envelope (README: Limits) instead of refusing it.")


@main.command()
@click.argument("cases", nargs=-1, required=True)
@click.option("--json", "json_path", metavar="PATH|-",
              help="Write the certificate(s) as JSON ('-' for stdout; a PATH ending in .gz is gzip-compressed).")
@click.option("--precision", type=click.IntRange(15, 5000), help="Decimal digits for the numerical work.")
@click.option("--iterations", type=click.IntRange(1, 10**9),
              help="Fix the GD length (default: decade by decade until decided or the budget is spent).")
@click.option("--budget", type=click.FloatRange(1, 10**6), default=60, show_default=True, metavar="SECONDS",
              help="Time per case for the adaptive numerics (GD decades, path radii, prop1's g).")
@click.option("--backend", type=click.Choice(["auto", "float64", "flint", "mpmath"]), default="auto",
              show_default=True,
              help="Gradient descent backend; auto = float64 when its proven rounding bound stays far "
                   "below every tolerance, else flint.")
@click.option("--exact-only", is_flag=True, help="Skip gradient descent and the path (claims not checked).")
@click.option("--quiet", "-q", is_flag=True, help="Only the one-line verdicts.")
@click.option("--report", "report_path", metavar="PATH",
              help="Write a human report: PATH.md (PNGs in PATH_files/) or one self-contained PATH.html.")
@click.option("--explain", is_flag=True, help="Say, per claim, what it means and why it got its status.")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Cases run in parallel (processes); output stays in input order.")
@click.option("--junit", "junit_path", metavar="PATH", help="Write JUnit XML (one test case per case).")
@_allow_large
@_guard
def check(cases, json_path, precision, iterations, budget, backend, exact_only, quiet, report_path, explain,
          jobs, junit_path, allow_large):
    """Check each CASE (a YAML file, or a folder of them) and issue certificates."""
    from . import batch
    from .instance import load_case
    from .summary import render_summary

    if report_path:
        from .report import report_kind
        try:
            report_kind(report_path)
        except ValueError as exc:
            raise BadInput(str(exc).split(": ", 1)[-1], where=report_path) from None
    for target in (json_path, report_path, junit_path):
        _check_output_folder(target)
    loaded = [load_case(p, allow_large=allow_large) for p in expand_cases(cases)]      # refuse bad input before any work
    out = sys.stderr if json_path == "-" else sys.stdout

    def show(o: batch.Outcome):
        if o.cert is None:
            click.echo(f"{o.name}: ERROR  {o.error}", file=out)
            return
        click.echo(render_summary(o.cert, quiet=quiet), file=out, nl=False)
        if explain:
            from .explain import explain_certificate
            click.echo(explain_certificate(o.cert), file=out, nl=False)

    options = batch.RunOptions(precision=precision, iterations=iterations, numeric=not exact_only,
                               backend=backend, budget=budget)
    catch = len(loaded) > 1 and not os.environ.get("NTPVERIFY_DEBUG")
    outcomes = batch.run_batch(loaded, options, jobs=jobs, on_result=show, catch=catch,
                               progress_factory=_progress_factory if jobs == 1 else None)
    certs = [o.cert for o in outcomes if o.cert is not None]
    errors = [o for o in outcomes if o.cert is None]
    if junit_path:
        write_text_atomic(junit_path, batch.junit_xml(outcomes))
    if report_path and certs:
        from .report import write_report
        write_report(report_path, certs)
    if json_path:
        if errors:
            click.echo(f"no JSON written: {len(errors)} case(s) could not be run", err=True)
        else:
            text = dumps(certs[0] if len(certs) == 1 else certs)
            if json_path == "-":
                sys.stdout.write(text)
            elif json_path.endswith(".gz"):
                write_bytes_atomic(json_path, gzip.compress(text.encode("utf-8"), mtime=0))
            else:
                write_text_atomic(json_path, text)
    if len(outcomes) > 1:
        click.echo(batch.summary_line(outcomes), file=out)
    for o in errors:
        click.echo(f"internal error in {o.path}: {o.error} (set NTPVERIFY_DEBUG=1 for a traceback; "
                   "please report this with the case file)", err=True)
    sys.exit(batch.exit_code(outcomes))


def _check_output_folder(target: str | None) -> None:
    """Refuse (exit 2, before any work) an output path whose folder does not exist."""
    if not target or target == "-":
        return
    parent = Path(target).parent
    if not parent.is_dir():
        raise BadInput(f"the folder {str(parent)!r} does not exist", where=target)
    if Path(target).is_dir():
        raise BadInput("is a folder; give a file name", where=target)


def _progress_factory():
    """A progress callback drawing a bar on a terminal (stderr), or None when not a terminal."""
    if not sys.stderr.isatty():
        return None
    state = {}

    def progress(done: int, total: int, label: str = "gradient descent"):
        bar = state.get(label)
        if bar is None and done >= total:      # nothing left to show (e.g. an extra path radius)
            return
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr)
            bar.__enter__()
            state[label] = bar
        bar.update(done - bar.pos)
        if done >= total:
            bar.__exit__(None, None, None)
            del state[label]
    return progress


@main.command()
@click.argument("case_path", metavar="CASE")
@click.option("--iterations", type=click.IntRange(1, 10**9), help="GD iterations (default: the case's).")
@click.option("--precision", type=click.IntRange(15, 5000), help="Decimal digits (default: the case's).")
@click.option("--backend", type=click.Choice(["float64", "flint", "mpmath"]), default="flint", show_default=True)
@click.option("--json", "json_path", metavar="PATH|-", help="Write numeric.gd as JSON ('-' for stdout).")
@_allow_large
@_guard
def gd(case_path, iterations, precision, backend, json_path, allow_large):
    """Run only gradient descent on CASE and report its checkpoints (timing and exploration)."""
    import time

    from .instance import load_case
    from .numeric.gd import run_gd
    from .runner import numeric_problem, run_exact

    case = load_case(case_path, allow_large=allow_large)
    ex = run_exact(case.instance, case.settings.gd.step)
    iters = iterations or case.settings.gd.iterations or GD_DEFAULT_ITERATIONS
    prec = precision or case.settings.precision
    progress = _progress_factory()
    start = time.perf_counter()
    run = run_gd(numeric_problem(ex), iters, prec, backend, init_seed=case.settings.gd.init_seed,
                 init_scale=case.settings.gd.init_scale,
                 progress=None if progress is None else (lambda k, n: progress(k, n, "gradient descent")))
    seconds = time.perf_counter() - start
    data = run.to_json()
    out = sys.stderr if json_path == "-" else sys.stdout
    click.echo(f"{case.instance.name}: {iters} GD steps, eta = {data['eta']} "
               f"({'admissible' if ex.step.admissible else 'NOT admissible'}), {backend} at {prec} digits: "
               f"{seconds:.2f} s, {1e6 * seconds / iters:.1f} us per step", file=out)
    keys = [k for k in ("loss_gap", "proj_err", "cos_gap", "norm") if any(k in c for c in data["checkpoints"])]
    click.echo("  " + "".join(f"{h:>14}" for h in ["k"] + keys), file=out)
    for c in data["checkpoints"]:
        click.echo("  " + f"{c['k']:>14}" + "".join(f"{_short(c.get(k)):>14}" for k in keys), file=out)
    click.echo(f"  rounding bound: {data['rounding_bound']['bound']} ({data['rounding_bound']['kind']})", file=out)
    if json_path:
        data["seconds"] = round(seconds, 3)
        if json_path == "-":
            sys.stdout.write(dumps(data))
        else:
            write_text_atomic(json_path, dumps(data))


def _short(x) -> str:
    if x is None:
        return "-"
    try:
        return f"{float(x):.4e}"
    except ValueError:
        return str(x)[:12]


@main.command()
@click.argument("case_path", metavar="CASE")
@click.option("--latex", is_flag=True, help="Write LaTeX (amsmath) ready to paste instead of text.")
@click.option("--output", "-o", "out_path", metavar="PATH", help="Write to PATH (atomically) instead of stdout.")
@click.option("--full", is_flag=True, help="Print every exact value in full (default: values longer than "
                                            "40 characters as 6-digit decimals, marked).")
@_allow_large
@_guard
def derive(case_path, latex, out_path, full, allow_large):
    """Write out the compatibility equations, the NTP-SVM with its KKT system, and their exact
    solutions (W*, W^mm, multipliers) for CASE."""
    from .derive import derive as derive_text
    from .instance import load_case

    _check_output_folder(out_path)
    text = derive_text(load_case(case_path, allow_large=allow_large), latex=latex, full=full)
    if out_path:
        write_text_atomic(out_path, text)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("name")
@_guard
def new(name):
    """Write NAME.yaml: a commented case template that checks cleanly as it is (never overwrites)."""
    from .fsutil import create_text_exclusive
    from .template import target_path, template_text

    try:
        path, stem = target_path(name)
    except ValueError as exc:
        raise BadInput(str(exc), where=name) from None
    _check_output_folder(str(path))
    if not create_text_exclusive(path, template_text(stem, str(path))):
        raise BadInput("already exists; not overwritten (choose another name or remove it)", where=str(path))
    click.echo(f"wrote {path}; next: ntpverify check {path} --explain --report {path.with_suffix('.html')}")


def _read_certificate(path: Path) -> str:
    """The text of a certificate file, plain or gzip-compressed (told by its first two bytes)."""
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if not gz:
        return path.read_text(encoding="utf-8")
    with gzip.open(path, "rb") as fh:
        data = fh.read(MAX_CERT_BYTES + 1)
    if len(data) > MAX_CERT_BYTES:
        raise OSError(f"more than {MAX_CERT_BYTES >> 20} MB once decompressed")
    return data.decode("utf-8")


@main.command()
@click.argument("cert_path", metavar="CERT.json[.gz]")
@_guard
def verify(cert_path):
    """Re-check every exact part of a certificate with the small trusted checker."""
    from . import checker

    try:
        data = json.loads(_read_certificate(Path(cert_path)))
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadCertificate(f"{cert_path}: not a readable JSON certificate ({exc})") from None
    certs = data if isinstance(data, list) else [data]
    bad = 0
    for cert in certs:
        if not isinstance(cert, dict):
            raise BadCertificate(f"{cert_path}: a certificate must be a JSON object")
        name = cert.get("case", {}).get("name", "?") if isinstance(cert.get("case"), dict) else "?"
        results = checker.checks(cert)
        failed = [r for r in results if not r[1]]
        bad += bool(failed)
        click.echo(f"{name}: {len(results) - len(failed)} of {len(results)} checks hold")
        for check_name, ok, detail in results:
            if not ok:
                click.echo(f"  FAILS {check_name}: {detail}")
    click.echo("certificate verified" if not bad else f"{bad} certificate(s) do NOT verify")
    sys.exit(1 if bad else 0)


@main.command()
@click.argument("sweep_path", metavar="SWEEP.yaml")
@click.option("--output", "-o", "out", metavar="OUTDIR|CASE.yaml", required=True,
              help="The results folder (created; rerunning into it resumes), or with --instance the "
                   "case file to write.")
@click.option("--workers", type=click.IntRange(1, 256), metavar="N",
              help="Workers of the local Dask cluster (default: the number of cores).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on the existing Dask cluster at ADDRESS "
                                                     "(e.g. tcp://10.0.0.5:8786) instead.")
@click.option("--batch", type=click.IntRange(1, 1000), default=4, show_default=True, metavar="K",
              help="Instances per Dask task (README: Sweeps, for the measured effect).")
@click.option("--instance", "instance_ref", metavar="CELL:SEED",
              help="Only write the instance CELL:SEED (e.g. m=10,d=4,V=5,support=2:7) as a case file.")
@click.option("--flush-every", type=click.FloatRange(0, 3600), default=5, show_default=True, metavar="SECONDS",
              help="Write the rows received to OUTDIR at least this often (a kill loses at most these).")
@click.option("--report", "with_report", is_flag=True, help="Also write the sweep report (as sweep-report).")
@_guard
def sweep(sweep_path, out, workers, scheduler, batch, instance_ref, flush_every, with_report):
    """Run a sweep of seeded random instances on Dask and tabulate them in OUTDIR/results.parquet."""
    from . import sweep as sw

    raw = _read_input(sweep_path)
    spec = sw.parse_sweep(raw, sweep_path)
    if instance_ref is not None:
        cell, seed = sw.parse_instance_ref(spec, instance_ref)
        _check_output_folder(out)
        write_text_atomic(out, sw.instance_text(spec, cell, seed))
        click.echo(f"wrote {out} ({cell.text}, seed {seed}); next: ntpverify check {out}", err=True)
        return
    if workers and scheduler:
        raise BadInput("give --workers (local cluster) or --scheduler (existing cluster), not both",
                       where="--workers")
    from .sweep_run import run_sweep

    progress = _sweep_progress()
    try:
        res = run_sweep(spec, raw, out, workers=workers, scheduler=scheduler, batch=batch,
                        progress=progress, flush_seconds=flush_every)
    except (KeyboardInterrupt, Interrupted) as exc:
        if progress:
            progress(None, None)
        _fail(f"interrupted ({str(exc) or 'SIGINT'}); the rows received so far are in {out}: rerun the "
              "same command to resume", 130)
    if progress:
        progress(None, None)
    c = res.counts
    click.echo(f"{spec.name}: {res.total} rows in {Path(out) / 'results.parquet'} ({res.ran} run now, "
               f"{res.done_before} from before; {res.seconds:.1f} s): {c['ok']} ok, {c['error']} error, "
               f"{c['timeout']} timeout; {c['separable']} separable, {c['compatible']} compatible", err=True)
    if with_report:
        from .sweep_report import write_sweep_report
        page = write_sweep_report(out)
        click.echo(f"wrote {page}", err=True)


@main.command("sweep-report")
@click.argument("outdir", metavar="OUTDIR")
@_guard
def sweep_report(outdir):
    """Phase diagrams, thresholds and ||W^mm|| from a sweep's results: PNGs and OUTDIR/report.html."""
    from .sweep_report import write_sweep_report

    click.echo(f"wrote {write_sweep_report(outdir)}", err=True)


def _read_input(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the file ({exc.strerror})", where=path) from None


def _sweep_progress():
    """A progress callback for sweeps (bar, rate, ETA on a terminal; None when not a terminal).
    ``progress(None, None)`` closes the bar."""
    if not sys.stderr.isatty():
        return None
    import time

    state: dict = {}

    def progress(done, total):
        if done is None:
            if "bar" in state:
                state.pop("bar").__exit__(None, None, None)
            return
        if "bar" not in state:
            state.update(t0=time.monotonic(), first=done, rate="")
            label = "sweep" + (f" ({done} done before)" if done else "")
            bar = click.progressbar(length=max(1, total - done), label=label, file=sys.stderr,
                                    show_pos=True, item_show_func=lambda _: state["rate"])
            bar.__enter__()
            state["bar"] = bar
            return
        bar = state["bar"]
        elapsed = time.monotonic() - state["t0"]
        if elapsed > 0:
            state["rate"] = f"{(done - state['first']) / elapsed:.1f} inst/s"
        bar.update(done - state["first"] - bar.pos)
    return progress


if __name__ == "__main__":  # pragma: no cover
    main()
