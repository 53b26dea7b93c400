"""What the cache saved: hits, misses, time and tokens per session and for the site, drawn per day."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks import default_task_backend

from sessions_app.models import CacheEntryStats, WorkflowRun, WorkflowSession
from sessions_app.selectors.savings import cache_savings, savings_by_workflow
from sessions_app.services.run_worker import run_execute
from sessions_app.services.runs import run_start
from sessions_app.services.sessions import session_create
from sessions_app.state.storage import DjangoWorkflowStorage
from sessions_app.workflow import BlogPostGenerator
from sessions_app.workflow.llm import OpenAICompatibleModel
from tests.django_fixtures import user_with_role
from tests.workflow.fake_openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def offline(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    default_task_backend.clear()
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0")
    monkeypatch.delenv("WFSITE_MODEL_PROVIDER", raising=False)
    monkeypatch.delenv("WFSITE_SEARCHER", raising=False)


@pytest.fixture
def runner(django_user_model: Any) -> Any:
    return user_with_role(django_user_model, "runner", "runner")


@pytest.fixture
def session(runner: Any) -> WorkflowSession:
    return session_create(session_id="s", workflow="BlogPostGenerator", user=runner)


def generate_then_hit(session: WorkflowSession, runner: Any) -> tuple[WorkflowRun, WorkflowRun]:
    made = run_start(session=session, inputs={"topic": "AI agents"}, user=runner)
    run_execute(run_id=str(made.run_id))
    made.refresh_from_db()
    hit = run_start(session=session, inputs={"topic": "ai agents "}, user=runner)
    return made, hit


def test_a_hit_saves_what_producing_its_entry_cost(session: WorkflowSession, runner: Any) -> None:
    made, hit = generate_then_hit(session, runner)

    assert (made.cache_hit, hit.cache_hit) == (False, True)
    assert made.tokens_estimated is True
    assert made.completion_tokens
    assert made.prompt_tokens
    stats = CacheEntryStats.objects.get(session=session, key="ai agents")
    assert stats.produced_by == made.run_id
    assert stats.generation_seconds == pytest.approx(made.duration.total_seconds(), abs=0.05)  # type: ignore[union-attr]
    assert stats.tokens == made.total_tokens
    assert (hit.saved_seconds, hit.saved_tokens, hit.saved_tokens_estimated) == (
        stats.generation_seconds,
        stats.tokens,
        True,
    )
    assert stats.hits == 1


def test_savings_per_session_and_for_the_site(session: WorkflowSession, runner: Any) -> None:
    _, hit = generate_then_hit(session, runner)
    other = session_create(session_id="other", workflow="BlogPostGenerator", user=runner)
    run_execute(run_id=str(run_start(session=other, inputs={"topic": "Rust"}, user=runner).run_id))
    old = run_start(session=other, inputs={"topic": "rust"}, user=runner)
    WorkflowRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))

    mine = cache_savings(session=session)
    assert (mine.hits, mine.misses, mine.hit_rate) == (1, 1, 0.5)
    assert mine.seconds_saved == pytest.approx(hit.saved_seconds)
    assert mine.tokens_saved == hit.saved_tokens
    assert mine.tokens_estimated is True
    assert (mine.days[-1].hits, mine.days[-1].misses) == (1, 1)
    site = cache_savings()
    assert (site.hits, site.misses) == (2, 2)
    assert len(site.days) == 30
    assert (site.days[-4].hits, site.days[-4].misses) == (1, 0)
    assert [(w.workflow, w.hits, w.misses) for w in savings_by_workflow()] == [("BlogPostGenerator", 2, 2)]


def test_no_runs_no_rate(session: WorkflowSession) -> None:
    nothing = cache_savings(session=session)
    assert (nothing.runs, nothing.hit_rate, nothing.busiest) == (0, None, 0)


def test_the_pages_show_the_savings_and_a_chart_without_scripts(
    session: WorkflowSession, runner: Any
) -> None:
    generate_then_hit(session, runner)
    client = Client()
    client.force_login(runner)

    overview = client.get(reverse("cache_overview")).content.decode()
    detail = client.get(reverse("session_detail", args=["s"])).content.decode()

    for html in (overview, detail):
        assert "<dt>Hit rate</dt><dd>50%</dd>" in html
        assert "(estimated: the offline demo model guesses its tokens)" in html
        assert '<svg viewBox="0 0 416 120"' in html
        assert "<script" not in html.split("<body", 1)[1].replace('<script src="/static/', "")
        bars = re.findall(
            r'<rect x="406" y="([\d.]+)" width="10" height="([\d.]+)" class="bar-(hit|miss)"', html
        )
        assert sorted(kind for _, _, kind in bars) == [
            "hit",
            "miss",
        ]  # today: one of each, half the height each
        assert {float(height) for _, height, _ in bars} == {60.0}
    assert "<td>BlogPostGenerator</td>" not in overview  # rows link to the workflow's sessions
    assert "?workflow=BlogPostGenerator" in overview


def test_the_openai_compatible_model_records_the_servers_tokens_on_the_run(session: WorkflowSession) -> None:
    with FakeOpenAIServer() as server:
        model = OpenAICompatibleModel(base_url=server.base_url, model="m", max_retries=0)
        generator = BlogPostGenerator(
            session_id="s", storage=DjangoWorkflowStorage(), model=model, searcher=None
        )
        list(generator.run("Tokens"))
    run = WorkflowRun.objects.get(run_id=generator.run_id)
    assert (run.prompt_tokens, run.completion_tokens, run.tokens_estimated) == (12, 5, False)
    assert CacheEntryStats.objects.get(key="tokens").tokens == 17
