"""The runs page: who may see it, its filters and pages, escaping, and the live rows' fragment."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import WorkflowRun, WorkflowSession
from sessions_app.views.run_list import POLL_FIRST, POLL_LONGEST, poll_delay
from tests.django_fixtures import user_with_role

pytestmark = pytest.mark.django_db

ROW_TRIGGER = re.compile(r'hx-trigger="load delay:([0-9.]+)s"')


@pytest.fixture
def session() -> WorkflowSession:
    return WorkflowSession.objects.create(session_id="s 1", workflow="BlogPostGenerator")


@pytest.fixture
def viewer(django_user_model: Any) -> Client:
    client = Client()
    client.force_login(user_with_role(django_user_model, "viewer", "viewer"))
    return client


def make(session: WorkflowSession, **fields: Any) -> WorkflowRun:
    fields.setdefault("workflow", session.workflow)
    fields.setdefault("status", "succeeded")
    return WorkflowRun.objects.create(session=session, **fields)


def row_of(html: str, run: WorkflowRun) -> str:
    found = re.search(rf'<tr id="run-{run.run_id}".*?</tr>', html, re.DOTALL)
    assert found, html
    return found.group()


def test_anonymous_logs_in_and_no_role_is_refused(django_user_model: Any, session: WorkflowSession) -> None:
    run = make(session)
    for url in (reverse("run_list"), reverse("run_row", args=[run.run_id])):
        assert Client().get(url).status_code == 302
        nobody = Client()
        nobody.force_login(user_with_role(django_user_model, f"nobody-{len(url)}", None))
        refused = nobody.get(url)
        assert refused.status_code == 403
        assert "viewer" in refused.content.decode()


def test_viewer_sees_every_run_newest_first_with_the_counts(viewer: Client, session: WorkflowSession) -> None:
    other = WorkflowSession.objects.create(session_id="other", workflow="BlogPostPipeline")
    now = timezone.now()
    old = make(session, inputs={"topic": "first"}, created_at=now - timedelta(hours=2))
    queued = make(other, status="queued", inputs={"topic": "second"}, created_at=now - timedelta(hours=1))
    running = make(session, status="running", inputs={"topic": "third"}, created_at=now)

    response = viewer.get(reverse("run_list"))

    html = response.content.decode()
    assert response.status_code == 200
    assert [m for m in re.findall(r'<tr id="run-([0-9a-f-]+)"', html)] == [
        str(r.run_id) for r in (running, queued, old)
    ]
    counts = re.search(r'id="run-counts">(.*?)</p>', html, re.DOTALL).group(1)
    assert re.search(r"queued</span> 1<", counts)
    assert re.search(r"running</span> 1<", counts)
    assert f'href="{reverse("run_list")}"' in html  # the site's navigation
    assert reverse("session_detail", args=["s 1"]) in html
    assert reverse("run_detail", args=[old.run_id]) in html


def test_the_query_string_filters(viewer: Client, session: WorkflowSession, django_user_model: Any) -> None:
    ana = django_user_model.objects.create_user("ana")
    failed = make(session, status="failed", inputs={"topic": "agents"}, started_by=ana)
    hit = make(session, cache_hit=True, inputs={"topic": "caching"})

    def shown(query: str) -> list[str]:
        html = viewer.get(reverse("run_list") + query).content.decode()
        return re.findall(r'<tr id="run-([0-9a-f-]+)"', html)

    assert shown("?status=failed") == [str(failed.run_id)]
    assert shown("?cache=hit") == [str(hit.run_id)]
    assert shown("?cache=miss") == [str(failed.run_id)]
    assert shown("?by=ana") == [str(failed.run_id)]
    assert shown("?q=CACH") == [str(hit.run_id)]
    assert shown("?workflow=BlogPostPipeline") == []
    today = timezone.localdate()
    assert len(shown(f"?since={today}&until={today}")) == 2
    assert shown(f"?since={today + timedelta(days=1)}") == []
    # A value that does not parse is said and ignored; the other filters still apply.
    response = viewer.get(reverse("run_list") + "?since=yesterday&status=failed")
    assert "Enter a valid date." in response.content.decode()
    assert re.findall(r'<tr id="run-([0-9a-f-]+)"', response.content.decode()) == [str(failed.run_id)]
    assert "No runs match these filters" in viewer.get(reverse("run_list") + "?q=zzz").content.decode()


def test_pages_by_cursor_and_a_bad_cursor_starts_again(viewer: Client, session: WorkflowSession) -> None:
    now = timezone.now()
    runs = [make(session, created_at=now - timedelta(minutes=i)) for i in range(55)]

    first = viewer.get(reverse("run_list") + "?status=succeeded").content.decode()
    older = re.search(r'href="([^"]*cursor=[^"]*)" rel="next"', first).group(1).replace("&amp;", "&")
    second = viewer.get(reverse("run_list") + older).content.decode()

    assert len(re.findall(r'<tr id="run-', first)) == 50
    assert "status=succeeded" in older
    assert re.findall(r'<tr id="run-([0-9a-f-]+)"', second) == [str(r.run_id) for r in runs[50:]]
    assert 'rel="next"' not in second
    assert "← Newest" in second
    refused = viewer.get(reverse("run_list") + "?cursor=bogus").content.decode()
    assert "showing the newest runs" in refused
    assert len(re.findall(r'<tr id="run-', refused)) == 50


def test_an_htmx_request_gets_the_results_only(viewer: Client, session: WorkflowSession) -> None:
    make(session)
    response = viewer.get(reverse("run_list"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="run-results"')
    assert "<form" not in html
    assert "HX-Request" in response["Vary"]


def test_untrusted_text_is_escaped(viewer: Client) -> None:
    from tests.xss_payloads import PAYLOADS

    session = WorkflowSession.objects.create(session_id='<b id="x">s</b>', workflow="BlogPostGenerator")
    for payload in PAYLOADS[:12]:
        make(session, status="queued", inputs={"topic": payload[:80], "<i>name</i>": payload[:80]})

    html = viewer.get(reverse("run_list")).content.decode()
    row_html = viewer.get(reverse("run_row", args=[WorkflowRun.objects.first().run_id])).content.decode()

    for page in (html, row_html):
        assert "<script" not in page.lower().replace('<script src="/static/', "")
        for tag in ("<img", "<svg", "<body onload", "<details", "<video", "<a onmouseover"):
            assert tag not in page.lower(), tag
        assert '<b id="x">' not in page
        assert "<i>name</i>" not in page
        assert "&lt;b id=&quot;x&quot;&gt;s&lt;/b&gt;" in page


def test_a_live_row_polls_longer_while_nothing_changes(viewer: Client, session: WorkflowSession) -> None:
    run = make(session, status="queued")
    url = reverse("run_row", args=[run.run_id])

    page_row = row_of(viewer.get(reverse("run_list")).content.decode(), run)
    assert f'hx-get="{url}?seen=queued&amp;poll=1"' in page_row
    assert float(ROW_TRIGGER.search(page_row).group(1)) == POLL_FIRST

    delays = []
    for poll in range(1, 12):
        answer = viewer.get(url, {"seen": "queued", "poll": poll})
        assert answer["Cache-Control"] == "no-store"
        row = answer.content.decode()
        assert f"poll={poll + 1}" in row
        delays.append(float(ROW_TRIGGER.search(row).group(1)))
    assert delays == sorted(delays)
    assert delays[0] > POLL_FIRST
    assert delays[-1] == POLL_LONGEST

    # A change of status starts again from the shortest wait.
    WorkflowRun.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
    changed = viewer.get(url, {"seen": "queued", "poll": 9}).content.decode()
    assert "badge-running" in changed
    assert float(ROW_TRIGGER.search(changed).group(1)) == POLL_FIRST
    assert "seen=running&amp;poll=1" in changed


@pytest.mark.parametrize("status", sorted(WorkflowRun.FINISHED))
def test_a_finished_row_stops_polling(viewer: Client, session: WorkflowSession, status: str) -> None:
    run = make(session, status="running")
    url = reverse("run_row", args=[run.run_id])
    assert "hx-trigger" in viewer.get(url, {"seen": "running", "poll": 3}).content.decode()

    WorkflowRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now())
    row = viewer.get(url, {"seen": "running", "poll": 4}).content.decode()

    assert f"badge-{status}" in row
    assert "hx-trigger" not in row
    assert "hx-get" not in row
    finished_on_page = row_of(viewer.get(reverse("run_list")).content.decode(), run)
    assert "hx-trigger" not in finished_on_page


def test_a_row_of_no_run_is_404(viewer: Client) -> None:
    assert viewer.get(reverse("run_row", args=["00000000-0000-0000-0000-000000000000"])).status_code == 404


def test_poll_delay_grows_to_its_cap() -> None:
    delays = [poll_delay(n) for n in range(40)]
    assert delays[0] == POLL_FIRST
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert delays[-1] == POLL_LONGEST


def test_an_active_row_offers_cancel_and_a_finished_one_does_not(
    viewer: Client, session: WorkflowSession
) -> None:
    queued = WorkflowRun.objects.create(session=session, workflow=session.workflow, status="queued")
    done = WorkflowRun.objects.create(session=session, workflow=session.workflow, status="succeeded")
    page = viewer.get(reverse("run_list")).content.decode()
    assert reverse("run_cancel", args=[queued.run_id]) in page
    assert reverse("run_cancel", args=[done.run_id]) not in page
