"""A session's state in rows: top-level lists one element per `StateEntry`, the rest in `session_state`.

Every function here keeps these invariants, which readers (selectors, admin) may rely on:
- a top-level key is in `session.session_state` or named in `session.list_keys`, never both;
- a list key's entries have positions 0..n-1 without gaps, so a position is the list index;
- `cache_entries` counts the session's entries and `state_size` is the byte size of the state as
  compact JSON (`{"k":v}`), kept by deltas so that appending never re-serialises the list.

A list under a key longer than `StateEntry.key` allows stays in `session_state`. PostgreSQL's jsonb
keeps neither the order of object keys nor the spelling of numbers (1e300 reads back as an int),
so a loaded state can differ in those; JSON equality of ordinary values is unaffected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import Count, F, JSONField, Sum, Value
from django.utils import timezone

from sessions_app.limits import state_size_check
from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import MISSING, Op, Path, apply, check_json, copy_json, get_at

# What the state functions change on the session row; with save=False the caller saves these.
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


def lookup_key(value: Any) -> str:
    """Return an element's normalised topic (how a cached post is found), or ""."""
    if isinstance(value, dict) and isinstance(value.get("topic"), str):
        return " ".join(value["topic"].split()).casefold()[:MAX_LOOKUP]
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
    session: WorkflowSession, key: str, start: int, items: Iterable[Any]
) -> tuple[list[StateEntry], int]:
    """Build entries for `items` at positions from `start`; return them and their sizes' sum."""
    now, entries, total = timezone.now(), [], 0
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


# -- reading ----------------------------------------------------------------------------------------


def state_load_many(sessions: Iterable[WorkflowSession]) -> dict[int, dict[str, Any]]:
    """Assemble the whole state of each session, by primary key, with one query for all entries."""
    sessions = list(sessions)
    lists = {s.pk: {key: [] for key in s.list_keys} for s in sessions}
    with_rows = [s.pk for s in sessions if s.list_keys]
    if with_rows:
        rows = (
            StateEntry.objects.filter(session_id__in=with_rows)
            .order_by("session_id", "key", "position")
            .values_list("session_id", "key", "value")
        )
        for pk, key, value in rows:
            if key in lists[pk]:
                lists[pk][key].append(value)
    return {s.pk: {**s.session_state, **lists[s.pk]} for s in sessions}


def state_load(session: WorkflowSession) -> dict[str, Any]:
    """Assemble the whole state of one session (no query when it holds no lists)."""
    return state_load_many([session])[session.pk]


def state_snapshot(session_id: str, *, tries: int = 3) -> tuple[WorkflowSession, dict[str, Any]] | None:
    """Return a session row and its whole state as of that row's version, or None when absent.

    The row and its entries are two queries; a write committed between them would mix two
    versions, so the version is checked again after the entries were read.
    """
    for _ in range(tries):
        session = WorkflowSession.objects.filter(session_id=session_id).first()
        if session is None:
            return None
        state = state_load(session)
        if not session.list_keys:
            return session, state
        if WorkflowSession.objects.filter(pk=session.pk, version=session.version).exists():
            return session, state
    with transaction.atomic():  # writers kept moving: read under the row lock instead
        session = WorkflowSession.objects.select_for_update().filter(session_id=session_id).first()
        return None if session is None else (session, state_load(session))


# -- writing ----------------------------------------------------------------------------------------


def state_replace(session: WorkflowSession, new_state: dict[str, Any], *, save: bool = True) -> None:
    """Write a whole state over whatever the session held (creation, admin edits, restores)."""
    check_storable(new_state)
    state_size_check(json_size(new_state), previous=session.state_size)
    if session.pk is None:
        session.save()
    StateEntry.objects.filter(session=session).delete()
    plain: dict[str, Any] = {}
    keys: list[str] = []
    entries: list[StateEntry] = []
    total = 0
    for key, value in new_state.items():
        if is_row_list(key, value):
            built, size = new_entries(session, key, 0, value)
            entries += built
            keys.append(key)
            total += member_size(key, list_size(len(built), size))
        else:
            plain[key] = value
            total += member_size(key, json_size(value))
    StateEntry.objects.bulk_create(entries)
    session.session_state, session.list_keys = plain, keys
    session.cache_entries = len(entries)
    session.state_size = state_size(len(new_state), total)
    session.updated_at = timezone.now()
    if save:
        session.save(update_fields=STATE_FIELDS)


def state_write_ops(
    session: WorkflowSession, ops: list[Op], *, latest: dict[str, Any] | None = None, save: bool = True
) -> None:
    """Apply `ops` to the session's rows, touching only the rows they change.

    The ops must apply to the stored state (the storage checks them with `apply` first). `latest`
    is that whole state when the caller has loaded it; it saves queries and is updated in place.
    When a value cannot be stored nothing is written, but `session` may be half changed in memory.
    """
    for op in ops:
        _check_op(op)
    writer, before = _RowWriter(session, latest), session.state_size
    with transaction.atomic():  # an append's items are checked as they go in: none or all are written
        for op in ops:
            writer.write(op)
            if latest is not None:
                apply(latest, [op], force=True)
        writer.finish()
        state_size_check(session.state_size, previous=before)
        if save:
            session.save(update_fields=STATE_FIELDS)


def _check_op(op: Op) -> None:
    if op.path and not isinstance(op.path[0], str):
        raise StateNotSerializableError(
            op.path, op.value, f"keys must be strings, not {type(op.path[0]).__name__}"
        )
    for depth, part in enumerate(op.path):
        if isinstance(part, str):
            check_storable(part, op.path[: depth + 1])
    if op.kind == "set":  # appended items are checked where they land, to name their index
        check_storable(op.value, op.path)


# Positions are moved through this band when an element is removed, so that the unique
# (session, key, position) holds after every row's update (PostgreSQL checks it row by row).
_SHIFT = 1_000_000_000


class _RowWriter:
    """Write ops to one session's rows and keep its counters in step."""

    def __init__(self, session: WorkflowSession, latest: dict[str, Any] | None) -> None:
        self.session, self.latest = session, latest
        self.entries = StateEntry.objects.filter(session=session)
        self.now = timezone.now()
        members = len(session.session_state) + len(session.list_keys)
        # The sum of the members' sizes, recovered from the stored total (see state_size).
        self.total = max(0, session.state_size - 1) if members else 0

    def finish(self) -> None:
        members = len(self.session.session_state) + len(self.session.list_keys)
        self.session.state_size = state_size(members, max(0, self.total))
        self.session.updated_at = self.now

    def write(self, op: Op) -> None:
        if not op.path:
            if op.kind == "set" and isinstance(op.value, dict):  # as apply: only a dict replaces the root
                self.clear()
                for key, value in op.value.items():
                    self.put(key, value)
            return
        key = op.path[0]
        if len(op.path) == 1:
            self.write_top(key, op)
        elif key in self.session.list_keys:
            self.write_element(key, op)
        else:
            self.write_plain(key, op)

    def write_top(self, key: str, op: Op) -> None:
        if op.kind == "delete":
            self.remove(key)
        elif op.kind == "append":
            self.append(key, list(op.value))
        elif not self.keeps_container(key, op):
            self.remove(key)
            self.put(key, op.value)

    def keeps_container(self, key: str, op: Op) -> bool:
        # As apply: both sides created the same empty container; keep what the other put in it.
        ss = self.session.session_state
        current = list if key in self.session.list_keys else type(ss[key]) if key in ss else None
        return op.base is MISSING and op.value in ([], {}) and current is type(op.value)

    def clear(self) -> None:
        self.entries.delete()
        self.session.session_state, self.session.list_keys = {}, []
        self.session.cache_entries = self.total = 0

    def put(self, key: str, value: Any) -> None:
        """Store a value under a key that is absent now."""
        if is_row_list(key, value):
            built, size = new_entries(self.session, key, 0, value)
            StateEntry.objects.bulk_create(built)
            self.session.list_keys.append(key)
            self.session.cache_entries += len(built)
            self.total += member_size(key, list_size(len(built), size))
        else:
            self.session.session_state[key] = copy_json(value)
            self.total += member_size(key, json_size(value))

    def remove(self, key: str) -> None:
        if key in self.session.list_keys:
            rows = self.entries.filter(key=key)
            stats = rows.aggregate(n=Count("id"), size=Sum("size"))
            rows.delete()
            self.session.list_keys.remove(key)
            self.session.cache_entries -= stats["n"]
            self.total -= member_size(key, list_size(stats["n"], stats["size"] or 0))
        elif key in self.session.session_state:
            self.total -= member_size(key, json_size(self.session.session_state.pop(key)))

    def append(self, key: str, items: list[Any]) -> None:
        current = self.session.session_state.get(key)
        listed = key in self.session.list_keys
        n = self.length(key) if listed else len(current) if isinstance(current, list) else 0
        for index, item in enumerate(items, n):
            check_storable(item, (key, index))
        if not listed:
            # Appending to a non-list replaces it (apply would refuse; the storage checked first).
            self.remove(key)
            self.put(key, [*current, *items] if isinstance(current, list) else items)
            return
        built, size = new_entries(self.session, key, n, items)
        StateEntry.objects.bulk_create(built)
        self.session.cache_entries += len(built)
        self.total += size + len(built) - (1 if n == 0 and built else 0)

    def length(self, key: str) -> int:
        if self.latest is not None and isinstance(self.latest.get(key), list):
            return len(self.latest[key])
        # The highest position is one probe of the (session, key, position) index, whatever the length.
        last = self.entries.filter(key=key).order_by("-position").values_list("position", flat=True).first()
        return 0 if last is None else last + 1

    def element(self, key: str, index: int) -> tuple[Any, int] | None:
        if self.latest is not None:
            value = get_at(self.latest, (key, index))
            return None if value is MISSING else (copy_json(value), json_size(value))
        return self.entries.filter(key=key, position=index).values_list("value", "size").first()

    def write_element(self, key: str, op: Op) -> None:
        index = op.path[1]
        if not isinstance(index, int):
            return  # a list is not indexed by name; apply does nothing either
        if len(op.path) == 2 and op.kind == "delete":
            self.delete_element(key, index)
            return
        found = self.element(key, index)
        if found is None:
            return
        value, old_size = found
        holder = {"v": value}
        apply(holder, [Op(op.kind, ("v", *op.path[2:]), op.value, op.base)], force=True)
        value = holder["v"]
        check_storable(value, op.path[:2])
        size = json_size(value)
        self.entries.filter(key=key, position=index).update(
            value=JSON_NULL if value is None else value,
            size=size,
            lookup_key=lookup_key(value),
            updated_at=self.now,
        )
        self.total += size - old_size

    def delete_element(self, key: str, index: int) -> None:
        n = self.length(key)
        found = self.element(key, index) if 0 <= index < n else None
        if found is None:
            return
        self.entries.filter(key=key, position=index).delete()
        self.entries.filter(key=key, position__gt=index).update(position=F("position") + _SHIFT)
        self.entries.filter(key=key, position__gt=_SHIFT).update(position=F("position") - _SHIFT - 1)
        self.session.cache_entries -= 1
        self.total -= found[1] + 1 - (1 if n == 1 else 0)

    def write_plain(self, key: str, op: Op) -> None:
        state = self.session.session_state
        before = member_size(key, json_size(state[key])) if key in state else 0
        apply(state, [op], force=True)
        after = 0
        if key in state:
            check_storable(state[key], (key,))
            after = member_size(key, json_size(state[key]))
        self.total += after - before
