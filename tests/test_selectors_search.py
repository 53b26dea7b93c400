"""The session search through its indexes: found by id, name, key and text, kept in step by every write, never raising.

Every test runs on the database of the run (SQLite by default, PostgreSQL with DATABASE_URL), and
asks through `session_list` itself, so a write path that left the index behind shows up as a
session not found (or found for text it no longer holds).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from sessions_app.models import StateEntry, WorkflowSession
from sessions_app.registry import workflow_caches
from sessions_app.selectors.search_matches import session_text_matches
from sessions_app.selectors.sessions import SessionFilters, session_list
from sessions_app.selectors.transfer import session_export
from sessions_app.services.caches import cache_entry_delete
from sessions_app.services.sessions import session_delete, session_rename
from sessions_app.services.state import (
    session_state_clear,
    session_state_delete,
    session_state_edit,
    session_state_restore,
)
from sessions_app.services.transfer import session_import
from sessions_app.services.transfer_format import transfer_check
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.state.store import state_load
from sessions_app.workflow.state import diff
from sessions_app.workflow.storage import RunRecord, SessionMeta
from tests.test_services_state import editor

__all__ = ["editor"]

pytestmark = pytest.mark.django_db


WORKFLOW = "BlogPostGenerator"  # a built-in workflow whose blog_posts list is a declared cache


def run_commit(session_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Write as a run of the workflow does: load, change a copy, commit the ops at the loaded version."""
    storage = DjangoWorkflowStorage(workflow=WORKFLOW)
    record = storage.read(session_id)
    base = record.session_state if record else {}
    local = json.loads(json.dumps(base))
    edit(local)
    storage.commit(
        meta=SessionMeta(session_id=session_id, workflow_id=WORKFLOW),
        base_version=record.version if record else 0,
        ops=diff(base, local),
        state=local,
        run=RunRecord(
            run_id=str(uuid.uuid4()),
            session_id=session_id,
            workflow_id=WORKFLOW,
            input={},
            status="succeeded",
        ),
    )


def post(topic: str, text: str) -> dict[str, str]:
    return {"topic": topic, "blog_post": text}


def found(search: str = "", text: str = "") -> list[str]:
    return [s.session_id for s in session_list(filters=SessionFilters(search=search, text=text))]


def make(session_id: str, *entries: dict[str, str], **state: Any) -> WorkflowSession:
    run_commit(session_id, lambda s: s.update(blog_posts=list(entries), **state))
    return WorkflowSession.objects.get(session_id=session_id)


def latest(session: WorkflowSession) -> WorkflowSession:
    return WorkflowSession.objects.get(pk=session.pk)


# -- what is found ---------------------------------------------------------------------------------------


def test_search_finds_id_name_and_cached_key_as_substrings_case_insensitively() -> None:
    make("alpha-one", post("Rust Ownership", "Borrowing explained."))
    beta = make("beta", post("Gardening", "Tomatoes."))
    session_rename(session=beta, name="Marketing plan", actor=None)
    make("gamma")

    assert found("PHA-ON") == ["alpha-one"]
    assert found("keting") == ["beta"]
    assert found("  rust   OWNERSHIP ") == ["alpha-one"]
    assert found("wnersh") == ["alpha-one"]
    assert found("garden") == ["beta"]
    assert found("zzz") == []
    # Shorter than a trigram: still found, by a scan.
    assert found("ga") == ["gamma", "beta"]


def test_text_search_finds_words_and_word_beginnings_in_the_cached_text_only() -> None:
    make("one", post("AI agents", "Agents plan with tools and memory."), tone="memory")
    make("two", post("Databases", "Indexes make memory lookups fast."))
    make("three", post("Poems", "Nothing to see."))

    assert found(text="memory") == ["two", "one"]
    assert found(text="MEMORY tools") == ["one"]  # every word, in one entry
    assert found(text="tool") == ["one"]  # a word's beginning, as the last word typed
    assert found(text="memory tool") == ["one"]
    assert found(text="tool memory") == []  # words before the last are whole words
    assert found(text="me") == []  # a last word under three letters is whole too
    assert found(text="agents") == ["one"]  # the key is text of the entry too
    assert found(text="ools") == []  # not the middle of a word
    # Object keys are not text, and neither is a value outside a declared cache ("tone").
    assert found(text="blog_post") == []
    assert found(text="topic") == []
    make("four", tone="unindexed words")
    assert found(text="unindexed") == []
    # Combined with the search: both must match.
    assert found(search="tw", text="memory") == ["two"]


def test_text_matches_name_the_entry_and_mark_the_words_in_an_excerpt() -> None:
    session = make(
        "one",
        post("AI agents", "Agents plan. " + "Filler words. " * 20 + "They <b>remember</b> things."),
        post("Other", "No match here."),
        post("Memory", "Remembering is hard."),
    )

    [listed] = session_list(filters=SessionFilters(text="remember"))
    matches = session_text_matches(sessions=[listed], text="remember")[session.pk]

    assert matches.count == 2
    names = [match.name for match in matches.matches]
    cache = workflow_caches(session.workflow)["blog_posts"]
    assert names == [cache.name_of("AI agents"), cache.name_of("Memory")]
    first = matches.matches[0]
    assert [p.text for p in first.parts if p.hit] == ["remember"]
    assert first.parts[0].text.startswith("…")  # the excerpt starts near the word, not at the post's start
    assert "<b>" in "".join(p.text for p in first.parts)  # plain text: the template escapes it
    assert [p.text for p in matches.matches[1].parts if p.hit] == ["Remembering"]


def test_the_search_goes_through_the_index(settings: Any) -> None:
    make("alpha-one", post("Rust", "Borrowing explained."))

    with CaptureQueriesContext(connection) as queries:
        assert found("alpha") == ["alpha-one"]
        assert found(text="borrowing") == ["alpha-one"]

    sql = " ".join(q["sql"] for q in queries.captured_queries)
    if connection.vendor == "sqlite":
        assert "sessions_app_session_search MATCH" in sql
        assert "sessions_app_entry_text_search MATCH" in sql
        assert " LIKE " not in sql
    else:
        assert "ILIKE" in sql
        assert "@@ to_tsquery" in sql
        with connection.cursor() as cursor:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'sessions_app_%%_t%%'")
            names = {row[0] for row in cursor.fetchall()}
        assert {
            "sessions_app_session_id_trgm",
            "sessions_app_entry_key_trgm",
            "sessions_app_entry_text_fts",
        } <= names


# -- kept in step with every write ----------------------------------------------------------------------


def test_a_run_that_appends_is_found_by_its_key_and_text() -> None:
    make("s", post("First", "Alpha words."))
    run_commit("s", lambda s: s["blog_posts"].append(post("Second topic", "Zebra crossing.")))

    assert found("second top") == ["s"]
    assert found(text="zebra") == ["s"]
    assert found(text="alpha") == ["s"]


def test_an_edit_replaces_the_indexed_text(editor: AbstractUser) -> None:
    session = make("s", post("Topic", "Old words."))
    state = state_load(latest(session))
    state["blog_posts"][0] = post("Renamed topic", "New words.")

    session_state_edit(session=session, new_state=state, base_version=latest(session).version, actor=editor)

    assert found(text="old") == []
    assert found(text="new") == ["s"]
    assert found("renamed") == ["s"]


def test_clear_delete_and_restore_take_entries_out_and_bring_them_back(editor: AbstractUser) -> None:
    session = make("s", post("Kept", "Kept words."), post("Dropped", "Dropped words."))
    before = latest(session).version

    session_state_delete(session=session, path=("blog_posts", 1), base_version=before, actor=editor)
    assert (found("dropped"), found(text="dropped"), found(text="kept")) == ([], [], ["s"])

    session_state_clear(session=session, base_version=latest(session).version, actor=editor)
    assert (found("kept"), found(text="kept")) == ([], [])

    session_state_restore(session=session, version=before, base_version=latest(session).version, actor=editor)
    assert (found("dropped"), found(text="dropped"), found(text="kept")) == (["s"], ["s"], ["s"])


def test_deleting_a_cached_entry_through_its_cache(editor: AbstractUser) -> None:
    session = make("s", post("Gone", "Vanishing words."), post("Stays", "Staying words."))
    cache = workflow_caches(session.workflow)["blog_posts"]

    cache_entry_delete(session=session, cache=cache, key="gone", base_version=session.version, actor=editor)

    assert (found("gone"), found(text="vanishing"), found(text="staying")) == ([], [], ["s"])


def test_an_import_is_indexed_whether_it_creates_or_updates(editor: AbstractUser) -> None:
    session = make("s", post("Before", "Earlier words."))
    data = session_export(session=latest(session))
    data["session"]["session_id"] = "imported copy"
    data["state"]["blog_posts"] = [post("Imported", "Arrived words.")]
    session_import(data=transfer_check(data), actor=editor)
    data["session"]["session_id"] = "s"
    session_import(data=transfer_check(data), actor=editor)

    assert found(text="arrived") == ["s", "imported copy"]
    assert found(text="earlier") == []
    assert found("imported c") == ["imported copy"]


def test_renaming_and_deleting_a_session(django_user_model: Any) -> None:
    admin = django_user_model.objects.create_superuser("root")
    session = make("s", post("Topic", "Some words."))
    session_rename(session=session, name="Quarterly report", actor=admin)
    assert found("quarterly") == ["s"]

    session_delete(session=latest(session), actor=admin)

    assert (found("quarterly"), found("topic"), found(text="words")) == ([], [], [])
    assert not StateEntry.objects.exists()
    make("s", post("Topic", "Other text."))  # a new row under the same id finds only what it holds
    assert (found("quarterly"), found(text="some"), found(text="other")) == ([], [], ["s"])


def test_an_admin_edit_and_rename(client: Client, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_superuser("root"))
    session = make("s", post("Topic", "Before the admin."))
    state = state_load(latest(session))
    state["blog_posts"].append(post("Added by admin", "Administered words."))
    url = reverse("admin:sessions_app_workflowsession_change", args=[session.pk])
    data = {"name": "Admin named", "state": json.dumps(state), "base_version": 1, "_continue": "1"}

    assert client.post(url, data).status_code == 302

    assert found("admin named") == ["s"]
    assert found("added by") == ["s"]
    assert found(text="administered") == ["s"]


def test_writes_that_bypass_the_services_are_indexed_too() -> None:
    """Raw updates (a data fix, a future write path) go through the same triggers or expression indexes."""
    session = make("s", post("Topic", "Original words."))
    entry = StateEntry.objects.get(session=session)

    StateEntry.objects.filter(pk=entry.pk).update(value=post("Topic", "Patched words."))
    WorkflowSession.objects.filter(pk=session.pk).update(name="Patched name")

    assert (found(text="original"), found(text="patched"), found("patched n")) == ([], ["s"], ["s"])
    StateEntry.objects.filter(pk=entry.pk).delete()
    assert found(text="patched") == []


# -- hostile input ---------------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    '"',
    '""',
    "'",
    '"unbalanced',
    "*",
    "a*",
    "*x*",
    "NEAR",
    "NEAR(a b)",
    "a NEAR/2 b",
    "AND",
    "OR OR",
    "NOT x",
    "a AND NOT",
    "(",
    ")",
    "((a)",
    "a)",
    "{blog_post}: x",
    "blog_post:x",
    "^a",
    "-a",
    "a & b | !c",
    "x:* & y",
    "'a':*",
    "<->",
    "%",
    "_",
    "%_%",
    "\\",
    "a\\%b",
    "\x00",
    "a\x00b",
    "\ud800",
    "half \udfff pair",
    "日本語のテキスト",
    "emoji 🧪🔥",
    "e\u0301",
    "ǅ ß İ",
    "x" * 10_000,
    "word " * 5_000,
    "a" * 3000 + " b",
    "; DROP TABLE sessions_app_workflowsession; --",
    "' OR 1=1 --",
]


@pytest.mark.parametrize("query", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_never_raise(query: str) -> None:
    make("s", post("Topic", "Plain words: NEAR, AND, OR, *stars*, 日本語のテキスト, 🧪."))

    for filters in (
        SessionFilters(search=query),
        SessionFilters(text=query),
        SessionFilters(search=query, text=query),
    ):
        sessions = list(session_list(filters=filters))
        session_text_matches(sessions=sessions, text=query)

    assert WorkflowSession.objects.filter(session_id="s").exists()


def test_operators_and_quotes_are_searched_as_text() -> None:
    make("s", post("Topic", 'He said "NEAR" and OR, with 日本語のテキスト.'))
    make('quote"d (id)', post("Other", "Nothing."))

    assert found(text='"near"') == ["s"]
    assert found(text="OR") == ["s"]
    assert found(text="日本語") == ["s"]
    assert found(text="NOT near") == []  # NOT is a word here, and this entry has none
    assert found('e"d (i') == ['quote"d (id)']
    assert found("%") == []
    assert found("_") == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_rows_written_before_it_and_can_be_reversed() -> None:
    from django.core.management import call_command

    call_command("migrate", "sessions_app", "0010", verbosity=0)
    try:
        make("older", post("Before indexes", "Written before the migration."))
        assert WorkflowSession.objects.get(session_id="older").entries.count() == 1
    finally:
        call_command("migrate", "sessions_app", verbosity=0)

    assert found("older") == ["older"]
    assert found("before ind") == ["older"]
    assert found(text="migration") == ["older"]
