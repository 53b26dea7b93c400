"""Every cache feature, for a workflow defined only here and registered by one setting.

`Glossary` declares a list-shaped cache keyed by `term` with a ttl; the dashboard has never heard
of it, so these tests prove it reads only the declaration: instant hits, the as-you-type check,
single-flight, the entries table, delete with undo, regenerate, links that last, expiry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks import default_task_backend

from sessions_app.models import CacheEntryStats, StateChange, WorkflowRun, WorkflowSession
from sessions_app.selectors.transfer import session_export_bytes
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.services.state import session_state_clear, session_state_edit, session_state_restore
from sessions_app.services.transfer import session_import
from sessions_app.services.transfer_format import transfer_parse
from sessions_app.state.history import history_prune
from sessions_app.state.store import state_load, state_replace
from sessions_app.workflow import Cache, RunEvent, RunResponse, Workflow
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

URL = "/sessions/g/caches/definitions/"


class Glossary(Workflow):
    """Define a term, caching each definition by its term for an hour."""

    definitions = Cache(key="term", value="definition", label="definition of {key}", ttl=3600)

    def run(self, term: str, use_cache: bool = True) -> Iterator[RunResponse]:
        if use_cache and (found := self.definitions.get(term)) is not None:
            yield RunResponse(event=RunEvent.workflow_completed, content=found)
            return
        definition = f"{term.strip()}: defined at run {self.run_id}"
        self.definitions.store(definition, term)
        yield RunResponse(event=RunEvent.workflow_completed, content=definition)


def entry_state(*terms: str) -> dict[str, Any]:
    return {"definitions": [{"term": term, "definition": f"{term} means something"} for term in terms]}


@pytest.fixture(autouse=True)
def registered(settings: Any) -> Iterator[None]:
    settings.WFSITE_WORKFLOWS = [f"{__name__}.Glossary"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    default_task_backend.clear()
    yield
    default_task_backend.clear()


@pytest.fixture
def editor(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "ed", "editor")


@pytest.fixture
def client(editor: Any) -> Client:
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def session(editor: Any) -> WorkflowSession:
    session = session_create(session_id="g", workflow="Glossary", user=editor)
    state_replace(session, entry_state("Monad", "Functor"))
    return session


def page(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return unescape(re.sub(r"\s+", " ", response.content.decode()))


def text(html: str) -> str:
    """Return what a person reads: the page without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_a_cached_key_is_answered_at_once_without_a_worker(session: WorkflowSession, editor: Any) -> None:
    run = run_start(session=session, inputs={"term": "  monad "}, user=editor)
    assert (run.status, run.cache_hit, run.output) == ("succeeded", True, "Monad means something")
    assert list(default_task_backend.results) == []
    assert run.cache_key == "definitions:monad"
    assert CacheEntryStats.objects.get(key="monad").hits == 1


def test_the_same_key_shares_one_generation_and_the_form_says_so(
    session: WorkflowSession, editor: Any, client: Client
) -> None:
    first = run_start(session=session, inputs={"term": "Lens"}, user=editor)
    assert first.flight_key == "definitions:lens"
    assert run_start(session=session, inputs={"term": "LENS "}, user=editor).pk == first.pk
    check = page(client, reverse("session_cache_check", args=["g"]), term="lens")
    assert "It is being generated right now: starting a run joins that run" in text(check)
    assert f'href="/runs/{first.run_id}/"' in check


def test_the_form_checks_the_declared_key_as_it_is_typed(session: WorkflowSession, client: Client) -> None:
    detail = page(client, reverse("session_detail", args=["g"]))
    assert 'name="term"' in detail
    assert 'hx-get="/sessions/g/cache/"' in detail
    assert "Accept a stale cached entry" in detail  # the cache expires
    cached = page(client, reverse("session_cache_check", args=["g"]), term="MONAD")
    assert "The definition of 'Monad' is cached (just now) — you'll get it instantly." in text(cached)
    close = page(client, reverse("session_cache_check", args=["g"]), term="monads")
    assert "Not cached yet" in close
    assert "Close to what is cached (not the same key, so not a hit):" in close
    assert f'href="{URL}monad/">Monad</a>' in close


def test_similar_keys_catch_word_order_plurals_and_typos(session: WorkflowSession) -> None:
    from sessions_app.selectors.caches import cache_similar

    state_replace(session, entry_state("type classes", "monad transformer", "Functor"))
    cache = Glossary.definitions
    assert [e.key for e in cache_similar(session=session, cache=cache, key="classes type")] == [
        "type classes"
    ]
    assert [e.key for e in cache_similar(session=session, cache=cache, key="monad transformers")] == [
        "monad transformer"
    ]
    assert [e.key for e in cache_similar(session=session, cache=cache, key="functro")] == ["functor"]
    assert cache_similar(session=session, cache=cache, key="category theory") == []


def test_the_entries_table_names_entries_by_their_key(session: WorkflowSession, client: Client) -> None:
    html = page(client, reverse("session_detail", args=["g"]))
    assert "definitions (2 entries, kept 1 hour)" in text(html)
    assert f'<a href="{URL}monad/">Monad</a>' in html
    assert f'action="{URL}functor/regenerate/"' in html
    assert (
        f'href="{URL}functor/delete/" class="destructive" aria-label="Delete the definition of \'Functor\'"'
        in html
    )
    entry = page(client, URL + "functor/")
    assert "The definition of 'Functor'" in entry
    assert "Functor means something" in entry


def test_delete_one_entry_by_key_then_undo_it(session: WorkflowSession, client: Client) -> None:
    CacheEntryStats.objects.filter(key="monad").update(hits=7)
    confirm = page(client, URL + "monad/delete/")
    assert "Delete the definition of 'Monad'" in confirm
    response = client.post(URL + "monad/delete/", {"base_version": session.version, "path": ""}, follow=True)
    text = unescape(response.content.decode())
    assert "Deleted the definition of 'Monad' (now version" in text
    assert client.get(URL + "monad/").status_code == 404
    change = StateChange.objects.get(session=session, version=session.version + 1)
    assert change.summary == "Deleted the definition of 'Monad'"
    undo = re.search(r'<a href="([^"]+)">Undo</a>', text)
    assert undo is not None
    restored = client.post(undo.group(1), {"base_version": change.version, "path": ""})
    assert restored.status_code == 302
    assert "Monad means something" in page(client, URL + "monad/")
    assert CacheEntryStats.objects.get(key="monad").hits == 7  # the same content keeps its hits


def test_a_delete_refuses_an_entry_that_changed_since_it_was_shown(
    session: WorkflowSession, editor: Any, client: Client
) -> None:
    seen = session.version
    changed = {
        "definitions": [{"term": "Monad", "definition": "new"}, *entry_state("Functor")["definitions"]]
    }
    session_state_edit(session=session, new_state=changed, base_version=seen, actor=editor)
    response = client.post(URL + "monad/delete/", {"base_version": seen, "path": ""})
    assert response.status_code == 409
    assert "changed since this page was opened" in unescape(response.content.decode())
    assert client.get(URL + "monad/").status_code == 200


def test_regenerate_one_entry_runs_with_the_cache_off(session: WorkflowSession, client: Client) -> None:
    response = client.post(URL + "functor/regenerate/")
    run = WorkflowRun.objects.get()
    assert response["Location"] == f"/runs/{run.run_id}/"
    assert run.inputs == {"term": "Functor", "use_cache": False}
    assert run.flight_key == ""
    run_execute(run_id=str(run.run_id))
    state = state_load(WorkflowSession.objects.get(pk=session.pk))
    assert [e["term"] for e in state["definitions"]] == ["Monad", "Functor"]  # replaced, not added
    assert state["definitions"][1]["definition"] == f"Functor: defined at run {run.run_id}"


def test_entry_links_last_through_restore_import_clear_and_undo_and_folds(
    session: WorkflowSession, editor: Any, client: Client
) -> None:
    link = URL + "functor/"
    before = session.version
    state_replace(session, entry_state("Zeta", "Functor", "Monad"))  # renumbers every row
    session.refresh_from_db()
    assert "Functor means something" in page(client, link)
    session_state_restore(session=session, version=before, base_version=session.version, actor=editor)
    assert "Functor means something" in page(client, link)
    cleared = session_state_clear(session=session, base_version=session.version, actor=editor)
    assert client.get(link).status_code == 404
    session_state_restore(
        session=session, version=cleared.version - 1, base_version=session.version, actor=editor
    )
    assert "Functor means something" in page(client, link)
    data = session_export_bytes(session=session)
    WorkflowSession.objects.all().delete()
    session_import(data=transfer_parse(data), actor=editor)
    assert "Functor means something" in page(client, link)
    history_prune(session=WorkflowSession.objects.get(), keep=1, force=True)
    assert "Functor means something" in page(client, link)


def test_stale_entries_are_shown_and_regenerated_unless_stale_is_accepted(
    session: WorkflowSession, editor: Any, client: Client
) -> None:
    CacheEntryStats.objects.filter(key="monad").update(stored_at=timezone.now() - timedelta(hours=2))
    html = page(client, reverse("session_detail", args=["g"]))
    assert re.search(
        r'href="/sessions/g/caches/definitions/monad/">Monad</a> <span class="badge badge-stale"', html
    )
    check = page(client, reverse("session_cache_check", args=["g"]), term="monad")
    assert "is cached but stale (2 hours ago, older than its 1 hour time to live)" in text(check)

    accepted = run_start(session=session, inputs={"term": "monad"}, user=editor, accept_stale=True)
    assert (accepted.cache_hit, accepted.output) == (True, "Monad means something")
    regenerated = run_start(session=session, inputs={"term": "monad"}, user=editor)
    assert regenerated.status == "queued"
    run_execute(run_id=str(regenerated.run_id))  # the worker's engine sees the entry is stale too
    regenerated.refresh_from_db()
    assert (regenerated.status, regenerated.cache_hit) == ("succeeded", False)
    stats = CacheEntryStats.objects.get(key="monad")
    assert (stats.hits, stats.produced_by) == (0, regenerated.run_id)
    assert stats.generation_seconds is not None
    assert "badge-stale" not in page(client, reverse("session_detail", args=["g"]))


def test_a_setting_overrides_the_declared_ttl(session: WorkflowSession, editor: Any, settings: Any) -> None:
    CacheEntryStats.objects.filter(key="monad").update(stored_at=timezone.now() - timedelta(hours=2))
    settings.WFSITE_CACHE_TTL = {"Glossary.definitions": None}
    assert run_start(session=session, inputs={"term": "monad"}, user=editor).cache_hit is True
