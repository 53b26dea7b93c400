"""How a StateChange records its ops: compact JSON lists, and the one-line summary people read.

A summary names cached entries as their cache declares ("cached the post on 'AI agents'"), not
by their place in a list (`posts[0]`), which changes whenever an earlier entry goes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sessions_app.workflow.cache import Cache
from sessions_app.workflow.state import MISSING, Op

# What a write put where: (cache's state key, record, list index or member name).
Touched = Iterable[tuple[str, Any, int | str]]


def ops_encode(ops: list[Op]) -> list[list[Any]]:
    """Encode ops as JSON lists `[kind, path, value]`, plus the value they replaced when known.

    `path` is a list of keys (str) and indexes (int); `value` is null for "delete". A fourth
    element, the replaced value (`Op.base`), is kept for "set" and "delete" so a change can be
    undone; an "append" keeps only its new items, so that caching a post stays small in history.
    """
    encoded = []
    for op in ops:
        item = [op.kind, list(op.path), None if op.kind == "delete" else op.value]
        if op.kind != "append" and op.base is not MISSING:
            item.append(op.base)
        encoded.append(item)
    return encoded


def ops_decode(encoded: list[list[Any]]) -> list[Op]:
    """Decode what `ops_encode` made back into ops (with their bases, where kept)."""
    return [Op(item[0], tuple(item[1]), item[2], item[3] if len(item) > 3 else MISSING) for item in encoded]


def path_text(path: tuple[str | int, ...]) -> str:
    """Render a path short, the way a person reads it: posts[3].title."""
    if not path:
        return "the whole state"
    return str(path[0]) + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path[1:])


def _entry_name(cache: Cache, record: Any, index: Any) -> str | None:
    if isinstance(index, str):  # a member of an object-shaped cache is named by its key
        return cache.name_of(" ".join(index.split()))
    entry = cache.entry(record, index) if isinstance(index, int) else None
    return None if entry is None else entry.name


def _named(op: Op, caches: Mapping[str, Cache], records: dict[tuple[str, Any], Any]) -> str | None:
    """Say what `op` did to a declared cache's entries, or None when it did not touch one entry."""
    cache = caches.get(op.path[0]) if op.path and isinstance(op.path[0], str) else None
    if cache is None:
        return None
    if len(op.path) == 1 and op.kind == "append":
        names = [_entry_name(cache, item, 0) for item in op.value]
        if len(names) > 3 or None in names:
            return None
        return "cached " + " and ".join(names)  # type: ignore[arg-type]
    if len(op.path) == 1 and op.kind in ("set", "delete"):
        return _whole(cache, op)
    if len(op.path) < 2:
        return None
    index = op.path[1]
    record = op.base if op.kind == "delete" else op.value if len(op.path) == 2 else None
    record = records.get((cache.state_key, index), record) if op.kind != "delete" else record
    name = _entry_name(cache, record, index)
    if name is None:
        return None
    if op.kind == "delete":
        return f"deleted {name}" if len(op.path) == 2 else f"changed {name}"
    return f"{'cached' if op.base is MISSING and len(op.path) == 2 else 'changed'} {name}"


def place_text(path: tuple[str | int, ...], caches: Mapping[str, Cache], record: Any = MISSING) -> str:
    """Name what is at `path`: a cached entry as its cache declares ("the post on 'AI agents'"), else the path."""
    cache = caches.get(path[0]) if len(path) == 2 and isinstance(path[0], str) else None
    name = None if cache is None else _entry_name(cache, record, path[1])
    return path_text(path) if name is None else name


def _whole(cache: Cache, op: Op) -> str | None:
    """Name what replacing (or removing) a whole cache did to its entries, when it did it to a few."""
    before = {e.key: e for e in cache.entries({cache.state_key: op.base})} if op.base is not MISSING else {}
    after = {e.key: e for e in cache.entries({cache.state_key: op.value})} if op.kind == "set" else {}
    parts = [f"cached {after[key].name}" for key in after if key not in before]
    parts += [f"deleted {before[key].name}" for key in before if key not in after]
    parts += [
        f"changed {after[key].name}"
        for key in after
        if key in before and after[key].record != before[key].record
    ]
    return "; ".join(parts) if 0 < len(parts) <= 3 else None


def ops_summary(
    ops: list[Op],
    *,
    limit: int = 500,
    caches: Mapping[str, Cache] | None = None,
    touched: Touched = (),
) -> str:
    """Describe ops in a line: "cached the post on 'AI agents'; set tone".

    `caches` (the session's declared caches) and `touched` (what the write put into them) let
    entries be named; other values are named by their path.
    """
    records = {(state_key, index): record for state_key, record, index in touched}
    parts: list[str] = []
    for op in ops:
        named = _named(op, caches or {}, records)
        if named is not None:
            if named not in parts:  # several ops on one entry read as one change
                parts.append(named)
            continue
        where = path_text(op.path)
        if op.kind == "append":
            count = len(op.value)
            parts.append(f"appended {count} item{'' if count == 1 else 's'} to {where}")
        else:
            parts.append(f"{'removed' if op.kind == 'delete' else 'set'} {where}")
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
