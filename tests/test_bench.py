"""The benchmarks still run: `bench/run.py --quick` end to end, in this environment (no timings judged).

`make bench` runs them for real in their own environment (`.venv-bench`, with agno 2.x, LangGraph
and matplotlib). Here the baselines that need that environment report "not available", as do
the plots; every workload must still run, print its table and land in results.json. PASS/FAIL
against the goals is not asserted: quick sizes on a CI machine say nothing about speed. The
PostgreSQL lane runs too when TEST_POSTGRES_URL (or the local default) answers, and otherwise
says it was skipped and why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
WORKLOADS = ["W1", "W2", "W2b", "W3", "W4", "W5", "W6", "W7", "W8", "W10", "W11", "W12"]
POSTGRES_LANE = ["W1", "W2b", "W3", "W6", "W11", "W12"]


@pytest.mark.timeout(600)
def test_quick_mode_runs_every_workload_and_writes_the_results(tmp_path: Path) -> None:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        pytest.skip("the benchmarks run on SQLite files of their own; the SQLite pass ran them")
    env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"):
        env.pop(name, None)  # the bench sets up its own database and settings
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--out", str(tmp_path)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "[PostgreSQL]" in output or "PostgreSQL lane skipped:" in output

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["quick"] is True
    assert [(w["key"], w["lane"]) for w in results["workloads"]] == [
        *((key, "sqlite") for key in WORKLOADS),
        *((key, "postgres") for key in POSTGRES_LANE),
    ]
    postgres = [w for w in results["workloads"] if w["lane"] == "postgres"]
    skipped = [w for w in postgres if w["title"].endswith("skipped")]
    if skipped:  # no server: said so, with the reason, and nothing else went missing
        assert "PostgreSQL lane skipped:" in output
        assert all("not reachable" in w["rows"][0]["note"] for w in skipped)
    for workload in (w for w in results["workloads"] if w not in skipped):
        assert workload["title"] in output, f"{workload['key']} printed no table"
        assert workload["rows"], f"{workload['key']} has no rows"
        measured = [row for row in workload["rows"] if row["value"] is not None]
        assert measured, f"{workload['key']} measured nothing: {workload['rows']}"
    unavailable = {
        row["impl"]: row["note"]
        for workload in results["workloads"]
        if workload not in skipped
        for row in workload["rows"]
        if row["value"] is None
    }
    for impl, note in unavailable.items():
        # Only the baselines that need the bench environment may be missing here.
        assert "bench environment" in note, f"{impl}: {note}"
