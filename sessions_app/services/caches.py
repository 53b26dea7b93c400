"""Changing one cached entry, named by its cache and key: delete it (undoable), or regenerate it.

An entry is found by its key, not by its place in the list, so the place may have moved (a run
appended, another entry was deleted) between the page and the POST. A delete removes the
entry's records as they were when the person saw them (`base_version`): if the entry changed
since, nothing is removed and the conflict is named.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.roles import CAN_EDIT_STATE, CAN_RUN
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.runs import run_start
from sessions_app.services.state import state_change_write
from sessions_app.state.store import state_load
from sessions_app.state.versions import state_at_version
from sessions_app.workflow import Workflow
from sessions_app.workflow.cache import Cache, CacheEntry
from sessions_app.workflow.errors import StateConflictError
from sessions_app.workflow.state import Op, json_equal


def _records(cache: Cache, state: dict[str, Any], key: str) -> list[CacheEntry]:
    return [entry for entry in cache.entries(state) if entry.key == key]


def _delete_ops(entries: list[CacheEntry]) -> list[Op]:
    """Delete each record, later list positions first so the earlier ones keep their index."""
    ordered = sorted(entries, key=lambda e: e.index if isinstance(e.index, int) else -1, reverse=True)
    return [Op("delete", entry.path, None, entry.record) for entry in ordered]


@transaction.atomic
def cache_entry_delete(
    *, session: WorkflowSession, cache: Cache, key: str, base_version: int, actor: Actor
) -> StateChange:
    """Delete the cached entry with this key as it was at `base_version`; the change can be undone."""
    actor_require(actor, CAN_EDIT_STATE)
    locked = WorkflowSession.objects.select_for_update(no_key=True).get(pk=session.pk)
    latest = state_load(locked)
    current = _records(cache, latest, key)
    if not current:
        raise ValidationError("That entry is not cached any more; it may have been deleted already.")
    seen = (
        latest if base_version == locked.version else state_at_version(session=locked, version=base_version)
    )
    seen_records = [entry.record for entry in _records(cache, seen, key)]
    if not json_equal(seen_records, [entry.record for entry in current]):
        raise StateConflictError([entry.path for entry in current])
    change = state_change_write(
        session=session,
        locked=locked,
        latest=latest,
        ops=_delete_ops(current),
        source=StateChange.Source.CLEAR,
        actor=actor,
        summary=f"Deleted {current[-1].name}",
    )
    assert change is not None  # there were records to delete
    return change


def cache_entry_regenerate(
    *,
    session: WorkflowSession,
    workflow_class: type[Workflow],
    cache: Cache,
    key: str,
    user: AbstractBaseUser | AnonymousUser | None,
) -> WorkflowRun:
    """Start a run that makes the entry anew, replacing it: its inputs, with the cache turned off.

    The result cache is turned off too, or a cached result would answer before the run got
    to this cache.
    """
    actor_require(user, CAN_RUN)
    entry = next(reversed(_records(cache, state_load(session), key)), None)
    if entry is None:
        raise ValidationError("That entry is not cached any more, so there is nothing to regenerate.")
    flags = {c.use_cache for c in (cache, workflow_class.result_cache()) if c is not None and c.use_cache}
    if not flags:
        raise ValidationError(f"{workflow_class.__name__} has no input that turns this cache off.")
    return run_start(session=session, inputs={**entry.inputs, **dict.fromkeys(flags, False)}, user=user)
