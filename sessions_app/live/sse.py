"""The server-sent events wire format, shared by the run streams and the session change streams."""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def sse_message(data: str = "", *, event: str | None = None, seq: int | None = None) -> str:
    """Format one server-sent event; each line of `data` gets its own `data:` field."""
    fields = [f"event: {event}"] if event else []
    if seq is not None:
        fields.append(f"id: {seq}")
    fields += [f"data: {line}" for line in _LINE_BREAK.split(data)]
    return "\n".join(fields) + "\n\n"
