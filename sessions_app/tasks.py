"""django-tasks tasks: they take ids and call one service; `manage.py db_worker` runs them."""

from __future__ import annotations

from django_tasks import task

from sessions_app.services.run_worker import run_execute


@task()
def run_execute_task(run_id: str) -> None:
    """Execute the queued run with this id."""
    run_execute(run_id=run_id)
