"""The row layout's rules: which values become StateEntry rows, their lookup keys, and state sizes.

See `sessions_app.state.store` for the invariants these keep. An entry's lookup key is its key in
the cache the session's workflow declares for its list (`sessions_app.workflow.cache`), fitted to
the column by `index_key`; a list no cache declares has none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from django.db import connection
from django.db.models import JSONField, Value
from django.utils import timezone

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.registry import workflow_caches
from sessions_app.workflow.cache import Cache
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import Path, check_json

STATE_FIELDS = ["session_state", "list_keys", "state_size", "cache_entries", "updated_at"]
EMPTY_STATE_SIZE = 2  # len("{}")
MAX_KEY = StateEntry._meta.get_field("key").max_length
MAX_LOOKUP = StateEntry._meta.get_field("lookup_key").max_length
# A bare None in a JSONField is SQL NULL; a list element that is null is JSON null.
JSON_NULL = Value(None, JSONField())


def json_size(value: Any) -> int:
    """Return the byte size of a JSON value written compactly."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # integers over 64 bits, lone surrogates: sizes are approximate anyway
        return len(json.dumps(value, separators=(",", ":"), default=repr))


def list_size(count: int, total: int) -> int:
    """Return the JSON size of a list of `count` items whose sizes add up to `total`."""
    return 1 + total + count if count else 2


def member_size(key: str, value_size: int) -> int:
    """Return what one `"key":value` member adds to an object, its comma or closing brace included."""
    return json_size(key) + 1 + value_size + 1


def state_size(members: int, total: int) -> int:
    """Return the JSON size of an object of `members` members whose `member_size`s add up to `total`."""
    return 1 + total if members else EMPTY_STATE_SIZE


Caches = Mapping[str, Cache]


def index_key(key: str) -> str:
    """Return a cache key as its columns hold it: itself, or a digest when it is longer than they are."""
    if len(key) <= MAX_LOOKUP:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def session_caches(session: WorkflowSession) -> Caches:
    """Return the caches the session's workflow declares, by state key ({} when it is not registered)."""
    return workflow_caches(session.workflow)


def entry_keyer(caches: Caches, key: str) -> Callable[[Any], str]:
    """Return the function giving each element of the list under `key` its lookup key."""
    cache = caches.get(key)
    if cache is None:
        return _no_lookup_key

    def keyer(value: Any) -> str:
        found = cache.entry_key(value, 0)
        return "" if found is None else index_key(found)

    return keyer


def _no_lookup_key(value: Any) -> str:
    return ""


def check_storable(value: Any, path: Path = ()) -> None:
    """Raise StateNotSerializableError at the first part of `value` this database cannot store."""
    check_json(value, path)
    if connection.vendor == "postgresql":
        _check_postgres_text(value, path)


def _check_postgres_text(value: Any, path: Path) -> None:
    # jsonb refuses \u0000 and lone surrogates; say where, instead of a DataError from the driver.
    if isinstance(value, str):
        if "\x00" in value:
            raise StateNotSerializableError(
                path, value, "PostgreSQL cannot store the NUL character (\\u0000) in JSON text; remove it"
            )
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise StateNotSerializableError(
                    path, value, "PostgreSQL cannot store a lone surrogate (not valid UTF-8) in JSON text"
                ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_postgres_text(key, (*path, key))
            _check_postgres_text(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_postgres_text(item, (*path, index))


def new_entries(
    session: WorkflowSession, key: str, start: int, items: Iterable[Any], caches: Caches
) -> tuple[list[StateEntry], int]:
    """Build entries for `items` at positions from `start`; return them and their sizes' sum."""
    now, entries, total = timezone.now(), [], 0
    lookup_key = entry_keyer(caches, key)
    for position, value in enumerate(items, start):
        size = json_size(value)
        total += size
        entries.append(
            StateEntry(
                session=session,
                key=key,
                position=position,
                value=JSON_NULL if value is None else value,
                lookup_key=lookup_key(value),
                size=size,
                created_at=now,
                updated_at=now,
            )
        )
    return entries, total


def is_row_list(key: str, value: Any) -> bool:
    """Whether a top-level value is stored one element per row."""
    return isinstance(value, list | tuple) and len(key) <= MAX_KEY
