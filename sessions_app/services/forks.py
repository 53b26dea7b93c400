"""Forking a session: a new, independent session that starts from a version of another one.

The fork's state is the source's state at that version, rebuilt from the source's history
(`state.versions`). The fork is written like any session: its own rows, cached entries' stats and
history, whose first change (source "fork") names the source session and version. Nothing is
shared afterwards, so later writes to either never touch the other. The fork keeps its source as
a foreign key (for links) and as text (so it still says where it came from once the source is
deleted). A cached entry keeps its age in the fork (a fork of a stale entry is still stale) and
what producing it cost, but its hits start at none.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction

from sessions_app.limits import StateTooLargeError
from sessions_app.models import StateChange, WorkflowSession
from sessions_app.roles import CAN_CREATE_SESSION, CAN_EDIT_STATE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.sessions import MAX_NAME, MAX_SESSION_ID, session_create
from sessions_app.state.cache_stats import cache_stats_copy
from sessions_app.state.history import history_record
from sessions_app.state.store import STATE_FIELDS, state_replace
from sessions_app.state.versions import state_at_version
from sessions_app.workflow.state import Op

__all__ = ["fork_default_name", "fork_summary", "session_fork"]

FORK_FIELDS = ["forked_from", "forked_from_session_id", "forked_from_version"]


def fork_default_name(session: WorkflowSession, version: int) -> str:
    """Return the name a fork gets when none is given: "<name> (fork of v<N>)"."""
    suffix = f" (fork of v{version})"
    return str(session)[: MAX_NAME - len(suffix)] + suffix


def fork_summary(session: WorkflowSession, version: int) -> str:
    """Say where a fork came from, as its first change's summary."""
    return f"Forked from session {session.session_id!r} at version {version}"


def _new_id(session: WorkflowSession, version: int) -> str:
    suffix = f"-fork-v{version}-{secrets.token_hex(3)}"
    return session.session_id[: MAX_SESSION_ID - len(suffix)] + suffix


@transaction.atomic
def session_fork(
    *,
    session: WorkflowSession,
    version: int,
    actor: Actor,
    session_id: str | None = None,
    name: str | None = None,
) -> WorkflowSession:
    """Make a new session whose state is `session`'s at `version`; return it.

    Raises VersionUnavailableError when the version cannot be rebuilt, and ValidationError
    (keyed by field) for a bad or taken `session_id` or a bad `name`; nothing is written then.
    """
    actor_require(actor, CAN_CREATE_SESSION, CAN_EDIT_STATE)
    source = WorkflowSession.objects.get(pk=session.pk)
    state = state_at_version(session=source, version=version)
    fork = session_create(
        session_id=session_id or _new_id(source, version),
        workflow=source.workflow,
        name=fork_default_name(source, version) if name is None or name == "" else name,
        user=actor,
    )
    fork.forked_from = source
    fork.forked_from_session_id = source.session_id
    fork.forked_from_version = version
    try:
        state_replace(fork, state, save=False)
    except StateTooLargeError as error:
        raise ValidationError(str(error)) from error
    fork.version = 1
    fork.save(update_fields=[*STATE_FIELDS, *FORK_FIELDS, "version"])
    # A baseline, so the fork's history starts with this change even when the state is empty.
    history_record(
        session=fork,
        ops=[Op("set", (), state)],
        source=StateChange.Source.FORK,
        actor=actor,
        summary=fork_summary(source, version),
    )
    cache_stats_copy(source=source, target=fork)
    return fork
