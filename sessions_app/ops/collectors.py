"""Run and cache numbers for Prometheus, counted in the database when `/metrics` is scraped.

Every web process and every node reads the same rows, so these agree wherever they are scraped
and need no shared memory; they describe the whole site, not the node that answered (sum them
across nodes and they count each run once per node: take `max` instead, or scrape one node).
A run is a cache hit when it was answered from its workflow's cache, and a miss otherwise.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sessions_app.models import WorkflowRun

logger = logging.getLogger("wfsite.metrics")
Status = WorkflowRun.Status


class RunCollector:
    """Collect run counts by workflow and status, cache hits and misses, and the active gauges."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "wfsite_metrics_database_up", "Whether the run metrics could be read (1) or not (0)."
        )
        try:
            rows = list(
                WorkflowRun.objects.order_by()
                .values_list("workflow", "status", "cache_hit")
                .annotate(n=Count("id"))
            )
            stale = Counter(
                dict(
                    WorkflowRun.objects.stale()
                    .order_by()
                    .values_list("workflow")
                    .annotate(n=Count("id"))
                    .values_list("workflow", "n")
                )
            )
        except DatabaseError:
            logger.warning("Could not read run metrics from the database", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from run_families(rows, stale)


def run_families(rows: list[tuple[str, str, bool, int]], stale: Counter[str]) -> Iterator[Metric]:
    """Turn (workflow, status, cache_hit, count) rows into the metric families."""
    started = CounterMetricFamily("wfsite_runs_started", "Runs started, by workflow.", labels=["workflow"])
    finished = CounterMetricFamily(
        "wfsite_runs_finished", "Runs that ended, by workflow and status.", labels=["workflow", "status"]
    )
    cache = CounterMetricFamily(
        "wfsite_cache_lookups",
        "Runs answered from the cache (hit) or not (miss).",
        labels=["workflow", "result"],
    )
    gauges = {
        Status.QUEUED: GaugeMetricFamily(
            "wfsite_runs_queued", "Runs waiting for a worker.", labels=["workflow"]
        ),
        Status.RUNNING: GaugeMetricFamily(
            "wfsite_runs_running", "Runs a worker is running.", labels=["workflow"]
        ),
    }
    stale_gauge = GaugeMetricFamily(
        "wfsite_runs_stale", "Running runs whose worker sent no heartbeat in time.", labels=["workflow"]
    )
    by_workflow: Counter[str] = Counter()
    by_status: Counter[tuple[str, str]] = Counter()
    by_cache: Counter[tuple[str, str]] = Counter()
    for workflow, status, cache_hit, count in rows:
        by_workflow[workflow] += count
        by_status[workflow, status] += count
        by_cache[workflow, "hit" if cache_hit else "miss"] += count
    for workflow, count in sorted(by_workflow.items()):
        started.add_metric([workflow], count)
        for status in Status:
            if status in WorkflowRun.FINISHED:
                finished.add_metric([workflow, status.value], by_status[workflow, status])
            elif status in gauges:
                gauges[status].add_metric([workflow], by_status[workflow, status])
        for result in ("hit", "miss"):
            cache.add_metric([workflow, result], by_cache[workflow, result])
        stale_gauge.add_metric([workflow], stale[workflow])
    yield from (started, finished, cache, *gauges.values(), stale_gauge)
