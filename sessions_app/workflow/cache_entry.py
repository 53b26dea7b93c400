"""One entry of a declared cache, and how keys are normalised (see `sessions_app.workflow.cache`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


class Named(Protocol):
    """What an entry asks of its cache: where it lives and how people call its entries."""

    state_key: str

    def display_key(self, inputs: Any) -> str: ...

    def name_of(self, display_key: str) -> str: ...


def normalize_key(value: Any) -> str:
    """Normalise one key input: case-folded, inner and outer whitespace collapsed."""
    return " ".join(str(value).split()).casefold()


@dataclass(frozen=True)
class CacheEntry:
    """One entry of a cache as it is stored: its key, the inputs that made it, and its value.

    `index` is the entry's list index, or its member name in a dict-shaped cache; `record` is
    what is stored there (a list's record, or the member's value).
    """

    cache: Named
    key: str
    inputs: dict[str, Any]
    value: Any
    record: Any
    index: int | str
    stored_at: float | None = None

    @property
    def path(self) -> tuple[str | int, ...]:
        """Return the entry's path in session_state."""
        return (self.cache.state_key, self.index)

    @property
    def display_key(self) -> str:
        """Return the key as it was given, for people ("AI agents", not "ai agents")."""
        return self.cache.display_key(self.inputs)

    @property
    def name(self) -> str:
        """Return what people call the entry: "the post on 'AI agents'"."""
        return self.cache.name_of(self.display_key)


def parse_stamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
