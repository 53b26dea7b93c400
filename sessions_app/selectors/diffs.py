"""Diffs a person can read: ops turned into rows of path, kind of change, and short previews.

Values are summarised, never shown whole: a cached post becomes its key and the start of its
text with its length, so a diff of a large cache stays a page, not a dump. Rows hold plain text;
templates escape it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from sessions_app.state.changes import path_text
from sessions_app.workflow.state import MISSING, Op, diff, json_equal

PREVIEW_CHARS = 200
INNER_STRING_CHARS = 60
MAX_ROWS = 500
MAX_LINES = 60


@dataclass(frozen=True)
class DiffRow:
    """One changed place in a state: `kind` is "added", "removed" or "changed"."""

    path: str
    kind: str
    before: str = ""
    after: str = ""
    lines: tuple[tuple[str, str], ...] = field(default=())


def _shorten(value: Any, depth: int = 0) -> Any:
    # Long strings inside a value become a stub that says how long they were.
    if isinstance(value, str) and len(value) > INNER_STRING_CHARS:
        return f"{value[:INNER_STRING_CHARS]}… ({len(value):,} characters)"
    if depth >= 4 and isinstance(value, dict | list):
        return f"… ({len(value)} {'keys' if isinstance(value, dict) else 'items'})"
    if isinstance(value, dict):
        return {key: _shorten(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item, depth + 1) for item in value[:20]] + (
            [f"… {len(value) - 20} more items"] if len(value) > 20 else []
        )
    return value


def preview(value: Any) -> str:
    """Return a one-line summary of a JSON value, at most about PREVIEW_CHARS long."""
    if value is MISSING:
        return ""
    if isinstance(value, str):
        if len(value) <= PREVIEW_CHARS:
            return json.dumps(value, ensure_ascii=False)
        return json.dumps(value[:PREVIEW_CHARS], ensure_ascii=False) + f"… ({len(value):,} characters)"
    text = json.dumps(_shorten(value), ensure_ascii=False, default=repr)
    return text if len(text) <= PREVIEW_CHARS * 2 else text[: PREVIEW_CHARS * 2] + "…"


def _text_lines(before: Any, after: Any) -> tuple[tuple[str, str], ...]:
    """Return a line diff of two texts when either is long or spans lines."""
    if not (isinstance(before, str) and isinstance(after, str)):
        return ()
    if len(before) <= PREVIEW_CHARS and len(after) <= PREVIEW_CHARS and "\n" not in before + after:
        return ()
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=1, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        sign, text = ("…", "") if line.startswith("@@") else (line[:1], line[1:])
        if len(text) > PREVIEW_CHARS * 2:
            text = text[: PREVIEW_CHARS * 2] + f"… ({len(text):,} characters)"
        lines.append((sign, text))
        if len(lines) >= MAX_LINES:
            lines.append(("…", "more lines not shown"))
            break
    return tuple(lines)


def _append_rows(op: Op, *, recorded: bool) -> list[DiffRow]:
    # A recorded append does not keep the list it extended (see ops_encode), so its indexes are unknown.
    start = len(op.base) if isinstance(op.base, list) else None if recorded else 0
    rows = []
    for offset, item in enumerate(op.value):
        where = (*op.path, start + offset) if start is not None else op.path
        suffix = "" if start is not None else "[+]"
        rows.append(DiffRow(path_text(where) + suffix, "added", after=preview(item)))
    return rows


def diff_rows(ops: list[Op], *, recorded: bool = False, limit: int = MAX_ROWS) -> list[DiffRow]:
    """Describe ops as rows; `recorded` ops come from history, where appends lost their base."""
    rows: list[DiffRow] = []
    for op in ops:
        if op.kind == "append":
            rows += _append_rows(op, recorded=recorded)
        elif op.kind == "delete":
            rows.append(DiffRow(path_text(op.path), "removed", before=preview(op.base)))
        elif op.base is MISSING:
            rows.append(DiffRow(path_text(op.path), "added", after=preview(op.value)))
        else:
            lines = _text_lines(op.base, op.value)
            rows.append(DiffRow(path_text(op.path), "changed", preview(op.base), preview(op.value), lines))
        if len(rows) >= limit:
            rows = rows[:limit]
            rows.append(DiffRow("…", "more", before="more changes not shown"))
            break
    return rows


def _subsequence_removals(base: list[Any], new: list[Any]) -> list[int] | None:
    """Return the indexes of `base` whose removal leaves `new`, or None when `new` is not that."""
    removed, j = [], 0
    for i, item in enumerate(base):
        if j < len(new) and json_equal(item, new[j]):
            j += 1
        else:
            removed.append(i)
    return removed if j == len(new) else None


def edit_diff(base: dict[str, Any], new: dict[str, Any]) -> list[Op]:
    """List the ops that turn `base` into `new`, with entries removed from a list as single deletes.

    The engine's diff replaces a whole list that lost an item; a delete per removed item (highest
    index first, so the others keep their index) merges with a run that appended meanwhile.
    """
    ops = []
    for op in diff(base, new):
        removed = None
        shrunk = isinstance(op.base, list) and isinstance(op.value, list) and len(op.value) < len(op.base)
        if op.kind == "set" and shrunk:
            removed = _subsequence_removals(op.base, op.value)
        if removed is None:
            ops.append(op)
        else:
            ops += [Op("delete", (*op.path, i), None, op.base[i]) for i in reversed(removed)]
    return ops


def state_diff_rows(before: dict[str, Any], after: dict[str, Any]) -> list[DiffRow]:
    """Describe what changed from one whole state to another."""
    return diff_rows(edit_diff(before, after))
