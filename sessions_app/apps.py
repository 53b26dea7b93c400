from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _read_text_that_is_not_utf8(sender: Any, connection: Any, **kwargs: Any) -> None:
    # SQLite's JSON functions turn a stored "\ud800" escape (rows written before lone surrogates
    # were refused) into bytes that are not UTF-8; sqlite3 would refuse the whole query. Read them
    # as U+FFFD instead, as the JSON fields do (sessions_app.state.codec).
    if connection.vendor == "sqlite":
        connection.connection.text_factory = lambda data: data.decode("utf-8", "replace")


class SessionsAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sessions_app"
    verbose_name = "Workflow sessions"

    def ready(self) -> None:
        connection_created.connect(_read_text_that_is_not_utf8, dispatch_uid="wfsite-sqlite-text")
