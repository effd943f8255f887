"""`ntpverify sweep-report`: Wilson intervals, the 50 % threshold, Cover's formula, the page.

The statistics are checked against known answers; the page is drawn from a results folder built
by hand (rows written through the same Store a sweep uses, no Dask), with a planted threshold.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

from ntpverify.cli import main
from ntpverify.sweep import parse_sweep
from ntpverify.sweep_report import cover, crossing, threshold, wilson
from ntpverify.sweep_run import Store


def test_wilson_known_values():
    lo, hi = wilson(0, 10)
    assert lo == 0 and hi == pytest.approx(1.959964 ** 2 / (10 + 1.959964 ** 2), rel=1e-6)   # 0.2775
    assert wilson(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    assert wilson(10, 10)[1] == pytest.approx(1) and wilson(0, 0) == (0, 1)
    assert wilson(37, 100) == pytest.approx((0.281824, 0.467795), abs=1e-6)
    for n in range(1, 300):                  # the estimate lies inside its interval, exactly
        for k in (0, 1, n // 3, n - 1, n):
            lo, hi = wilson(k, n)
            assert 0 <= lo <= k / n <= hi <= 1


def test_crossing_and_bootstrap_threshold():
    x = np.array([0.25, 0.5, 0.75, 1.0])
    assert crossing(x, np.array([0, 0.2, 0.8, 1.0])) == pytest.approx(0.625)
    assert crossing(x, np.array([0.6, 0.8, 1, 1])) == -math.inf
    assert crossing(x, np.array([0, 0, 0.1, 0.4])) == math.inf
    rng = np.random.default_rng(0)
    est, lo, hi = threshold(x, np.array([0, 10, 190, 200]), np.array([200] * 4), rng)
    assert est == pytest.approx(0.5 + 0.25 * 0.45 / 0.9)
    assert lo < est < hi and hi - lo < 0.05
    est, lo, hi = threshold(x, np.array([0, 4, 6, 10]), np.array([10] * 4), rng)
    assert hi - lo > 0.1                       # ten seeds per cell: a wide interval


def test_cover_formula():
    assert cover(10, 5) == pytest.approx(0.5)          # d = m/2: exactly one half (symmetry)
    assert cover(10, 10) == 1 and cover(10, 1) == pytest.approx(2 ** -9)
    assert cover(3, 2) == pytest.approx(0.75)           # 3 points in the plane: 6 of 8 labellings


SWEEP = """name: planted
seeds: 41
grid: {m: [8, 16], d_over_m: [1/4, 1/2, 3/4, 1], V: [2, 3], support: [1]}
"""


def planted_folder(tmp_path):
    """A results folder whose separable fraction crosses 1/2 at d/m = 5/8 for every group."""
    sweep = parse_sweep(SWEEP, "planted.yaml")
    store = Store(tmp_path / "out", sweep)
    store.check()
    store.open(SWEEP.encode())
    share = {0.25: 0, 0.5: 0.25, 0.75: 0.75, 1.0: 1}
    rows = []
    for c in sweep.cells:
        for s in sweep.seeds:
            sep = s < share[c.d / c.m] * 40          # seed 40: a timeout row
            rows.append({"cell": c.text, "seed": s, "m": c.m, "d": c.d, "V": c.V, "support": c.support,
                         "instance_sha256": "0" * 64, "status": "ok" if s != 40 else "timeout",
                         "error": None if s != 40 else "timeout: planted", "compatible": True,
                         "separable": sep if s != 40 else None, "F_dim": 0, "tight": 3 if sep else None,
                         "W_mm_norm_sq": "4" if sep else None, "W_mm_norm": 2.0 if sep else None,
                         "exact_verified": True, "seconds": 0.1})
    store.write_part(rows[:100])
    store.write_part(rows[100:])
    store.consolidate()
    return tmp_path / "out"


def test_report_page_and_figures(tmp_path):
    out = planted_folder(tmp_path)
    res = CliRunner().invoke(main, ["sweep-report", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text()
    for name in ("phase.png", "threshold.png", "by_m.png", "wmm.png"):
        data = (out / "report_files" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and f"report_files/{name}" in page
    assert page.count("<tr><td>") >= 4
    assert "0.625 [" in page            # every group: 0.5 + 0.25 * (0.5 - 0.25) / (0.75 - 0.25)
    assert "timeout: planted" in page and "16 timeout" in page


def test_report_refuses_a_folder_that_is_not_a_sweep(tmp_path):
    res = CliRunner().invoke(main, ["sweep-report", str(tmp_path)])
    assert res.exit_code == 2 and "not a sweep results folder" in res.output
