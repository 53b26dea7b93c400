"""The session file: one session's state, runs and change history as JSON, and its validation.

```
{"format": "wfsite.session", "format_version": 1, "exported_at": "<ISO 8601>",
 "session": {"session_id", "workflow", "name", "user_id", "version", "created_at", "updated_at"},
 "state": {...},
 "runs": [{"run_id", "workflow", "inputs", "status", "cache_hit", "created_at", "started_at",
           "finished_at", "output", "error", "unsaved_state", "state_version", "started_by"}],
 "changes": [{"version", "source", "ops", "summary", "actor", "run_id", "created_at"}]}
```
`ops` are `StateChange.ops` as recorded (see `storage.ops_encode`); people are named by username.
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

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.state.store import check_storable
from sessions_app.workflow.errors import StateNotSerializableError

FORMAT = "wfsite.session"
FORMAT_VERSION = 1
MAX_ERRORS = 10
_MAX = {
    "session_id": WorkflowSession._meta.get_field("session_id").max_length,
    "workflow": WorkflowSession._meta.get_field("workflow").max_length,
    "name": WorkflowSession._meta.get_field("name").max_length,
    "user_id": WorkflowSession._meta.get_field("user_id").max_length,
}
_RUN_TEXTS = ("output", "error", "unsaved_state")


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
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        problems.add(where, "must be an ISO 8601 date and time, or null")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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
    return value


def _session(raw: Any, problems: _Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add("session", "must be an object")
        return {}
    out = {key: _text(raw, key, "session", problems, limit=limit) for key, limit in _MAX.items()}
    sid = out["session_id"]
    if not sid:
        problems.add("session.session_id", "is missing")
    elif any(unicodedata.category(char) in {"Cc", "Cs"} for char in sid):
        problems.add("session.session_id", "contains control characters")
    version = raw.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        problems.add("session.version", "must be a whole number, 0 or more")
        version = 0
    out["version"] = version
    for key in ("created_at", "updated_at"):
        out[key] = _moment(raw.get(key), f"session.{key}", problems)
    return out


def _storable(value: Any, where: str, problems: _Problems) -> None:
    try:
        check_storable(value)
    except StateNotSerializableError as error:
        problems.add(where, error.reason)


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
    version = raw.get("state_version")
    out["state_version"] = version if isinstance(version, int) and not isinstance(version, bool) else None
    out["started_by"] = raw.get("started_by") if isinstance(raw.get("started_by"), str) else None
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
        else:
            _storable(op, at, problems)
    return raw


def _change(raw: Any, where: str, problems: _Problems) -> dict[str, Any]:
    if not isinstance(raw, dict):
        problems.add(where, "must be an object")
        return {}
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        problems.add(f"{where}.version", "must be a whole number, 0 or more")
    source = raw.get("source")
    if source not in StateChange.Source.values:
        problems.add(f"{where}.source", f"must be one of {', '.join(StateChange.Source.values)}")
    return {
        "version": version,
        "source": source,
        "ops": _ops(raw.get("ops"), f"{where}.ops", problems),
        "summary": _text(raw, "summary", where, problems)[:500],
        "actor": raw.get("actor") if isinstance(raw.get("actor"), str) else None,
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
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text, so it is not a session file.") from None
    except json.JSONDecodeError as error:
        raise ValidationError(
            f"The file is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."
        ) from None
    except RecursionError:
        raise ValidationError("The file nests JSON too deeply to be read.") from None


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
