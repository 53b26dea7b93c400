"""Pruning what grows without bound and no page needs: old task rows, streamed chunks, folded history, login records.

Each kind has its own setting, in days (0 keeps it forever):

- `WFSITE_TASK_RESULTS_KEEP_DAYS` (14): django-tasks-db's rows for tasks that finished. A run's
  page reads the run, never its task row.
- `WFSITE_RUN_EVENTS_KEEP_DAYS` (30): the streamed text chunks of runs that ended that long ago.
  A finished run's page shows its `WorkflowCompleted` post, so a run that has one loses its chunks;
  one without (a failed run's partial text) keeps its text, joined into its first chunk row.
  Steps and the final error are kept: the page lists them.
- `WFSITE_LOGIN_RECORDS_KEEP_DAYS` (90): django-axes's records of logins and failed logins, and
  attempts that no longer lock anything out.
- History: every session's changes beyond `WFSITE_HISTORY_KEEP` are folded into its baseline
  (`state.history.history_prune`, which writes also do, but only once a history is a tenth over).

Deletes go in batches, each its own transaction, so a big first prune never holds long locks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from sessions_app.models import RunEvent, StateChange, WorkflowRun, WorkflowSession
from sessions_app.roles import CAN_PRUNE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.run_events import CHUNK_EVENT, COMPLETED_EVENT
from sessions_app.state.history import history_keep, history_prune

BATCH = 500


@dataclass
class PruneResult:
    """How many rows of each kind went."""

    task_results: int = 0
    chunk_events: int = 0
    history_changes: int = 0
    login_records: int = 0

    def text(self) -> str:
        """Return the counts as a sentence."""
        return ", ".join(f"{getattr(self, f.name)} {f.name.replace('_', ' ')}" for f in fields(self))


def _cutoff(days: int, now: datetime) -> datetime | None:
    return now - timedelta(days=days) if days > 0 else None


def _delete_in_batches(queryset: QuerySet) -> int:
    deleted = 0
    while ids := list(queryset.values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            count, _ = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += count
        if len(ids) < BATCH:
            break
    return deleted


def task_results_prune(*, before: datetime) -> int:
    """Delete the task rows of tasks that finished before `before`."""
    return _delete_in_batches(DBTaskResult.objects.finished().filter(finished_at__lt=before))


def _runs_with_spare_chunks(before: datetime) -> QuerySet[WorkflowRun]:
    """Runs that ended before `before` whose chunk rows the page does not need as they are."""
    completed = RunEvent.objects.filter(run=OuterRef("pk"), event=COMPLETED_EVENT)
    return (
        WorkflowRun.objects.filter(status__in=WorkflowRun.FINISHED, finished_at__lt=before)
        .annotate(chunks=Count("events", filter=Q(events__event=CHUNK_EVENT)), completed=Exists(completed))
        .filter(Q(chunks__gt=1) | Q(chunks__gt=0, completed=True))
        .order_by("pk")
    )


@transaction.atomic
def _run_chunks_prune(run_pk: int, completed: bool) -> int:
    chunks = RunEvent.objects.filter(run_id=run_pk, event=CHUNK_EVENT).order_by("seq")
    if completed:
        count, _ = chunks.delete()
        return count
    rows = list(chunks.values_list("pk", "content"))
    RunEvent.objects.filter(pk=rows[0][0]).update(content="".join(content for _, content in rows))
    count, _ = RunEvent.objects.filter(pk__in=[pk for pk, _ in rows[1:]]).delete()
    return count


def run_chunks_prune(*, before: datetime) -> int:
    """Drop, or join into one row, the streamed chunks of runs that ended before `before`."""
    deleted, after_pk = 0, 0
    while batch := list(
        _runs_with_spare_chunks(before).filter(pk__gt=after_pk).values_list("pk", "completed")[:BATCH]  # type: ignore[misc]  # annotated above
    ):
        for run_pk, completed in batch:
            deleted += _run_chunks_prune(run_pk, completed)
        after_pk = batch[-1][0]
    return deleted


def history_fold(*, keep: int | None = None) -> int:
    """Fold every session's changes beyond `keep` (WFSITE_HISTORY_KEEP) into its baseline."""
    keep = keep or history_keep()
    long = (
        StateChange.objects.order_by()
        .values("session_id")
        .annotate(n=Count("id"))
        .filter(n__gt=keep + 1)
        .values_list("session_id", flat=True)
    )
    return sum(
        history_prune(session=session, keep=keep, force=True)
        for session in WorkflowSession.objects.filter(pk__in=list(long)).only("pk")
    )


def login_records_prune(*, before: datetime, now: datetime) -> int:
    """Delete login records and spent failed-login counts from before `before`."""
    spent = now - settings.AXES_COOLOFF_TIME
    return sum(
        _delete_in_batches(queryset)
        for queryset in (
            AccessLog.objects.filter(attempt_time__lt=before),
            AccessFailureLog.objects.filter(attempt_time__lt=before),
            AccessAttempt.objects.filter(attempt_time__lt=min(before, spent)),
        )
    )


def data_prune(*, actor: Actor, now: datetime | None = None) -> PruneResult:
    """Prune everything past its retention setting; return how much went."""
    actor_require(actor, CAN_PRUNE)
    now = now or timezone.now()
    result = PruneResult()
    if before := _cutoff(settings.WFSITE_TASK_RESULTS_KEEP_DAYS, now):
        result.task_results = task_results_prune(before=before)
    if before := _cutoff(settings.WFSITE_RUN_EVENTS_KEEP_DAYS, now):
        result.chunk_events = run_chunks_prune(before=before)
    result.history_changes = history_fold()
    if before := _cutoff(settings.WFSITE_LOGIN_RECORDS_KEEP_DAYS, now):
        result.login_records = login_records_prune(before=before, now=now)
    return result
