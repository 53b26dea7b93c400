"""Which cached entries a text search found in each listed session, with an excerpt around the words.

The excerpt is plain text split into parts, each saying whether it is one of the words found;
templates escape every part and wrap the found ones in `<mark>`, so highlighting never needs
HTML built from a post (`session_list.html`), and the API returns the same parts as JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.registry import workflow_caches
from sessions_app.selectors.search import entries_matching_text, words

BEFORE, AFTER = 60, 160
MAX_MATCHES = 3  # entries shown per session; `count` says how many there were


@dataclass(frozen=True)
class Part:
    text: str
    hit: bool


@dataclass(frozen=True)
class TextMatch:
    """One entry that holds the words: what people call it, where it is, and an excerpt."""

    name: str
    cache: str
    position: int
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class SessionMatches:
    matches: tuple[TextMatch, ...]
    count: int


def session_text_matches(*, sessions: Iterable[WorkflowSession], text: str) -> dict[int, SessionMatches]:
    """Return, by session pk, the first MAX_MATCHES entries holding every word of `text`, and how many do."""
    by_pk = {session.pk: session for session in sessions}
    ids = entries_matching_text(session_pks=by_pk, text=text)
    rows = StateEntry.objects.in_bulk(ids)
    found: dict[int, list[TextMatch]] = {}
    counts: dict[int, int] = {}
    pattern = _pattern(words(text))
    for entry_id in ids:
        row = rows[entry_id]
        counts[row.session_id] = counts.get(row.session_id, 0) + 1
        shown = found.setdefault(row.session_id, [])
        if len(shown) < MAX_MATCHES:
            shown.append(_match(by_pk[row.session_id], row, pattern))
    return {pk: SessionMatches(tuple(shown), counts[pk]) for pk, shown in found.items()}


def _match(session: WorkflowSession, row: StateEntry, pattern: re.Pattern[str]) -> TextMatch:
    cache = workflow_caches(session.workflow).get(row.key)
    entry = None if cache is None else cache.entry(row.value, row.position)
    name = entry.name if entry is not None else f"{row.key}[{row.position}]"
    # The cached value first: it is what people look for, and usually where the words are.
    texts = list(_strings(entry.value)) if entry is not None else []
    texts += list(_strings(row.value))
    text = next((t for t in texts if pattern.search(t)), texts[0] if texts else "")
    return TextMatch(name=name, cache=row.key, position=row.position, parts=excerpt(text, pattern))


def excerpt(text: str, pattern: re.Pattern[str]) -> tuple[Part, ...]:
    """Return the part of `text` around the first hit of `pattern`, split into hits and the text between."""
    found = pattern.search(text)
    start = max(0, found.start() - BEFORE) if found else 0
    stop = min(len(text), start + BEFORE + AFTER)
    window = " ".join(text[start:stop].split())
    prefix = "…" if start > 0 else ""
    suffix = "…" if stop < len(text) else ""
    parts: list[Part] = [Part(prefix, False)] if prefix else []
    at = 0
    for hit in pattern.finditer(window):
        if hit.start() > at:
            parts.append(Part(window[at : hit.start()], False))
        parts.append(Part(hit.group(), True))
        at = hit.end()
    parts.append(Part(window[at:] + suffix, False))
    return tuple(part for part in parts if part.text)


def _pattern(found: list[str]) -> re.Pattern[str]:
    """Match each word where a word begins, as the indexes do (a word or a word's beginning)."""
    if not found:
        return re.compile(r"(?!)")
    alternatives = "|".join(re.escape(word) for word in sorted(set(found), key=len, reverse=True))
    return re.compile(rf"(?<![^\W_])(?:{alternatives})[^\W_]*", re.IGNORECASE)


def _strings(value: Any) -> Iterator[str]:
    """Yield every string in a JSON value (not its object keys), in order, without recursing."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
