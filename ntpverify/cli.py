"""The command line (the only module that imports click). Thin commands over the library."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
from pathlib import Path

import click

from . import __version__
from .errors import BadCertificate, BadInput, NtpError
from .status import Status

EXIT = {Status.PASS: 0, Status.FAIL: 1, Status.INCONCLUSIVE: 4}


class Interrupted(Exception):
    pass


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
        except (KeyboardInterrupt, Interrupted) as exc:
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


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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


@main.command()
@click.argument("cases", nargs=-1, required=True)
@click.option("--json", "json_path", metavar="PATH|-", help="Write the certificate(s) as JSON ('-' for stdout).")
@click.option("--precision", type=click.IntRange(15, 5000), help="Decimal digits for the numerical work.")
@click.option("--iterations", type=click.IntRange(1, 10**9), help="GD iterations (overrides the case).")
@click.option("--backend", type=click.Choice(["flint", "mpmath"]), default="flint", show_default=True,
              help="Multiprecision backend for gradient descent.")
@click.option("--exact-only", is_flag=True, help="Skip gradient descent and the path (claims not checked).")
@click.option("--quiet", "-q", is_flag=True, help="Only the one-line verdicts.")
@_guard
def check(cases, json_path, precision, iterations, backend, exact_only, quiet):
    """Check each CASE (a YAML file, or a folder of them) and issue certificates."""
    from .instance import load_case
    from .runner import run_case
    from .summary import render_summary
    from .status import verdict

    loaded = [load_case(p) for p in expand_cases(cases)]      # refuse bad input before any work
    certs = []
    out = sys.stderr if json_path == "-" else sys.stdout
    for case in loaded:
        cert = run_case(case, precision=precision, iterations=iterations, numeric=not exact_only,
                        backend=backend, progress=_progress_factory())
        certs.append(cert)
        click.echo(render_summary(cert, quiet=quiet), file=out, nl=False)
    if json_path:
        text = dumps(certs[0] if len(certs) == 1 else certs)
        if json_path == "-":
            sys.stdout.write(text)
        else:
            write_atomic(json_path, text)
    statuses = [Status(c["verdict"]) for c in certs]
    if len(certs) > 1:
        n = {s: statuses.count(s) for s in Status}
        line = f"{n[Status.PASS]} passed, {n[Status.FAIL]} failed"
        if n[Status.INCONCLUSIVE]:
            line += f", {n[Status.INCONCLUSIVE]} inconclusive"
        click.echo(line, file=out)
    sys.exit(EXIT[verdict(statuses)])


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
@click.option("--backend", type=click.Choice(["flint", "mpmath"]), default="flint", show_default=True)
@click.option("--json", "json_path", metavar="PATH|-", help="Write numeric.gd as JSON ('-' for stdout).")
@_guard
def gd(case_path, iterations, precision, backend, json_path):
    """Run only gradient descent on CASE and report its checkpoints (timing and exploration)."""
    import time

    from .instance import load_case
    from .numeric.gd import run_gd
    from .runner import numeric_problem, run_exact

    case = load_case(case_path)
    ex = run_exact(case.instance, case.settings.gd.step)
    iters = iterations or case.settings.gd.iterations
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
            write_atomic(json_path, dumps(data))


def _short(x) -> str:
    if x is None:
        return "-"
    try:
        return f"{float(x):.4e}"
    except ValueError:
        return str(x)[:12]


@main.command()
@click.argument("cert_path", metavar="CERT.json")
@_guard
def verify(cert_path):
    """Re-check every exact part of a certificate with the small trusted checker."""
    from . import checker

    try:
        data = json.loads(Path(cert_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
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


if __name__ == "__main__":  # pragma: no cover
    main()
