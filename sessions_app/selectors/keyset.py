"""Cursor (keyset) pagination: the next page starts after the last row's sort value and id.

An offset costs a scan of every row before the page, so page 2,000 of 100,000 sessions would be
slow; a cursor is a `WHERE (value, id) < (last value, last id)` on the sort's index, as fast on
the last page as on the first, and a row added meanwhile neither repeats nor hides a row.
Cursors are opaque to clients (base64 of JSON) and name the sort they belong to.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils.dateparse import parse_datetime

T = TypeVar("T", bound=Model)


class CursorInvalidError(ValueError):
    """A cursor that this list did not make (or made for another sort)."""


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """One page of rows and the cursor of the next page (None on the last)."""

    items: list[T]
    next_cursor: str | None


def _encode(sort: str, value: Any, pk: int) -> str:
    raw = value.isoformat() if isinstance(value, datetime) else value
    text = json.dumps([sort, raw, pk], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def _decode(cursor: str, sort: str, is_time: bool) -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        named, value, pk = json.loads(raw.decode("utf-8", "surrogatepass"))
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise CursorInvalidError(
            "The cursor is not one this list gave out; start again without it."
        ) from None
    if named != sort or not isinstance(pk, int) or not isinstance(value, str):
        raise CursorInvalidError(f"The cursor belongs to another sort than {sort!r}; start again without it.")
    if is_time:
        value = parse_datetime(value)
        if value is None:
            raise CursorInvalidError("The cursor is not one this list gave out; start again without it.")
    return value, pk


def keyset_page(queryset: QuerySet[T], *, sort: str, cursor: str | None, limit: int) -> KeysetPage[T]:
    """Return the page of `queryset` ordered by `sort` ("field" or "-field", then id) after `cursor`."""
    field = sort.removeprefix("-")
    descending = sort.startswith("-")
    is_time = queryset.model._meta.get_field(field).get_internal_type() == "DateTimeField"
    rows = queryset.order_by(sort, "-id" if descending else "id")
    if cursor:
        value, pk = _decode(cursor, sort, is_time)
        after = "lt" if descending else "gt"
        # The outer bound makes it a range of the sort's index; the OR alone is a scan from the top.
        bound = "lte" if descending else "gte"
        rows = rows.filter(
            Q(**{f"{field}__{bound}": value}),
            Q(**{f"{field}__{after}": value}) | Q(**{field: value, f"id__{after}": pk}),
        )
    items = list(rows[: limit + 1])
    if len(items) <= limit:
        return KeysetPage(items, None)
    last = items[limit - 1]
    return KeysetPage(items[:limit], _encode(sort, getattr(last, field), last.pk))
