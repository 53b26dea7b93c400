"""The caches a workflow keeps in its session_state, declared on the class.

    class BlogPostGenerator(Workflow):
        blog_posts = Cache(key="topic", value="blog_post", label="post on {key}")

reads the way Prefect's cache policies (a key from the task's inputs, an expiration) and
LangGraph's `CachePolicy(key_func, ttl)` do: the cache lives in `session_state["blog_posts"]`
(the attribute's name, or `state_key=`) as upstream's list of records
`{"topic": ..., "blog_post": ...}`; the run's `topic` input is an entry's key, matched after
`normalize` (by default case and whitespace: "AI Agents " finds "ai agents"); the run() flag
named by `use_cache` turns the cache off for one run; `ttl` (seconds or a timedelta) makes older
entries stale. `shape="dict"` keeps `{key: value}` as upstream's cookbook does; a cache found in
the other shape (written by other code) is read and extended in that shape. Where a list holds a
key twice, the newest (last) entry wins. The seeds' cache needs one line:

    blog_posts = Cache(key="topic", value="blog_post")

Inside `run()`, `self.blog_posts` is the cache bound to the run's state: `.get(topic)`,
`.store(post, topic)`, `.delete(topic)`, `.entries()`. Code that walks `session_state` by hand
keeps working: a declaration only says where a cache is and how its entries are keyed, and the
dashboard reads it to answer cache hits, list entries and name them ("the post on 'AI agents'").
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sessions_app.workflow.cache_entry import CacheEntry, normalize_key, parse_stamp

__all__ = ["BoundCache", "Cache", "CacheEntry", "normalize_key"]

Shape = Literal["list", "dict"]


class CacheHost(Protocol):
    """What a bound cache needs from its workflow (a `Workflow` is one)."""

    session_id: str
    session_state: dict[str, Any]
    storage: Any
    accept_stale: bool

    def _note_cache_hit(self, cache: Cache, key: str) -> None: ...


@dataclass(eq=False)
class Cache:
    """A cache kept in session_state; see the module docstring."""

    key: str | Sequence[str] = "topic"
    value: str | None = None
    shape: Shape = "list"
    normalize: Callable[[Any], str] = normalize_key
    ttl: float | timedelta | None = None
    use_cache: str | None = "use_cache"
    label: str | None = None
    state_key: str = ""
    markdown: bool = False
    stamp: str | None = None
    result: bool = False
    key_inputs: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.key_inputs = (self.key,) if isinstance(self.key, str) else tuple(self.key)
        if not self.key_inputs:
            raise ValueError("A cache needs at least one key input.")
        if self.shape not in ("list", "dict"):
            raise ValueError(f"A cache's shape is 'list' or 'dict', not {self.shape!r}.")
        if self.shape == "dict" and (len(self.key_inputs) != 1 or self.value is not None):
            raise ValueError(
                "A dict-shaped cache is keyed by exactly one input and holds its values as members."
            )
        if isinstance(self.ttl, timedelta):
            self.ttl = self.ttl.total_seconds()
        self.attribute = self.state_key

    # -- declaration ---------------------------------------------------------------------------------

    def __set_name__(self, owner: type, name: str) -> None:
        self.state_key = self.state_key or name
        self.attribute = name

    def __get__(self, workflow: CacheHost | None, owner: type | None = None) -> Any:
        if workflow is None:
            return self
        return BoundCache(self, workflow)

    def __set__(self, workflow: CacheHost, value: Any) -> None:
        raise AttributeError(
            f"{self.attribute} is a cache declaration; change the cache through "
            f"session_state[{self.state_key!r}] or its methods"
        )

    def with_ttl(self, ttl: float | timedelta | None) -> Cache:
        """Return a copy of this declaration with another time to live."""
        return dataclasses.replace(self, ttl=ttl)

    # -- keys ----------------------------------------------------------------------------------------

    def key_of(self, inputs: Mapping[str, Any]) -> str | None:
        """Return the normalised key of a run's inputs, or None when a key input is missing."""
        values = [inputs.get(name) for name in self.key_inputs]
        if any(value is None or isinstance(value, dict | list) for value in values):
            return None
        if len(values) == 1:
            return self.normalize(values[0])
        return json.dumps(
            [self.normalize(value) for value in values], ensure_ascii=False, separators=(",", ":")
        )

    def display_key(self, inputs: Mapping[str, Any]) -> str:
        """Return the key inputs as they were given, joined for people."""
        return ", ".join(" ".join(str(inputs.get(name, "")).split()) for name in self.key_inputs)

    def name_of(self, display_key: str) -> str:
        """Return "the post on 'AI agents'" for a key as people wrote it."""
        label = self.label or f"{self.state_key} entry for {{key}}"
        return "the " + label.replace("{key}", f"'{display_key}'")

    def enabled(self, inputs: Mapping[str, Any]) -> bool:
        """Return whether a run with these inputs may use the cache (its use_cache flag is not off)."""
        return self.use_cache is None or inputs.get(self.use_cache, True) is not False

    def inputs_of(self, record: Any, index: int | str) -> dict[str, Any] | None:
        """Return the key inputs an entry was stored under, or None for a value that is not an entry.

        A dict-shaped cache is keyed by its member names; a list's records hold their key inputs.
        """
        if isinstance(index, str):
            return {self.key_inputs[0]: index} if len(self.key_inputs) == 1 else None
        if not isinstance(record, dict):
            return None
        found = {name: record.get(name) for name in self.key_inputs}
        if any(value is None or isinstance(value, dict | list) for value in found.values()):
            return None
        return found

    def entry_key(self, record: Any, index: int | str) -> str | None:
        """Return the normalised key of what is stored at `index`, or None when it is not an entry."""
        entry = self.entry(record, index)
        return None if entry is None else entry.key

    # -- entries -------------------------------------------------------------------------------------

    def value_of(self, record: Any, index: int | str) -> Any:
        """Return the cached value stored at `index`: a list record's value field, or a dict member."""
        if isinstance(index, str) or self.value is None:
            return record
        return record.get(self.value) if isinstance(record, dict) else None

    def entry(self, record: Any, index: int | str) -> CacheEntry | None:
        """Return the entry stored at `index`, or None when that is not an entry of this cache."""
        inputs = self.inputs_of(record, index)
        key = None if inputs is None else self.key_of(inputs)
        value = self.value_of(record, index)
        if inputs is None or key is None or value is None:
            return None
        stamped = self.stamp and isinstance(index, int) and isinstance(record, dict)
        stored_at = parse_stamp(record.get(self.stamp)) if stamped else None
        return CacheEntry(self, key, inputs, value, record, index, stored_at)

    def entries(self, state: Mapping[str, Any]) -> Iterator[CacheEntry]:
        """Yield the cache's entries in stored order (duplicates included)."""
        holder = state.get(self.state_key)
        members: Any = enumerate(holder) if isinstance(holder, list) else ()
        if isinstance(holder, dict):
            members = holder.items()
        for index, record in members:
            if (found := self.entry(record, index)) is not None:
                yield found

    def find(self, state: Mapping[str, Any], key: str) -> CacheEntry | None:
        """Return the newest entry with this normalised key, or None."""
        found = None
        for entry in self.entries(state):
            if entry.key == key:
                found = entry
        return found

    def is_stale(self, stored_at: float | None, *, now: float | None = None) -> bool:
        """Return whether an entry stored at `stored_at` (epoch seconds) is older than the ttl."""
        if self.ttl is None or stored_at is None:
            return False
        ttl = self.ttl.total_seconds() if isinstance(self.ttl, timedelta) else self.ttl
        return (now if now is not None else time.time()) - stored_at > ttl

    def store(self, state: dict[str, Any], value: Any, inputs: Mapping[str, Any]) -> CacheEntry:
        """Cache `value` under the inputs' key, replacing its newest entry instead of adding a duplicate."""
        key = self.key_of(inputs)
        if key is None:
            raise ValueError(f"Cannot cache in {self.state_key!r} without {', '.join(self.key_inputs)}.")
        holder = state.get(self.state_key)
        if holder is None:
            holder = state[self.state_key] = [] if self.shape == "list" else {}
        if isinstance(holder, list):
            return self._store_in_list(holder, key, value, inputs)
        if isinstance(holder, dict):
            return self._store_in_dict(holder, key, value, inputs)
        raise ValueError(
            f"session_state[{self.state_key!r}] holds a {type(holder).__name__}; the cache must be a list "
            "or a dict. Clear or fix that key to cache in this session."
        )

    def _record(self, value: Any, inputs: Mapping[str, Any], old: Any = None) -> Any:
        if self.value is None:
            record = value
        else:
            key_fields = {name: inputs[name] for name in self.key_inputs}
            record = {**(old if isinstance(old, dict) else {}), **key_fields, self.value: value}
        if self.stamp and isinstance(record, dict):
            record[self.stamp] = datetime.now(UTC).isoformat(timespec="seconds")
        return record

    def _store_in_list(
        self, holder: list[Any], key: str, value: Any, inputs: Mapping[str, Any]
    ) -> CacheEntry:
        for index in range(len(holder) - 1, -1, -1):
            if self.entry_key(holder[index], index) == key:
                holder[index] = self._record(value, inputs, holder[index])
                return self.entry(holder[index], index)  # type: ignore[return-value]
        holder.append(self._record(value, inputs))
        return self.entry(holder[-1], len(holder) - 1)  # type: ignore[return-value]

    def _store_in_dict(
        self, holder: dict[str, Any], key: str, value: Any, inputs: Mapping[str, Any]
    ) -> CacheEntry:
        for member in [name for name in holder if self.normalize(name) == key]:
            del holder[member]
        member = str(inputs[self.key_inputs[0]])
        holder[member] = value
        return self.entry(holder[member], member)  # type: ignore[return-value]

    def delete(self, state: dict[str, Any], key: str) -> int:
        """Remove every entry with this normalised key; return how many were removed."""
        holder = state.get(self.state_key)
        if isinstance(holder, list):
            kept = [record for index, record in enumerate(holder) if self.entry_key(record, index) != key]
            removed = len(holder) - len(kept)
            holder[:] = kept
            return removed
        if isinstance(holder, dict):
            gone = [member for member in holder if self.entry_key(holder[member], member) == key]
            for member in gone:
                del holder[member]
            return len(gone)
        return 0


class BoundCache:
    """A declared cache bound to one workflow's session_state, as `self.<cache>` inside run()."""

    def __init__(self, cache: Cache, workflow: CacheHost) -> None:
        self.cache, self.workflow = cache, workflow

    def _inputs(self, args: tuple[Any, ...], inputs: dict[str, Any]) -> dict[str, Any]:
        if len(args) > len(self.cache.key_inputs):
            raise TypeError(f"{self.cache.state_key} is keyed by {', '.join(self.cache.key_inputs)}")
        return {**dict(zip(self.cache.key_inputs, args, strict=False)), **inputs}

    def lookup(self, *args: Any, **inputs: Any) -> CacheEntry | None:
        """Return the fresh entry for these inputs (the newest), or None; a hit is recorded on the run."""
        key = self.cache.key_of(self._inputs(args, inputs))
        if key is None:
            return None
        entry = self.cache.find(self.workflow.session_state, key)
        if entry is None:
            return None
        if not self.workflow.accept_stale and self.cache.is_stale(self.stored_at(entry)):
            return None
        self.workflow._note_cache_hit(self.cache, key)
        return entry

    def get(self, *args: Any, **inputs: Any) -> Any:
        """Return the cached value for these inputs, or None when there is no fresh entry."""
        entry = self.lookup(*args, **inputs)
        return None if entry is None else entry.value

    def stored_at(self, entry: CacheEntry) -> float | None:
        """Return when the entry was stored: from the storage where it keeps that, else its stamp."""
        known = getattr(self.workflow.storage, "cache_entry_stored_at", None)
        if known is not None:
            stored = known(self.workflow.session_id, self.cache.state_key, entry.key)
            if stored is not None:
                return float(stored)
        return entry.stored_at

    def store(self, value: Any, *args: Any, **inputs: Any) -> CacheEntry:
        """Cache `value` for these inputs, replacing the key's entry if there is one."""
        return self.cache.store(self.workflow.session_state, value, self._inputs(args, inputs))

    replace = store

    def delete(self, *args: Any, **inputs: Any) -> int:
        """Remove the entries for these inputs; return how many there were."""
        key = self.cache.key_of(self._inputs(args, inputs))
        return 0 if key is None else self.cache.delete(self.workflow.session_state, key)

    def entries(self) -> list[CacheEntry]:
        """Return the cache's entries, one per key (the newest), in the order keys first appear."""
        newest = {entry.key: entry for entry in self.cache.entries(self.workflow.session_state)}
        return list(newest.values())

    def __contains__(self, key: object) -> bool:
        return self.cache.find(self.workflow.session_state, self.cache.normalize(key)) is not None
