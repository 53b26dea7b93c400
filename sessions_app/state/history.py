"""Recording state changes, and keeping a session's history bounded.

Retention: `settings.WFSITE_HISTORY_KEEP` (default 1000) changes per session stay diffable and
restorable. Once a session holds more than that plus a tenth (so pruning runs once per many
changes, not on each), `history_prune` folds the oldest away: the newest change it would drop
has its ops replaced by a baseline (a `set` of the whole state at its version) and everything
older is deleted. Every version from that baseline's on can still be rebuilt by replay; the
baseline keeps its source, actor, time and summary, and is the only snapshot a session stores.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.state.changes import ops_encode, ops_summary
from sessions_app.state.versions import state_at_version
from sessions_app.workflow.state import Op

BASELINE_SUMMARY = "Baseline: the state as it was when its history began"


def history_keep() -> int:
    """Return how many changes per session are kept diffable."""
    return max(1, int(getattr(settings, "WFSITE_HISTORY_KEEP", 1000)))


def baseline_ops(state: dict[str, Any]) -> list[list[Any]]:
    """Return the recorded ops of a baseline: one `set` of the whole state."""
    return [["set", [], state]]


def history_record(
    *,
    session: WorkflowSession,
    ops: list[Op],
    source: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    run: WorkflowRun | None = None,
    summary: str = "",
) -> StateChange:
    """Record the change that made the session's current version."""
    # AUTH_USER_MODEL is auth.User: the only kind of person who can be recorded.
    actor = actor if isinstance(actor, User) and actor.is_authenticated else None
    return StateChange.objects.create(
        session=session,
        version=session.version,
        source=source,
        ops=ops_encode(ops),
        summary=(summary or ops_summary(ops))[:500],
        actor=actor,
        run=run,
    )


def history_baseline_ensure(*, session: WorkflowSession, state: dict[str, Any]) -> None:
    """Record the current state as a baseline when it has a state but no history to rebuild it from.

    Sessions written before history was recorded (or by hand) would otherwise replay wrongly.
    """
    if state and not StateChange.objects.filter(session=session).exists():
        StateChange.objects.create(
            session=session,
            version=session.version,
            source=StateChange.Source.IMPORT,
            ops=baseline_ops(state),
            summary=BASELINE_SUMMARY,
        )


def _slack(keep: int) -> int:
    return max(1, keep // 10)


@transaction.atomic
def history_prune(*, session: WorkflowSession, keep: int | None = None, force: bool = False) -> int:
    """Fold the session's oldest changes into a baseline so `keep` diffable ones remain; return how many went.

    Without `force` nothing happens until the history is a tenth over `keep` (see the module docstring).
    """
    keep = keep or history_keep()
    changes = StateChange.objects.filter(session=session)
    limit = keep + 1 if force else keep + 1 + _slack(keep)
    if changes.count() <= limit:
        return 0
    # The row lock serialises prunes of one session; new changes only add newer versions.
    locked = WorkflowSession.objects.select_for_update(no_key=True).get(pk=session.pk)
    boundary = changes.order_by("-version").values_list("version", flat=True)[keep]
    state = state_at_version(session=locked, version=boundary)
    changes.filter(version=boundary).update(ops=baseline_ops(state))
    deleted, _ = changes.filter(version__lt=boundary).delete()
    return deleted
