"""How a StateChange records its ops: compact JSON lists, and the one-line summary people read."""

from __future__ import annotations

from typing import Any

from sessions_app.workflow.state import MISSING, Op


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
    """Render a path short, the way a person reads it: blog_posts[3].topic."""
    if not path:
        return "the whole state"
    return str(path[0]) + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path[1:])


def ops_summary(ops: list[Op], *, limit: int = 500) -> str:
    """Describe ops in a line: "appended 1 item to blog_posts; set tone"."""
    parts = []
    for op in ops:
        where = path_text(op.path)
        if op.kind == "append":
            count = len(op.value)
            parts.append(f"appended {count} item{'' if count == 1 else 's'} to {where}")
        else:
            parts.append(f"{'removed' if op.kind == 'delete' else 'set'} {where}")
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"
