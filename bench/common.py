"""What every workload shares: the data (blog posts), interleaved timing, and result rows with goals.

Absolute times drift on shared machines, so a workload times every implementation in the same
process, in rounds: each round runs each implementation once (in a rotated order), and the
reported value is the median over rounds. Goals are judged on ratios between rows measured that way.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

from sessions_app.workflow.offline_model import compose_post


@dataclass(frozen=True)
class Sizes:
    """How big a run is; `--quick` swaps in tiny sizes that only prove the workloads still run."""

    quick: bool
    w1_sessions: int = 1000
    w1_rounds: int = 5
    w2_ns: tuple[int, ...] = (10, 100, 1000, 2000)
    w2_rounds: int = 5
    w2b_appends: int = 200
    w3_ns: tuple[int, ...] = (10, 100, 1000)
    w3_rounds: int = 15
    w3_similar_n: int = 2000
    w4_counts: tuple[int, ...] = (1000, 10_000, 100_000)
    w4_rounds: int = 7
    http_requests: int = 60
    w6_runs: int = 10
    w6_clients: int = 1000
    w6_rounds: int = 3
    w7_requests: int = 30

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            w1_sessions=20,
            w1_rounds=2,
            w2_ns=(10, 50),
            w2_rounds=2,
            w2b_appends=20,
            w3_ns=(10, 50),
            w3_rounds=3,
            w3_similar_n=50,
            w4_counts=(200, 1000),
            w4_rounds=3,
            http_requests=5,
            w6_runs=2,
            w6_clients=4,
            w6_rounds=1,
            w7_requests=3,
        )


# -- data -------------------------------------------------------------------------------------------


def topic(index: int) -> str:
    return f"Bench topic {index}"


@cache
def post(index: int) -> dict[str, str]:
    """Return cache entry `index` in the seeds' shape: a 3,000-6,000 character Markdown post."""
    return {"topic": topic(index), "blog_post": compose_post(topic(index))}


def posts(count: int, start: int = 0) -> list[dict[str, str]]:
    return [post(i) for i in range(start, start + count)]


def state_with(count: int, start: int = 0) -> dict[str, Any]:
    return {"blog_posts": posts(count, start)}


# -- timing -----------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    """Return the seconds `fn()` took."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(contenders: dict[str, Callable[[int], float]], rounds: int) -> dict[str, list[float]]:
    """Call each contender once per round, rotating the order; return each one's samples.

    A contender gets the round number and returns the seconds it measured itself, so that its
    setup (seeding a fresh session, say) stays out of the number.
    """
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    # What setup allocated (seeded states, imported libraries) is frozen out of the collector, so a
    # full collection in the middle of a contender costs what that contender allocated, not all of it.
    gc.collect()
    gc.freeze()
    try:
        for number in range(rounds):
            shift = number % len(names) if names else 0
            for name in names[shift:] + names[:shift]:
                samples[name].append(contenders[name](number))
    finally:
        gc.unfreeze()
    return samples


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Return the `pct` percentile (nearest rank) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- results ----------------------------------------------------------------------------------------


@dataclass
class Goal:
    """A target for one row: `max`/`min` of the ratio to `vs`, or of the value itself when `vs` is None."""

    text: str
    limit: float
    kind: str = "max"  # "max": at most `limit`; "min": at least `limit`
    vs: str | None = None

    def check(self, value: float) -> bool:
        return value <= self.limit if self.kind == "max" else value >= self.limit


@dataclass
class Row:
    """One measured number, how it compares with its baseline, and the goal it is held to."""

    impl: str
    metric: str
    value: float | None
    unit: str
    vs: str | None = None
    ratio: float | None = None
    goal: Goal | None = None
    passed: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["goal"] = None if self.goal is None else asdict(self.goal)
        return data


def unavailable(impl: str, metric: str, reason: str, *, goal: Goal | None = None) -> Row:
    """A row for something that could not be measured here, saying why instead of a number."""
    return Row(impl=impl, metric=metric, value=None, unit="", goal=goal, note=f"not available: {reason}")


def ratio(row: Row, base: Row | None) -> float | None:
    """Return `row` over `base`: the median of the per-round ratios when both were measured in the
    same rounds (each round's pair ran side by side, so drift between rounds cancels), else of values."""
    if base is None or row.value is None or not base.value:
        return None
    pairs = list(zip(row.samples, base.samples, strict=False))
    if row.samples and len(row.samples) == len(base.samples) and all(b for _, b in pairs):
        return statistics.median(a / b for a, b in pairs)
    return row.value / base.value


def judge(rows: list[Row]) -> list[Row]:
    """Fill in each row's ratio to its baseline row (same metric and size) and its goal's verdict."""
    by_key = {(row.impl, row.metric, row.size): row for row in rows}
    for row in rows:
        row.ratio = ratio(row, by_key.get((row.vs, row.metric, row.size))) if row.vs else None
        if row.goal is None or row.value is None:
            continue
        measured = row.value if row.goal.vs is None else row.ratio
        if row.goal.vs is not None and row.goal.vs != row.vs:
            measured = ratio(row, by_key.get((row.goal.vs, row.metric, row.size)))
        row.passed = None if measured is None else row.goal.check(measured)
    return rows


@dataclass
class Plot:
    """A PNG of one metric: a line per implementation against `Row.size`, or bars when rows have no size."""

    name: str
    title: str
    metric: str
    xlabel: str = ""
    ylabel: str = ""
    log: bool = True


@dataclass
class Section:
    """One workload's outcome: its rows, plots and notes."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    lane: str = "sqlite"
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


LANES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@dataclass
class Context:
    """What a workload gets: the sizes, a scratch folder, whether Django is set up, and on which database.

    `lane` is "sqlite" (a temporary file) or "postgres" (a database of its own on the server at
    TEST_POSTGRES_URL); each lane runs in a process of its own, since Django is set up once.
    """

    sizes: Sizes
    workdir: Any
    django_error: str | None = None
    lane: str = "sqlite"
    stack: Any = None  # the HTTP workloads' server, started by the first that needs it
