"""The test suite's own machinery: what tests/conftest.py sets up for every test."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import get_hasher


def test_passwords_hash_fast_in_tests() -> None:
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert get_hasher().algorithm == "md5"


def test_no_test_sleeps_a_fixed_time_where_it_could_wait_for_a_condition() -> None:
    """Waiting goes through tests/waiting.py; the few sleeps left pace a workflow or a child process."""
    allowed = {
        "tests/waiting.py",  # the helper itself
        "tests/stack_workflows.py",  # workflows that take their time on purpose
        "tests/test_runs_execute.py",  # the same, in process
        "tests/serving/test_supervisor.py",  # inside the child processes' scripts
        "tests/serving/test_asgi.py",  # a client that never disconnects early
        "tests/test_event_stream.py",  # a writer that paces its events
        "tests/live/test_feeds.py",  # a feed watched for a number of polls
        "tests/live/test_signals.py",  # the read that connecting triggered, which no state shows, is over
        "tests/test_services_run_control.py",  # workflows that pace their steps and block like a model call
        "tests/test_faults.py",  # nothing retries after a failed run: an absence, not a condition
        "tests/test_soak.py",  # pacing the runs kept in flight
    }
    root = Path(__file__).resolve().parent.parent
    sleeping = sorted(
        str(path.relative_to(root))
        for path in (root / "tests").rglob("*.py")
        if "seeds" not in path.parts
        and re.search(r"\b(time|asyncio)\.sleep\(", path.read_text())
        and str(path.relative_to(root)) not in allowed
    )
    assert sleeping == []
