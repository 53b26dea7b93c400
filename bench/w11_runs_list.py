"""W11 the runs list over HTTP: `/runs/` newest first, and filtered by status and input search, at N runs.

The database holds 100,000 runs (2,000 with --quick) over 1,000 sessions, filled by the thousand
(`bulk.fill_runs`): most succeeded, half of those cache hits, created over a year. Each round
GETs the default list and the filtered one (`?status=succeeded&q=<one run's topic>`, which
matches a single run, so the search reads the whole status index: its worst case), in a rotated
order, `http_requests` times each, logged in as the bench's user, against `manage.py serve`.
The value is the p95 over every request; the note gives the p50 and the worst round's p95.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from bench import bulk, http_stack
from bench.common import Context, Goal, Row, Section, median, percentile, topic

ROUNDS, QUICK_ROUNDS = 5, 2
DEFAULT = ("wfsite /runs/, newest first", "GET /runs/ p95", Goal("p95 under 100 ms", 100.0, "max"))
FILTERED = (
    "wfsite /runs/, status + search",
    "GET /runs/?status=&q= p95",
    Goal("p95 under 250 ms", 250.0, "max"),
)


def run(ctx: Context) -> Section:
    count = 2000 if ctx.sizes.quick else 100_000
    section = Section(key="W11", title=f"W11 the runs list over HTTP ({count:,} runs)")
    if ctx.django_error:
        section.rows = [_missing(what, ctx.django_error) for what in (DEFAULT, FILTERED)]
        return section
    try:
        client = http_stack.login(http_stack.shared(ctx))
        _fill(count)
        # One run's topic: with every index below `count`, no other index's text holds it.
        wanted = urlencode({"status": "succeeded", "q": topic(count // 2)})
        paths = {DEFAULT[0]: "/runs/", FILTERED[0]: f"/runs/?{wanted}"}
        rounds = _rounds(client, paths, ctx.sizes.http_requests, QUICK_ROUNDS if ctx.sizes.quick else ROUNDS)
    except http_stack.NotAvailable as error:
        section.rows = [_missing(what, str(error)) for what in (DEFAULT, FILTERED)]
        return section
    section.rows = [_row(what, rounds[what[0]], count) for what in (DEFAULT, FILTERED)]
    return section


def _rounds(client: Any, paths: dict[str, str], requests: int, rounds: int) -> dict[str, list[list[float]]]:
    """GET each path `requests` times a round, rotating which goes first; return each round's ms."""
    names = list(paths)
    samples: dict[str, list[list[float]]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            times = http_stack.timed_get(client, paths[name], requests, warm=number == 0)
            samples[name].append([t * 1000 for t in times])
    return samples


def _row(what: tuple[str, str, Goal], rounds: list[list[float]], count: int) -> Row:
    every = [ms for one in rounds for ms in one]
    worst = max(percentile(one, 95) for one in rounds)
    note = f"p50 {median(every):.1f} ms; worst round p95 {worst:.1f} ms ({len(rounds)} rounds of {len(rounds[0])})"
    return Row(
        what[0], what[1], percentile(every, 95), "ms", goal=what[2], note=note, samples=every, size=count
    )


def _fill(count: int) -> None:
    """Make sure the database holds `count` of the bench's runs."""
    from sessions_app.models import WorkflowRun

    have = WorkflowRun.objects.filter(session__session_id__startswith="w11-").count()
    if have < count:
        bulk.fill_runs(have, count)


def _missing(what: tuple[str, str, Goal], reason: str) -> Row:
    return Row(what[0], what[1], None, "ms", goal=what[2], note=f"not available: {reason}")
