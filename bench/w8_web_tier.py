"""W8 web tier: one web process against one per core, side by side, under 10 concurrent clients.

Two `manage.py serve` stacks run at once on the bench's database, as `make run` starts them (a
task worker and the reaper each), one with `--web-processes 1` and one with a web process per
core. Each round loads each stack in turn (the order rotates) with closed-loop clients, each on
its own keep-alive connection (`bench.load`, a client cheap enough to share the cores with the
servers), for a few seconds per page: the session list, a session page of 1,000 cached posts,
and the run form's POST of a cached topic (answered from the cache, a 302 to the run). A round's
value is the answers per second and the p50/p99 of their latencies; a row shows the median
over rounds and, in its note, the worst round. Throughput ratios are per round (both stacks ran
in the same round), and the goals are on the many-process rows: at least 1.8x one process's
throughput, p99 under 300 ms. A one-client lane of the POST gives its latency without queueing.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

from bench import http_stack, load
from bench.common import Context, Goal, Row, Section, median, percentile, state_with, topic
from bench.stores import WfsiteDjango

PAGE_SESSION = "w8-session-page"
POST_SESSION = "w8-cached-posts"
CLIENTS = 10
THROUGHPUT_GOAL = 1.8
P99_GOAL = Goal("under 300 ms", 300.0, "max")


@dataclass(frozen=True)
class Plan:
    rounds: int
    seconds: float
    clients: int
    posts: int

    @classmethod
    def for_context(cls, ctx: Context) -> Plan:
        if ctx.sizes.quick:
            return cls(rounds=1, seconds=0.3, clients=2, posts=20)
        return cls(rounds=5, seconds=3.0, clients=CLIENTS, posts=1000)


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run(ctx: Context) -> Section:
    # On one core, two processes still show what a second one costs.
    plan, many = Plan.for_context(ctx), max(2, cores())
    section = Section(
        key="W8",
        title=f"W8 web tier: 1 web process vs {many} (one per core), {plan.clients} clients, {plan.rounds} rounds",
    )
    if ctx.django_error:
        section.rows = [
            Row("wfsite web tier", "throughput", None, "", note=f"not available: {ctx.django_error}")
        ]
        return section
    stacks: dict[str, http_stack.Stack] = {}
    try:
        _seed(plan)
        _start_stacks(ctx, (1, many), into=stacks)
        section.rows, section.notes = _measure(plan, stacks)
    except (http_stack.NotAvailable, load.LoadError) as error:
        section.rows = [Row("wfsite web tier", "throughput", None, "", note=f"not available: {error}")]
    finally:
        for stack in stacks.values():
            stack.stop()
    return section


def _start_stacks(ctx: Context, counts: tuple[int, ...], *, into: dict[str, http_stack.Stack]) -> None:
    """Start a stack per web process count, together (each takes seconds to import Django).

    `into` gets every stack that started, also when another did not, so the caller stops them all.
    --quick leaves out the task workers, to start faster.
    """
    args = {_label(n): ("--web-processes", str(n)) for n in counts}
    workers = 0 if ctx.sizes.quick else 1
    with ThreadPoolExecutor(len(args)) as pool:
        starting = {
            label: pool.submit(http_stack.start, ctx.workdir, workers=workers, args=extra)
            for label, extra in args.items()
        }
        failures = []
        for label, future in starting.items():
            try:
                into[label] = future.result()
            except http_stack.NotAvailable as error:
                failures.append(error)
    if failures:
        raise failures[0]


def _label(processes: int) -> str:
    return f"{processes}-process"


def _seed(plan: Plan) -> None:
    storage = WfsiteDjango()
    storage.seed(PAGE_SESSION, state_with(plan.posts))
    storage.seed(POST_SESSION, state_with(plan.posts))


def _pages(plan: Plan) -> dict[str, tuple[load.MakeRequest, set[int]]]:
    session_page = http_stack.session_path(PAGE_SESSION)
    run_form = http_stack.session_path(POST_SESSION) + "runs/"

    def cached_post(client: int, n: int) -> load.Request:
        wanted = topic((client * 101 + n * 7) % plan.posts)
        return "POST", run_form, urlencode({"topic": wanted, "use_cache": "on"}).encode()

    return {
        "session list": (lambda client, n: ("GET", "/sessions/", b""), {200}),
        f"session page, {plan.posts:,} posts": (lambda client, n: ("GET", session_page, b""), {200}),
        "cache-hit POST": (cached_post, {302}),
    }


@dataclass
class Lane:
    """The per-round numbers of one page on one stack."""

    throughput: list[float]
    p50: list[float]
    p99: list[float]
    cores: list[float]


def _measure(plan: Plan, stacks: dict[str, http_stack.Stack]) -> tuple[list[Row], list[str]]:
    # One login for both: a second would reset the bench user's password and end the first session.
    client = http_stack.login(next(iter(stacks.values())))
    cookies, token = dict(client.cookies), http_stack.csrf_token(client)
    targets = {label: load.Target(stack.base_url, cookies, token) for label, stack in stacks.items()}
    pages = _pages(plan)
    lanes: dict[tuple[str, str, int], Lane] = {}
    lanes_for = [(page, plan.clients) for page in pages] + [("cache-hit POST", 1)]
    for label in stacks:  # warm-up: every page answers, templates and connections are made
        for make, expect in pages.values():
            load.load(
                targets[label], clients=plan.clients, seconds=min(1.0, plan.seconds), make=make, expect=expect
            )
    client_cpu = time.process_time()
    began = time.monotonic()
    for number in range(plan.rounds):
        order = list(stacks)
        order = order[number % len(order) :] + order[: number % len(order)]
        for label in order:
            for page, clients in lanes_for:
                make, expect = pages[page]
                lane = lanes.setdefault((page, label, clients), Lane([], [], [], []))
                _one(lane, stacks[label], targets[label], make, expect, clients, plan.seconds)
    client_cores = (time.process_time() - client_cpu) / (time.monotonic() - began)
    rows = [
        row for (page, label, clients), lane in lanes.items() for row in _rows(page, label, clients, lane)
    ]
    notes = [f"the load client itself used {client_cores:.2f} cores on average (same machine)"]
    return rows, notes


def _one(
    lane: Lane,
    stack: http_stack.Stack,
    target: load.Target,
    make: load.MakeRequest,
    expect: set[int],
    clients: int,
    seconds: float,
) -> None:
    before = sum(http_stack.process_stats(pid)[0] for pid in stack.web_pids)
    result = load.load(target, clients=clients, seconds=seconds, make=make, expect=expect)
    used = sum(http_stack.process_stats(pid)[0] for pid in stack.web_pids) - before
    ms = [t * 1000 for t in result.latencies]
    lane.throughput.append(result.throughput)
    lane.p50.append(median(ms))
    lane.p99.append(percentile(ms, 99))
    lane.cores.append(used / result.seconds)


def _rows(page: str, label: str, clients: int, lane: Lane) -> list[Row]:
    impl = f"{label} {page}"
    is_many = label != _label(1)
    base = f"{_label(1)} {page}" if is_many else None
    who = f"{clients} client{'s' if clients > 1 else ''}"
    rows = []
    if clients > 1:
        goal = (
            Goal(f"at least {THROUGHPUT_GOAL:g}x 1-process", THROUGHPUT_GOAL, "min", vs=base)
            if is_many
            else None
        )
        rows.append(
            Row(
                impl,
                f"throughput, {who}",
                median(lane.throughput),
                "/s",
                vs=base,
                goal=goal,
                samples=lane.throughput,
                note=f"worst round {min(lane.throughput):.0f}/s; web processes used {median(lane.cores):.2f} cores",
            )
        )
    for metric, values in (("p50", lane.p50), ("p99", lane.p99)):
        goal = P99_GOAL if metric == "p99" and is_many and clients > 1 else None
        rows.append(
            Row(
                impl,
                f"{metric}, {who}",
                median(values),
                "ms",
                goal=goal,
                samples=values,
                note=f"worst round {max(values):.1f} ms",
            )
        )
    return rows
