"""What only a process can count: request latency by view, and the event streams it holds open.

prometheus_client reads `PROMETHEUS_MULTIPROC_DIR` when it is imported: set, each process
writes these values to files in that folder and `/metrics`, answered by any process, adds up
every process's (`metrics.metrics_registry`). The folder must be empty when the site starts,
and whatever starts web processes should call `prometheus_client.multiprocess.mark_process_dead(pid)`
when one exits, so its open streams stop counting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TypeVar

from prometheus_client import Gauge, Histogram

T = TypeVar("T")

# Pages answer in milliseconds; the state pages of big sessions and the admin take longer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_LATENCY = Histogram(
    "wfsite_request_duration_seconds",
    "Time to answer a request, by view (for an event stream, until the stream starts).",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
STREAM_CLIENTS = Gauge(
    "wfsite_stream_clients",
    "Open /runs/<id>/events/ streams.",
    multiprocess_mode="livesum",
)


async def counted_stream(stream: AsyncIterator[T]) -> AsyncIterator[T]:
    """Yield what `stream` yields, counted in STREAM_CLIENTS while it is open; close it when done."""
    async with aclosing(stream):  # type: ignore[type-var]
        with STREAM_CLIENTS.track_inprogress():
            async for item in stream:
                yield item
