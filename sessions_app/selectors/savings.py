"""What the cache saved, per session or for the whole site: hits, misses, time and tokens not spent.

Counted from the runs: a run answered from a cache is a hit, and carries what producing the
entry that answered it had cost (`WorkflowRun.saved_seconds`, `saved_tokens`, credited when the
hit happened); any other finished run is a miss. Tokens saved are estimates where the model that
produced the entry only estimated them (the offline demo model does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from sessions_app.models import WorkflowRun, WorkflowSession

CHART_DAYS = 30


@dataclass(frozen=True)
class Day:
    """One day's hits and misses, for the chart."""

    day: date
    hits: int
    misses: int


@dataclass(frozen=True)
class Savings:
    """The cache's record over some runs."""

    hits: int = 0
    misses: int = 0
    seconds_saved: float = 0.0
    tokens_saved: int = 0
    tokens_estimated: bool = False
    days: list[Day] = field(default_factory=list)

    @property
    def runs(self) -> int:
        """Return how many finished runs these are."""
        return self.hits + self.misses

    @property
    def hit_rate(self) -> float | None:
        """Return the share of finished runs answered from a cache, or None before any run."""
        return None if not self.runs else self.hits / self.runs

    @property
    def busiest(self) -> int:
        """Return the most runs on one day of the chart (its scale)."""
        return max((day.hits + day.misses for day in self.days), default=0)


def _runs(session: WorkflowSession | None) -> QuerySet[WorkflowRun]:
    runs = WorkflowRun.objects.filter(status__in=WorkflowRun.FINISHED)
    return runs if session is None else runs.filter(session=session)


def cache_savings(
    *, session: WorkflowSession | None = None, days: int = CHART_DAYS, today: date | None = None
) -> Savings:
    """Return what the cache saved in the session's runs (every session's, without one), with a daily chart."""
    runs = _runs(session)
    totals = runs.aggregate(
        hits=Count("id", filter=Q(cache_hit=True)),
        misses=Count("id", filter=Q(cache_hit=False)),
        seconds=Sum("saved_seconds", filter=Q(cache_hit=True)),
        tokens=Sum("saved_tokens", filter=Q(cache_hit=True)),
        estimated=Count("id", filter=Q(cache_hit=True, saved_tokens_estimated=True)),
    )
    return Savings(
        hits=totals["hits"],
        misses=totals["misses"],
        seconds_saved=float(totals["seconds"] or 0.0),
        tokens_saved=int(totals["tokens"] or 0),
        tokens_estimated=bool(totals["estimated"]),
        days=_days(runs, days, today or timezone.localdate()),
    )


def _days(runs: QuerySet[WorkflowRun], days: int, today: date) -> list[Day]:
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    counted = {
        row["day"]: row
        for row in runs.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(hits=Count("id", filter=Q(cache_hit=True)), misses=Count("id", filter=Q(cache_hit=False)))
        .order_by()
    }
    series = []
    for n in range(days):
        day = first + timedelta(days=n)
        row = counted.get(day, {"hits": 0, "misses": 0})
        series.append(Day(day, row["hits"], row["misses"]))
    return series


@dataclass(frozen=True)
class WorkflowSavings:
    """One workflow's line in the overview."""

    workflow: str
    hits: int
    misses: int
    seconds_saved: float


def savings_by_workflow() -> list[WorkflowSavings]:
    """Return each workflow's hits, misses and time saved, most hits first."""
    rows = (
        _runs(None)
        .values("workflow")
        .annotate(
            hits=Count("id", filter=Q(cache_hit=True)),
            misses=Count("id", filter=Q(cache_hit=False)),
            seconds=Sum("saved_seconds", filter=Q(cache_hit=True)),
        )
        .order_by("-hits", "workflow")
    )
    return [WorkflowSavings(r["workflow"], r["hits"], r["misses"], float(r["seconds"] or 0.0)) for r in rows]
