"""The session file: one session's state, runs and change history as JSON, and its validation.

```
{"format": "wfsite.session", "format_version": 1, "exported_at": "<ISO 8601>",
 "session": {"session_id", "workflow", "name", "user_id", "version", "created_at", "updated_at",
             "forked_from": {"session_id", "version"} or null},
 "state": {...},
 "runs": [{"run_id", "workflow", "inputs", "status", "cache_hit", "created_at", "started_at",
           "finished_at", "output", "error", "unsaved_state", "state_version", "started_by"}],
 "changes": [{"version", "source", "ops", "summary", "actor", "run_id", "created_at"}]}
```
`ops` are `StateChange.ops` as recorded (see `storage.ops_encode`); people are named by username.
`forked_from` (where a fork came from) was added without a new format version: files without it
read as sessions that are not forks, and readers that do not know it ignore it.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from sessions_app.limits import max_state_depth
from sessions_app.models import StateChange, WorkflowRun, WorkflowSession, field_max_length
from sessions_app.state.codec import parse_json
from sessions_app.state.store import check_storable
from sessions_app.workflow.errors import Path, StateNotSerializableError, format_path
from sessions_app.workflow.text import first_surrogate, has_surrogates

FORMAT = "wfsite.session"
FORMAT_VERSION = 1
MAX_ERRORS = 10
_MAX = {
    "session_id": field_max_length(WorkflowSession, "session_id"),
    "workflow": field_max_length(WorkflowSession, "workflow"),
    "name": field_max_length(WorkflowSession, "name"),
    "user_id": field_max_length(WorkflowSession, "user_id"),
}
_RUN_TEXTS = ("output", "error", "unsaved_state")
# Versions are 64-bit signed integers in every database.
MAX_COUNT = 2**63 - 1
MAX_USERNAME = 150


@dataclass
class SessionFile:
    """A validated session file."""

    session: dict[str, Any]
    state: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def session_id(self) -> str:
        return self.session["session_id"]


class _Problems(list[str]):
    def add(self, where: str, text: str) -> None:
        self.append(f"{where}: {text}")


def _moment(value: Any, where: str, problems: _Problems) -> datetime | None:
    if value is None:
        return None
    try:
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is not None:
            # Stored in UTC: a time near year 1 or 9999 may not exist there.
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        problems.add(where, "is not a date and time that exists (in UTC, years 1 to 9999)")
        return None
    problems.add(where, "must be an ISO 8601 date and time, or null")
    return None


def _count(value: Any, where: str, problems: _Problems, *, required: bool = True) -> int | None:
    """Return a version number from the file, or None after naming what is wrong with it."""
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COUNT:
        problems.add(where, f"must be a whole number from 0 to {MAX_COUNT}")
        return None
    return value


def _text(obj: dict[str, Any], key: str, where: str, problems: _Problems, *, limit: int | None = None) -> str:
    value = obj.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", "must be text")
        return ""
    if limit is not None and len(value) > limit:
        problems.add(f"{where}.{key}", f"is {len(value)} characters long; at most {limit} can be stored")
    if "\x00" in value:
        problems.add(f"{where}.{key}", "contains the NUL character")
    if has_surrogates(value):
        problems.add(
            f"{where}.{key}", f"contains a lone surrogate ({first_surrogate(value)}), which is not text"
        )
    return value


def _username(obj: dict[str, Any], key: str, where: str, problems: _Problems) -> str | None:
    value = obj.get(key)
    if not isinstance(value, str):
        return None
    return _text(obj, key, where, problems, limit=MAX_USERNAME) or None


def _session(raw: Any, problems: _Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add("session", "must be an object")
        return {}
    out: dict[str, Any] = {
        key: _text(raw, key, "session", problems, limit=limit) for key, limit in _MAX.items()
    }
    sid = out["session_id"]
    if not sid:
        problems.add("session.session_id", "is missing")
    elif any(unicodedata.category(char) == "Cc" for char in sid):  # lone surrogates: see _text
        problems.add("session.session_id", "contains control characters")
    out["version"] = _count(raw.get("version", 0), "session.version", problems) or 0
    for key in ("created_at", "updated_at"):
        out[key] = _moment(raw.get(key), f"session.{key}", problems)
    out["forked_from"] = _origin(raw.get("forked_from"), problems)
    return out


def _origin(raw: Any, problems: _Problems) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.add("session.forked_from", "must be an object or null")
        return None
    where = "session.forked_from"
    sid = _text(raw, "session_id", where, problems, limit=_MAX["session_id"])
    if not sid:
        problems.add(f"{where}.session_id", "is missing")
    version = _count(raw.get("version"), f"{where}.version", problems, required=False)
    return {"session_id": sid, "version": version}


def _storable(value: Any, where: str, problems: _Problems, *, path: Path = ()) -> None:
    try:
        check_storable(value, path)
    except StateNotSerializableError as error:
        problems.add(where, f"{format_path(error.path)}: {error.reason}" if error.path else error.reason)


def _uuid(value: Any, where: str, problems: _Problems, *, required: bool = True) -> uuid.UUID | None:
    if value is None and not required:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        problems.add(where, "must be a UUID")
        return None


def _run(raw: Any, where: str, problems: _Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add(where, "must be an object")
        return {}
    out: dict[str, Any] = {"run_id": _uuid(raw.get("run_id"), f"{where}.run_id", problems)}
    out["workflow"] = _text(raw, "workflow", where, problems, limit=_MAX["workflow"])
    out["inputs"] = raw.get("inputs") or {}
    if not isinstance(out["inputs"], dict):
        problems.add(f"{where}.inputs", "must be an object")
    _storable(out["inputs"], f"{where}.inputs", problems)
    out["status"] = raw.get("status", WorkflowRun.Status.SUCCEEDED)
    if out["status"] not in WorkflowRun.Status.values:
        problems.add(f"{where}.status", f"must be one of {', '.join(WorkflowRun.Status.values)}")
    out["cache_hit"] = raw.get("cache_hit", False) is True
    for key in ("created_at", "started_at", "finished_at"):
        out[key] = _moment(raw.get(key), f"{where}.{key}", problems)
    for key in _RUN_TEXTS:
        out[key] = _text(raw, key, where, problems)
    out["state_version"] = _count(
        raw.get("state_version"), f"{where}.state_version", problems, required=False
    )
    out["started_by"] = _username(raw, "started_by", where, problems)
    return out


def _ops(raw: Any, where: str, problems: _Problems) -> list[Any]:
    if not isinstance(raw, list):
        problems.add(where, "must be a list of ops")
        return []
    for index, op in enumerate(raw):
        at = f"{where}[{index}]"
        ok = isinstance(op, list) and len(op) in (3, 4) and op[0] in ("set", "delete", "append")
        ok = ok and isinstance(op[1], list)
        ok = ok and all(isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in op[1])
        if not ok:
            problems.add(at, 'must be ["set"|"delete"|"append", [path…], value] with an optional old value')
        elif op[0] == "append" and not isinstance(op[2], list):
            problems.add(at, "an append's value must be a list")
        elif len(op[1]) > max_state_depth():
            problems.add(at, f"its path is longer than WFSITE_MAX_STATE_DEPTH ({max_state_depth()}) keys")
        else:
            for value in op[2:]:  # the value, and the old value if recorded, where they sit in the state
                _storable(value, at, problems, path=tuple(op[1]))
            if any(isinstance(part, str) and has_surrogates(part) for part in op[1]):
                problems.add(at, "its path holds a lone surrogate, which no key can hold")
    return raw


def _change(raw: Any, where: str, problems: _Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add(where, "must be an object")
        return {}
    version = _count(raw.get("version"), f"{where}.version", problems)
    source = raw.get("source")
    if source not in StateChange.Source.values:
        problems.add(f"{where}.source", f"must be one of {', '.join(StateChange.Source.values)}")
    return {
        "version": version,
        "source": source,
        "ops": _ops(raw.get("ops"), f"{where}.ops", problems),
        "summary": _text(raw, "summary", where, problems)[:500],
        "actor": _username(raw, "actor", where, problems),
        "run_id": _uuid(raw.get("run_id"), f"{where}.run_id", problems, required=False),
        "created_at": _moment(raw.get("created_at"), f"{where}.created_at", problems),
    }


def _list(data: dict[str, Any], key: str, problems: _Problems) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        problems.add(key, "must be a list")
        return []
    return value


def _decode(raw: bytes) -> Any:
    try:
        return parse_json(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text, so it is not a session file.") from None
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"The file is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from None
    except RecursionError:
        raise ValidationError("The file nests JSON too deeply to be read.") from None
    except ValueError as error:  # an integer of more digits than Python reads (sys.get_int_max_str_digits)
        raise ValidationError(f"The file holds a number that cannot be read: {error}.") from None


def transfer_parse(raw: bytes) -> SessionFile:
    """Parse and check a session file; raise ValidationError listing what is wrong with it."""
    return transfer_check(_decode(raw))


def transfer_check(data: Any) -> SessionFile:
    """Check a session file already parsed from JSON; raise ValidationError listing what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValidationError(f'This is not a wfsite session file (it has no "format": "{FORMAT}").')
    if data.get("format_version") != FORMAT_VERSION:
        raise ValidationError(
            f"This session file is format version {data.get('format_version')!r}; "
            f"this site reads version {FORMAT_VERSION}."
        )
    problems = _Problems()
    session = _session(data.get("session"), problems)
    state = data.get("state")
    if not isinstance(state, dict):
        problems.add("state", "must be a JSON object")
        state = {}
    _storable(state, "state", problems)
    runs = [_run(r, f"runs[{i}]", problems) for i, r in enumerate(_list(data, "runs", problems))]
    changes = [_change(c, f"changes[{i}]", problems) for i, c in enumerate(_list(data, "changes", problems))]
    versions = [c.get("version") for c in changes]
    if len(set(versions)) != len(versions):
        problems.add("changes", "two changes have the same version")
    if problems:
        shown = problems[:MAX_ERRORS] + (
            [f"… and {len(problems) - MAX_ERRORS} more"] if len(problems) > MAX_ERRORS else []
        )
        raise ValidationError(["The session file is not valid; nothing was imported.", *shown])
    return SessionFile(session=session, state=state, runs=runs, changes=changes)
