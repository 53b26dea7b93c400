"""Parsed session rows kept per connection, so reading a session this process just read or wrote skips the parse.

Parsing a large state is most of what a cache-hit run costs. An entry is used only while two
things still hold: `PRAGMA data_version` (which moves when any *other* connection commits) is
what it was when the entry was made, and the row's `wfsite_version` (which every write moves,
upstream writers' included, through the trigger) is the entry's. Writes through the owning
connection keep the entry up to date or drop it. Entries are handed out as copies, so what a
caller changes never reaches the cache.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sessions_app.workflow.sqlite_schema import JSON_COLUMNS
from sessions_app.workflow.state import copy_json


@dataclass
class Entry:
    """One row as it was at `version`, with its JSON columns parsed; `size` is its JSON text's length."""

    data_version: int
    version: int
    row: dict[str, Any]
    size: int


class ReadCache:
    """The most recently used rows of one connection, up to `max_bytes` of their JSON text."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._bytes = 0

    def get(self, session_id: str, data_version: int) -> Entry | None:
        """Return the entry if no other connection has committed since it was made."""
        entry = self._entries.get(session_id)
        if entry is None or entry.data_version != data_version:
            return None
        self._entries.move_to_end(session_id)
        return entry

    def put(self, session_id: str, entry: Entry) -> None:
        self.forget(session_id)
        if self.max_bytes <= 0 or entry.size > self.max_bytes:
            return
        self._entries[session_id] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.size

    def forget(self, session_id: str | None = None) -> None:
        """Drop one session's entry, or all of them."""
        if session_id is None:
            self._entries.clear()
            self._bytes = 0
        elif (entry := self._entries.pop(session_id, None)) is not None:
            self._bytes -= entry.size


def copy_row(row: dict[str, Any]) -> dict[str, Any]:
    """Copy a cached row's JSON values, so the caller owns what it gets."""
    return {key: copy_json(value) if key in JSON_COLUMNS else value for key, value in row.items()}
