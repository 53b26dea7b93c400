from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app.models import WorkflowSession
from sessions_app.services.upstream_export import sessions_export_sqlite
from sessions_app.workflow.errors import StorageError

DEFAULT_TABLE = "workflow_sessions"


class Command(BaseCommand):
    help = (
        "Write sessions (state, name, owner, runs) to a SQLite workflow table that phidata 2.7.10 "
        "reads with SqlWorkflowStorage(table_name=..., db_file=...). Re-running updates the rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--out", required=True, type=Path, help="The SQLite file to write (created if missing)."
        )
        parser.add_argument(
            "--table", default=DEFAULT_TABLE, help=f"The table's name (default {DEFAULT_TABLE})."
        )
        parser.add_argument("--workflow", help="Only sessions of this workflow.")
        parser.add_argument(
            "--session", action="append", dest="sessions", help="Only this session id (repeatable)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sessions = WorkflowSession.objects.order_by("created_at", "id")
        if options["workflow"]:
            sessions = sessions.filter(workflow=options["workflow"])
        if options["sessions"]:
            sessions = sessions.filter(session_id__in=options["sessions"])
        try:
            count = sessions_export_sqlite(
                sessions=sessions.iterator(), db_file=options["out"], table=options["table"]
            )
        except (ValueError, StorageError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Wrote {count} sessions to {options['out']} table {options['table']}.")
