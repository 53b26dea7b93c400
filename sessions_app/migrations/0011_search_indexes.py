"""Indexes for the session list's search, kept in step by the database on every write.

Whatever writes a session or an entry row (a run, an edit, a clear, a restore, an import, the
admin, a delete, raw SQL), the database keeps these in step; no write path has to remember.

SQLite: three FTS5 tables filled by triggers, backfilled here.
- `sessions_app_session_search` (trigram): session id and name, for substring search;
- `sessions_app_entry_key_search` (trigram): the lookup key of each declared cache's entry;
- `sessions_app_entry_text_search` (unicode61, contentless): the text of each such entry, every
  string in its JSON value (never the object keys), for word search. Contentless keeps the
  posts stored once; a removed row is taken out with FTS5's 'delete' command, given the same
  text the trigger computed when it went in.

PostgreSQL: GIN indexes the planner uses directly, so they need no triggers and build over the
existing rows as they are created: pg_trgm on the session id, the name and the lookup key (when
the extension can be created; without it the same queries run as scans), and `jsonb_to_tsvector`
over the entry's strings.

Entries larger than `TEXT_MAX_SIZE` bytes are not text-indexed on either database: a tsvector
holds at most 1 MB, and a value that size could make every write of it fail.
"""

from __future__ import annotations

import logging

from django.db import migrations

logger = logging.getLogger(__name__)

TEXT_MAX_SIZE = 250_000  # sessions_app.selectors.search repeats it in its queries


def _text(row: str) -> str:
    return f"(SELECT group_concat(j.value, ' ') FROM json_tree({row}.value) AS j WHERE j.type = 'text')"


def _text_indexed(row: str) -> str:
    return f"{row}.lookup_key <> '' AND {row}.size <= {TEXT_MAX_SIZE} AND json_valid({row}.value)"


def _entry_in(row: str) -> str:
    return f"""
    INSERT INTO sessions_app_entry_key_search(rowid, lookup_key)
        SELECT {row}.id, {row}.lookup_key WHERE {row}.lookup_key <> '';
    INSERT INTO sessions_app_entry_text_search(rowid, body)
        SELECT {row}.id, {_text(row)} WHERE {_text_indexed(row)};"""


def _entry_out(row: str) -> str:
    return f"""
    DELETE FROM sessions_app_entry_key_search WHERE rowid = {row}.id;
    INSERT INTO sessions_app_entry_text_search(sessions_app_entry_text_search, rowid, body)
        SELECT 'delete', {row}.id, {_text(row)} WHERE {_text_indexed(row)};"""


SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE sessions_app_session_search USING fts5(session_id, name, tokenize='trigram')",
    "CREATE VIRTUAL TABLE sessions_app_entry_key_search USING fts5(lookup_key, tokenize='trigram')",
    "CREATE VIRTUAL TABLE sessions_app_entry_text_search USING fts5("
    "body, content='', tokenize='unicode61 remove_diacritics 0')",
    """CREATE TRIGGER sessions_app_session_search_insert AFTER INSERT ON sessions_app_workflowsession BEGIN
    INSERT INTO sessions_app_session_search(rowid, session_id, name) VALUES (NEW.id, NEW.session_id, NEW.name);
    END""",
    """CREATE TRIGGER sessions_app_session_search_delete AFTER DELETE ON sessions_app_workflowsession BEGIN
    DELETE FROM sessions_app_session_search WHERE rowid = OLD.id;
    END""",
    """CREATE TRIGGER sessions_app_session_search_update AFTER UPDATE OF id, session_id, name
    ON sessions_app_workflowsession
    WHEN OLD.id IS NOT NEW.id OR OLD.session_id IS NOT NEW.session_id OR OLD.name IS NOT NEW.name BEGIN
    DELETE FROM sessions_app_session_search WHERE rowid = OLD.id;
    INSERT INTO sessions_app_session_search(rowid, session_id, name) VALUES (NEW.id, NEW.session_id, NEW.name);
    END""",
    f"CREATE TRIGGER sessions_app_entry_search_insert AFTER INSERT ON sessions_app_stateentry BEGIN"
    f"{_entry_in('NEW')}\n    END",
    f"CREATE TRIGGER sessions_app_entry_search_delete AFTER DELETE ON sessions_app_stateentry BEGIN"
    f"{_entry_out('OLD')}\n    END",
    f"""CREATE TRIGGER sessions_app_entry_search_update AFTER UPDATE OF id, value, lookup_key, size
    ON sessions_app_stateentry
    WHEN OLD.id IS NOT NEW.id OR OLD.value IS NOT NEW.value OR OLD.lookup_key IS NOT NEW.lookup_key
        OR OLD.size IS NOT NEW.size BEGIN{_entry_out("OLD")}{_entry_in("NEW")}
    END""",
    # The backfill of the rows already there.
    "INSERT INTO sessions_app_session_search(rowid, session_id, name) "
    "SELECT id, session_id, name FROM sessions_app_workflowsession",
    "INSERT INTO sessions_app_entry_key_search(rowid, lookup_key) "
    "SELECT id, lookup_key FROM sessions_app_stateentry WHERE lookup_key <> ''",
    f"INSERT INTO sessions_app_entry_text_search(rowid, body) "
    f"SELECT e.id, {_text('e')} FROM sessions_app_stateentry AS e WHERE {_text_indexed('e')}",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS sessions_app_entry_search_update",
    "DROP TRIGGER IF EXISTS sessions_app_entry_search_delete",
    "DROP TRIGGER IF EXISTS sessions_app_entry_search_insert",
    "DROP TRIGGER IF EXISTS sessions_app_session_search_update",
    "DROP TRIGGER IF EXISTS sessions_app_session_search_delete",
    "DROP TRIGGER IF EXISTS sessions_app_session_search_insert",
    "DROP TABLE IF EXISTS sessions_app_entry_text_search",
    "DROP TABLE IF EXISTS sessions_app_entry_key_search",
    "DROP TABLE IF EXISTS sessions_app_session_search",
]

PG_TEXT = "jsonb_to_tsvector('simple'::regconfig, value, '[\"string\"]'::jsonb)"
PG_TEXT_INDEXED = f"lookup_key <> '' AND size <= {TEXT_MAX_SIZE}"
PG_TRIGRAM = [
    "CREATE INDEX sessions_app_session_id_trgm ON sessions_app_workflowsession "
    "USING gin (session_id gin_trgm_ops)",
    "CREATE INDEX sessions_app_session_name_trgm ON sessions_app_workflowsession USING gin (name gin_trgm_ops)",
    "CREATE INDEX sessions_app_entry_key_trgm ON sessions_app_stateentry "
    "USING gin (lookup_key gin_trgm_ops) WHERE lookup_key <> ''",
]
PG_CREATE = [
    f"CREATE INDEX sessions_app_entry_text_fts ON sessions_app_stateentry USING gin ({PG_TEXT}) "
    f"WHERE {PG_TEXT_INDEXED}",
]
PG_DROP = [
    "DROP INDEX IF EXISTS sessions_app_entry_text_fts",
    "DROP INDEX IF EXISTS sessions_app_entry_key_trgm",
    "DROP INDEX IF EXISTS sessions_app_session_name_trgm",
    "DROP INDEX IF EXISTS sessions_app_session_id_trgm",
]


def _trigram_available(schema_editor) -> bool:  # noqa: ANN001
    """Create pg_trgm if this role may (it is a trusted extension since PostgreSQL 13), and say whether it is there."""
    from django.db import DatabaseError, transaction

    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as error:
        logger.warning("pg_trgm cannot be created (%s); id, name and key search will scan", error)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


def create(apps, schema_editor) -> None:  # noqa: ANN001
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        statements = SQLITE_CREATE
    elif vendor == "postgresql":
        statements = (PG_TRIGRAM if _trigram_available(schema_editor) else []) + PG_CREATE
    else:
        return
    for sql in statements:
        schema_editor.execute(sql)


def drop(apps, schema_editor) -> None:  # noqa: ANN001
    vendor = schema_editor.connection.vendor
    for sql in {"sqlite": SQLITE_DROP, "postgresql": PG_DROP}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0010_run_list_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
