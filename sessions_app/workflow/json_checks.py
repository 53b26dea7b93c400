"""Whether a value can be stored as JSON and read back: `check_json`, with the limits it enforces."""

from __future__ import annotations

import math
from typing import Any

from sessions_app.workflow.errors import Path, StateNotSerializableError, StateTooDeepError

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "check_json"]

# Values of these exact types are valid JSON as they are (ints and floats need a check; subclasses
# take the long way).
_VALID_AS_IS = frozenset({str, bool, type(None)})
# Containers nested deeper than this are refused: far above real use, and well below the depth
# at which Python's recursive JSON code (here, in json and in the databases' drivers) gives up.
MAX_DEPTH = 64
# Python reads integers of at most this many digits back from JSON (sys.get_int_max_str_digits).
MAX_INT_DIGITS = 4300
_INT_BOUND = 10**MAX_INT_DIGITS


def check_json(value: Any, path: Path = (), *, max_depth: int = MAX_DEPTH) -> None:
    """Raise StateNotSerializableError at the first value that would not survive a JSON round trip.

    `path` is where `value` sits in the state, so `max_depth` counts from the state's top level:
    the state itself is one level, a dict or list in it two, and so on.
    """
    # Plain dicts and lists check their plain items inline: states are mostly strings in containers.
    kind = type(value)
    if kind is dict:
        if len(path) >= max_depth:
            raise _too_deep(path, value, max_depth)
        for key, item in value.items():
            if type(key) is not str:
                _check_key(value, key, path)
            if type(item) not in _VALID_AS_IS and not _small_int(item):
                check_json(item, (*path, key), max_depth=max_depth)
        return
    if kind is list:
        if len(path) >= max_depth:
            raise _too_deep(path, value, max_depth)
        for index, item in enumerate(value):
            if type(item) not in _VALID_AS_IS and not _small_int(item):
                check_json(item, (*path, index), max_depth=max_depth)
        return
    _check_other(value, path, max_depth)


def _small_int(value: Any) -> bool:
    return type(value) is int and -_INT_BOUND < value < _INT_BOUND


def _too_deep(path: Path, value: Any, max_depth: int) -> StateTooDeepError:
    return StateTooDeepError(path, value, max_depth)


def _check_key(container: dict[Any, Any], key: Any, path: Path) -> None:
    if not isinstance(key, str):
        raise StateNotSerializableError(
            (*path, key), container, f"keys must be strings, not {type(key).__name__}"
        )


def _check_other(value: Any, path: Path, max_depth: int) -> None:
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if not -_INT_BOUND < value < _INT_BOUND:
            raise StateNotSerializableError(
                path,
                value,
                f"an integer of more than {MAX_INT_DIGITS} digits cannot be read back from JSON",
                hint="Store it as text.",
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StateNotSerializableError(path, value, "NaN and infinity are not valid JSON")
        return
    if isinstance(value, dict | list | tuple):
        if len(path) >= max_depth:
            raise _too_deep(path, value, max_depth)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                _check_key(value, key, path)
            check_json(item, (*path, key), max_depth=max_depth)
        return
    raise StateNotSerializableError(path, value)
