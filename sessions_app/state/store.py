"""A session's state in rows: top-level lists one element per `StateEntry`, the rest in `session_state`.

Every function here keeps these invariants, which readers (selectors, admin) may rely on:
- a top-level key is in `session.session_state` or named in `session.list_keys`, never both;
- a list key's entries have positions 0..n-1 without gaps, so a position is the list index;
- `cache_entries` counts the session's entries and `state_size` is the byte size of the state as
  compact JSON (`{"k":v}`), kept by deltas so that appending never re-serialises the list.

A list under a key longer than `StateEntry.key` allows stays in `session_state`. PostgreSQL's jsonb
keeps neither the order of object keys nor the spelling of numbers (1e300 reads back as an int),
so a loaded state can differ in those; JSON equality of ordinary values is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from sessions_app.limits import state_size_check
from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.state.cache_stats import Touched, cache_stats_touch
from sessions_app.state.layout import (
    EMPTY_STATE_SIZE,
    STATE_FIELDS,
    Caches,
    check_storable,
    is_row_list,
    json_size,
    list_size,
    member_size,
    new_entries,
    session_caches,
    state_size,
)
from sessions_app.state.rows import RowWriter, check_op
from sessions_app.workflow.state import Op, apply
from sessions_app.workflow.storage import RunRecord

__all__ = [
    "EMPTY_STATE_SIZE",
    "STATE_FIELDS",
    "check_storable",
    "json_size",
    "list_size",
    "member_size",
    "state_load",
    "state_load_many",
    "state_preview",
    "state_replace",
    "state_size",
    "state_snapshot",
    "state_write_ops",
]

# -- reading ----------------------------------------------------------------------------------------


def state_load_many(sessions: Iterable[WorkflowSession]) -> dict[int, dict[str, Any]]:
    """Assemble the whole state of each session, by primary key, with one query for all entries."""
    sessions = list(sessions)
    lists: dict[int, dict[str, list[Any]]] = {s.pk: {key: [] for key in s.list_keys} for s in sessions}
    with_rows = [s.pk for s in sessions if s.list_keys]
    if with_rows:
        rows = (
            StateEntry.objects.filter(session_id__in=with_rows)
            .order_by("session_id", "key", "position")
            .values_list("session_id", "key", "value")
        )
        for pk, key, value in rows:
            if key in lists[pk]:
                lists[pk][key].append(value)
    return {s.pk: {**s.session_state, **lists[s.pk]} for s in sessions}


def state_load(session: WorkflowSession) -> dict[str, Any]:
    """Assemble the whole state of one session (no query when it holds no lists)."""
    return state_load_many([session])[session.pk]


class ListPreview(list):
    """The first items of a long list in the state; `total` is how many the list holds."""

    total: int = 0


def state_preview(session: WorkflowSession, *, per_list: int = 20) -> dict[str, Any]:
    """Return the state with each row-held list cut to its first `per_list` items (ListPreview).

    A page shows this instead of the whole state: a cache of 1,000 posts would otherwise load and
    render every post (megabytes) to show a tree most people never open that far.
    """
    state = dict(session.session_state)
    counts = dict(
        StateEntry.objects.filter(session=session).values_list("key").annotate(n=Count("id")).order_by()
    )
    for key in session.list_keys:
        items = StateEntry.objects.filter(session=session, key=key).order_by("position")
        preview = ListPreview(items.values_list("value", flat=True)[:per_list])
        preview.total = counts.get(key, 0)
        state[key] = preview
    return state


def state_snapshot(session_id: str, *, tries: int = 3) -> tuple[WorkflowSession, dict[str, Any]] | None:
    """Return a session row and its whole state as of that row's version, or None when absent.

    The row and its entries are two queries; a write committed between them would mix two
    versions, so the version is checked again after the entries were read.
    """
    for _ in range(tries):
        session = WorkflowSession.objects.filter(session_id=session_id).first()
        if session is None:
            return None
        state = state_load(session)
        if not session.list_keys:
            return session, state
        if WorkflowSession.objects.filter(pk=session.pk, version=session.version).exists():
            return session, state
    with transaction.atomic():  # writers kept moving: read under the row lock instead
        session = WorkflowSession.objects.select_for_update().filter(session_id=session_id).first()
        return None if session is None else (session, state_load(session))


# -- writing ----------------------------------------------------------------------------------------


def state_replace(
    session: WorkflowSession,
    new_state: dict[str, Any],
    *,
    save: bool = True,
    caches: Caches | None = None,
    producer: RunRecord | None = None,
) -> Touched:
    """Write a whole state over whatever the session held (creation, admin edits, restores).

    `caches` are the session's declared caches (its workflow's, by default); `producer` the run
    whose state this is, credited with the cached entries it adds. Returns what was written into
    those caches (for naming the entries in the change's summary).
    """
    check_storable(new_state)
    caches = session_caches(session) if caches is None else caches
    state_size_check(json_size(new_state), previous=session.state_size)
    if session.pk is None:
        session.save()
    StateEntry.objects.filter(session=session).delete()
    plain: dict[str, Any] = {}
    keys: list[str] = []
    entries: list[StateEntry] = []
    total = 0
    for key, value in new_state.items():
        if is_row_list(key, value):
            built, size = new_entries(session, key, 0, value, caches)
            entries += built
            keys.append(key)
            total += member_size(key, list_size(len(built), size))
        else:
            plain[key] = value
            total += member_size(key, json_size(value))
    StateEntry.objects.bulk_create(entries)
    session.session_state, session.list_keys = plain, keys
    session.cache_entries = len(entries)
    session.state_size = state_size(len(new_state), total)
    session.updated_at = timezone.now()
    if save:
        session.save(update_fields=STATE_FIELDS)
    touched = [
        (key, record, index)
        for key, value in new_state.items()
        if key in caches
        for index, record in (enumerate(value) if isinstance(value, list) else _members(value))
    ]
    cache_stats_touch(session=session, caches=caches, touched=touched, producer=producer)
    return touched


def _members(value: Any) -> Any:
    return value.items() if isinstance(value, dict) else ()


def state_write_ops(
    session: WorkflowSession,
    ops: list[Op],
    *,
    latest: dict[str, Any] | None = None,
    save: bool = True,
    caches: Caches | None = None,
    producer: RunRecord | None = None,
) -> Touched:
    """Apply `ops` to the session's rows, touching only the rows they change; return what went into caches.

    The ops must apply to the stored state (the storage checks them with `apply` first). `latest`
    is that whole state when the caller has loaded it; it saves queries and is updated in place.
    When a value cannot be stored nothing is written, but `session` may be half changed in memory.
    `caches` and `producer` are as for `state_replace`.
    """
    for op in ops:
        check_op(op)
    caches = session_caches(session) if caches is None else caches
    writer, before = RowWriter(session, latest, caches), session.state_size
    with transaction.atomic():  # an append's items are checked as they go in: none or all are written
        for op in ops:
            writer.write(op)
            if latest is not None:
                apply(latest, [op], force=True)
        writer.finish()
        state_size_check(session.state_size, previous=before)
        if save:
            session.save(update_fields=STATE_FIELDS)
        cache_stats_touch(session=session, caches=caches, touched=writer.touched, producer=producer)
    return writer.touched
