"""The storage's two commonest statements-worth of work in raw SQL: reading a state, and appending to a list.

Why not the ORM here: a run cycle is a read, an append and a write, and through the ORM that was
12 statements and about 2 ms of Python per cycle (83% of it in building, compiling and executing
querysets and model instances), 0.8x phidata's SqlWorkflowStorage on SQLite and 11 round trips on
PostgreSQL. Here the same cycle is:

- a read: one statement (the session row, then its entries, in one `UNION ALL`), so the row and
  its entries are of one version without re-checking it;
- an append: one transaction of a conditional `UPDATE ... SET version = version + 1 WHERE
  session_id = ? AND version = ?` that also checks the key is held as rows, one `INSERT` of the
  entries, one `INSERT` of the change and one upsert of the entries' `CacheEntryStats`; on
  PostgreSQL the four are one statement (CTEs), one round trip.

When the version moved on (another writer), the key is not a row-held list, or anything else is
out of the ordinary, `commit_append` writes nothing and returns None; the storage then takes its
ORM path, which merges or refuses (`DjangoWorkflowStorage._commit`). The values written are
exactly what the ORM writes (the fields' own encoder and `get_db_prep_value`), and every invariant
of `state.store` holds after either path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from sessions_app.limits import state_size_check
from sessions_app.models import CacheEntryStats, StateChange, StateEntry, WorkflowSession
from sessions_app.state.cache_stats import cache_stats_rows
from sessions_app.state.changes import ops_summary
from sessions_app.state.codec import StoredJSONEncoder, stored_loads
from sessions_app.state.layout import MAX_KEY, Caches, check_storable, entry_keyer, json_size
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import Op
from sessions_app.workflow.storage import RunRecord

SESSIONS = WorkflowSession._meta.db_table
ENTRIES = StateEntry._meta.db_table
CHANGES = StateChange._meta.db_table
STATS = CacheEntryStats._meta.db_table


def _dumps(value: Any) -> str:
    """JSON text for a JSON field: orjson's (a tenth of the stdlib's time), else the fields' own encoder.

    The value has passed `check_storable` (no NaN, no lone surrogates), so orjson writes the same
    JSON the field would, only compact and unescaped; it refuses integers wider than 64 bits.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, cls=StoredJSONEncoder)


def _encoded(value: Any) -> tuple[str, int]:
    """Return `_dumps(value)` and the value's `json_size`, encoding it once."""
    try:
        raw = orjson.dumps(value)
    except TypeError:
        return json.dumps(value, cls=StoredJSONEncoder), json_size(value)
    return raw.decode(), len(raw)


def _loads(text: str, surrogates: bool) -> Any:
    """Decode stored JSON as the JSON fields do (`stored_loads`), with orjson first where it can.

    orjson refuses exactly what needs the fields' care (lone surrogates, integers wider than 64
    bits, NaN, depth past its limit), so whatever it decodes is what `stored_loads` would return.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return stored_loads(text, surrogates=surrogates)


def _moment(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite hands raw SQL its text
        value = datetime.fromisoformat(value)
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def _db_time(now: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(now)


# -- reading ------------------------------------------------------------------------------------------


@dataclass
class StoredRow:
    """The session row's columns a read needs, without a model instance."""

    pk: int
    session_id: str
    workflow: str
    user_id: str
    name: str
    version: int
    created_at: datetime
    updated_at: datetime


_READ = (
    "SELECT 0 AS part, s.id, s.session_id, s.workflow, s.user_id, s.name, s.version, s.created_at, "
    "s.updated_at, s.session_state, s.list_keys, NULL AS key, NULL AS position "
    f"FROM {SESSIONS} s WHERE s.session_id = %s "
    "UNION ALL "
    "SELECT 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, e.value, NULL, e.key, e.position "
    f"FROM {ENTRIES} e JOIN {SESSIONS} s ON s.id = e.session_id WHERE s.session_id = %s "
    "ORDER BY 1, 12, 13"
)


def read_state(session_id: str) -> tuple[StoredRow, dict[str, Any]] | None:
    """Return a session's row and whole state in one statement (one version), or None when absent.

    The state is assembled as `state.store.state_load` does: the plain members, then each
    row-held list in `list_keys`' order.
    """
    with connection.cursor() as cursor:
        cursor.execute(_READ, [session_id, session_id])
        rows = cursor.fetchall()
    if not rows or rows[0][0] != 0:
        return None
    surrogates = connection.vendor != "postgresql"
    head = rows[0]
    row = StoredRow(
        pk=head[1],
        session_id=head[2],
        workflow=head[3],
        user_id=head[4],
        name=head[5],
        version=head[6],
        created_at=_moment(head[7]),
        updated_at=_moment(head[8]),
    )
    plain = _loads(head[9], surrogates) if head[9] is not None else {}
    list_keys = _loads(head[10], surrogates) if head[10] is not None else []
    lists: dict[str, list[Any]] = {key: [] for key in list_keys}
    for part in rows[1:]:
        held = lists.get(part[11])
        if held is not None:
            held.append(_loads(part[9], surrogates))
    return row, {**plain, **lists}


# -- the append ---------------------------------------------------------------------------------------


def appended_key(ops: list[Op]) -> str | None:
    """Return the key when `ops` are one append of items to a top-level list that may be row-held."""
    if len(ops) != 1:
        return None
    op = ops[0]
    if op.kind != "append" or len(op.path) != 1 or not isinstance(op.path[0], str):
        return None
    if len(op.path[0]) > MAX_KEY or not isinstance(op.value, list | tuple) or not op.value:
        return None
    return op.path[0]


@dataclass
class RunSaved:
    """What writing a run's row gave: its primary key, and the session's new run count and status."""

    run_pk: int
    run_count: int
    status: str


@dataclass
class Appended:
    """What the append wrote: the session's primary key and new version."""

    pk: int
    version: int


def _key_held(vendor: str) -> str:
    if vendor == "postgresql":
        return "list_keys @> %s::jsonb"
    return "EXISTS (SELECT 1 FROM json_each(list_keys) WHERE json_each.value = %s)"


# Placeholders by column type: PostgreSQL needs the types of NULLs and literals in VALUES lists.
_PG_TYPES = {
    "int": "%s::bigint",
    "json": "%s::jsonb",
    "time": "%s::timestamptz",
    "uuid": "%s::uuid",
    "float": "%s::double precision",
    "bool": "%s::boolean",
    "text": "%s::text",
}


def _placeholders(vendor: str, *types: str) -> str:
    if vendor != "postgresql":
        return "(" + ", ".join(["%s"] * len(types)) + ")"
    return "(" + ", ".join(_PG_TYPES[kind] for kind in types) + ")"


_ENTRY_COLUMNS = ("int", "json", "text", "int")
_STAT_COLUMNS = ("text", "text", "text", "time", "uuid", "float", "int", "bool")


def commit_append(
    *,
    session_id: str,
    base_version: int,
    op: Op,
    user_id: str,
    session_name: str | None,
    caches: Caches,
    run: RunRecord | None = None,
    record_run: Callable[[int], RunSaved] | None = None,
) -> Appended | None:
    """Append `op`'s items as entries, if the session is still at `base_version` and holds the key as rows.

    Must run inside a transaction (the storage's). Returns None, having written nothing, when the
    session is absent, at another version or does not hold the key as rows, and when an item
    cannot be stored (the ORM path then raises, naming the item's index). Raises
    StateTooLargeError for a state grown over the size limit; the caller's transaction then rolls
    back what was written. With a `run`, `record_run(session_pk)` writes its row once the session
    is known to be at `base_version` (the ORM's `run_save`), and the change names that row.
    """
    key = str(op.path[0])  # an append is at a top-level key
    items = list(op.value)
    try:
        for item in items:
            check_storable(item, (key,))
    except StateNotSerializableError:
        return None
    keyer = entry_keyer(caches, key)
    vendor = connection.vendor
    now = timezone.now()
    at = _db_time(now)
    entry_params: list[Any] = []
    texts, sizes = [], 0
    for offset, item in enumerate(items):
        text, size = _encoded(item)
        texts.append(text)
        sizes += size
        entry_params += [offset, text, keyer(item), size]
    grow = sizes + len(items)
    touched = [(key, item, offset) for offset, item in enumerate(items)] if key in caches else []
    stats = cache_stats_rows(caches=caches, touched=touched, producer=run, now=now)
    stat_params = [part for row in stats for part in row]
    source = StateChange.Source.RUN if run is not None else StateChange.Source.EDIT
    change_params = [
        source,
        # What `ops_encode([op])` is (an append keeps only its items), from the items' text.
        f'[["append", {_dumps([key])}, [{", ".join(texts)}]]]',
        ops_summary([op], caches=caches, touched=touched)[:500],
        None,  # the run's row, once written
        at,
    ]
    pg = vendor == "postgresql"
    t = (lambda kind: _PG_TYPES[kind]) if pg else (lambda kind: "%s")
    update = (
        f"UPDATE {SESSIONS} SET version = version + 1, "
        "state_size = state_size + %s - CASE WHEN EXISTS "
        f"(SELECT 1 FROM {ENTRIES} x WHERE x.session_id = {SESSIONS}.id AND x.key = %s) THEN 0 ELSE 1 END, "
        "cache_entries = cache_entries + %s, updated_at = %s, name = COALESCE(%s, name), "
        "user_id = CASE WHEN user_id = '' THEN %s ELSE user_id END "
        f"WHERE session_id = %s AND version = %s AND {_key_held(vendor)} "
        "RETURNING id, version, state_size"
    )
    update_params = [
        grow,
        key,
        len(items),
        at,
        session_name,
        user_id,
        session_id,
        base_version,
        json.dumps([key]) if pg else key,
    ]
    entry_values = f"v(o, value, lookup_key, size) AS (VALUES {', '.join([_placeholders(vendor, *_ENTRY_COLUMNS)] * len(items))})"
    entry_insert = (
        f"INSERT INTO {ENTRIES} (session_id, key, position, value, lookup_key, size, created_at, updated_at) "
        f"SELECT s.id, {t('text')}, "
        f"(SELECT COALESCE(MAX(x.position) + 1, 0) FROM {ENTRIES} x WHERE x.session_id = s.id AND x.key = {t('text')}) "
        f"+ v.o, v.value, v.lookup_key, v.size, {t('time')}, {t('time')} FROM s, v"
    )
    entry_insert_params = [key, key, at, at]
    change_insert = (
        f"INSERT INTO {CHANGES} (session_id, version, source, ops, summary, run_id, created_at) "
        f"SELECT s.id, s.version, {t('text')}, {t('json')}, {t('text')}, {t('int')}, {t('time')} FROM s"
    )
    stat_values = (
        "w(cache, key, content_hash, stored_at, produced_by, generation_seconds, tokens, tokens_estimated) "
        f"AS (VALUES {', '.join([_placeholders(vendor, *_STAT_COLUMNS)] * len(stats))})"
    )
    stat_upsert = (
        f"INSERT INTO {STATS} (session_id, cache, key, content_hash, stored_at, hits, "
        "produced_by, generation_seconds, tokens, tokens_estimated) "
        "SELECT s.id, w.cache, w.key, w.content_hash, w.stored_at, 0, w.produced_by, "
        "w.generation_seconds, w.tokens, w.tokens_estimated FROM s, w WHERE true "
        "ON CONFLICT (session_id, cache, key) DO UPDATE SET content_hash = excluded.content_hash, "
        "stored_at = excluded.stored_at, hits = 0, last_hit_at = NULL, produced_by = excluded.produced_by, "
        "generation_seconds = excluded.generation_seconds, tokens = excluded.tokens, "
        f"tokens_estimated = excluded.tokens_estimated WHERE {STATS}.content_hash <> excluded.content_hash"
    )
    runs = (
        f"UPDATE {SESSIONS} SET run_count = {t('int')}, last_run_status = {t('text')} "
        f"WHERE id = (SELECT id FROM s)"
    )
    with connection.cursor() as cursor:
        if pg and run is None:
            # One statement, one round trip: every part reads `s`, the updated row, so a session at
            # another version (no row) writes nothing.
            parts = [f"s AS ({update})", entry_values, f"e AS ({entry_insert})", f"c AS ({change_insert})"]
            params = [*update_params, *entry_params, *entry_insert_params, *change_params]
            if stats:
                parts += [stat_values, f"u AS ({stat_upsert})"]
                params += stat_params
            cursor.execute("WITH " + ", ".join(parts) + " SELECT id, version, state_size FROM s", params)
            found = cursor.fetchone()
            if found is None:
                return None
        else:
            cursor.execute(update, update_params)
            found = cursor.fetchone()
            if found is None:
                return None
            pk = found[0]
            if run is not None and record_run is not None:
                saved = record_run(pk)
                change_params[3] = saved.run_pk
                cursor.execute(
                    f"WITH s(id) AS (SELECT {t('int')}) {runs}", [pk, saved.run_count, saved.status]
                )
            if pg:  # the rest in one statement
                parts = [f"s(id, version) AS (SELECT {t('int')}, {t('int')})", entry_values]
                parts += [f"e AS ({entry_insert})", f"c AS ({change_insert})"]
                params = [pk, found[1], *entry_params, *entry_insert_params, *change_params]
                if stats:
                    parts += [stat_values, f"u AS ({stat_upsert})"]
                    params += stat_params
                cursor.execute("WITH " + ", ".join(parts) + " SELECT 1", params)
            else:
                cursor.execute(
                    f"WITH s(id) AS (SELECT %s), {entry_values} {entry_insert}",
                    [pk, *entry_params, *entry_insert_params],
                )
                cursor.execute(
                    f"WITH s(id, version) AS (SELECT %s, %s) {change_insert}", [pk, found[1], *change_params]
                )
                if stats:
                    cursor.execute(
                        f"WITH s(id) AS (SELECT %s), {stat_values} {stat_upsert}", [pk, *stat_params]
                    )
    state_size_check(found[2], previous=found[2] - grow)
    return Appended(pk=found[0], version=found[1])
