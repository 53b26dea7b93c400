"""Writing engine ops to a session's rows, touching only the rows an op changes."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import Count, F, Sum
from django.utils import timezone

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.state.layout import (
    JSON_NULL,
    Caches,
    check_storable,
    entry_keyer,
    is_row_list,
    json_size,
    list_size,
    member_size,
    new_entries,
    state_size,
)
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import MISSING, Op, apply, copy_json, get_at


def check_op(op: Op) -> None:
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


class RowWriter:
    """Write ops to one session's rows and keep its counters in step.

    `touched` collects what was written into each declared cache's list: (cache, value, index),
    so that the entries' stats can follow (`state.cache_stats`).
    """

    def __init__(self, session: WorkflowSession, latest: dict[str, Any] | None, caches: Caches) -> None:
        self.session, self.latest, self.caches = session, latest, caches
        self.touched: list[tuple[str, Any, int | str]] = []
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
        key = cast(str, op.path[0])  # the root is a dict: its keys are text
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
            built, size = new_entries(self.session, key, 0, value, self.caches)
            self._touch(key, value, 0)
            StateEntry.objects.bulk_create(built)
            self.session.list_keys.append(key)
            self.session.cache_entries += len(built)
            self.total += member_size(key, list_size(len(built), size))
        else:
            self.session.session_state[key] = copy_json(value)
            self.total += member_size(key, json_size(value))
            self._touch_members(key, value, ())

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
        built, size = new_entries(self.session, key, n, items, self.caches)
        self._touch(key, items, n)
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
            lookup_key=entry_keyer(self.caches, key)(value),
            updated_at=self.now,
        )
        self._touch(key, [value], index)
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

    def _touch(self, key: str, items: Any, start: int) -> None:
        if key in self.caches:
            self.touched += [(key, item, index) for index, item in enumerate(items, start)]

    def write_plain(self, key: str, op: Op) -> None:
        state = self.session.session_state
        before = member_size(key, json_size(state[key])) if key in state else 0
        apply(state, [op], force=True)
        after = 0
        if key in state:
            check_storable(state[key], (key,))
            after = member_size(key, json_size(state[key]))
            self._touch_members(key, state[key], op.path[1:2])
        self.total += after - before

    def _touch_members(self, key: str, holder: Any, members: tuple[Any, ...]) -> None:
        """Note the members of an object-shaped cache that an op wrote (all of them when it set the whole)."""
        if key not in self.caches or not isinstance(holder, dict):
            return
        names = [name for name in members if name in holder] if members else list(holder)
        self.touched += [(key, holder[name], name) for name in names]
