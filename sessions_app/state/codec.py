"""How the JSON fields read and write values that earlier versions let in: the fields' encoder and decoder.

Every write path now refuses lone surrogates and states nested deeper than WFSITE_MAX_STATE_DEPTH
(`layout.check_storable`), but rows written before may hold either: SQLite kept `"\\ud800"`, and a
session file could import a state nested 900 levels deep. Reading such a row must not fail:

- a lone surrogate is read as U+FFFD, the replacement character, so every page, export and run
  sees valid text (the row keeps its escape until the value is changed);
- JSON too deep for Python's recursive `json` from where it is called (its limit is about a
  thousand levels, counting the caller's own stack) is read with orjson, which keeps its own depth
  limit (1,024 levels) instead. orjson reads integers wider than 64 bits as floats; only values
  that deep take this way.

Writing such a value back (deleting a deep key records the old value in the history, say) falls
back likewise to `json_text`, which keeps its own stack.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.db import models
from django.db.models.fields.json import KeyTransform

from sessions_app.workflow.text import has_surrogates, replace_surrogates


def _valid_text(value: Any) -> Any:
    """Replace lone surrogates in every string of a decoded value (in place where it can), without recursing."""
    if isinstance(value, str):
        return replace_surrogates(value)[0]
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str):
                    node[index] = replace_surrogates(item)[0]
                elif isinstance(item, dict | list):
                    stack.append(item)
        elif isinstance(node, dict):
            if any(has_surrogates(key) for key in node):
                items = [(replace_surrogates(key)[0], item) for key, item in node.items()]
                node.clear()
                node.update(items)
            for key, item in node.items():
                if isinstance(item, str):
                    node[key] = replace_surrogates(item)[0]
                elif isinstance(item, dict | list):
                    stack.append(item)
    return value


def _holds_surrogates(value: Any) -> bool:
    """Whether any string in a decoded value holds a lone surrogate (ASCII strings cost next to nothing)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if has_surrogates(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def stored_loads(text: str, *, surrogates: bool = True) -> Any:
    """Decode stored JSON: lone surrogates as U+FFFD, and values too deep for the stdlib with orjson.

    `surrogates=False` skips looking for them, where the database cannot hold them (PostgreSQL).
    """
    try:
        value = json.loads(text)
    except RecursionError:
        value = orjson.loads(text)  # raises a JSONDecodeError past its own limit; Django then keeps the text
    if surrogates and _holds_surrogates(value):
        value = _valid_text(value)
    return value


def parse_json(text: str, **stdlib: Any) -> Any:
    """Parse JSON a person or program sent, however deep the caller's stack already is.

    orjson keeps its own stack (1,024 levels) where the stdlib's counts the caller's frames too,
    so a state a few hundred levels deep parses the same from a view as from a shell, and a
    check can then refuse it by its depth. Whatever orjson refuses (integers wider than 64 bits,
    NaN, syntax errors, lone surrogates in escapes) goes to the stdlib, for its wording and its
    `parse_constant` and the like, given in `stdlib`.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, **stdlib)


class StoredJSONDecoder(json.JSONDecoder):
    """`stored_loads` as a decoder class, for what takes one (forms, `json.loads(cls=...)`)."""

    def decode(self, s: str, *args: Any, **kwargs: Any) -> Any:
        return stored_loads(s)


class StoredJSONEncoder(json.JSONEncoder):
    """Write JSON as Django does, and values too deep for the stdlib with `json_text`."""

    def encode(self, o: Any) -> str:
        try:
            return super().encode(o)
        except RecursionError:
            return json_text(o)


def json_text(value: Any) -> str:
    """Return `value` as compact ASCII JSON, however deep, keeping a stack of its own instead of recursing."""
    parts: list[str] = []
    # Each entry is either text to write or a container still to open.
    stack: list[Any] = [(value,)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        node = item[0]
        if isinstance(node, dict):
            stack.append("}")
            for index, (key, child) in enumerate(reversed(node.items())):
                stack.extend([(child,), json.dumps(str(key)) + ": "])
                if index < len(node) - 1:
                    stack.append(", ")
            stack.append("{")
        elif isinstance(node, list | tuple):
            stack.append("]")
            for index, child in enumerate(reversed(node)):
                stack.append((child,))
                if index < len(node) - 1:
                    stack.append(", ")
            stack.append("[")
        else:
            parts.append(json.dumps(node, default=repr))
    return "".join(parts)


class StoredJSONField(models.JSONField):
    """A JSONField that reads and writes with StoredJSONDecoder and StoredJSONEncoder.

    Migrations see a plain JSONField: the codec changes no column, and SQLite would otherwise
    rebuild every table that has such a field.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("encoder", StoredJSONEncoder)
        kwargs.setdefault("decoder", StoredJSONDecoder)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        # As JSONField's, with stored_loads called directly: a decoder class is built per value.
        if value is None or (isinstance(expression, KeyTransform) and not isinstance(value, str)):
            return value
        try:
            return stored_loads(value, surrogates=connection.vendor != "postgresql")
        except json.JSONDecodeError:
            return value

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        for codec in ("encoder", "decoder"):
            kwargs.pop(codec, None)
        return name, "django.db.models.JSONField", args, kwargs
