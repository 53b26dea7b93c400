"""The session list's search through the indexes of migration 0007, in each database's own SQL.

Two searches, each giving the primary keys of the sessions it matches as a subquery:

- `sessions_matching` is a substring search of the session id and name and of the key of every
  declared cache's entry (normalised as a cache normalises keys by default), case-insensitive.
  SQLite answers it from FTS5 trigram tables, PostgreSQL from pg_trgm GIN indexes. Trigrams need
  three characters: a shorter search scans, as every search did before the indexes.
- `sessions_matching_text` is a word search of the text of cached entries (every string of the
  entry's value): each word of the query must appear in one entry, as a word or a word's
  beginning ("agent" finds "agents") for the last word of three letters or more, the one being
  typed. SQLite answers it from FTS5, PostgreSQL from a GIN index
  on `jsonb_to_tsvector`. Neither stems nor drops stop words, so both find the same entries.

User input never reaches either database's query syntax: a substring search is one quoted FTS5
phrase (its quotes doubled) or a LIKE pattern (its wildcards escaped), and a word search keeps
only the letters and digits of the query and quotes each word, so quotes, `*`, `NEAR`, `OR`,
parentheses, NUL characters, lone surrogates and very long queries are all just text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import connection
from django.db.models.expressions import RawSQL

from sessions_app.models import StateEntry, field_max_length
from sessions_app.workflow.cache import normalize_key
from sessions_app.workflow.text import replace_surrogates

TRIGRAM = 3
# The longest column searched (the lookup key); a longer search can match nothing.
MAX_SEARCH = field_max_length(StateEntry, "lookup_key")
MAX_WORDS = 16
MAX_WORD = 64
PREFIX_MIN = 3
TEXT_MAX_SIZE = 250_000  # as migration 0007 indexes: larger entries are not text-indexed
WORD = re.compile(r"[^\W_]+")

PG_TEXT = "jsonb_to_tsvector('simple'::regconfig, value, '[\"string\"]'::jsonb)"
PG_TEXT_WHERE = (
    f"lookup_key <> '' AND size <= {TEXT_MAX_SIZE} AND {PG_TEXT} @@ to_tsquery('simple'::regconfig, %s)"
)


def clean(text: str) -> str:
    """Return `text` as the databases can take it: valid Unicode, no NUL characters, trimmed."""
    return replace_surrogates(text)[0].replace("\x00", "").strip()


def words(text: str) -> list[str]:
    """Return the words a text search looks for: runs of letters and digits, at most MAX_WORDS of them."""
    return [word[:MAX_WORD] for word in WORD.findall(clean(text))[:MAX_WORDS]]


def indexed(search: str) -> bool:
    """Whether a substring search of this length can use SQLite's trigram tables."""
    return len(search) >= TRIGRAM


def sessions_matching(search: str) -> RawSQL | None:
    """Return the pks of sessions whose id, name or cached key holds `search`, or None when the indexes cannot say.

    `search` is `clean`ed. None means: scan instead (SQLite, a search shorter than a trigram).
    """
    key = normalize_key(search)
    if connection.vendor == "postgresql":
        sql = (
            "SELECT id FROM sessions_app_workflowsession WHERE session_id ILIKE %s OR name ILIKE %s "
            "UNION SELECT session_id FROM sessions_app_stateentry WHERE lookup_key <> '' AND lookup_key ILIKE %s"
        )
        return RawSQL(sql, (_like(search), _like(search), _like(key)))
    if not (indexed(search) and indexed(key)):
        return None
    sql = (
        "SELECT rowid FROM sessions_app_session_search WHERE sessions_app_session_search MATCH %s "
        "UNION SELECT e.session_id FROM sessions_app_entry_key_search AS k "
        "CROSS JOIN sessions_app_stateentry AS e ON e.id = k.rowid WHERE k.lookup_key MATCH %s"
    )
    return RawSQL(sql, (_phrase(search), _phrase(key)))


def sessions_matching_text(text: str) -> RawSQL | None:
    """Return the pks of sessions with a cached entry holding every word of `text`, or None for no words."""
    query = _text_query(words(text))
    if query is None:
        return None
    if connection.vendor == "postgresql":
        return RawSQL(f"SELECT session_id FROM sessions_app_stateentry WHERE {PG_TEXT_WHERE}", (query,))
    # CROSS JOIN: SQLite keeps the left table outer, so the match drives and the entries are
    # looked up by primary key, never scanned with one index probe per entry.
    sql = (
        "SELECT e.session_id FROM sessions_app_entry_text_search AS t "
        "CROSS JOIN sessions_app_stateentry AS e ON e.id = t.rowid WHERE sessions_app_entry_text_search MATCH %s"
    )
    return RawSQL(sql, (query,))


def entries_matching_text(*, session_pks: Iterable[int], text: str) -> list[int]:
    """Return the ids of the entries of these sessions that hold every word of `text`, in stored order."""
    pks = list(session_pks)
    query = _text_query(words(text))
    if not pks or query is None:
        return []
    marks = ", ".join(["%s"] * len(pks))
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT id FROM sessions_app_stateentry WHERE session_id IN ({marks}) AND {PG_TEXT_WHERE} "
            "ORDER BY session_id, key, position"
        )
        params: list[int | str] = [*pks, query]
    else:
        # Driven by the full-text match, as the list's own query is: probing the index once per
        # entry of these sessions would read the doclist of a common word once per entry.
        sql = (
            "SELECT e.id FROM sessions_app_entry_text_search AS t CROSS JOIN sessions_app_stateentry AS e "
            f"ON e.id = t.rowid WHERE sessions_app_entry_text_search MATCH %s AND e.session_id IN ({marks}) "
            "ORDER BY e.session_id, e.key, e.position"
        )
        params = [query, *pks]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _text_query(found: list[str]) -> str | None:
    """Return the database's query for `found`: every word, the last also as a word's beginning.

    Only the last word is a prefix (it is the one being typed): a prefix of a word that is in
    every post ("the" in "the cache 1234") makes FTS5 merge its whole doclist, where a
    whole word is skipped through. A last word shorter than PREFIX_MIN is taken whole.
    """
    if not found:
        return None
    *whole, last = found
    prefix = len(last) >= PREFIX_MIN
    if connection.vendor == "postgresql":
        return " & ".join([*(f"'{word}'" for word in whole), f"'{last}'" + (":*" if prefix else "")])
    return " ".join([*(f'"{word}"' for word in whole), f'"{last}"' + ("*" if prefix else "")])


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
