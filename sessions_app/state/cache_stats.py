"""Cached entries' stats (`CacheEntryStats`): kept in step with every write, credited with every hit.

Every write path goes through `state.store` (`state_write_ops`, `state_replace`), which reports
what it wrote into a declared cache; `cache_stats_touch` then keeps an entry's stats when its
content is unchanged (a restore, an undo, an import of the same post) and starts them afresh,
crediting the run that produced it, when the content is new. Deleting an entry keeps its stats,
so undoing the delete brings back its age and hits too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from sessions_app.models import CacheEntryStats, WorkflowSession
from sessions_app.state.codec import json_text
from sessions_app.state.layout import Caches, index_key
from sessions_app.workflow.storage import RunRecord

Touched = Iterable[tuple[str, Any, int | str]]


def content_hash(value: Any) -> str:
    """Return a digest of a JSON value that does not depend on its keys' order (as migration 0004 made them)."""
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    except RecursionError:  # a value kept from before depth limits
        text = json_text(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _wanted(caches: Caches, touched: Touched) -> dict[tuple[str, str], str]:
    wanted = {}
    for state_key, record, index in touched:
        key = caches[state_key].entry_key(record, index)
        if key is not None:
            wanted[(state_key, index_key(key))] = content_hash(record)
    return wanted


def _produced(stats: CacheEntryStats, producer: RunRecord | None, now: datetime) -> None:
    stats.stored_at, stats.hits, stats.last_hit_at = now, 0, None
    stats.produced_by = producer.run_id if producer is not None else None
    stats.generation_seconds = producer.duration if producer is not None else None
    usage = producer.usage if producer is not None else None
    stats.tokens = (usage["prompt_tokens"] + usage["completion_tokens"]) if usage else None
    stats.tokens_estimated = bool(usage and usage.get("estimated"))


_UPDATED = [
    "content_hash",
    "stored_at",
    "hits",
    "last_hit_at",
    "produced_by",
    "generation_seconds",
    "tokens",
    "tokens_estimated",
]


def cache_stats_touch(
    *, session: WorkflowSession, caches: Caches, touched: Touched, producer: RunRecord | None = None
) -> None:
    """Start the stats of entries whose content is new; keep those of entries written back unchanged."""
    wanted = _wanted(caches, touched)
    if not wanted:
        return
    now = timezone.now()
    rows = CacheEntryStats.objects.filter(
        session=session, cache__in={c for c, _ in wanted}, key__in={k for _, k in wanted}
    )
    existing = {(row.cache, row.key): row for row in rows}
    created, updated = [], []
    for (cache, key), digest in wanted.items():
        stats = existing.get((cache, key))
        if stats is not None and stats.content_hash == digest:
            continue
        if stats is None:
            stats = CacheEntryStats(session=session, cache=cache, key=key)
            created.append(stats)
        else:
            updated.append(stats)
        stats.content_hash = digest
        _produced(stats, producer, now)
    CacheEntryStats.objects.bulk_create(created)
    CacheEntryStats.objects.bulk_update(updated, _UPDATED)


_KEPT_BY_FORK = ["stored_at", "produced_by", "generation_seconds", "tokens", "tokens_estimated"]


def cache_stats_copy(*, source: WorkflowSession, target: WorkflowSession) -> int:
    """Give `target`'s entries the age and cost the same content has in `source` (a fork); return how many.

    Hits are the target's own and stay as they are.
    """
    theirs = {
        (row.cache, row.key, row.content_hash): row for row in CacheEntryStats.objects.filter(session=source)
    }
    updated = []
    for row in CacheEntryStats.objects.filter(session=target):
        found = theirs.get((row.cache, row.key, row.content_hash))
        if found is not None:
            for name in _KEPT_BY_FORK:
                setattr(row, name, getattr(found, name))
            updated.append(row)
    CacheEntryStats.objects.bulk_update(updated, _KEPT_BY_FORK)
    return len(updated)


def cache_stats_rows(
    *, caches: Caches, touched: Touched, producer: RunRecord | None, now: datetime
) -> list[tuple[Any, ...]]:
    """Return the stats `cache_stats_touch` would start for what a write touched, as column values.

    For the storage's raw-SQL append (`state.hot_path`), which upserts them in one statement
    that, as `cache_stats_touch`, keeps the stats of an entry whose content hash is unchanged:
    (cache, key, content_hash, stored_at, produced_by, generation_seconds, tokens, tokens_estimated).
    """
    wanted = _wanted(caches, touched)
    if not wanted:
        return []
    stats = CacheEntryStats()
    _produced(stats, producer, now)
    produced_by = _PRODUCED_BY.get_db_prep_value(stats.produced_by, connection)
    stored_at = connection.ops.adapt_datetimefield_value(now)
    fixed = (stored_at, produced_by, stats.generation_seconds, stats.tokens, stats.tokens_estimated)
    return [(cache, key, digest, *fixed) for (cache, key), digest in wanted.items()]


_PRODUCED_BY = CacheEntryStats._meta.get_field("produced_by")


def cache_stats_start(*, session: WorkflowSession, entry: Any, hits: int = 0) -> None:
    """Start stats for an entry that has none (it was written before they were kept)."""
    CacheEntryStats.objects.get_or_create(
        session=session,
        cache=entry.cache.state_key,
        key=index_key(entry.key),
        defaults={
            "content_hash": content_hash(entry.record),
            "stored_at": entry.stored_at or timezone.now(),
            "hits": hits,
            "last_hit_at": timezone.now() if hits else None,
        },
    )


@dataclass(frozen=True)
class HitCredit:
    """What a hit on an entry saved: the generation time and tokens of the run that produced it."""

    seconds: float | None
    tokens: int | None
    estimated: bool


_HIT = (
    f"UPDATE {CacheEntryStats._meta.db_table} SET hits = hits + 1, last_hit_at = %s "
    "WHERE session_id = %s AND cache = %s AND key = %s "
    "RETURNING generation_seconds, tokens, tokens_estimated"
)


def cache_stats_hit(*, session_pk: int, cache: str, key: str) -> HitCredit | None:
    """Count a hit on an entry (one statement); return what producing it had cost, or None without stats."""
    with connection.cursor() as cursor:
        cursor.execute(_HIT, [timezone.now(), session_pk, cache, index_key(key)])
        row = cursor.fetchone()
    return None if row is None else HitCredit(row[0], row[1], bool(row[2]))


_STORED_AT = (
    f"SELECT s.stored_at FROM {CacheEntryStats._meta.db_table} s "
    f"JOIN {WorkflowSession._meta.db_table} w ON w.id = s.session_id "
    "WHERE w.session_id = %s AND s.cache = %s AND s.key = %s"
)


def cache_stats_stored_at(*, session_id: str, cache: str, key: str) -> datetime | None:
    """Return since when an entry's content is cached, or None when no stats are kept for it."""
    with connection.cursor() as cursor:
        cursor.execute(_STORED_AT, [session_id, cache, index_key(key)])
        row = cursor.fetchone()
    if row is None:
        return None
    stored = row[0]
    if isinstance(stored, str):  # SQLite hands raw SQL its text
        stored = datetime.fromisoformat(stored)
    return stored if timezone.is_aware(stored) else stored.replace(tzinfo=UTC)
