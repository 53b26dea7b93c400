"""The API's typed request and response bodies (pydantic, through ninja's `Schema`).

Every response carries the URLs of what it names (`url`, `state_url`, `events_url`, ...), so a
client follows links rather than building paths, which would have to encode session ids the
way the site does (see `sessions_app.urls.SessionIdConverter`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field


class ErrorBody(Schema):
    code: str = Field(description="A stable word for programs: not_found, precondition_failed, ...")
    message: str = Field(description="What happened and what to do, in a sentence for people.")
    details: Any = Field(None, description="Facts for programs: the role needed, what changed, ...")


class ErrorOut(Schema):
    error: ErrorBody


class ForkOrigin(Schema):
    session_id: str = Field(description="The session this one was forked from.")
    version: int | None = Field(description="The version of that session it started from.")
    url: str = Field(description="The source session's URL (it may have been deleted since).")


class SessionOut(Schema):
    session_id: str
    name: str
    workflow: str
    user_id: str = Field(description="The username of whoever created the session ('' for none).")
    version: int = Field(description="The state's version; its ETag is this number in quotes.")
    created_at: datetime
    updated_at: datetime
    state_size: int = Field(description="Bytes of the state as compact JSON.")
    cache_entries: int
    run_count: int
    last_run_status: str
    url: str
    state_url: str
    runs_url: str
    history_url: str
    caches_url: str
    forked_from: ForkOrigin | None = Field(
        None, description="Where this session was forked from; null if not a fork."
    )


class ExcerptPartOut(Schema):
    text: str
    hit: bool = Field(description="Whether this part is one of the words searched for.")


class TextMatchOut(Schema):
    name: str = Field(description="What people call the entry, e.g. the post on 'AI agents'.")
    cache: str = Field(description="The cache (its key in the state) that holds the entry.")
    position: int = Field(description="The entry's index in that cache.")
    excerpt: list[ExcerptPartOut] = Field(description="Plain text around the words, in parts.")


class SessionListItemOut(SessionOut):
    matches: list[TextMatchOut] = Field(
        default=[], description="With `text`: the first entries holding its words (at most 3)."
    )
    matched_entries: int = Field(default=0, description="With `text`: how many entries hold its words.")


class SessionPage(Schema):
    items: list[SessionListItemOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")


class SessionCreate(Schema):
    session_id: str
    workflow: str | None = Field(None, description="A registered workflow; the first one when left out.")
    name: str = ""
    state: dict[str, Any] | None = Field(None, description="An initial state (needs the editor role).")


class SessionRename(Schema):
    name: str


class ChangeOut(Schema):
    version: int
    source: str = Field(description="run, edit, clear, restore, import, undo or fork.")
    summary: str
    actor: str | None
    run_id: UUID | None
    created_at: datetime
    url: str


class DiffRowOut(Schema):
    path: str
    kind: str = Field(description="added, removed, changed (or baseline, more).")
    before: str
    after: str


class ChangeDetailOut(ChangeOut):
    rows: list[DiffRowOut]


class HistoryPage(Schema):
    items: list[ChangeOut]
    next_before: int | None = Field(description="Pass as ?before= for older changes; null at the oldest.")


class DiffOut(Schema):
    before: int
    after: int
    rows: list[DiffRowOut]


class WriteOut(Schema):
    version: int = Field(description="The state's version now; the new ETag.")
    change: ChangeOut | None = Field(description="The recorded change; null when nothing changed.")
    undo_url: str | None = Field(description="POST here to undo this change alone (later changes are kept).")


class ForkIn(Schema):
    session_id: str | None = Field(None, description="The new session's id; one is made when left out.")
    name: str | None = Field(None, description='Its name; "<name> (fork of v<N>)" when left out.')


class CacheOut(Schema):
    name: str = Field(description="The cache's key in the state.")
    label: str
    shape: Literal["list", "dict"]
    ttl_seconds: float | None
    entries: int
    entries_url: str


class EntryOut(Schema):
    cache: str
    key: str = Field(description="The entry's key as its cache normalises it.")
    display_key: str
    name: str
    size: int = Field(description="Bytes of the entry's record as compact JSON.")
    stored_at: datetime | None
    age_seconds: float | None
    hits: int
    stale: bool
    url: str


class EntryDetailOut(EntryOut):
    value: Any
    record: Any


class EntryPage(Schema):
    items: list[EntryOut]
    page: int
    pages: int
    total: int


class RunStart(Schema):
    inputs: dict[str, Any] = Field(description="The workflow's run() inputs by name.")
    accept_stale: bool = Field(False, description="Let an entry older than its cache's ttl answer.")


class RunOut(Schema):
    run_id: UUID
    session_id: str
    workflow: str
    status: str = Field(description="queued, running, succeeded, failed or cancelled.")
    inputs: dict[str, Any]
    cache_hit: bool
    output: str = Field(description="The result once the run has succeeded ('' before).")
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    started_by: str | None
    cancel_requested_at: datetime | None = Field(description="When someone asked to cancel the run.")
    cancelled_by: str | None = Field(description="Who asked to cancel the run.")
    url: str
    events_url: str
    session_url: str


class RunAgain(Schema):
    regenerate: bool = Field(
        False, description="Turn the workflow's cache off, so the result is made anew and replaces the entry."
    )


class RunListItemOut(Schema):
    """A run as the runs list shows it: no output (follow `url` for that)."""

    run_id: UUID
    session_id: str
    workflow: str
    status: str = Field(description="queued, running, succeeded, failed or cancelled.")
    inputs: dict[str, Any]
    cache_hit: bool
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    started_by: str | None
    url: str
    events_url: str
    session_url: str


class RunPage(Schema):
    items: list[RunListItemOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last.")
    counts: dict[str, int] = Field(description="How many runs are queued and running now, across sessions.")


class RunStartOut(RunOut):
    joined: bool = Field(description="True when this start joined a run already making the same result.")


class ImportOut(Schema):
    created: bool
    message: str
    session: SessionOut
    change: ChangeOut | None
    runs_added: int
    runs_skipped: int
    history_imported: int


class SessionFileOrigin(Schema):
    session_id: str
    version: int | None = None


class SessionFileSession(Schema):
    session_id: str
    workflow: str
    name: str = ""
    user_id: str = ""
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    forked_from: SessionFileOrigin | None = None


class SessionFileOut(Schema):
    """A session file: the same JSON as the pages' "Download as JSON" (`services.transfer_format`)."""

    format: Literal["wfsite.session"]
    format_version: Literal[1]
    exported_at: datetime | None = None
    session: SessionFileSession
    state: dict[str, Any]
    runs: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
