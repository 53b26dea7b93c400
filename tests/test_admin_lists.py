"""The admin's lists say sizes and durations as a person reads them, and each run's first input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import WorkflowRun, WorkflowSession
from tests.test_admin import admin_client, session  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_session_list_and_page_show_the_state_size_in_units(
    admin_client: Client,  # noqa: F811
    session: WorkflowSession,  # noqa: F811
) -> None:
    WorkflowSession.objects.filter(pk=session.pk).update(state_size=1_536_000)

    listing = admin_client.get(reverse("admin:sessions_app_workflowsession_changelist")).content.decode()
    change = admin_client.get(
        reverse("admin:sessions_app_workflowsession_change", args=[session.pk])
    ).content.decode()

    assert '<td class="field-state_size_text">1.5\xa0MB</td>' in listing
    assert "1536000" not in listing
    assert "1.5\xa0MB" in change
    # The column still sorts by the number.
    assert "o=" in listing
    assert "State size" in listing


def test_the_run_list_shows_the_first_input_and_a_readable_duration(
    admin_client: Client,  # noqa: F811
    session: WorkflowSession,  # noqa: F811
) -> None:
    run = WorkflowRun.objects.get(session=session)
    now = timezone.now()
    run.workflow = "BlogPostGenerator"
    run.inputs = {"use_cache": False, "topic": "Quiet <b>rivers</b>"}  # stored out of run()'s order
    run.started_at, run.finished_at = now - timedelta(seconds=125), now
    run.save()

    listing = admin_client.get(reverse("admin:sessions_app_workflowrun_changelist")).content.decode()
    page = admin_client.get(reverse("admin:sessions_app_workflowrun_change", args=[run.pk])).content.decode()

    assert "<th" in listing
    assert "First input" in listing
    assert '<td class="field-first_input">Quiet &lt;b&gt;rivers&lt;/b&gt;</td>' in listing
    assert '<td class="field-took">2 min 5 s</td>' in listing
    assert "0:02:05" not in listing
    assert "2 min 5 s" in page
