"""Stored states as pages show them: measured and cut to a depth without recursing.

States written now nest at most WFSITE_MAX_STATE_DEPTH levels, but a row stored before that limit
may nest hundreds (see `codec`). The pages' recursive code (the JSON tree, diffs, the JSON editor)
would give up on those; they show `bounded(value)` instead, where each container below the limit
is a short text naming what was cut. That text holds a digest of what it replaces, so a diff of
two bounded states still sees a change down there.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sessions_app.limits import max_state_depth
from sessions_app.state.codec import json_text


def json_depth(value: Any, *, stop: int | None = None) -> int:
    """Return how many levels of containers `value` nests (0 for a scalar), looking no deeper than `stop` + 1."""
    if not isinstance(value, dict | list | tuple):
        return 0
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        deepest = max(deepest, level)
        if stop is not None and deepest > stop:
            break
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list | tuple))
    return deepest


def cut_text(value: Any, levels: int) -> str:
    """Describe a container that is not shown because it sits deeper than `levels` levels."""
    kind, noun = ("{…}", "key") if isinstance(value, dict) else ("[…]", "item")
    digest = hashlib.blake2b(json_text(value).encode(), digest_size=4).hexdigest()
    count = f"{len(value)} {noun}{'' if len(value) == 1 else 's'}"
    return f"{kind} {count}, nested deeper than {levels} levels: not shown (#{digest})"


def bounded(value: Any, max_depth: int | None = None) -> Any:
    """Return `value` with containers deeper than `max_depth` levels (the setting by default) as `cut_text`.

    `value` itself comes back, uncopied, when nothing in it is that deep. A list subclass (a page's
    ListPreview, which knows its list's full length) stays one, with its attributes.
    """
    limit = max_state_depth() if max_depth is None else max_depth
    if json_depth(value, stop=limit) <= limit:
        return value
    return _cut(value, 1, limit)


def _cut(value: Any, level: int, limit: int) -> Any:
    # Recursion here is bounded by `limit` (at most 200, see WFSITE_MAX_STATE_DEPTH).
    if not isinstance(value, dict | list | tuple):
        return value
    if level > limit:
        return cut_text(value, limit)
    if isinstance(value, dict):
        return {key: _cut(item, level + 1, limit) for key, item in value.items()}
    items = [_cut(item, level + 1, limit) for item in value]
    if type(value) in (list, tuple):
        return items
    copy = type(value)(items)
    copy.__dict__.update(getattr(value, "__dict__", {}))
    return copy
