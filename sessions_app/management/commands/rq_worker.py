"""Run an RQ worker for the site's runs: django_rq's `rqworker`, set up for django-tasks-rq.

`manage.py rq_worker` is `manage.py rqworker --job-class django_tasks_rq.Job default` (every
rqworker option still works), plus two things a bare rqworker lacks here: it refuses to start
unless WFSITE_TASK_BACKEND=rq, so a misconfigured machine says so instead of idling on a queue no
run is sent to, and it loads the task module once, before the worker forks a child per run, so
each run does not pay for importing the engine and the model clients again.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError
from django_rq.management.commands import rqworker

JOB_CLASS = "django_tasks_rq.Job"
TASK_MODULE = "sessions_app.tasks"


class Command(rqworker.Command):
    help = (
        "Run an RQ worker that executes runs queued in Redis (WFSITE_TASK_BACKEND=rq); "
        "SIGTERM finishes the current run, a second signal abandons it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.WFSITE_TASK_BACKEND != "rq":
            raise CommandError(
                "Runs are queued in the database (WFSITE_TASK_BACKEND is not rq): run "
                "`manage.py db_worker` instead, or set WFSITE_TASK_BACKEND=rq and REDIS_URL."
            )
        importlib.import_module(TASK_MODULE)
        options["job_class"] = options.get("job_class") or JOB_CLASS
        queues = args or tuple(settings.TASKS["default"].get("QUEUES", ["default"]))
        super().handle(*queues, **options)
