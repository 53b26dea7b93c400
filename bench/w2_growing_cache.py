"""W2 growing cache: the cost of the N-th append to a session's cache, for N = 10 ... 2,000.

Two numbers per store and N, each on a fresh session holding N-1 posts:
- "append cycle": read the state, append the N-th post, write (what a run that caches a post costs);
- "append write": the write alone, the state already in hand (what the run pays at its end).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import lineup
from bench.common import Context, Goal, Plot, Row, Section, interleave, median, state_with, timed
from bench.stores import cycle, settle
from bench.w1_run_cycle import entry

CYCLE = "append cycle"
WRITE = "append write"
STORE_NAMES = [
    lineup.RAW,
    lineup.RAW_ORJSON,
    lineup.WFSITE,
    lineup.WFSITE_ON_PHIDATA,
    lineup.DJANGO,
    lineup.PHIDATA,
    lineup.AGNO,
    lineup.LANGGRAPH,
]
GOAL_NS = (1000, 2000)
FLAT_LIMIT = 2.0


def goal_for(name: str, metric: str, n: int) -> Goal | None:
    if metric != CYCLE:
        return None
    if name == lineup.WFSITE and n in GOAL_NS:
        return Goal("at most 0.5x raw", 0.5, "max", lineup.RAW)
    if name == lineup.WFSITE_ON_PHIDATA:
        return Goal("at most 1.0x raw", 1.0, "max", lineup.RAW)
    return None


def run(ctx: Context) -> Section:
    ns, rounds = ctx.sizes.w2_ns, ctx.sizes.w2_rounds
    stores, missing = lineup.open_stores(ctx, ctx.workdir / "w2", STORE_NAMES)
    rows: list[Row] = []
    for n in ns:
        contenders: dict[tuple[str, str], Callable[[int], float]] = {}
        for name, store in stores.items():
            cycle_ids = [f"w2-{n}-{r}-cycle" for r in range(rounds)]
            write_ids = [f"w2-{n}-{r}-write" for r in range(rounds)]
            for session_id in cycle_ids + write_ids:
                store.seed(session_id, state_with(n - 1))
            settle(store)
            contenders[(name, CYCLE)] = _cycle(store, cycle_ids, n)
            contenders[(name, WRITE)] = _write(store, write_ids, n)
        samples = interleave({f"{k[0]}|{k[1]}": v for k, v in contenders.items()}, rounds)
        for key, times in samples.items():
            name, metric = key.split("|")
            ms = [t * 1000 for t in times]
            rows.append(
                Row(
                    name,
                    metric,
                    median(ms),
                    "ms",
                    vs=lineup.RAW,
                    goal=goal_for(name, metric, n),
                    samples=ms,
                    size=n,
                )
            )
    lineup.close_all(stores)
    rows += _flatness(rows, ns)
    for name, reason in missing.items():
        rows.append(Row(name, CYCLE, None, "ms", note=f"not available: {reason}"))
    rows.sort(
        key=lambda r: (
            r.metric != CYCLE,
            r.size or 0,
            STORE_NAMES.index(r.impl) if r.impl in STORE_NAMES else 99,
        )
    )
    return Section(
        key="W2",
        title=f"W2 growing cache: the N-th append, N in {', '.join(map(str, ns))} ({rounds} rounds, median)",
        rows=rows,
        plots=[
            Plot(
                "w2_append_cycle",
                "W2: read + append the N-th post + write",
                CYCLE,
                "N (posts after the append)",
                "ms",
            ),
            Plot(
                "w2_append_write",
                "W2: the write of the N-th append alone",
                WRITE,
                "N (posts after the append)",
                "ms",
            ),
        ],
    )


def _cycle(store: Any, session_ids: list[str], n: int) -> Callable[[int], float]:
    return lambda number: timed(lambda: cycle(store, session_ids[number], entry(900_000 + n)))


def _write(store: Any, session_ids: list[str], n: int) -> Callable[[int], float]:
    def go(number: int) -> float:
        loaded = store.load(session_ids[number])
        return timed(lambda: store.write_append(loaded, entry(900_000 + n)))

    return go


def _flatness(rows: list[Row], ns: tuple[int, ...]) -> list[Row]:
    """The dashboard's storage should not slow down as the cache grows: its write at the largest N vs the smallest."""
    writes = {r.size: r.value for r in rows if r.impl == lineup.DJANGO and r.metric == WRITE and r.value}
    if len(ns) < 2 or ns[0] not in writes or ns[-1] not in writes:
        return []
    growth = writes[ns[-1]] / writes[ns[0]]
    return [
        Row(
            lineup.DJANGO,
            f"append write growth, N={ns[0]} to N={ns[-1]}",
            growth,
            "x",
            goal=Goal(f"flat or near-flat (at most {FLAT_LIMIT:g}x)", FLAT_LIMIT, "max"),
        )
    ]
