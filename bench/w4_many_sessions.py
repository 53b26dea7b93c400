"""W4 many sessions: up to 100,000 sessions; list the 50 most recently updated.

Each store is filled to each size in turn (1,000, 10,000, 100,000 sessions of one cached post),
and at each size every store lists its 50 newest updates the way its API allows: raw sqlite3
through an index, wfsite's `list_sessions`, the dashboard's selector, agno's sorted
`get_sessions`, LangGraph's newest checkpoints, and phidata's `get_all_sessions` sorted in
Python (it has no other way). At the largest size the session list page is fetched over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import bulk, http_stack, lineup
from bench.common import Context, Goal, Plot, Row, Section, interleave, median, percentile
from bench.stores import settle

METRIC = "list 50 newest"
PAGE = "wfsite session list page (HTTP)"
SELECTOR = "wfsite dashboard selector"
STORE_NAMES = [lineup.RAW, lineup.WFSITE, lineup.PHIDATA, lineup.AGNO, lineup.LANGGRAPH]
FILLERS = {
    lineup.RAW: bulk.fill_raw,
    lineup.WFSITE: bulk.fill_wfsite,
    lineup.PHIDATA: bulk.fill_phidata,
    lineup.AGNO: bulk.fill_agno,
    lineup.LANGGRAPH: bulk.fill_langgraph,
}
SLOW = {lineup.PHIDATA, lineup.AGNO, lineup.LANGGRAPH}


def repeat(fn: Callable[[], Any], budget: float = 0.05, most: int = 50) -> float:
    """Time `fn` once, and again while within `budget` seconds (up to `most` times); return the median."""
    times: list[float] = []
    spent = 0.0
    while not times or (spent < budget and len(times) < most):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
        spent += times[-1]
    return median(times)


def _selector() -> list[Any]:
    from sessions_app.models import WorkflowSession

    return list(WorkflowSession.objects.for_list().recently_updated()[:50])


def run(ctx: Context) -> Section:
    counts, rounds = ctx.sizes.w4_counts, ctx.sizes.w4_rounds
    stores, missing = lineup.open_stores(ctx, ctx.workdir / "w4", STORE_NAMES, warm=False)
    if ctx.django_error:
        missing[SELECTOR] = missing[PAGE] = ctx.django_error
    rows: list[Row] = []
    filled = 0
    for count in counts:
        for name, store in stores.items():
            FILLERS[name](store, filled, count)
            settle(store)
        if not ctx.django_error:
            bulk.fill_django(filled, count)
        filled = count
        contenders = {name: _lister(store, name) for name, store in stores.items()}
        if not ctx.django_error:
            contenders[SELECTOR] = lambda number: repeat(_selector)
        # At the largest size phidata takes seconds a call: fewer rounds (the fast ones repeat inside each).
        for name, times in interleave(contenders, rounds if count < counts[-1] else min(rounds, 3)).items():
            ms = [t * 1000 for t in times]
            goal = Goal("under 1 ms", 1.0, "max") if name == SELECTOR and count == counts[-1] else None
            rows.append(Row(name, METRIC, median(ms), "ms", vs=lineup.RAW, goal=goal, samples=ms, size=count))
    for store in stores.values():
        store.close()
    rows.append(_page(ctx, filled) if not ctx.django_error else _missing_page(ctx.django_error))
    rows += [
        Row(name, METRIC, None, "ms", note=f"not available: {why}")
        for name, why in missing.items()
        if name != PAGE
    ]
    return Section(
        key="W4",
        title=f"W4 many sessions: list the 50 most recently updated of N, N in {', '.join(f'{c:,}' for c in counts)}",
        rows=rows,
        plots=[
            Plot("w4_many_sessions", "W4: list the 50 newest of N sessions", METRIC, "N (sessions)", "ms")
        ],
    )


def _lister(store: Any, name: str) -> Callable[[int], float]:
    if name in SLOW:
        # Seconds per call at 100,000 sessions: one call per round is plenty.
        return lambda number: _once(lambda: store.list_recent(50))
    return lambda number: repeat(lambda: store.list_recent(50))


def _once(fn: Callable[[], Any]) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def _page(ctx: Context, count: int) -> Row:
    goal = Goal("p95 under 100 ms", 100.0, "max")
    try:
        client = http_stack.login(http_stack.shared(ctx))
        times = http_stack.timed_get(client, "/sessions/", ctx.sizes.http_requests)
    except http_stack.NotAvailable as error:
        return Row(
            PAGE, "GET /sessions/ p95", None, "ms", goal=goal, note=f"not available: {error}", size=count
        )
    ms = [t * 1000 for t in times]
    note = f"p50 {median(ms):.1f} ms over {len(ms)} requests"
    return Row(
        PAGE, "GET /sessions/ p95", percentile(ms, 95), "ms", goal=goal, note=note, samples=ms, size=count
    )


def _missing_page(reason: str) -> Row:
    return Row(
        PAGE,
        "GET /sessions/ p95",
        None,
        "ms",
        goal=Goal("p95 under 100 ms", 100.0, "max"),
        note=f"not available: {reason}",
    )
