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

from sessions_app.limits import max_state_depth
from sessions_app.models import StateEntry, WorkflowSession, field_max_length
from sessions_app.registry import workflow_caches
from sessions_app.state.codec import json_text
from sessions_app.workflow.cache import Cache
from sessions_app.workflow.errors import StateNotSerializableError, StateTooDeepError
from sessions_app.workflow.state import Path, check_json
from sessions_app.workflow.text import first_surrogate, has_surrogates

STATE_FIELDS = ["session_state", "list_keys", "state_size", "cache_entries", "updated_at"]
EMPTY_STATE_SIZE = 2  # len("{}")
MAX_KEY = field_max_length(StateEntry, "key")
MAX_LOOKUP = field_max_length(StateEntry, "lookup_key")
# A bare None in a JSONField is SQL NULL; a list element that is null is JSON null.
JSON_NULL = Value(None, JSONField())


def json_size(value: Any) -> int:
    """Return the byte size of a JSON value written compactly."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # integers over 64 bits, lone surrogates, deep values: sizes are approximate anyway
        try:
            return len(json.dumps(value, separators=(",", ":"), default=repr))
        except RecursionError:  # kept from before depth limits
            return len(json_text(value))


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
    """Raise StateNotSerializableError at the first part of `value` this site cannot store.

    The same everywhere: JSON values nested at most WFSITE_MAX_STATE_DEPTH levels, and text that
    is valid Unicode (a lone surrogate would be kept by SQLite and then break every page that
    shows it; PostgreSQL refuses it). PostgreSQL also refuses the NUL character.
    """
    try:
        check_json(value, path, max_depth=max_state_depth())
    except StateTooDeepError as error:
        hint = "Store deeply nested data flatter, or as text; the limit is WFSITE_MAX_STATE_DEPTH."
        raise StateTooDeepError(error.path, value, error.limit, hint=hint) from None
    _check_text(value, path, nul=connection.vendor == "postgresql")


def _check_text(value: Any, path: Path, *, nul: bool) -> None:
    if isinstance(value, str):
        _check_string(value, path, nul=nul)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key, (*path, key), nul=nul)
            if not isinstance(item, int | float | bool | None):
                _check_text(item, (*path, key), nul=nul)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if not isinstance(item, int | float | bool | None):
                _check_text(item, (*path, index), nul=nul)


def _check_string(text: str, path: Path, *, nul: bool) -> None:
    if nul and "\x00" in text:
        raise StateNotSerializableError(
            path, text, "PostgreSQL cannot store the NUL character (\\u0000) in JSON text; remove it"
        )
    if has_surrogates(text):
        raise StateNotSerializableError(
            path,
            text,
            f"the text holds a lone surrogate ({first_surrogate(text)}), which is not valid Unicode",
            hint="Replace it (U+FFFD is the usual stand-in) or remove it.",
        )


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
