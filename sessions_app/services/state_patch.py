"""Patching a session's state: RFC 7396 JSON Merge Patch and RFC 6902 JSON Patch, as compare-and-swap edits.

A patch is applied to the state at the version the client names (`base_version`, the API's
`If-Match`), and only when that is the latest version: a client that saw an older state gets
`StateStaleError` and nothing is written, however unrelated the other write was. Two clients
racing with the same version are serialised by the session's row lock, so the second is refused
(and retries from the new version) instead of overwriting the first; a retry that touches other
keys then lands beside the first write. The patched state goes through the same edit path as a
whole replacement (`services.state`), so it is recorded as one change and can be undone.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import jsonpatch
import jsonpointer
from django.core.exceptions import ValidationError
from django.db import transaction

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.roles import CAN_EDIT_STATE
from sessions_app.services.permissions import Actor, actor_require
from sessions_app.services.state import StateStaleError, state_change_write, state_edit_ops
from sessions_app.state.store import check_storable, state_load
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import copy_json


class PatchKind(StrEnum):
    """The two patch formats, by their media types."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"


class PatchInvalidError(ValueError):
    """The patch document is malformed (RFC 5789: 400); nothing was written."""


class PatchConflictError(ValueError):
    """The patch does not apply to the state: a `test` failed or a path is missing (409); nothing was written."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Return `target` with RFC 7396's merge patch applied: null deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy_json(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, patch: Any) -> Any:
    """Return `target` with RFC 6902's JSON Patch applied, all operations or none."""
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise PatchInvalidError('A JSON Patch is a list of operation objects, e.g. [{"op": "add", ...}].')
    try:
        # Building the patch checks each op's name and pointers; applying it, that its targets exist.
        document = jsonpatch.JsonPatch(patch)
    except (jsonpatch.InvalidJsonPatch, jsonpointer.JsonPointerException, TypeError) as error:
        raise PatchInvalidError(f"The patch is not a valid JSON Patch: {error}.") from None
    try:
        return document.apply(target, in_place=False)
    except jsonpatch.JsonPatchTestFailed as error:
        raise PatchConflictError(f"A test operation failed: {error}.") from None
    except jsonpatch.InvalidJsonPatch as error:
        raise PatchInvalidError(f"The patch is not a valid JSON Patch: {error}.") from None
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as error:
        raise PatchConflictError(f"The patch does not fit the state: {error}.") from None


def state_patched(state: dict[str, Any], patch: Any, kind: PatchKind) -> dict[str, Any]:
    """Return the state with the patch applied; raise ValidationError when the result is not a state."""
    result = merge_patch(state, patch) if kind is PatchKind.MERGE else json_patch(state, patch)
    if not isinstance(result, dict):
        raise ValidationError(
            f"The patched state must be a JSON object ({{…}}), not {type(result).__name__}."
        )
    try:
        check_storable(result)
    except StateNotSerializableError as error:
        raise ValidationError(str(error)) from None
    return result


@transaction.atomic
def session_state_patch(
    *, session: WorkflowSession, patch: Any, kind: PatchKind, base_version: int, actor: Actor
) -> StateChange | None:
    """Apply a patch made against `base_version`, which must be the latest; return the change, None if none."""
    actor_require(actor, CAN_EDIT_STATE)
    locked = WorkflowSession.objects.select_for_update(no_key=True).get(pk=session.pk)
    if base_version != locked.version:
        raise StateStaleError(base_version=base_version, latest_version=locked.version)
    latest = state_load(locked)
    new_state = state_patched(copy_json(latest), patch, kind)
    ops = state_edit_ops(session=locked, latest=latest, new_state=new_state, base_version=base_version)
    return state_change_write(
        session=session, locked=locked, latest=latest, ops=ops, source=StateChange.Source.EDIT, actor=actor
    )
