"""How many runs a person may start: `WFSITE_RUN_RATE_LIMIT = "N/S"`, N starts in any S seconds.

The count is of the person's `WorkflowRun` rows created in the last S seconds, read from the
database, so every web node sees the same count without a shared cache. A cache hit counts (it is
a row in the history, and a loop of cache hits fills it as fast as anything); joining a run that
is already making the same result does not (it creates nothing). Starts by nobody in particular
(the engine, management commands) are not limited. Two starts racing on different sessions may
both see N-1, so under concurrency the limit can be passed by the number of simultaneous requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from sessions_app.models import WorkflowRun


@dataclass(frozen=True)
class RateLimit:
    """At most `count` run starts in any `seconds`."""

    count: int
    seconds: int

    def window_text(self) -> str:
        """Return the window as people say it: "the last minute", "the last 90 seconds"."""
        for size, unit in ((3600, "hour"), (60, "minute")):
            if self.seconds % size == 0:
                n = self.seconds // size
                return f"the last {unit}" if n == 1 else f"the last {n} {unit}s"
        return "the last second" if self.seconds == 1 else f"the last {self.seconds} seconds"


class RunRateLimitedError(Exception):
    """The person started as many runs as the limit allows in its window; nothing was created."""

    def __init__(self, limit: RateLimit, retry_after: int) -> None:
        self.limit, self.retry_after = limit, retry_after
        runs = "run" if limit.count == 1 else "runs"
        super().__init__(
            f"You started {limit.count} {runs} in {limit.window_text()}; try again in {retry_after} s."
        )


def run_rate_limit() -> RateLimit | None:
    """Return the configured limit, or None when it is off ("" or a count of 0)."""
    raw = settings.WFSITE_RUN_RATE_LIMIT
    if not raw:
        return None
    count, seconds = (int(part) for part in raw.split("/"))
    return RateLimit(count, seconds) if count and seconds else None


def run_rate_check(*, user: Any, now: datetime | None = None) -> None:
    """Raise RunRateLimitedError when `user` may not start another run at `now`."""
    limit = run_rate_limit()
    if limit is None or user is None or not getattr(user, "is_authenticated", False):
        return
    now = now or timezone.now()
    window = timedelta(seconds=limit.seconds)
    # The newest `count` starts in the window: fewer means there is room; otherwise the oldest
    # of them leaving the window is when there will be.
    recent = list(
        WorkflowRun.objects.filter(started_by=user, created_at__gt=now - window)
        .order_by("-created_at")
        .values_list("created_at", flat=True)[: limit.count]
    )
    if len(recent) < limit.count:
        return
    wait = (recent[-1] + window - now).total_seconds()
    raise RunRateLimitedError(limit, retry_after=max(1, math.ceil(wait)))
