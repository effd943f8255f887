"""Shared by the tests that run the command line (or a script) in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"


def cli_env() -> dict:
    """The child's environment: this checkout first on PYTHONPATH, no debug tracebacks."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("NTPVERIFY_DEBUG", None)
    return env


def run(*args, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m ntpverify ARGS`` with captured text output."""
    return subprocess.run([sys.executable, "-m", "ntpverify", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=cli_env(), timeout=timeout)
