"""Session state as data: the changes a run made, and merging them onto newer state (checks: `json_checks`).

A run loads the state at version N (the *base*), changes its own copy (the *local* state), and
writes at the end. If someone else wrote version N+1 meanwhile, the run's changes are replayed
onto the latest state instead of overwriting it: `diff(base, local)` lists the changes as `Op`s,
and `apply(latest, ops)` replays them, refusing any op whose target the other side changed to
something else (a true conflict). Lists that the run only appended to are replayed as appends, so
two runs that each cache a post both keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sessions_app.workflow.errors import Path, StateConflictError, StateTooDeepError, format_path
from sessions_app.workflow.json_checks import MAX_DEPTH, check_json

__all__ = [
    "MAX_DEPTH",
    "MISSING",
    "Op",
    "Path",
    "apply",
    "check_json",
    "copy_json",
    "diff",
    "format_path",
    "get_at",
]


class _Missing:
    """Marks a value that is absent (distinct from a stored JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class Op:
    """One change a run made: set a value, delete a key, or append items to a list."""

    kind: Literal["set", "delete", "append"]
    path: Path
    value: Any = None
    base: Any = field(default=MISSING, compare=False)


# Values of these exact types are immutable, so copies of a state may share them.
_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """Copy the containers of a JSON value; strings and numbers are immutable and shared."""
    try:
        return _copy(value)
    except RecursionError:
        # Only a value stored before states were limited to MAX_DEPTH nests this deep.
        return _copy_without_recursion(value)


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: item if type(item) in _IMMUTABLE else _copy(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _IMMUTABLE else _copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


def _copy_without_recursion(value: Any, limit: int = 100_000) -> Any:
    if not isinstance(value, dict | list | tuple):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root, 1)]
    while stack:
        source, target, level = stack.pop()
        if level > limit:  # a circular value never ends
            raise StateTooDeepError((), value, limit)
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, dict | list | tuple):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child, level + 1))
                item = child
            if isinstance(target, dict):
                target[key] = item
            else:
                target.append(item)
    return root


def json_equal(a: Any, b: Any) -> bool:
    """Compare as JSON values, so True and 1 are different (Python's == says they are equal).

    Values nested deeper than the interpreter's stack allows (kept from before depth limits) are
    compared without recursion.
    """
    try:
        return _json_equal(a, b)
    except RecursionError:
        return _json_equal_flat(a, b)


def _json_equal_flat(a: Any, b: Any) -> bool:
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if x is y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            if x.keys() != y.keys():
                return False
            pending.extend((x[key], y[key]) for key in x)
        elif isinstance(x, list | tuple) and isinstance(y, list | tuple):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif not _json_equal_other(x, y):
            return False
    return True


def _json_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return _json_equal_other(a, b)
    if kind is str:
        return bool(a == b)
    if kind is dict:
        if a.keys() != b.keys():
            return False
        for key, item in a.items():
            other = b[key]
            if item is not other and not _json_equal(item, other):
                return False
        return True
    if kind is list:
        if len(a) != len(b):
            return False
        for item, other in zip(a, b, strict=True):
            if item is not other and not _json_equal(item, other):
                return False
        return True
    return _json_equal_other(a, b)


def _json_equal_other(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b and not (isinstance(a, dict | list | tuple) or isinstance(b, dict | list | tuple))


def diff(base: Any, local: Any, path: Path = ()) -> list[Op]:
    """List the ops that turn `base` into `local`."""
    if isinstance(base, dict) and isinstance(local, dict):
        ops: list[Op] = []
        for key, value in local.items():
            if key in base:
                old = base[key]
                if old is not value:  # the same object holds the same value: nothing to compare
                    ops.extend(diff(old, value, (*path, key)))
            else:
                ops.extend(_diff_new(value, (*path, key)))
        ops.extend(Op("delete", (*path, key), None, value) for key, value in base.items() if key not in local)
        return ops
    if isinstance(base, list) and isinstance(local, list | tuple):
        return _diff_list(base, local, path)
    if json_equal(base, local):
        return []
    return [Op("set", path, local, base)]


def _diff_new(value: Any, path: Path) -> list[Op]:
    """Ops for a key the base did not have.

    A new list is an append and a new dict is its keys, so two runs that each do
    `state.setdefault("blog_posts", []).append(...)` both keep their items.
    """
    if isinstance(value, list | tuple) and value:
        return [Op("append", path, list(value), MISSING)]
    if isinstance(value, dict) and value:
        return [op for key, item in value.items() for op in _diff_new(item, (*path, key))]
    return [Op("set", path, value, MISSING)]


def _diff_list(base: list[Any], local: list[Any] | tuple[Any, ...], path: Path) -> list[Op]:
    n = len(base)
    if len(local) > n and json_equal(base, local[:n]):
        return [Op("append", path, list(local[n:]), base)]
    if len(local) == n:
        if json_equal(base, local):  # the common case (a cache only read), without building paths
            return []
        ops: list[Op] = []
        for index, (old, new) in enumerate(zip(base, local, strict=True)):
            if old is not new:
                ops.extend(diff(old, new, (*path, index)))
        return ops
    return [Op("set", path, local, base)]


def get_at(state: Any, path: Path) -> Any:
    """Return the value at `path`, or MISSING."""
    node = state
    for part in path:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return MISSING
    return node


def apply(state: dict[str, Any], ops: list[Op], *, force: bool = False) -> dict[str, Any]:
    """Replay `ops` onto `state` in place and return it; raise StateConflictError on a true conflict.

    With `force`, the ops win over whatever `state` holds (used for values given to the constructor,
    which upstream also lets win). Nothing is changed when any op conflicts.
    """
    conflicts = [] if force else [op.path for op in ops if _conflicts(state, op)]
    if conflicts:
        raise StateConflictError(conflicts)
    for op in ops:
        if not _apply_one(state, op) and not force:
            raise StateConflictError([op.path])
    return state


def _conflicts(state: dict[str, Any], op: Op) -> bool:
    current = get_at(state, op.path)
    if op.kind == "append":
        return current is not MISSING and not isinstance(current, list)
    if current is MISSING:
        # Deleting what is already gone is fine; setting a key the other side removed is not,
        # unless it was absent in the base as well (then both sides agree it is new).
        return op.kind == "set" and op.base is not MISSING
    if op.kind == "set" and (json_equal(current, op.value) or _same_empty_container(op, current)):
        return False
    return not json_equal(current, op.base)


def _same_empty_container(op: Op, current: Any) -> bool:
    # Both sides created the same (empty) container: keep whatever the other side put in it.
    return op.base is MISSING and op.value in ([], {}) and type(current) is type(op.value)


def _apply_one(state: dict[str, Any], op: Op) -> bool:
    """Apply one op; return False when its parent cannot be reached (a list index that is gone)."""
    parent: Any = state
    for depth, part in enumerate(op.path[:-1]):
        child = get_at(parent, (part,))
        if child is MISSING:
            if not isinstance(parent, dict) or not isinstance(op.path[depth + 1], str):
                return False
            child = parent[part] = {}
        parent = child
    if not op.path:
        return _apply_root(state, op)
    key: Any = op.path[-1]
    if isinstance(parent, list) and not (isinstance(key, int) and 0 <= key < len(parent)):
        return False
    if not isinstance(parent, dict | list):
        return False
    if op.kind == "delete":
        if get_at(parent, (key,)) is not MISSING:
            del parent[key]
    elif op.kind == "append":
        current = get_at(parent, (key,))
        if current is MISSING:
            parent[key] = copy_json(op.value)
        else:
            current.extend(copy_json(op.value))
    elif not _same_empty_container(op, get_at(parent, (key,))):
        parent[key] = copy_json(op.value)
    return True


def _apply_root(state: dict[str, Any], op: Op) -> bool:
    if op.kind != "set" or not isinstance(op.value, dict):
        return False
    state.clear()
    state.update(copy_json(op.value))
    return True
