from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app.services.upstream import UpstreamError, session_import_upstream, upstream_rows


class Command(BaseCommand):
    help = (
        "Import the sessions of a phidata 2.7.10 or agno 1.x SQLite workflow table (or one this site "
        "exported). Safe to re-run: unchanged rows change nothing, changed rows update through a "
        "recorded import change. The file is opened read-only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The SQLite file.")
        parser.add_argument("--table", required=True, help="The workflow table's name.")
        parser.add_argument(
            "--workflow",
            help="The workflow the sessions belong to here (default: the table's workflow name, else the first registered).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["file"]
        counts: Counter[str] = Counter()
        try:
            for row in upstream_rows(db_file=source, table=options["table"], workflow=options["workflow"]):
                if isinstance(row, UpstreamError):
                    counts["skipped"] += 1
                    self.stderr.write(f"Skipped {row}")
                    continue
                outcome = session_import_upstream(
                    row=row, source=f"{source.name} table {options['table']}", actor=None
                )
                counts[outcome] += 1
                self.stdout.write(f"{outcome}: {row.session_id}")
        except UpstreamError as error:
            raise CommandError(str(error)) from None
        summary = ", ".join(f"{counts[k]} {k}" for k in ("created", "updated", "unchanged", "skipped"))
        self.stdout.write(f"Done: {summary}.")
        if counts["skipped"]:
            raise CommandError(
                f"{counts['skipped']} rows could not be imported (see above); the others were."
            )
