"""W1 run cycle: over many sessions, read a session's state, append one post, write it back.

Each round runs one cycle on every session, for every store (and one end-to-end run per session
for each engine), interleaved; the value is cycles per second, the median over rounds. Sessions
start with two cached posts, so states stay small (10-30 KB) as in a typical run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import lineup
from bench.common import Context, Goal, Plot, Row, Section, interleave, median, post, state_with, timed, topic
from bench.stores import cycle, settle
from bench.upstream import Unavailable
from bench.workflows import PhidataRunner, run_wfsite

METRIC = "run cycles/s"
ENGINE = "wfsite engine Workflow.run (SQLite)"
ENGINE_DJANGO = "wfsite engine Workflow.run (Django)"
PHIDATA_RUN = "phidata Workflow.run"
STORE_NAMES = [
    lineup.RAW,
    lineup.RAW_ORJSON,
    lineup.WFSITE,
    lineup.DJANGO,
    lineup.PHIDATA,
    lineup.AGNO,
    lineup.LANGGRAPH,
]
GOALS = {
    lineup.WFSITE: Goal("at least 0.8x raw", 0.8, "min", lineup.RAW),
    lineup.DJANGO: Goal("at least 5x phidata", 5.0, "min", lineup.PHIDATA),
    ENGINE: Goal("at least 5x phidata's run", 5.0, "min", PHIDATA_RUN),
}
# On PostgreSQL the dashboard's storage is held to phidata's storage on the same server.
POSTGRES_GOALS = {
    **GOALS,
    lineup.DJANGO: Goal("at least 1.5x phidata on PostgreSQL", 1.5, "min", lineup.PHIDATA_PG),
}


def entry(index: int) -> dict[str, str]:
    """A post under a topic never used before, so every run is a cache miss that appends."""
    return {"topic": topic(index), "blog_post": post(index % 500)["blog_post"]}


def run(ctx: Context) -> Section:
    n, rounds = ctx.sizes.w1_sessions, ctx.sizes.w1_rounds
    folder = ctx.workdir / "w1"
    names = [*STORE_NAMES, lineup.PHIDATA_PG] if ctx.lane == "postgres" else STORE_NAMES
    goals = POSTGRES_GOALS if ctx.lane == "postgres" else GOALS
    stores, missing = lineup.open_stores(ctx, folder, names)
    session_ids = [f"w1-{i}" for i in range(n)]
    for store in stores.values():
        for i, session_id in enumerate(session_ids):
            store.seed(session_id, state_with(2, start=i))
        settle(store)

    def first_index(number: int) -> int:
        return 100_000 + number * n

    def store_round(store: Any) -> Callable[[int], float]:
        def go(number: int) -> float:
            base = first_index(number)
            return timed(lambda: [cycle(store, sid, entry(base + i)) for i, sid in enumerate(session_ids)])

        return go

    contenders = {name: store_round(store) for name, store in stores.items()}
    engine_ids = [f"w1e-{i}" for i in range(n)]  # the Django database is shared: ids of their own
    engines, more_missing = _engines(ctx, folder, engine_ids, first_index)
    contenders.update(engines)
    missing.update(more_missing)
    samples = interleave(contenders, rounds)
    lineup.close_all(stores)
    rows = [_row(name, n, times, goals) for name, times in samples.items()]
    rows += [_missing_row(name, reason, goals) for name, reason in missing.items()]
    return Section(
        key="W1",
        title=f"W1 run cycle: {n:,} sessions, read state, append one post, write ({rounds} rounds)",
        rows=rows,
        plots=[Plot("w1_run_cycle", "W1: run cycles per second (higher is better)", METRIC, ylabel=METRIC)],
    )


def _engines(
    ctx: Context, folder: Any, session_ids: list[str], first_index: Callable[[int], int]
) -> tuple[dict[str, Callable[[int], float]], dict[str, str]]:
    """End-to-end runs of the seed's workflow: wfsite's engine on both storages, phidata's Workflow.run."""
    stores, missing = lineup.open_stores(ctx, folder / "engines", [lineup.WFSITE, lineup.DJANGO])
    runners: dict[str, tuple[Any, Callable[[str, str, str], None]]] = {}
    for name, label in ((lineup.WFSITE, ENGINE), (lineup.DJANGO, ENGINE_DJANGO)):
        if name in stores:
            runners[label] = (stores[name], _wfsite_runner(stores[name].storage))
        else:
            missing[label] = missing.pop(name)
    try:
        phidata = PhidataRunner(folder / "engines" / "phidata_run.db")
        runners[PHIDATA_RUN] = (phidata, phidata.run)
    except Unavailable as error:
        missing[PHIDATA_RUN] = str(error)
    contenders: dict[str, Callable[[int], float]] = {}
    for label, (seeder, runner) in runners.items():
        for i, session_id in enumerate(session_ids):
            seeder.seed(session_id, state_with(2, start=i))
        settle(seeder)
        contenders[label] = _engine_round(runner, session_ids, first_index)
    return contenders, missing


def _wfsite_runner(storage: Any) -> Callable[[str, str, str], None]:
    return lambda session_id, topic_, draft: run_wfsite(storage, session_id, topic_, draft)


def _engine_round(
    runner: Callable[[str, str, str], None], session_ids: list[str], first_index: Callable[[int], int]
) -> Callable[[int], float]:
    def go(number: int) -> float:
        base = first_index(number) + 50_000
        entries = [entry(base + i) for i in range(len(session_ids))]
        return timed(
            lambda: [
                runner(sid, e["topic"], e["blog_post"]) for sid, e in zip(session_ids, entries, strict=True)
            ]
        )

    return go


def _row(name: str, n: int, times: list[float], goals: dict[str, Goal]) -> Row:
    rates = [n / t for t in times]
    goal = goals.get(name)
    vs = lineup.RAW if name not in (ENGINE, ENGINE_DJANGO, PHIDATA_RUN) else PHIDATA_RUN
    return Row(impl=name, metric=METRIC, value=median(rates), unit="/s", vs=vs, goal=goal, samples=rates)


def _missing_row(name: str, reason: str, goals: dict[str, Goal]) -> Row:
    return Row(
        impl=name, metric=METRIC, value=None, unit="/s", goal=goals.get(name), note=f"not available: {reason}"
    )
