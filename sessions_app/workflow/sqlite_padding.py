"""session_data padded to size steps, so a state that grows a little is rewritten in place."""

from __future__ import annotations

from typing import Any

import orjson

from sessions_app.workflow.sqlite_connections import stdlib_dumps

PAD_FROM_BYTES = 16 * 1024


def padded_json(value: Any, *, version: int) -> str:
    """Encode session_data, padded with spaces to the next size step (a sixteenth to a 32nd of its size).

    JSON allows trailing whitespace, so phidata and agno read it as before. SQLite rewrites a row
    that keeps its size in place, writing only the pages whose bytes changed: caching one more
    post in a large state then writes a few pages instead of the whole state, until the state
    outgrows its step. The row also holds `wfsite_version`, which SQLite stores in 0 to 8 bytes
    depending on its value, so the padding gives those bytes back. Small states are not padded.
    """
    try:
        body = orjson.dumps(value)
    except TypeError:
        return stdlib_dumps(value)
    size = len(body)
    if size < PAD_FROM_BYTES:
        return body.decode()
    step = 1 << (size.bit_length() - 5)
    room = (size // step + 1) * step - size - _stored_int_size(version)
    return (body + b" " * max(room, 0)).decode()


def _stored_int_size(value: int) -> int:
    """Return how many bytes SQLite's record format takes for an integer (0 and 1 take none)."""
    if value in (0, 1):
        return 0
    for size, limit in ((1, 1 << 7), (2, 1 << 15), (3, 1 << 23), (4, 1 << 31), (6, 1 << 47)):
        if -limit <= value < limit:
            return size
    return 8
