"""Delete what is past its retention setting (sessions_app.services.retention); `reap_runs --loop` runs it too."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from sessions_app.services.retention import data_prune


class Command(BaseCommand):
    help = (
        "Delete finished task rows, the streamed chunks of old runs, history beyond WFSITE_HISTORY_KEEP "
        "and old login records, as the WFSITE_*_KEEP_DAYS settings say. Nothing a page shows is removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = data_prune(actor=None)
        self.stdout.write(f"Pruned {result.text()}.")
