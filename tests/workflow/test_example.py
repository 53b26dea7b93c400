from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_example(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WFSITE_OFFLINE_DELAY": "0", "WFSITE_MODEL_PROVIDER": "offline"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "examples/blog_post_generator.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_runs_standalone_and_hits_the_cache_the_second_time(tmp_path: Path) -> None:
    first = run_example(tmp_path, "AI", "agents")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("# ")
    assert "(written now and cached)" in first.stderr
    assert "[ResearchCompleted]" in first.stderr
    assert (tmp_path / "tmp" / "workflows.db").exists()

    second = run_example(tmp_path, "ai agents")
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert "(served from the cache)" in second.stderr


def test_example_reports_failure_with_a_non_zero_exit(tmp_path: Path) -> None:
    empty = run_example(tmp_path, " ")
    assert empty.returncode == 1
    assert "error: The topic is empty" in empty.stderr
    too_long = run_example(tmp_path, "x" * 400)
    assert too_long.returncode == 1
    assert "error: The topic is 400 characters long" in too_long.stderr
