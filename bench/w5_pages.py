"""W5 pages over HTTP: a session page with 1,000 cached posts, a finished run's page, a rendered post.

Measured against `manage.py serve` (the server `make run` starts) on the bench's database: the
session is made in this process, the run is started through the site's form and executed by
its worker (offline model, no delay), the post is one of the session's cached entries. The
three pages are fetched in turns, each the same number of times, and each gets a p50 and p95.
"""

from __future__ import annotations

from urllib.parse import quote

from bench import http_stack
from bench.common import Context, Goal, Plot, Row, Section, median, percentile, state_with
from bench.stores import WfsiteDjango

SESSION = "w5-session-with-1000-posts"
POSTS = 1000
GOAL = Goal("p95 under 150 ms", 150.0, "max")
PAGES = ("session page, 1,000 posts", "run page", "rendered post page")


def run(ctx: Context) -> Section:
    section = Section(key="W5", title=f"W5 pages over HTTP: p95 of {ctx.sizes.http_requests} requests each")
    if ctx.django_error:
        section.rows = [_missing(page, ctx.django_error) for page in PAGES]
        return section
    try:
        stack = http_stack.shared(ctx)
        paths = _prepare(stack, POSTS if not ctx.sizes.quick else 50)
        section.rows = _measure(stack, paths, ctx.sizes.http_requests)
    except http_stack.NotAvailable as error:
        section.rows = [_missing(page, str(error)) for page in PAGES]
    section.plots = [Plot("w5_pages", "W5: page p95 over HTTP", "GET p95", ylabel="ms", log=False)]
    return section


def _prepare(stack: http_stack.Stack, posts: int) -> dict[str, str]:
    from sessions_app.models import StateEntry

    WfsiteDjango().seed(SESSION, state_with(posts))
    client = http_stack.login(stack)
    run_id = http_stack.run_id_of(http_stack.start_run(client, SESSION, "W5 a topic not cached yet"))
    run = http_stack.wait_finished(run_id)
    if run.status != "succeeded":
        raise http_stack.NotAvailable(f"the run for the run page ended {run.status}: {run.error}")
    entry = StateEntry.objects.filter(session__session_id=SESSION, position=posts // 2).first()
    if entry is None or not entry.lookup_key:
        raise http_stack.NotAvailable("the session's cached entries were not stored as rows")
    session = http_stack.session_path(SESSION)
    post = f"{session}caches/{entry.key}/{quote(entry.lookup_key, safe='')}/"
    return {PAGES[0]: session, PAGES[1]: f"/runs/{run_id}/", PAGES[2]: post}


def _measure(stack: http_stack.Stack, paths: dict[str, str], count: int) -> list[Row]:
    client = http_stack.login(stack)
    for path in paths.values():  # warm-up, and proof that each page answers
        http_stack.timed_get(client, path, 0)
    times: dict[str, list[float]] = {page: [] for page in paths}
    for _ in range(count):  # in turns, so that drift touches every page alike
        for page, path in paths.items():
            times[page] += http_stack.timed_get(client, path, 1, warm=False)
    rows = []
    for page, samples in times.items():
        ms = [t * 1000 for t in samples]
        note = f"p50 {median(ms):.1f} ms, {paths[page]}"
        rows.append(Row(page, "GET p95", percentile(ms, 95), "ms", goal=GOAL, note=note, samples=ms))
    return rows


def _missing(page: str, reason: str) -> Row:
    return Row(page, "GET p95", None, "ms", goal=GOAL, note=f"not available: {reason}")
