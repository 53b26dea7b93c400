"""W7 cache hit end to end: POST a cached topic through the run form, until the rendered post is on the page.

One measurement is the form's POST (answered from the cache, no worker involved) plus the GET
of the run page it redirects to, which must hold the post rendered from Markdown. The session
holds 1,000 cached posts (50 with --quick), and each request asks for a different one.
"""

from __future__ import annotations

import time

from bench import http_stack
from bench.common import Context, Goal, Row, Section, median, percentile, state_with, topic
from bench.stores import WfsiteDjango

SESSION = "w7-cached-posts"
GOAL = Goal("p50 under 50 ms", 50.0, "max")
IMPL = "wfsite dashboard, cached topic"
METRIC = "POST to rendered post, p50"


def run(ctx: Context) -> Section:
    section = Section(key="W7", title=f"W7 cache hit end to end over HTTP ({ctx.sizes.w7_requests} requests)")
    if ctx.django_error:
        section.rows = [Row(IMPL, METRIC, None, "ms", goal=GOAL, note=f"not available: {ctx.django_error}")]
        return section
    posts = 50 if ctx.sizes.quick else 1000
    try:
        stack = http_stack.shared(ctx)
        WfsiteDjango().seed(SESSION, state_with(posts))
        client = http_stack.login(stack)
        _hit(client, topic(0))  # warm-up
        ms = [_hit(client, topic(1 + i * 7 % (posts - 1))) * 1000 for i in range(ctx.sizes.w7_requests)]
    except http_stack.NotAvailable as error:
        section.rows = [Row(IMPL, METRIC, None, "ms", goal=GOAL, note=f"not available: {error}")]
        return section
    note = f"p95 {percentile(ms, 95):.1f} ms; session of {posts} posts"
    section.rows = [Row(IMPL, METRIC, median(ms), "ms", goal=GOAL, note=note, samples=ms)]
    return section


def _hit(client: object, wanted: str) -> float:
    """POST the topic, follow to the run page; return the seconds until its HTML holds the rendered post."""
    began = time.perf_counter()
    answer = http_stack.start_run(client, SESSION, wanted)
    page = client.get(answer.headers["location"])  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - began
    if page.status_code != 200 or "<h2" not in page.text or wanted not in page.text:
        raise http_stack.NotAvailable(
            f"the run page for cached topic {wanted!r} did not show the rendered post"
        )
    return elapsed
