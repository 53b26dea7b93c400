"""Creating, renaming and deleting sessions (from the dashboard and the admin)."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from sessions_app.models import WorkflowSession, field_max_length
from sessions_app.registry import UnknownWorkflowError, get_workflow_class
from sessions_app.roles import CAN_CREATE_SESSION, CAN_DELETE_SESSION, CAN_EDIT_STATE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.state import session_state_edit
from sessions_app.state.store import EMPTY_STATE_SIZE

MAX_SESSION_ID = field_max_length(WorkflowSession, "session_id")
MAX_NAME = field_max_length(WorkflowSession, "name")
# Control characters (Cc) break URLs and logs; lone surrogates (Cs) are not text any database stores.
_FORBIDDEN = {"Cc": ("control characters", ""), "Cs": ("lone surrogates", ", which are not valid text")}
_ALLOWED = "letters, digits, spaces and punctuation in any script are fine."


def _codes(chars: set[str]) -> str:
    shown = ", ".join(f"U+{ord(char):04X}" for char in sorted(chars)[:5])
    return shown + (", ..." if len(chars) > 5 else "")


def _session_id_errors(session_id: object) -> list[str]:
    if not isinstance(session_id, str) or not session_id:
        return [f"Give the session an id: 1 to {MAX_SESSION_ID} characters."]
    errors = []
    if len(session_id) > MAX_SESSION_ID:
        errors.append(f"The id is {len(session_id)} characters long; the limit is {MAX_SESSION_ID}.")
    for category, (what, why) in _FORBIDDEN.items():
        bad = {char for char in session_id if unicodedata.category(char) == category}
        if bad:
            errors.append(f"The id contains {what} ({_codes(bad)}){why}; {_ALLOWED}")
    return errors


def _session_errors(session_id: object, workflow: str, name: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if id_errors := _session_id_errors(session_id):
        errors["session_id"] = id_errors
    try:
        get_workflow_class(workflow)
    except UnknownWorkflowError as error:
        errors["workflow"] = [str(error)]
    if not isinstance(name, str) or len(name) > MAX_NAME:
        errors["name"] = [f"The name must be text of at most {MAX_NAME} characters."]
    return errors


@transaction.atomic
def session_create(
    *,
    session_id: str,
    workflow: str,
    name: str = "",
    user: AbstractBaseUser | AnonymousUser | None,
    state: dict[str, Any] | None = None,
) -> WorkflowSession:
    """Create a session for a registered workflow; raise ValidationError naming each bad field.

    A non-empty initial `state` is written as the session's first recorded change, which needs
    the editor role as well (as importing a session does).
    """
    actor_require(user, CAN_CREATE_SESSION)
    if state:
        actor_require(user, CAN_EDIT_STATE)
    errors = _session_errors(session_id, workflow, name)
    if not errors and WorkflowSession.objects.filter(session_id=session_id).exists():
        errors["session_id"] = [f"A session with the id {session_id!r} already exists."]
    if errors:
        raise ValidationError(errors)
    owner = user.get_username() if user is not None and user.is_authenticated else ""
    try:
        # A savepoint: losing a race to create the same id must leave the caller's transaction usable.
        with transaction.atomic():
            session = WorkflowSession.objects.create(
                session_id=session_id,
                workflow=workflow,
                name=name,
                user_id=owner,
                state_size=EMPTY_STATE_SIZE,
            )
    except IntegrityError:
        raise ValidationError(
            {"session_id": [f"A session with the id {session_id!r} already exists."]}
        ) from None
    if state:
        try:
            session_state_edit(session=session, new_state=state, base_version=0, actor=user)
        except ValidationError as error:
            raise ValidationError({"state": error.messages}) from None
    return session


@transaction.atomic
def session_rename(*, session: WorkflowSession, name: str, actor: Actor) -> None:
    """Change the session's display name (the state is untouched)."""
    actor_require(actor, CAN_EDIT_STATE)
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise ValidationError({"name": [f"The name must be text of at most {MAX_NAME} characters."]})
    session.name = name
    session.save(update_fields=["name"])


@transaction.atomic
def session_delete(*, session: WorkflowSession, actor: Actor) -> None:
    """Delete the session with its state, runs, events and history."""
    actor_require(actor, CAN_DELETE_SESSION)
    session.delete()
