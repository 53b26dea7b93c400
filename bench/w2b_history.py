"""W2b history cost: 200 posts appended one run at a time; how much database that leaves behind.

The dashboard keeps a change history (`StateChange` rows holding each change's ops, not state
snapshots); LangGraph keeps every checkpoint, each a whole snapshot. The number is the space the
session takes in its database (used pages, before and after), divided by the size of the final
state as compact JSON. Stores without history are listed for scale.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from bench import lineup
from bench.common import Context, Goal, Plot, Row, Section
from bench.stores import cycle
from bench.w1_run_cycle import entry

METRIC = "database size / final state size"
SIZE_METRIC = "database size"
STORE_NAMES = [lineup.RAW, lineup.WFSITE, lineup.DJANGO, lineup.PHIDATA, lineup.AGNO, lineup.LANGGRAPH]
FILES = {
    lineup.RAW: "raw.db",
    lineup.WFSITE: "wfsite.db",
    lineup.PHIDATA: "phidata.db",
    lineup.AGNO: "agno.db",
    lineup.LANGGRAPH: "langgraph.db",
}
HISTORY = {lineup.DJANGO: "change history (ops)", lineup.LANGGRAPH: "checkpoints (snapshots)"}


def used_bytes(path: Path | None) -> int:
    """Bytes of the database's pages in use (the WAL's included), for a file or Django's connection."""
    if path is None:
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                return _postgres_bytes(cursor)
            return _pages(cursor.execute)
    with sqlite3.connect(path) as conn:
        return _pages(conn.execute)


def _postgres_bytes(cursor: Any) -> int:
    """Bytes of the site's tables on PostgreSQL, with their indexes and TOAST (the lane's own database)."""
    cursor.execute(
        "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'sessions_app_%%'"
    )
    return int(cursor.fetchone()[0])


def _pages(execute: Any) -> int:
    count = execute("PRAGMA page_count").fetchone()[0]
    free = execute("PRAGMA freelist_count").fetchone()[0]
    size = execute("PRAGMA page_size").fetchone()[0]
    return (count - free) * size


def run(ctx: Context) -> Section:
    appends = ctx.sizes.w2b_appends
    folder = ctx.workdir / "w2b"
    stores, missing = lineup.open_stores(ctx, folder, STORE_NAMES, warm=False)
    rows: list[Row] = []
    final_size = 0
    for name, store in stores.items():
        path = folder / FILES[name] if name in FILES else None
        before = used_bytes(path)
        session_id = "w2b-history"
        store.seed(session_id, {})
        for index in range(appends):
            cycle(store, session_id, entry(700_000 + index))
        state = store.load(session_id).state
        final_size = len(orjson.dumps(state))
        grown = used_bytes(path) - before
        store.close()
        note = HISTORY.get(name, "no history")
        goal = Goal("at most 2x", 2.0, "max") if name == lineup.DJANGO else None
        rows.append(Row(name, METRIC, grown / final_size, "x", goal=goal, note=note, size=appends))
        rows.append(Row(name, SIZE_METRIC, grown / 1e6, "MB", size=appends))
    rows += [
        Row(name, METRIC, None, "x", note=f"not available: {reason}") for name, reason in missing.items()
    ]
    return Section(
        key="W2b",
        title=f"W2b history cost: {appends} appends one by one; final state {final_size / 1e6:.2f} MB as JSON",
        rows=rows,
        plots=[
            Plot("w2b_history", "W2b: database size after the appends / final state size", METRIC, ylabel="x")
        ],
    )
