"""W6 streaming: many clients reading `/runs/<id>/events/` while several runs write their events.

A round starts the runs through the site's form, on sessions of their own, executed by the
server's task workers (one each, so they run at once), and connects every client at once
right after, the same number to each run. Checked afterwards against the `RunEvent` rows: every
client got every event exactly once, in order. The delivery delay of an event is its arrival at
the client minus the row's `created_at`, which the worker sets when the event begins (up to
50 ms before it writes a batch of chunks), so the delay is an upper bound; events written
before a client connected are left out of the delays. Connecting is the time from the first
connection attempt until the last client has its response headers. The web processes' CPU
time over the stream gives the cores they used; their resident memory is sampled throughout,
and again after the clients have left. On PostgreSQL the database server's own counters give
the connections opened and held (`bench.db_stats`). Rows give the median round, with the worst
round in the note; goals are judged on the median.

The clients are `bench.sse_client` (raw asyncio), because httpx would spend more of the shared
two cores than the server does.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench import db_stats, http_stack, sse_client
from bench.common import Context, Goal, Row, Section, median, percentile
from bench.report import fmt_value

IMPL = "wfsite /runs/<id>/events/"
SAMPLE_SECONDS = 0.25
# How long after the last client left the memory is read again.
SETTLE_SECONDS = 3.0


@dataclass
class Round:
    """What one round measured."""

    clients: int
    events: int
    wrong: int
    delays: list[float]
    connect: float
    cpu: float
    wall: float
    rss_before: int
    rss_peak: int
    rss_after: int
    stream_minutes: float
    delivered: int = 0
    client_cpu: float = 0.0
    sessions: int | None = None
    held: db_stats.Held = field(default_factory=db_stats.Held)


def run(ctx: Context) -> Section:
    runs = ctx.sizes.w6_runs
    # BENCH_W6_CLIENTS / BENCH_W6_ROUNDS change the load, e.g. to compare with a site that cannot take 1,000.
    clients = int(os.environ.get("BENCH_W6_CLIENTS") or ctx.sizes.w6_clients)
    rounds = int(os.environ.get("BENCH_W6_ROUNDS") or ctx.sizes.w6_rounds)
    section = Section(
        key="W6",
        title=f"W6 streaming: {clients} clients reading the events of {runs} running runs ({rounds} rounds)",
    )
    try:
        stack = http_stack.shared(ctx)
        client = http_stack.login(stack)
        measured = [_round(stack, client, runs, clients) for _ in range(rounds)]
    except (http_stack.NotAvailable, sse_client.StreamError, OSError) as error:
        section.rows = [Row(IMPL, "delivery", None, "", note=f"not available: {error}")]
        return section
    section.rows = _rows(measured)
    return section


def _round(stack: http_stack.Stack, client: Any, runs: int, clients: int) -> Round:
    from bench.stores import WfsiteDjango

    nonce = secrets.token_hex(3)
    storage = WfsiteDjango()
    run_ids = []
    for index in range(runs):
        session_id = f"w6-{nonce}-{index}"
        storage.seed(session_id, {})
        answer = http_stack.start_run(client, session_id, f"W6 streaming topic {nonce} {index}")
        run_ids.append(http_stack.run_id_of(answer))
    targets = [run_ids[i % runs] for i in range(clients)]
    probe = db_stats.Probe.open()
    try:
        sessions_before = probe.sessions() if probe else None
        cpu_before, rss_before = http_stack.web_stats(stack)
        began, client_cpu = time.time(), time.process_time()
        received, peak, held = asyncio.run(_read_all(stack, dict(client.cookies), targets, probe))
        ended, client_cpu = time.time(), time.process_time() - client_cpu
        cpu_after, _ = http_stack.web_stats(stack)
        for run_id in run_ids:
            http_stack.wait_finished(run_id, timeout=60)
        time.sleep(SETTLE_SECONDS)
        rss_after = http_stack.web_stats(stack)[1]
        sessions = probe.sessions() - sessions_before if probe and sessions_before is not None else None
    finally:
        if probe:
            probe.close()
    checked = _judge_round(received, run_ids, began, ended, cpu_after - cpu_before)
    return Round(
        **checked,
        client_cpu=client_cpu,
        rss_before=rss_before,
        rss_peak=max(peak, rss_before),
        rss_after=rss_after,
        sessions=sessions,
        held=held,
    )


async def _read_all(
    stack: http_stack.Stack, cookies: dict[str, str], targets: list[str], probe: db_stats.Probe | None
) -> tuple[list[tuple[sse_client.Received, float]], int, db_stats.Held]:
    peak, held = 0, db_stats.Held()
    finished = asyncio.Event()

    async def sample() -> None:
        nonlocal peak, held
        while not finished.is_set():
            peak = max(peak, http_stack.web_stats(stack)[1])
            if probe is not None:
                now = probe.held()
                held = db_stats.Held(max(held.total, now.total), max(held.web, now.web))
            await asyncio.sleep(SAMPLE_SECONDS)

    async def one(run_id: str) -> tuple[sse_client.Received, float]:
        got = await sse_client.read_stream(stack.base_url, run_id, cookies)
        return got, time.time()

    sampler = asyncio.create_task(sample())
    try:
        received = await asyncio.gather(*(one(run_id) for run_id in targets))
    finally:
        finished.set()
        await sampler
    return list(received), peak, held


def _judge_round(
    received: list[tuple[sse_client.Received, float]],
    run_ids: list[str],
    began: float,
    ended: float,
    cpu: float,
) -> dict[str, Any]:
    from sessions_app.models import RunEvent

    written: dict[str, list[tuple[int, float]]] = {}
    for run_id in run_ids:
        rows = RunEvent.objects.filter(run__run_id=run_id).order_by("seq").values_list("seq", "created_at")
        written[run_id] = [(seq, created.timestamp()) for seq, created in rows]
    wrong = sum(1 for got, _ in received if not got.done or got.seqs != [s for s, _ in written[got.run_id]])
    delays = []
    for got, _ in received:
        created = dict(written[got.run_id])
        for seq, arrival in zip(got.seqs, got.arrivals, strict=True):
            if seq in created and created[seq] >= got.connected_at:
                delays.append((arrival - created[seq]) * 1000)
    return {
        "clients": len(received),
        "events": sum(len(rows) for rows in written.values()),
        "wrong": wrong,
        "delays": delays,
        "connect": max(got.connected_at for got, _ in received) - began,
        "cpu": cpu,
        "wall": ended - began,
        "stream_minutes": sum(left - got.connected_at for got, left in received) / 60,
        "delivered": sum(len(got.seqs) for got, _ in received),
    }


def _spread(values: list[float], *, worst: str = "max") -> tuple[float, float]:
    """Return the median round's value and the worst round's."""
    return statistics.median(values), (max(values) if worst == "max" else min(values))


def _rows(rounds: list[Round]) -> list[Row]:
    first = rounds[0]
    p50s = [median(r.delays) for r in rounds]
    p99s = [percentile(r.delays, 99) for r in rounds]
    per_client = [(r.rss_peak - r.rss_before) / r.clients / 1024 for r in rounds]
    kept = [(r.rss_after - r.rss_before) / 1e6 for r in rounds]
    growth = [(r.rss_peak - r.rss_before) / 1e6 for r in rounds]
    rows = [
        Row(
            IMPL,
            "clients missing, repeating or reordering an event",
            float(max(r.wrong for r in rounds)),
            "",
            goal=Goal("0", 0, "max"),
            note=f"worst round; {first.clients} clients, {first.events} events per round",
        ),
        _row(
            "delivery delay p50",
            p50s,
            "ms",
            Goal("under 100 ms", 100, "max"),
            f"{sum(len(r.delays) for r in rounds)} live deliveries",
            samples=p50s,
        ),
        _row("delivery delay p99", p99s, "ms", Goal("under 500 ms", 500, "max"), "", samples=p99s),
        _row(
            f"connecting {first.clients} clients",
            [r.connect for r in rounds],
            "s",
            Goal("under 5 s", 5, "max"),
            "first attempt to the last client's headers",
        ),
        _row(
            "web processes' CPU",
            [r.cpu / r.wall for r in rounds],
            "cores",
            None,
            f"{statistics.median(r.cpu for r in rounds):.1f} s CPU over {statistics.median(r.wall for r in rounds):.1f} s",
        ),
        _row(
            "web CPU per delivered event",
            [r.cpu / max(1, r.delivered) * 1e6 for r in rounds],
            "µs",
            None,
            "web CPU over every event every client got (connecting included); load changes it least",
        ),
        _row(
            "bench clients' CPU",
            [r.client_cpu / r.wall for r in rounds],
            "cores",
            None,
            "this process reading every stream; it shares the cores with the server",
        ),
        _row(
            "web memory per client",
            per_client,
            "KB",
            Goal("bounded: under 100 KB", 100, "max"),
            f"peak growth {statistics.median(growth):.0f} MB over RSS {first.rss_before / 1e6:.0f} MB",
        ),
        _row(
            "web memory kept after the clients left",
            kept,
            "MB",
            Goal("returned: under 25 MB", 25, "max"),
            f"{SETTLE_SECONDS:g} s after the last one left",
        ),
    ]
    if first.sessions is not None:
        opened = [
            r.sessions / r.stream_minutes for r in rounds if r.sessions is not None and r.stream_minutes
        ]
        rows.append(
            _row(
                "database connections opened per stream-minute",
                opened,
                "",
                Goal("under 1", 1, "max"),
                f"{statistics.median(r.sessions or 0 for r in rounds):.0f} in all processes over "
                f"{statistics.median(r.stream_minutes for r in rounds):.0f} stream-minutes",
            )
        )
        held = [float(r.held.web) for r in rounds]
        rows.append(
            _row(
                "web processes' database connections, peak",
                held,
                "",
                Goal("at most one per 10 streams", first.clients / 10, "max"),
                f"all processes: {max(r.held.total for r in rounds)} at most",
            )
        )
    return rows


def _row(metric: str, values: list[float], unit: str, goal: Goal | None, note: str, **extra: Any) -> Row:
    middle, worst = _spread(values)
    note = f"worst round {fmt_value(worst, unit)}" + (f"; {note}" if note else "")
    return Row(IMPL, metric, middle, unit, goal=goal, note=note, **extra)
