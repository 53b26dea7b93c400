"""W6 streaming: many clients reading `/runs/<id>/events/` while several runs write their events.

The runs are started through the site's form on sessions of their own and executed by the
server's task workers (one each, so they run at once). Each run gets the same number of
clients, connected right after it starts. Checked afterwards against the `RunEvent` rows: every
client got every event exactly once, in order. The delivery delay of an event is its arrival at
the client minus the row's `created_at`, which the worker sets when the event begins (up to
50 ms before it writes a batch of chunks), so the delay is an upper bound; events written
before a client connected are left out of the delays. The web process's CPU time over the
stream gives the cores it used; its resident memory is sampled throughout.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from bench import http_stack
from bench.common import Context, Goal, Row, Section, median, percentile

IMPL = "wfsite /runs/<id>/events/"
RSS_GROWTH_LIMIT_MB = 64.0


@dataclass
class Received:
    run_id: str
    connected_at: float = 0.0
    seqs: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    done: bool = False


def run(ctx: Context) -> Section:
    runs, clients = ctx.sizes.w6_runs, ctx.sizes.w6_clients
    section = Section(
        key="W6", title=f"W6 streaming: {clients} clients reading the events of {runs} running runs"
    )
    try:
        stack = http_stack.shared(ctx)
        client = http_stack.login(stack)
        section.rows = _stream(stack, client, runs, clients)
    except http_stack.NotAvailable as error:
        section.rows = [Row(IMPL, "delivery", None, "", note=f"not available: {error}")]
    return section


def _stream(stack: http_stack.Stack, client: Any, runs: int, clients: int) -> list[Row]:
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
    cookies = dict(client.cookies)
    cpu_before, rss_before = http_stack.process_stats(stack.web_pid) if stack.web_pid else (0.0, 0)
    began = time.monotonic()
    received, rss_peak = asyncio.run(_read_all(stack, cookies, targets))
    wall = time.monotonic() - began
    cpu_after, rss_after = http_stack.process_stats(stack.web_pid) if stack.web_pid else (0.0, 0)
    for run_id in run_ids:
        http_stack.wait_finished(run_id, timeout=60)
    return _rows(received, run_ids, wall, cpu_after - cpu_before, rss_before, max(rss_peak, rss_after))


async def _read_all(
    stack: http_stack.Stack, cookies: dict[str, str], targets: list[str]
) -> tuple[list[Received], int]:
    import httpx

    peak = 0
    finished = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not finished.is_set() and stack.web_pid:
            peak = max(peak, http_stack.process_stats(stack.web_pid)[1])
            await asyncio.sleep(0.25)

    limits = httpx.Limits(max_connections=len(targets) + 5)
    async with httpx.AsyncClient(
        base_url=stack.base_url, cookies=cookies, timeout=120, limits=limits
    ) as client:
        sampler = asyncio.create_task(sample())
        received = await asyncio.gather(*(_read_one(client, run_id) for run_id in targets))
        finished.set()
        await sampler
    return list(received), peak


async def _read_one(client: Any, run_id: str) -> Received:
    got = Received(run_id)
    seq: int | None = None
    event = ""
    async with client.stream(
        "GET", f"/runs/{run_id}/events/", headers={"Accept": "text/event-stream"}
    ) as answer:
        if answer.status_code != 200:
            raise http_stack.NotAvailable(f"the event stream answered {answer.status_code}")
        got.connected_at = time.time()
        async for line in answer.aiter_lines():
            if line == "":
                if seq is not None:
                    got.seqs.append(seq)
                    got.arrivals.append(time.time())
                if event == "done":
                    got.done = True
                    break
                seq, event = None, ""
            elif line.startswith("id:"):
                seq = int(line[3:].strip())
            elif line.startswith("event:"):
                event = line[6:].strip()
    return got


def _rows(
    received: list[Received], run_ids: list[str], wall: float, cpu: float, rss_before: int, rss_peak: int
) -> list[Row]:
    from sessions_app.models import RunEvent

    written: dict[str, list[tuple[int, float]]] = {}
    for run_id in run_ids:
        rows = RunEvent.objects.filter(run__run_id=run_id).order_by("seq").values_list("seq", "created_at")
        written[run_id] = [(seq, created.timestamp()) for seq, created in rows]
    wrong = sum(1 for got in received if not got.done or got.seqs != [s for s, _ in written[got.run_id]])
    delays = []
    for got in received:
        created = dict(written[got.run_id])
        for seq, arrival in zip(got.seqs, got.arrivals, strict=True):
            if seq in created and created[seq] >= got.connected_at:
                delays.append((arrival - created[seq]) * 1000)
    events = sum(len(rows) for rows in written.values())
    growth = (rss_peak - rss_before) / 1e6
    return [
        Row(
            IMPL,
            "clients missing, repeating or reordering an event",
            float(wrong),
            "",
            goal=Goal("0", 0, "max"),
            note=f"{len(received)} clients, {events} events in {len(run_ids)} runs",
        ),
        Row(
            IMPL,
            "delivery delay p50",
            median(delays),
            "ms",
            goal=Goal("under 100 ms", 100, "max"),
            samples=delays,
            note=f"{len(delays)} live deliveries",
        ),
        Row(IMPL, "delivery delay p99", percentile(delays, 99), "ms", goal=Goal("under 500 ms", 500, "max")),
        Row(
            IMPL,
            "web process CPU",
            cpu / wall if wall else float("nan"),
            "cores",
            goal=Goal("under one core", 1.0, "max"),
            note=f"{cpu:.1f} s CPU over {wall:.1f} s",
        ),
        Row(
            IMPL,
            "web process memory growth",
            growth,
            "MB",
            goal=Goal(f"bounded: under {RSS_GROWTH_LIMIT_MB:g} MB", RSS_GROWTH_LIMIT_MB, "max"),
            note=f"RSS {rss_before / 1e6:.0f} MB before, {rss_peak / 1e6:.0f} MB peak",
        ),
    ]
