"""What the database server says about connections, for the PostgreSQL lane: sessions started, held.

`pg_stat_database.sessions` counts every backend the server started for the database (PostgreSQL
14 and later), so its growth over a measurement is the connections opened, pooled or not. The
site names its processes (`application_name`, e.g. "wfsite uvicorn"), so what the web processes
hold can be told from what the task workers hold. On SQLite there is nothing to count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WEB_APPLICATION = "wfsite uvicorn"


@dataclass
class Held:
    """Backends connected to the bench's database at one moment: all of them, and the web's."""

    total: int = 0
    web: int = 0


class Probe:
    """A connection of its own to the lane's database (not Django's: it is used from the event loop)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    def open(cls) -> Probe | None:
        """Connect to the database Django uses, or return None when it is not PostgreSQL."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return None
        import psycopg

        db = connection.settings_dict
        params = {"dbname": db["NAME"], "user": db["USER"], "host": db["HOST"], "port": db["PORT"]}
        params["password"] = db["PASSWORD"]
        return cls(psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True))

    def sessions(self) -> int:
        """Return how many backends the server has started for this database so far."""
        # A fresh snapshot: the statistics views otherwise repeat what they showed earlier.
        self.connection.execute("SELECT pg_stat_clear_snapshot()")
        row = self.connection.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0

    def held(self) -> Held:
        """Return the backends connected now, this probe's own left out."""
        self.connection.execute("SELECT pg_stat_clear_snapshot()")
        row = self.connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE application_name = %s) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            [WEB_APPLICATION],
        ).fetchone()
        return Held(int(row[0]), int(row[1])) if row else Held()

    def close(self) -> None:
        self.connection.close()
