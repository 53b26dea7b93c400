"""Rows as the API shows them: plain dicts for the schemas, with the URLs of what they name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils import timezone

from sessions_app.models import StateChange, WorkflowRun, WorkflowSession
from sessions_app.selectors.caches import FoundEntry
from sessions_app.selectors.diffs import DiffRow
from sessions_app.selectors.search_matches import SessionMatches


def api_url(name: str, *args: Any) -> str:
    """Return the path of an API endpoint by its url name."""
    return reverse(f"api:{name}", args=args)


def session_out(session: WorkflowSession) -> dict[str, Any]:
    """Describe a session (never its state)."""
    sid = session.session_id
    return {
        "session_id": sid,
        "name": session.name,
        "workflow": session.workflow,
        "user_id": session.user_id,
        "version": session.version,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "state_size": session.state_size,
        "cache_entries": session.cache_entries,
        "run_count": session.run_count,
        "last_run_status": session.last_run_status,
        "url": api_url("session_get", sid),
        "state_url": api_url("state_get", sid),
        "runs_url": api_url("run_start", sid),
        "history_url": api_url("history_list", sid),
        "caches_url": api_url("cache_list", sid),
        "forked_from": _origin(session),
    }


def _origin(session: WorkflowSession) -> dict[str, Any] | None:
    if not session.forked_from_session_id:
        return None
    source = session.forked_from_session_id
    return {
        "session_id": source,
        "version": session.forked_from_version,
        "url": api_url("session_get", source),
    }


def matches_out(found: SessionMatches | None) -> dict[str, Any]:
    """Describe the entries a text search found in one session (none when it found none there)."""
    if found is None:
        return {"matches": [], "matched_entries": 0}
    matches = [
        {
            "name": match.name,
            "cache": match.cache,
            "position": match.position,
            "excerpt": [{"text": part.text, "hit": part.hit} for part in match.parts],
        }
        for match in found.matches
    ]
    return {"matches": matches, "matched_entries": found.count}


def change_out(session: WorkflowSession, change: StateChange | None) -> dict[str, Any] | None:
    """Describe one recorded change, or None."""
    if change is None:
        return None
    return {
        "version": change.version,
        "source": change.source,
        "summary": change.summary,
        "actor": change.actor.get_username() if change.actor_id and change.actor else None,
        "run_id": change.run.run_id if change.run_id and change.run else None,
        "created_at": change.created_at,
        "url": api_url("history_get", session.session_id, change.version),
    }


def write_out(session: WorkflowSession, change: StateChange | None) -> dict[str, Any]:
    """Describe what a write did: the version now, its change, and where to undo it."""
    undo = None if change is None else api_url("history_undo", session.session_id, change.version)
    return {"version": session.version, "change": change_out(session, change), "undo_url": undo}


def rows_out(rows: list[DiffRow]) -> list[dict[str, str]]:
    """Describe diff rows (previews, never whole values)."""
    return [{"path": r.path, "kind": r.kind, "before": r.before, "after": r.after} for r in rows]


def run_item_out(run: WorkflowRun) -> dict[str, Any]:
    """Describe a run without its output, as the runs list does; its session must be loaded with it."""
    return {
        "run_id": run.run_id,
        "session_id": run.session.session_id,
        "workflow": run.workflow,
        "status": run.status,
        "inputs": run.inputs,
        "cache_hit": run.cache_hit,
        "error": run.error,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "started_by": run.started_by.get_username() if run.started_by_id and run.started_by else None,
        "cancel_requested_at": run.cancel_requested_at,
        "cancelled_by": run.cancelled_by.get_username() if run.cancelled_by_id and run.cancelled_by else None,
        "url": api_url("run_get", run.run_id),
        "events_url": api_url("run_events", run.run_id),
        "session_url": api_url("session_get", run.session.session_id),
    }


def run_out(run: WorkflowRun) -> dict[str, Any]:
    """Describe a run with its output once it has succeeded; its session must be loaded with it."""
    output = run.output if run.status == WorkflowRun.Status.SUCCEEDED else ""
    return {**run_item_out(run), "output": output}


def _age(stored_at: datetime | None) -> float | None:
    return None if stored_at is None else max(0.0, (timezone.now() - stored_at).total_seconds())


def entry_out(session: WorkflowSession, entry: FoundEntry, *, with_value: bool = False) -> dict[str, Any]:
    """Describe a cached entry: key, size, age, hits, staleness (and its value when asked)."""
    out: dict[str, Any] = {
        "cache": entry.cache.state_key,
        "key": entry.key,
        "display_key": entry.display_key,
        "name": entry.name,
        "size": entry.size,
        "stored_at": entry.stored_at,
        "age_seconds": _age(entry.stored_at),
        "hits": entry.hits,
        "stale": entry.stale,
        "url": api_url("cache_entry_get", session.session_id, entry.cache.state_key, entry.key),
    }
    if with_value:
        out["value"], out["record"] = entry.value, entry.record
    return out
