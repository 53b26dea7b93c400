"""Fill each store with many small sessions fast, in the layout its own writes produce.

W4 needs 100,000 sessions per store; one write each through the public APIs would take most of
an hour, so rows go in by the thousand: through the library's own table definition and JSON
serializer where it has one (phidata's SQLAlchemy table, agno's bulk `upsert_sessions`,
LangGraph's serde), and as wfsite's writers would write them otherwise.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

from bench.common import post, topic
from bench.stores import TABLE, WORKFLOW

BATCH = 2000


def sessions(start: int, stop: int, *, seed: int = 7) -> Iterator[tuple[str, dict[str, Any], int]]:
    """Yield `(session_id, state, updated_at)`: one cached post each, updates spread over a year."""
    rng = random.Random(seed * 1_000_003 + start)
    now = int(time.time())
    for index in range(start, stop):
        entry = {"topic": topic(index), "blog_post": post(index % 500)["blog_post"]}
        yield f"w4-{index}", {"blog_posts": [entry]}, now - rng.randrange(365 * 86400)


def batches(start: int, stop: int) -> Iterator[list[tuple[str, dict[str, Any], int]]]:
    for low in range(start, stop, BATCH):
        yield list(sessions(low, min(stop, low + BATCH)))


def fill_raw(store: Any, start: int, stop: int) -> None:
    for batch in batches(start, stop):
        rows = [(sid, json.dumps(state), float(updated)) for sid, state, updated in batch]
        store.conn.executemany("INSERT INTO sessions (session_id, state, updated_at) VALUES (?, ?, ?)", rows)


def fill_wfsite(store: Any, start: int, stop: int) -> None:
    from sessions_app.workflow.sqlite_padding import padded_json

    conn = store.storage._conn()
    sql = (
        f"INSERT INTO {TABLE} (session_id, workflow_id, workflow_data, session_data, created_at, updated_at, "
        "wfsite_version) VALUES (?, ?, ?, ?, ?, ?, 1)"
    )
    workflow_data = json.dumps({"name": WORKFLOW})
    for batch in batches(start, stop):
        rows = [
            (sid, WORKFLOW, workflow_data, padded_json({"session_state": state}, version=1), updated, updated)
            for sid, state, updated in batch
        ]
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")


def fill_phidata(store: Any, start: int, stop: int) -> None:
    from sqlalchemy.dialects import sqlite

    table = store.storage.table
    for batch in batches(start, stop):
        rows = [
            {
                "session_id": sid,
                "workflow_id": WORKFLOW,
                "session_data": {"session_state": state},
                "created_at": updated,
                "updated_at": updated,
            }
            for sid, state, updated in batch
        ]
        with store.storage.Session() as sess, sess.begin():
            sess.execute(sqlite.insert(table), rows)


def fill_agno(store: Any, start: int, stop: int) -> None:
    for batch in batches(start, stop):
        rows = [
            store.session_class(
                session_id=sid,
                workflow_id=WORKFLOW,
                workflow_name=WORKFLOW,
                session_data={"session_state": state},
                created_at=updated,
                updated_at=updated,
            )
            for sid, state, updated in batch
        ]
        store.db.upsert_sessions(rows, deserialize=False, preserve_updated_at=True)


def fill_langgraph(store: Any, start: int, stop: int) -> None:
    saver = store.saver
    sql = (
        "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, "
        "checkpoint, metadata) VALUES (?, '', ?, NULL, ?, ?, ?)"
    )
    for batch in batches(start, stop):
        rows = []
        for sid, state, _ in batch:
            checkpoint = store.empty_checkpoint()
            checkpoint["channel_values"] = state
            checkpoint["channel_versions"] = {"blog_posts": saver.get_next_version(None, None)}
            kind, blob = saver.serde.dumps_typed(checkpoint)
            rows.append(
                (sid, checkpoint["id"], kind, blob, json.dumps({"source": "input", "step": 0}).encode())
            )
        with saver.cursor() as cursor:
            cursor.executemany(sql, rows)


def fill_django(start: int, stop: int) -> None:
    from datetime import UTC, datetime

    from sessions_app.models import StateEntry, WorkflowSession
    from sessions_app.registry import workflow_caches
    from sessions_app.state.layout import entry_keyer
    from sessions_app.state.store import json_size, list_size, member_size, state_size

    lookup_key = entry_keyer(workflow_caches(WORKFLOW), "blog_posts")

    for batch in batches(start, stop):
        rows, entries = [], []
        for sid, state, updated in batch:
            moment = datetime.fromtimestamp(updated, tz=UTC)
            [value] = state["blog_posts"]
            size = json_size(value)
            rows.append(
                WorkflowSession(
                    session_id=sid,
                    workflow=WORKFLOW,
                    list_keys=["blog_posts"],
                    version=1,
                    created_at=moment,
                    updated_at=moment,
                    state_size=state_size(1, member_size("blog_posts", list_size(1, size))),
                    cache_entries=1,
                )
            )
            entries.append((value, size, moment))
        WorkflowSession.objects.bulk_create(rows)
        StateEntry.objects.bulk_create(
            StateEntry(
                session=row,
                key="blog_posts",
                position=0,
                value=value,
                lookup_key=lookup_key(value),
                size=size,
                created_at=moment,
                updated_at=moment,
            )
            for row, (value, size, moment) in zip(rows, entries, strict=True)
        )


RUN_SESSIONS = 1000
RUN_STARTERS = ("bench-ana", "bench-ben", "bench-cho")


def run_fields(index: int, rng: random.Random, now: int) -> dict[str, Any]:
    """Return one run's columns: mostly finished, half of them cache hits, spread over a year."""
    roll = rng.random()
    status = "succeeded" if roll < 0.9 else "failed" if roll < 0.96 else "cancelled"
    created = now - rng.randrange(365 * 86400)
    return {
        "status": status,
        "cache_hit": status == "succeeded" and rng.random() < 0.5,
        "inputs": {"topic": topic(index)},
        "created": created,
        "seconds": 0.0 if roll < 0.45 else rng.uniform(2, 40),
    }


def fill_runs(start: int, stop: int, *, seed: int = 11) -> None:
    """Add runs `start` to `stop` (named w11-<i> by their session) across 1,000 sessions and three starters."""
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth import get_user_model

    from sessions_app.models import WorkflowRun, WorkflowSession

    users = [get_user_model().objects.get_or_create(username=name)[0] for name in RUN_STARTERS]
    sessions = []
    for index in range(RUN_SESSIONS):
        sessions.append(
            WorkflowSession.objects.get_or_create(session_id=f"w11-{index}", defaults={"workflow": WORKFLOW})[
                0
            ]
        )
    rng = random.Random(seed * 1_000_003 + start)
    now = int(time.time())
    for low in range(start, stop, BATCH):
        rows = []
        for index in range(low, min(stop, low + BATCH)):
            fields = run_fields(index, rng, now)
            created = datetime.fromtimestamp(fields["created"], tz=UTC)
            rows.append(
                WorkflowRun(
                    session=sessions[index % RUN_SESSIONS],
                    workflow=WORKFLOW,
                    inputs=fields["inputs"],
                    status=fields["status"],
                    cache_hit=fields["cache_hit"],
                    created_at=created,
                    started_at=created,
                    finished_at=created + timedelta(seconds=fields["seconds"]),
                    started_by=users[index % len(users)] if index % 7 else None,
                    output="# Post\n\nText.",
                )
            )
        WorkflowRun.objects.bulk_create(rows)
